"""``--export trec DIR``: a cell's ranking as a TREC run file and its judgments as TREC qrels,
the formats trec_eval, ir-measures, ranx and BEIR's evaluators read.

``run.trec``: ``qid Q0 docid rank score recbench`` for each query's top ``TREC_DEPTH`` items
(the full-ranking kinds) or every candidate (impressions), excluded items left out.
``qrels.trec``: ``qid 0 docid grade`` for each judged item.

Ties: the file lists tied items in catalog order (candidate order for impressions: the later
candidate first, as MIND's scorer ranks them) with their equal scores. trec_eval and
ir-measures ignore the file's ranks and re-sort by score, breaking ties by document id, so on
a run with ties their figures differ from the record's, which takes every metric's expectation
over a random order of the tied items (``metrics.expected_ranking_metrics``). Without ties
both agree to float precision (``tests/test_trec_export.py``)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from recbench.protocol.settings import EvalResult, EvaluationError

TREC_DEPTH = 100  # items per query in a full ranking's run file (more where a cutoff asks for more)
RUN_NAME = "recbench"
_SPACE = re.compile(r"\s")


class RankedLists:
    """Each query's top ``depth`` items and scores, gathered from the score blocks of a full
    ranking (excluded items at -inf never enter): ties in catalog order."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.items: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []

    def add(self, scores: np.ndarray) -> None:
        depth = min(self.depth, scores.shape[1])
        items = np.full((len(scores), depth), -1, dtype=np.int64)
        values = np.full((len(scores), depth), np.nan)
        if depth and len(scores):
            kth = -np.partition(-scores, depth - 1, axis=1)[:, depth - 1]
            # every item at or above its row's k-th score (the tied ones at it included), sorted
            # by row, then score descending, then catalog order; the first ``depth`` of a row kept
            rows, cols = np.nonzero((scores >= kth[:, None]) & np.isfinite(scores))
            vals = scores[rows, cols]
            order = np.lexsort((cols, -vals, rows))
            rows, cols, vals = rows[order], cols[order], vals[order]
            starts = np.searchsorted(rows, np.arange(len(scores)))
            pos = np.arange(len(rows)) - starts[rows]
            keep = pos < depth
            items[rows[keep], pos[keep]], values[rows[keep], pos[keep]] = cols[keep], vals[keep]
        self.items.append(items)
        self.scores.append(values)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), one row per query; -1 / NaN past the items a query could list."""
        if not self.items:
            return np.zeros((0, 0), dtype=np.int64), np.zeros((0, 0))
        return np.concatenate(self.items), np.concatenate(self.scores)


def _token(value: Any, what: str) -> str:
    text = str(value)
    if not text or _SPACE.search(text):
        raise EvaluationError(f"--export trec: {what} {text!r} is empty or holds white space, which the TREC "
                              "formats cannot carry")
    return text


def _write(folder: Path, name: str, lines: Iterable[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(lines)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / name


def write_trec(folder: Path, run: Iterable[tuple[str, str, float]], qrels: Iterable[tuple[str, str, float]]) -> list[Path]:
    """``run``: (qid, docid, score) in rank order per query; ``qrels``: (qid, docid, grade)."""
    def run_lines() -> Iterable[str]:
        rank, last = 0, None
        for qid, doc, score in run:
            rank = rank + 1 if qid == last else 1
            last = qid
            yield f"{_token(qid, 'query id')} Q0 {_token(doc, 'item id')} {rank} {float(score)!r} {RUN_NAME}\n"

    def qrel_lines() -> Iterable[str]:
        for qid, doc, grade in qrels:
            g = float(grade)
            yield f"{_token(qid, 'query id')} 0 {_token(doc, 'item id')} {int(g) if g.is_integer() else g}\n"

    return [_write(folder, "run.trec", run_lines()), _write(folder, "qrels.trec", qrel_lines())]


def ranking_trec_writer(judgments: Callable[[Any], tuple[np.ndarray, np.ndarray, np.ndarray | None]]
                        ) -> Callable[[Any, EvalResult, Path], list[Path]]:
    """The ``trec`` export of a full-ranking kind; ``judgments(task)`` gives its relevant items,
    their offsets per query and their grades (None: all 1)."""
    def write(task: Any, result: EvalResult, folder: Path) -> list[Path]:
        if result.ranked is None:
            raise EvaluationError("this evaluation kept no ranked lists to export")
        items, scores = result.ranked
        qids = [str(q) for q in result.per_query["query_id"]]
        ids = task.item_ids
        relevant, offsets, grades = judgments(task)
        run = ((qids[q], ids[i], scores[q, j]) for q in range(len(qids)) for j, i in enumerate(items[q]) if i >= 0)
        qrels = ((qids[q], ids[relevant[j]], 1.0 if grades is None else grades[j])
                 for q in range(len(qids)) for j in range(offsets[q], offsets[q + 1]))
        return write_trec(folder, run, qrels)

    return write
