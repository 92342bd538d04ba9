"""Where a model evaluates (issue 40): ``--device cpu`` (the default), ``cuda``, ``cuda:N`` or
``mps``. A model says which device types it can evaluate on (the ``eval_devices`` hook) and moves
itself there (``to_device``); the harness refuses a device torch does not see, before anything
loads, synchronises the device inside every timed query (a query's latency ends when its result
is on the host), and records the device's name and memory in the record's environment, whose
machine name then carries it: a GPU row never shares a frontier with a CPU row."""

from __future__ import annotations

import re
from typing import Any, Callable

DEVICE = re.compile(r"^(cpu|mps|cuda(?::\d+)?)$")


class DeviceError(ValueError):
    """A device that is not one, or one torch does not see here."""


def device_type(device: str) -> str:
    return device.split(":")[0]


def check_device(device: str, model: str, eval_devices: tuple[str, ...]) -> None:
    """``device`` is well formed, the model evaluates there, and torch sees it."""
    if not DEVICE.match(device):
        raise DeviceError(f"--device {device!r}: write cpu, cuda, cuda:N or mps")
    if device == "cpu":
        return
    if device_type(device) not in eval_devices:
        raise DeviceError(f"--device {device}: model {model!r} evaluates on {', '.join(eval_devices)} only")
    import torch

    if device_type(device) == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device}: torch sees no CUDA device here (torch {torch.__version__})")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("--device mps: torch sees no Apple GPU here")


def synchronizer(device: str) -> Callable[[], None] | None:
    """What ends a timed query on ``device``: waiting for its queued kernels (None on the CPU)."""
    if device == "cpu":
        return None
    import torch

    if device_type(device) == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device == "mps":
        return torch.mps.synchronize
    return None


def describe_device(device: str) -> dict[str, Any] | None:
    """The accelerator as the record keeps it: device, name, memory (None on the CPU)."""
    if device == "cpu":
        return None
    import torch

    if device_type(device) == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        return {"device": device, "name": str(props.name), "memory_gb": round(props.total_memory / 1024 ** 3, 1)}
    return {"device": device, "name": "Apple GPU (mps)", "memory_gb": None}
