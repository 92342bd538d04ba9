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


def serve_rows(query: Callable[[int], object],
               batch_query: Callable[[list[int]], object] | None) -> Callable[[list[int]], None]:
    """How a pool serves a batch of query rows: in one ``batch_query`` call where the kind has a
    batch path and the batch holds more than one, else query by query."""
    def serve(rows: list[int]) -> None:
        if batch_query is not None and len(rows) > 1:
            batch_query(rows)
        else:
            for r in rows:
                query(r)

    return serve


class ServingPool:
    """``serving.workers`` threads taking queued items in arrival order, a batch at a time as
    ``serving`` says (the batcher waits up to ``max_wait_ms`` after a batch's first item for more,
    up to ``max_batch``); ``serve(batch)`` serves a batch, ``on_done(batch)`` runs when it has.
    Our server replay and MLPerf's loadgen (``loadgen.py``) drive the same pool."""

    def __init__(self, serve: Callable[[list[Any]], object], serving: Serving,
                 on_done: Callable[[list[Any]], None]) -> None:
        import threading
        from collections import deque

        self.serve, self.serving, self.on_done = serve, serving, on_done
        self.waiting: deque[Any] = deque()
        self.ready = threading.Condition()  # guards waiting, pending and stopping
        self.pending = 0  # items put and not yet served
        self.stopping = False
        self.failure: list[BaseException] = []
        self.take = threading.Lock()  # one worker forms a batch at a time: a batch is the queue's head
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(serving.workers)]
        for t in self.threads:
            t.start()

    def put(self, item: Any) -> None:
        self.put_many([item])

    def put_many(self, items: list[Any]) -> None:
        """Queues items at once: a batcher sees all of them (a MultiStream sample is one batch
        where ``max_batch`` holds it), never a part put before the rest."""
        with self.ready:
            self.waiting.extend(items)
            self.pending += len(items)
            self.ready.notify_all()

    def drain(self) -> None:
        """Waits until every item put so far is served (a MultiStream sample's queries), raising
        a worker's failure rather than waiting for what it will never serve."""
        with self.ready:
            self.ready.wait_for(lambda: self.pending == 0 or bool(self.failure))
        if self.failure:
            raise self.failure[0]

    def _next_batch(self) -> list[Any] | None:
        with self.take, self.ready:
            self.ready.wait_for(lambda: bool(self.waiting) or self.stopping)
            if not self.waiting:
                return None  # stopping, and nothing left to serve
            batch = [self.waiting.popleft()]
            deadline = time.perf_counter() + self.serving.max_wait_ms / 1000.0
            while len(batch) < self.serving.max_batch:
                if self.waiting:
                    batch.append(self.waiting.popleft())
                    continue
                left = deadline - time.perf_counter()
                if left <= 0 or self.stopping:
                    break
                self.ready.wait(left)
            return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self.serve(batch)
            except BaseException as exc:  # noqa: BLE001 (re-raised on the caller's thread by close)
                with self.ready:
                    self.failure.append(exc)
                    self.stopping = True  # the others stop too: the replay ends
                    self.ready.notify_all()
                return
            self.on_done(batch)
            with self.ready:
                self.pending -= len(batch)
                self.ready.notify_all()

    def close(self) -> None:
        """Waits for every queued item, then raises the first failure of a worker, if any."""
        with self.ready:
            self.stopping = True
            self.ready.notify_all()
        for t in self.threads:
            t.join()
        if self.failure:
            raise self.failure[0]
