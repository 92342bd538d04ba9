"""One evaluation protocol per task kind; each module registers itself with ``@protocol``.
`recbench.benchmark.evaluate.load_kinds` imports them all on first use."""
