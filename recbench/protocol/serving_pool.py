"""How the server and MultiStream scenarios serve their queries: worker threads and a dynamic
batcher (``Serving``), run by one pool (``ServingPool``) that our own server replay
(``scenarios.py``) and MLPerf's loadgen (``loadgen.py``) both drive."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Serving:
    """How the server scenario serves: ``workers`` threads taking queries in arrival order, each
    query alone or, with ``max_batch`` > 1, in batches a dynamic batcher forms (it waits up to
    ``max_wait_ms`` after the first query for more, and sends at most ``max_batch``): the usual
    trade of a GPU server, some latency for throughput. Threads, not processes: torch, ONNX
    Runtime and faiss release the GIL while they compute, so N workers overlap N queries."""

    workers: int = 1
    max_batch: int = 1
    max_wait_ms: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {"workers": self.workers, "worker_kind": "threads", "max_batch": self.max_batch,
                "max_wait_ms": self.max_wait_ms}


class ServingPool:
    """``serving.workers`` threads taking queued items in arrival order, a batch at a time as
    ``serving`` says (the batcher waits up to ``max_wait_ms`` after a batch's first item for more,
    up to ``max_batch``); ``serve(batch)`` serves a batch, ``on_done(batch)`` runs when it has.
    Our server replay and MLPerf's loadgen (``loadgen.py``) drive the same pool."""

    def __init__(self, serve: Callable[[list[Any]], object], serving: Serving,
                 on_done: Callable[[list[Any]], None]) -> None:
        import queue
        import threading

        self.serve, self.serving, self.on_done = serve, serving, on_done
        self.waiting: "queue.Queue[Any]" = queue.Queue()
        self.failure: list[BaseException] = []
        self.take = threading.Lock()  # one worker forms a batch at a time: a batch is the queue's head
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(serving.workers)]
        for t in self.threads:
            t.start()

    _STOP = object()

    def put(self, item: Any) -> None:
        self.waiting.put(item)

    def _next_batch(self) -> list[Any] | None:
        import queue

        with self.take:
            first = self.waiting.get()
            if first is self._STOP:
                self.waiting.put(self._STOP)  # the others stop too
                return None
            batch = [first]
            deadline = time.perf_counter() + self.serving.max_wait_ms / 1000.0
            while len(batch) < self.serving.max_batch:
                left = deadline - time.perf_counter()
                try:
                    nxt = self.waiting.get(timeout=left) if left > 0 else self.waiting.get_nowait()
                except queue.Empty:
                    break
                if nxt is self._STOP:
                    self.waiting.put(self._STOP)
                    break
                batch.append(nxt)
            return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self.serve(batch)
            except BaseException as exc:  # noqa: BLE001 (re-raised on the caller's thread by close)
                self.failure.append(exc)
                return
            self.on_done(batch)

    def close(self) -> None:
        """Waits for every queued item, then raises the first failure of a worker, if any."""
        self.waiting.put(self._STOP)
        for t in self.threads:
            t.join()
        if self.failure:
            raise self.failure[0]
