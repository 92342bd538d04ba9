"""What every benchmark script does with its figures: stamp the machine and code, print,
and write them as JSON when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def environment() -> dict[str, Any]:
    from recbench.protocol.timing import Environment

    env = Environment()
    return {"fingerprint": env.fingerprint(), "git_sha": env.git_sha, "packages": env.packages}


def emit(result: dict[str, Any], out: Path | None) -> None:
    result = {**result, "environment": environment()}
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
