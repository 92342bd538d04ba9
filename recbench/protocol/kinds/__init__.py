"""The built-in task kinds, one module each; each registers its ``TaskKind`` on import
(``recbench.protocol.kinds.base`` imports them all on first look-up). ``ranking.py`` is the
full-ranking core that item-to-item and sequences share."""
