"""Tiny in-memory tasks shared by tests: impressions over topical items, where a user clicks the
candidate of their history's topic (learnable, and scored at chance by a model that knows nothing)."""

from __future__ import annotations

import numpy as np

from recbench.api import Impressions, ImpressionsTask

TOPICS = ["guitar strings", "microscope slides", "garden hose", "coffee beans", "bicycle tyre", "printer ink"]


def topic_titles(per_topic: int) -> list[str]:
    return [f"{t} model {k}" for t in TOPICS for k in range(per_topic)]


def topic_impressions(per_topic: int, n_test: int, n_train: int, name: str, split: str, users: int,
                      seed: int = 0) -> ImpressionsTask:
    """Each impression: 3 history items of one topic, its one clicked candidate of that topic
    and 4 shown of other topics, in a seeded order."""
    rng = np.random.default_rng(seed)
    topic = np.repeat(np.arange(len(TOPICS)), per_topic)

    def part(n: int, prefix: str) -> Impressions:
        hist, hoff, cand, coff, lab = [], [0], [], [0], []
        for _ in range(n):
            t = int(rng.integers(len(TOPICS)))
            h = rng.choice(np.flatnonzero(topic == t), size=3, replace=False)
            pos = rng.choice(np.setdiff1d(np.flatnonzero(topic == t), h))
            c = np.r_[pos, rng.choice(np.flatnonzero(topic != t), size=4, replace=False)]
            perm = rng.permutation(len(c))
            hist += h.tolist(); hoff.append(len(hist))
            cand += c[perm].tolist(); coff.append(len(cand))
            lab += (perm == 0).astype(int).tolist()
        return Impressions(np.array([f"{prefix}{i}" for i in range(n)]), np.arange(n) % users, np.array([""] * n),
                           np.array(hist), np.array(hoff), np.array(cand), np.array(coff), np.array(lab, dtype=np.int8))

    test = part(n_test, "d")
    train = part(n_train, "t")
    return ImpressionsTask(name=name, split=split, item_ids=np.array([f"i{k}" for k in range(len(topic))], dtype=object),
                           item_fields={"title": topic_titles(per_topic)}, test=test, train=train, fingerprint=name)


def recorded_run(results_dir, model: str, dataset: str, settings, training=None):
    """Runs one cell through the real path and writes its record (and sidecar) into ``results_dir``."""
    from recbench.run.cells import Cell
    from recbench.results.records import write_record
    from recbench.run.runner import compute_run

    run = compute_run(Cell.resolve(model, dataset, settings=settings, training=training))
    return write_record(run.record, results_dir, run.per_query, run.sidecars)


def edit_record(path, change) -> None:
    """Rewrites a record file after ``change(record)``: a forged or damaged record, for tests."""
    import json
    from pathlib import Path

    record = json.loads(Path(path).read_text())
    change(record)
    Path(path).write_text(json.dumps(record))
