"""Progress bars that stay out of captured output: ours show on a terminal only (on a pipe or a
log file tqdm would print a "0%" line per update), and ``--no-progress`` silences the libraries'
bars as well (Hugging Face's "Loading weights"), in this process and in the cells' processes."""

from __future__ import annotations

import os
import sys


def bar_disabled(progress: bool) -> bool | None:
    """tqdm's ``disable``: True when asked for none; None (tqdm's "only on a terminal") otherwise."""
    return True if not progress else None


def quiet_libraries(progress: bool) -> None:
    """With ``progress`` off, or no terminal to draw on, the libraries' own bars go too: through
    the environment (the cells' processes inherit it) and, where a library is loaded already,
    through its switch."""
    if progress and sys.stderr.isatty():
        return
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # huggingface_hub, and transformers reads it at import
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
