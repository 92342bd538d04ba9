"""What the full-ranking kinds (item-to-item, sequences) share: tie counts, faiss search,
the score blocks of rankers and item scorers.

Every query is scored against the whole catalog (no sampled negatives: sampled ranking is
the main reason published sequential-recommendation numbers do not reproduce). Metrics come
from each relevant item's place among the non-excluded catalog items: how many score strictly
higher, and how many tie with it. Ties are broken as a random ranking would break them: every
metric is its expected value over a uniformly random order of the tied items
(``metrics.expected_ranking_metrics``), so a model that scores everything alike lands exactly
at chance and never above it. Queries are processed in blocks so memory stays bounded.

Per-query latency is the serving path: build the query vector (encode the query text, or pool
the history), then a search of the item index (``--index``, exact inner product by default;
``indexes.py``) for the top 10 (+ the excluded items, filtered out afterwards).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.model_contract import hook
from recbench.protocol.indexes import ItemIndex, build_index, recall_of_exact, returned_scores, top_k  # top_k: the kinds' serving search
from recbench.protocol.metrics import expected_ranking_metrics, mean_with_ci
from recbench.protocol.stages import stage
from recbench.protocol.beyond_accuracy import (DIVERSITY_REFERENCE, HEAD_SHARE, TORSO_SHARE, BeyondAccuracy,
                                               popularity_bands, tfidf_reference)
from recbench.protocol.timing import stopwatch


def take_ragged(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lists at ``rows`` of a ragged array (``flat`` cut at ``offsets``), with their own
    offsets: how a --max-queries sample keeps each query's history, judgments or exclusions."""
    rows = np.asarray(rows, dtype=np.int64)
    lengths = np.diff(offsets)[rows]
    idx = (np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in rows]) if len(rows)
           else np.zeros(0, dtype=np.int64))
    return flat[idx], np.r_[0, np.cumsum(lengths)].astype(np.asarray(offsets).dtype)


def full_catalog_texts(task: Any, settings: EvalSettings) -> list[str]:
    """The texts an encoder encodes for a full-ranking kind: every item of the catalog, in row order."""
    return list(task.item_texts(tuple(settings.fields or task.default_fields)))


TIE_TOLERANCE = 1e-6  # float32 scores this close are one tie (see relevant_tie_counts)


