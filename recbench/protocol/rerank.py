"""Two-stage pipelines (``--rerank MODEL --rerank-depth K``): any first stage (an encoder over
its index, an id model, popularity, ColBERT) proposes its top K items; a second model re-orders
them; the rest keep the first stage's order below. Quality is the pipeline's, latency end to end,
with each stage timed apart (``stages.py``: ``first`` and ``rerank``).

A reranker scores the K candidates of one query from what the query is made of (a user's history
items, or one query item):
- a token encoder (ColBERT): MaxSim of each candidate's tokens against the query items' tokens;
- an encoder: the cosine of each candidate's vector with the mean of the query items' vectors;
- a joint scorer (a Ranker): its ``score_candidates(task, query, rows)`` where it has one, else
  its full-catalog scores of that query, read at the candidates.
The reranker is built untrained, from the registry (a trained one is the next step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from recbench.protocol.capabilities import dispatch, served_as
from recbench.protocol.encoding import encode_item_tokens, encode_items, fit_on_texts
from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.model_contract import hook
from recbench.protocol.pooling import unit_rows
from recbench.protocol.stages import stage


@dataclass
class Reranker:
    """``score(query, rows)``: the reranker's scores of catalog ``rows`` for query ``query``."""

    name: str
    score: Callable[[int, np.ndarray], np.ndarray]
    describe: dict[str, Any]


def reranker_provenance(spec: str) -> dict[str, Any] | None:
    """The cell that trained a reranker given as ``name:<checkpoint folder>``, from the folder's
    manifest; None for a zero-shot reranker or a folder whose manifest does not say."""
    from recbench.protocol.registry import split_spec
    from recbench.protocol.checkpoints import checkpoint_provenance

    _, arg = split_spec(spec)
    return checkpoint_provenance(arg) if arg else None


def from_checkpoint(spec: str) -> bool:
    """Whether a reranker spec loads trained weights (``name:<folder>``): its row counts as trained."""
    from recbench.protocol.registry import split_spec

    _, arg = split_spec(spec)
    return bool(arg) and ("/" in arg or "\\" in arg or arg.startswith("checkpoints"))


def build_reranker(spec: str, task: Any, settings: EvalSettings, query_items: Callable[[int], np.ndarray],
                   texts: list[str], timing: dict[str, Any]) -> Reranker:
    """The reranker ``spec`` prepared over the catalog ``texts`` (item vectors or tokens
    computed once, as a served reranker keeps them); ``query_items(i)``: the catalog rows a
    query is made of. ``timing`` receives the reranker's own encoding figures."""
    from recbench.protocol.registry import build_model

    model = build_model(spec)
    name = getattr(model, "name", spec)

    def item_scorer() -> Reranker:
        raise EvaluationError(f"--rerank {spec}: an item scorer ranks every query alike; it cannot re-order a "
                              "query's candidates")

    def ranker() -> Reranker:
        if hook(model, "score_candidates"):
            return Reranker(name, lambda i, rows: np.asarray(model.score_candidates(task, i, rows)),
                            {"reranker": spec, "scores": "joint scorer over the candidates"})
        return Reranker(name, lambda i, rows: np.asarray(model.score_queries(task, np.array([i])))[0][rows],
                        {"reranker": spec, "scores": "joint scorer (full-catalog scores read at the candidates)"})

    def token_encoder() -> Reranker:
        from recbench.protocol.late_interaction import TokenTable

        table = TokenTable(encode_item_tokens(model, texts, "document", settings, timing))

        def late(i: int, rows: np.ndarray) -> np.ndarray:
            q = np.concatenate([table.flat[table.offsets[r]:table.offsets[r + 1]] for r in query_items(i)])
            return _maxsim_mean(q, table, rows)

        return Reranker(name, late, {"reranker": spec, "scores": "MaxSim: candidate tokens vs the query items' tokens"})

    def encoder() -> Reranker:
        fit_on_texts(model, texts, timing)
        unit = encode_items(model, texts, settings, timing)

        def cosine(i: int, rows: np.ndarray) -> np.ndarray:
            q = unit_rows(unit[query_items(i)].sum(axis=0, keepdims=True))[0]
            return unit[rows] @ q

        return Reranker(name, cosine, {"reranker": spec, "scores": "cosine with the mean of the query items' vectors"})

    if served_as(model) is not None:
        return dispatch(model, {"ranker": ranker, "item_scorer": item_scorer, "token_encoder": token_encoder,
                                "encoder": encoder}, f"--rerank {spec}")
    raise EvaluationError(f"--rerank {spec}: {name!r} offers no way to score a query's candidates")


def _maxsim_mean(query_tokens: np.ndarray, table: Any, rows: np.ndarray) -> np.ndarray:
    """Each candidate's mean over its tokens of the best cosine with any query token (the
    sequences and impressions MaxSim of ``late_interaction``); 0 for an empty side."""
    from recbench.protocol.late_interaction import _segment_max

    lengths = table.lengths[rows]
    if len(query_tokens) == 0 or lengths.sum() == 0:
        return np.zeros(len(rows), dtype=np.float32)
    token_rows = np.concatenate([np.arange(table.offsets[r], table.offsets[r + 1]) for r in rows])
    best = (table.flat[token_rows] @ query_tokens.T).max(axis=1)
    sums = np.add.reduceat(best, np.r_[0, np.cumsum(lengths)[:-1]]) if len(best) else np.zeros(len(rows))
    return np.where(lengths > 0, sums / np.maximum(lengths, 1), 0.0).astype(np.float32)


