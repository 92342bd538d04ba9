"""``python -m recbench.cli``: the same command as ``recbench``."""

import sys

from recbench.cli import app

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