def relevant_tie_counts(
    score_block: Callable[[np.ndarray], np.ndarray],
    n_queries: int,
    relevant: np.ndarray,
    relevant_offsets: np.ndarray,
    excluded: np.ndarray,
    excluded_offsets: np.ndarray,
    block: int = 512,
    on_block: Callable[[np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For every relevant (query, item) pair: how many non-excluded catalog items score
    higher, and how many others score the same (its tie group, less itself).

    "The same" means within ``TIE_TOLERANCE`` (relative, at least absolute 1e-6 for scores near
    0): a matrix product may give two identical item vectors scores that differ in the last
    bits, depending on where they sit in the catalog, so exact equality would make the tie
    rule depend on the BLAS build and the catalog order. Encoders' scores are products in
    float64 (``exact_scores``): float32 products carry ~1e-7 of order-dependent noise, enough to
    move two items 1e-6 apart across the tolerance when the catalog is reordered.

    ``score_block(query_rows)`` returns a (len(query_rows), n_items) score matrix. The metrics
    take the expectation over a random order of the tied items, so a tie never flatters.
    ``on_block`` sees each block's scores with the excluded items at -inf (the beyond-accuracy
    metrics read the same ranking, in the same pass)."""
    higher = np.empty(len(relevant), dtype=np.int64)
    tied = np.empty(len(relevant), dtype=np.int64)
    for start in range(0, n_queries, block):
        rows = np.arange(start, min(start + block, n_queries))
        scores = np.array(score_block(rows), dtype=np.float64, copy=True)
        if not np.isfinite(scores).all():
            raise EvaluationError("a score is NaN or inf")
        ex_lo, ex_hi = excluded_offsets[rows[0]], excluded_offsets[rows[-1] + 1]
        ex_q = np.repeat(rows - start, np.diff(excluded_offsets[rows[0] : rows[-1] + 2]))
        scores[ex_q, excluded[ex_lo:ex_hi]] = -np.inf
        if on_block is not None:
            on_block(scores)
        rel_lo, rel_hi = relevant_offsets[rows[0]], relevant_offsets[rows[-1] + 1]
        rel_q = np.repeat(rows - start, np.diff(relevant_offsets[rows[0] : rows[-1] + 2]))
        target = scores[rel_q, relevant[rel_lo:rel_hi]]
        if not np.isfinite(target).all():
            bad = int(rows[0] + rel_q[np.flatnonzero(~np.isfinite(target))[0]])
            raise EvaluationError(f"query {bad}: a relevant item is also excluded from the ranking")
        # compare in slices to bound the (pairs x items) temporaries
        step = max(1, 2_000_000 // max(scores.shape[1], 1))
        for s in range(0, len(rel_q), step):
            block_scores, t = scores[rel_q[s : s + step]], target[s : s + step, None]
            tol = TIE_TOLERANCE * np.maximum(1.0, np.abs(t))
            higher[rel_lo + s : rel_lo + s + len(t)] = (block_scores > t + tol).sum(axis=1)
            tied[rel_lo + s : rel_lo + s + len(t)] = (np.abs(block_scores - t) <= tol).sum(axis=1) - 1
    return higher, tied


def exact_scores(queries: np.ndarray, items: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The exact score block of an encoder: cosines of unit rows, computed in float64 so that
    the tie rule does not depend on the catalog's order (see ``relevant_tie_counts``)."""
    q64, items64_t = queries.astype(np.float64), np.ascontiguousarray(items.T, dtype=np.float64)
    return lambda rows: q64[rows] @ items64_t


def faiss_index(item_vectors: np.ndarray) -> ItemIndex:
    """The exact index (``--index flat``)."""
    return build_index("flat", item_vectors)


def serving_index(settings: EvalSettings, items: np.ndarray, queries: np.ndarray, excluded: np.ndarray,
                  excluded_offsets: np.ndarray, exact_block: Callable[[np.ndarray], np.ndarray],
                  timing: dict[str, Any]) -> tuple[ItemIndex, Callable[[np.ndarray], np.ndarray]]:
    """The ``--index`` an encoder serves from, and the score block the quality metrics come
    from: the exact scores for ``flat``, what the index returns otherwise (with its recall@10
    of the exact top 10 in the record)."""
    index = build_index(settings.index, items)
    timing["index"] = index.describe()
    timing["index_bytes_per_item"] = index.bytes_per_item
    if index.exact:
        timing["index"]["recall@10_of_exact"] = 1.0
        return index, exact_block
    exact = build_index("flat", items)
    timing["index"]["recall@10_of_exact"] = recall_of_exact(index, exact, queries, excluded, excluded_offsets)
    return index, returned_scores(index, queries, len(items), excluded, excluded_offsets)


def refuse_index(settings: EvalSettings, model: Any, why: str) -> None:
    """``--index`` serves encoders' vectors; other scorers have no item index to swap."""
    if settings.index != "flat":
        raise EvaluationError(f"--index {settings.index} applies to encoder models; {model.name!r} {why}")


def best_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest scores, best first (k may exceed the catalog)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def summarise(per_query: dict[str, np.ndarray], settings: EvalSettings) -> dict[str, dict[str, float]]:
    return {name: mean_with_ci(v, settings.n_bootstrap, settings.seed) for name, v in per_query.items()}


def summarise_parts(per_query: dict[str, np.ndarray], parts: dict[str, np.ndarray],
                    settings: EvalSettings) -> dict[str, dict[str, float]]:
    """Every metric over each part of the queries (``ndcg@10[cold]``: over the queries whose
    target is a cold item), with its own interval; an empty part gets no entry."""
    out: dict[str, dict[str, float]] = {}
    for part, mask in parts.items():
        if mask.any():
            for name, values in per_query.items():
                out[f"{name}[{part}]"] = mean_with_ci(values[mask], settings.n_bootstrap, settings.seed)
    return out


def noise_block(model: Any, n_items: int) -> Callable[[np.ndarray], np.ndarray]:
    def block(rows: np.ndarray) -> np.ndarray:
        flat = np.tile(np.arange(n_items), len(rows))
        return np.asarray(model.score_items(flat), dtype=np.float32).reshape(len(rows), n_items)

    return block


def note_stored_bytes(model: Any, timing: dict[str, Any]) -> None:
    """A joint scorer says what serving keeps per item (a vector, say); the record shows it."""
    if hook(model, "stored_bytes_per_item"):
        timing["stored_bytes_per_item"] = int(model.stored_bytes_per_item)


def ranker_block(model: Any, task: Any) -> Callable[[np.ndarray], np.ndarray]:
    n_items = len(task.item_ids)

    def block(rows: np.ndarray) -> np.ndarray:
        out = np.asarray(model.score_queries(task, rows), dtype=np.float32)
        if out.shape != (len(rows), n_items):
            raise EvaluationError(f"model {model.name!r} returned scores of shape {out.shape} for {len(rows)} "
                                  f"queries over {n_items} items; expected ({len(rows)}, {n_items})")
        return out

    return block


def ranker_top(block: Callable[[np.ndarray], np.ndarray], excluded: np.ndarray,
                excluded_offsets: np.ndarray) -> Callable[..., np.ndarray]:
    def one_query(i: int, k: int = 10) -> np.ndarray:
        with stage("score"):  # the joint scorer's forward pass over the catalog
            s = block(np.array([i]))[0].copy()
        with stage("top"):
            s[excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
            return best_k(s, k)

    return one_query


def beyond_accuracy(task: Any, settings: EvalSettings, cutoffs: list[int],
                    counts: np.ndarray | None) -> BeyondAccuracy:
    """The beyond-accuracy accumulator of a full-ranking task: popularity figures from the
    training counts where the task has any, ILD over the fixed reference representation of the
    catalog's default texts (``beyond_accuracy.DIVERSITY_REFERENCE``)."""
    texts = task.item_texts(tuple(task.default_fields))
    return BeyondAccuracy(n_items=len(task.item_ids), cutoffs=cutoffs, tolerance=TIE_TOLERANCE,
                          counts=None if counts is None else np.asarray(counts, dtype=np.float64),
                          reference=tfidf_reference(list(texts)))


def beyond_accuracy_results(acc: BeyondAccuracy, accuracy: dict[str, np.ndarray], target_items: np.ndarray | None,
                            settings: EvalSettings, details: dict[str, Any]) -> tuple[dict, dict]:
    """The beyond-accuracy metrics and their per-query values, and (given the training counts
    and one target per query) every accuracy metric over the queries whose target is a head,
    torso or tail item (``ndcg@10[tail]``)."""
    metrics = acc.metrics(settings.n_bootstrap, settings.seed)
    details["diversity_reference"] = DIVERSITY_REFERENCE
    if acc.counts is not None and target_items is not None:
        band = popularity_bands(acc.counts)[target_items]
        metrics.update(summarise_parts(accuracy, {b: band == b for b in ("head", "torso", "tail")}, settings))
        details["targets_by_popularity"] = {b: int((band == b).sum()) for b in ("head", "torso", "tail")}
        details["popularity_bands"] = {"head": f"top {HEAD_SHARE:.0%} of items by training count",
                                       "torso": f"the next {TORSO_SHARE:.0%}", "tail": "the rest (unseen items included)"}
    return metrics, acc.per_query()


def with_fusion(settings: EvalSettings, scoring: Callable[[Any, dict, dict], tuple[Callable, Callable]],
                first: tuple[Callable, Callable], excluded: np.ndarray, excluded_offsets: np.ndarray,
                timing: dict[str, Any], details: dict[str, Any]) -> tuple[Callable, Callable]:
    """The run's scoring, fused with ``--fuse``'s models by reciprocal rank (``fusion.py``);
    ``scoring(model, timing, details)`` is the kind's dispatch. Each fused model's details and
    fit time go under ``details["fusion"]``; what serving stores per item adds up."""
    if not settings.fuse:
        return first
    from recbench.protocol.fusion import fused_block, fused_top, score_fused_models

    spec, parts, weights = score_fused_models(settings, scoring, first, timing, details)
    return (fused_block([b for b, _ in parts], weights, spec, excluded, excluded_offsets),
            fused_top([t for _, t in parts], weights, spec))


def cutoffs_of(settings: EvalSettings, own: tuple[int, ...]) -> list[int]:
    """The cutoffs a ranking kind computes: its own (the primary metric's among them) and those
    ``--cutoffs`` asks for, ascending."""
    return sorted(set(own) | set(settings.cutoffs or ()))


def ranking_metrics_at(higher: np.ndarray, tied: np.ndarray, offsets: np.ndarray, grades: np.ndarray | None,
                       cutoffs: list[int]) -> dict[str, np.ndarray]:
    """Per-query MRR and, at every cutoff, HR@k and nDCG@k (tie-expected: ``expected_ranking_metrics``)."""
    out: dict[str, np.ndarray] = {}
    for k in cutoffs:
        out.update(expected_ranking_metrics(higher, tied, offsets, grades, k))
    return out


def ranker_scoring(model: Any, task: Any, excluded: np.ndarray, excluded_offsets: np.ndarray,
                   timing: dict[str, Any], details: dict[str, Any]) -> tuple[Callable, Callable]:
    """A joint scorer's score block and served query (its forward pass over the catalog, then the
    top K of what is not excluded): the same for every full-ranking kind."""
    timing["fit_seconds"] = 0.0
    block = ranker_block(model, task)
    details["ranker"] = "joint scorer"
    note_stored_bytes(model, timing)
    return block, ranker_top(block, excluded, excluded_offsets)


def item_scorer_scoring(model: Any, counts: np.ndarray | None, n_items: int, excluded: np.ndarray,
                        excluded_offsets: np.ndarray, timing: dict[str, Any],
                        details: dict[str, Any]) -> tuple[Callable, Callable]:
    """An item scorer (popularity, noise) fitted on the task's engagement counts, where it has
    any: every query scores the catalog alike (noise: each row afresh)."""
    with stopwatch() as fit_sw:
        model.fit_counts(counts)
    timing["fit_seconds"] = fit_sw.seconds

    def one_query(i: int, k: int = 10) -> np.ndarray:
        s = np.asarray(model.score_items(np.arange(n_items)), dtype=np.float64)
        s[excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
        return best_k(s, k)

    details["ranker"] = "item scorer (no text)"
    return noise_block(model, n_items), one_query