def reranked_block(first_block: Callable[[np.ndarray], np.ndarray], reranker: Reranker, depth: int,
                   excluded: np.ndarray, excluded_offsets: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The pipeline's score block: each query's first-stage top ``depth`` (excluded items left
    out) lifted above every other item and ordered by the reranker; the rest keep their
    first-stage scores (and order, ties included)."""
    def block(rows: np.ndarray) -> np.ndarray:
        scores = np.array(first_block(rows), dtype=np.float64, copy=True)
        for j, i in enumerate(rows):
            s = scores[j]
            skip = excluded[excluded_offsets[i]:excluded_offsets[i + 1]]
            allowed = s.copy()
            allowed[skip] = -np.inf
            k = min(depth, int(np.isfinite(allowed).sum()))
            if k == 0:
                continue
            top = np.argpartition(-allowed, k - 1)[:k]
            late = np.asarray(reranker.score(int(i), top), dtype=np.float64)
            if not np.isfinite(late).all():
                raise EvaluationError(f"reranker {reranker.name!r} gave a NaN or inf score for query {int(i)}")
            floor = np.max(np.where(np.isfinite(s), s, -np.inf)) if np.isfinite(s).any() else 0.0
            s[top] = floor + 1.0 + (late - late.min())  # above every first-stage score, in the reranker's order
        return scores

    return block


def reranked_top(first_top: Callable[[int, int], np.ndarray], reranker: Reranker, depth: int) -> Callable[[int], np.ndarray]:
    """The pipeline's serving path for one query, each stage timed apart."""
    def one_query(i: int, k: int = 10) -> np.ndarray:
        with stage("first"):
            cand = np.asarray(first_top(i, depth))
        with stage("rerank"):
            late = reranker.score(i, cand)
        return cand[np.argsort(-late, kind="stable")][:k]

    return one_query


def reach(higher: np.ndarray, tied: np.ndarray, depth: int) -> np.ndarray:
    """Each relevant item's chance of landing in the first stage's top ``depth`` (where a
    reranker can reach it) when its ties are ordered at random."""
    return np.clip(depth - higher, 0, tied + 1) / (tied + 1)


def first_stage_recall(higher: np.ndarray, tied: np.ndarray, depth: int) -> float:
    """Recall@depth of the first stage over relevant items (one per query in sequences)."""
    return float(np.mean(reach(higher, tied, depth)))


def pipeline(first_block: Callable[[np.ndarray], np.ndarray], first_top: Callable[..., np.ndarray], task: Any,
             settings: EvalSettings, query_items: Callable[[int], np.ndarray], texts: list[str], relevant: np.ndarray,
             relevant_offsets: np.ndarray, excluded: np.ndarray, excluded_offsets: np.ndarray,
             timing: dict[str, Any], details: dict[str, Any]) -> tuple[Callable, Callable]:
    """A full-ranking kind's first-stage score block and serving path (``first_top(i, k)``)
    wrapped by ``settings.rerank``; the record gets the first stage's recall at the depth (the
    share of targets the reranker can reach) and its NDCG@10 alone."""
    from recbench.protocol.kinds.ranking import relevant_tie_counts
    from recbench.protocol.metrics import expected_ranking_metrics
    from recbench.protocol.timing import stopwatch

    depth = int(settings.rerank_depth)
    rerank_timing: dict[str, Any] = {}
    reranker = build_reranker(settings.rerank, task, settings, query_items, texts, rerank_timing)
    with stopwatch() as first_sw:
        higher, tied = relevant_tie_counts(first_block, len(relevant_offsets) - 1, relevant, relevant_offsets,
                                           excluded, excluded_offsets)
    first = expected_ranking_metrics(higher, tied, relevant_offsets, None, 10)
    counts = np.diff(relevant_offsets)
    sums = np.add.reduceat(reach(higher, tied, depth), relevant_offsets[:-1][counts > 0]) if counts.any() else []
    per_query = np.asarray(sums, dtype=np.float64) / counts[counts > 0]  # recall@depth of each query
    trained_by = reranker_provenance(reranker.describe.get("reranker", ""))
    details["pipeline"] = {**reranker.describe, **({"trained_by": trained_by} if trained_by else {}), "depth": depth,
                           f"first_stage_recall@{depth}": float(np.nanmean(per_query)),
                           "first_stage_ndcg@10": float(np.nanmean(first["ndcg@10"]))}
    timing["rerank"] = {**rerank_timing, "first_stage_rank_seconds": first_sw.seconds}
    return (reranked_block(first_block, reranker, depth, excluded, excluded_offsets),
            reranked_top(first_top, reranker, depth))
