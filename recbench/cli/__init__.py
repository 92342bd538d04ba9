"""The ``recbench`` command: one module per subcommand, each registering itself on ``app``
(``recbench.cli.app``); this package imports them all so that ``recbench.cli:app`` is whole."""

from recbench.cli.app import app
from recbench.cli import run, tune, encode, report, compare, verify, doctor, calibrate, check, listing, datasets  # noqa: F401 (each registers its command)

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()
