"""Runs a grid's cells as Ray tasks, on a local Ray instance or a cluster (``--executor ray``).

The driver keeps the local executor's semantics: cells already recorded are skipped before
anything is submitted, a failing cell becomes a failed outcome and the rest go on, Ctrl-C
cancels every task still queued or running. Workers compute; only the driver writes, so every
record lands atomically in the one ``--results-dir``, whatever node ran it, and a cancelled
cell leaves nothing behind.

Each cell declares the CPUs it uses: its pinned thread count (``--threads N``), else a whole
node (the smallest node's CPUs), as a cell owns the machine when it runs locally. Ray sets
``OMP_NUM_THREADS`` to the declared count, so the libraries' default thread count follows.
Each task runs in a fresh worker process (``max_calls=1``), the local executor's isolation: no
cell's timings are flattered by what an earlier cell imported. The record keeps the
fingerprint of the node that ran it (its environment is read on that node).
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable, Iterable, Iterator

from recbench.run.cells import Cell
from recbench.protocol.data import DataLocator
from recbench.run.executor import Finished, failure_message

RAY_MISSING = "--executor ray needs Ray: pip install -e '.[ray]' (the local executor, the default, does not)"


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(RAY_MISSING) from exc
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Joins the cluster at ``address`` (or ``$RAY_ADDRESS``), else starts a local instance;
    reuses a connection this process already has."""
    ray = require_ray()
    if not ray.is_initialized():
        local = {"num_cpus": num_cpus} if address is None and num_cpus else {}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR", **local)
    return ray


def node_cpus(ray: Any) -> list[int]:
    """CPUs of each live node."""
    return [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]


def cell_cpus(cell: Cell, nodes: list[int]) -> int:
    """What a cell declares: its pinned threads, else a whole node (the smallest)."""
    return int(cell.settings.threads or min(nodes))


def _run_remote(cell: Cell, locator: DataLocator) -> dict[str, Any]:
    """On the worker: the cell's run (not written) or its failure message."""
    from recbench.run.runner import compute_run

    started = time.perf_counter()
    try:
        run = compute_run(cell, locator)
    except Exception as exc:
        return {"status": "error", "message": failure_message(exc)}
    return {"status": "ok", "run": run, "node": socket.gethostname(), "worker_seconds": time.perf_counter() - started}


class RayExecutor:
    """Each cell a Ray task (``--executor ray``); yields finished runs to the driver, which
    writes them. A cell pinning more threads than the largest node has CPUs fails at once."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def finished(self, cells: Iterable[Cell], locator: DataLocator,
                 on_start: Callable[[Cell], None] | None = None) -> Iterator[Any]:
        cells = list(cells)  # every cell is submitted before the first one finishes
        if not cells:
            return
        ray = connect(self.address)
        nodes = node_cpus(ray)
        remote = ray.remote(max_calls=1)(_run_remote)
        pending: dict[Any, tuple[Cell, float]] = {}
        refused = []
        for cell in cells:
            cpus = cell_cpus(cell, nodes)
            if cpus > max(nodes):
                refused.append(Finished(cell, None, f"the cell pins {cpus} threads but the largest Ray node has "
                                        f"{max(nodes)} CPUs"))
                continue
            if on_start:
                on_start(cell)
            ref = remote.options(num_cpus=cpus, name=f"recbench {cell.model} x {cell.dataset}").remote(cell, locator)
            pending[ref] = (cell, time.perf_counter())
        yield from refused
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    cell, submitted = pending.pop(ref)
                    yield _finish(ray, ref, cell, submitted)
        except BaseException:  # Ctrl-C (or the consumer stopped): nothing queued or running may write
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def _finish(ray: Any, ref: Any, cell: Cell, submitted: float) -> Any:
    try:
        payload = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the worker died (memory, a signal) or the task was cancelled
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finished(cell, None, f"the cell's Ray task failed: {type(exc).__name__}: {first}")
    if payload["status"] != "ok":
        return Finished(cell, None, payload["message"])
    run = payload["run"]
    run.record["executor"] = {"name": "ray", "node": payload["node"], "cell_seconds": round(payload["worker_seconds"], 3),
                              "submitted_to_done_seconds": round(time.perf_counter() - submitted, 3)}
    return Finished(cell, run)
