"""Full-ranking protocols: item-to-item retrieval and sequential next-item prediction.

Every query is scored against the whole catalog (no sampled negatives: sampled ranking is
the main reason published sequential-recommendation numbers do not reproduce). Metrics come
from each relevant item's place among the non-excluded catalog items: how many score strictly
higher, and how many tie with it. Ties are broken as a random ranking would break them: every
metric is its expected value over a uniformly random order of the tied items
(``metrics.expected_ranking_metrics``), so a model that scores everything alike lands exactly
at chance and never above it. Queries are processed in blocks so memory stays bounded.

Per-query latency is the serving path: build the query vector (encode the query text, or pool
the history), then an exact inner-product search in faiss over all item vectors for the top
10 (+ the excluded items, filtered out afterwards).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from recbench.benchmark.evaluate import (
    EvalResult,
    EvalSettings,
    EvaluationError,
    encode_checked,
    encode_item_tokens,
    encode_items,
    fit_on_texts,
    protocol,
)
from recbench.benchmark.metrics import expected_ranking_metrics, mean_with_ci
from recbench.benchmark.pooling import unit_rows
from recbench.benchmark.protocols import Encoder, ItemScorer, Ranker, TokenEncoder
from recbench.benchmark.tasks import ItemToItemTask, SequencesTask
from recbench.benchmark.timing import latency_percentiles, stopwatch

SEQUENCE_POOLINGS = ("mean", "recency", "topk")


def relevant_tie_counts(
    score_block: Callable[[np.ndarray], np.ndarray],
    n_queries: int,
    relevant: np.ndarray,
    relevant_offsets: np.ndarray,
    excluded: np.ndarray,
    excluded_offsets: np.ndarray,
    block: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """For every relevant (query, item) pair: how many non-excluded catalog items score
    strictly higher, and how many others score exactly the same (its tie group, less itself).

    ``score_block(query_rows)`` returns a (len(query_rows), n_items) score matrix. The metrics
    take the expectation over a random order of the tied items, so a tie never flatters."""
    higher = np.empty(len(relevant), dtype=np.int64)
    tied = np.empty(len(relevant), dtype=np.int64)
    for start in range(0, n_queries, block):
        rows = np.arange(start, min(start + block, n_queries))
        scores = np.array(score_block(rows), dtype=np.float32, copy=True)
        if not np.isfinite(scores).all():
            raise EvaluationError("a score is NaN or inf")
        ex_lo, ex_hi = excluded_offsets[rows[0]], excluded_offsets[rows[-1] + 1]
        ex_q = np.repeat(rows - start, np.diff(excluded_offsets[rows[0] : rows[-1] + 2]))
        scores[ex_q, excluded[ex_lo:ex_hi]] = -np.inf
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
            higher[rel_lo + s : rel_lo + s + len(t)] = (block_scores > t).sum(axis=1)
            tied[rel_lo + s : rel_lo + s + len(t)] = (block_scores == t).sum(axis=1) - 1
    return higher, tied


def faiss_index(item_vectors: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexFlatIP(item_vectors.shape[1])
    index.add(np.ascontiguousarray(item_vectors, dtype=np.float32))
    return index


def top_k(index: Any, query: np.ndarray, k: int, excluded: np.ndarray) -> np.ndarray:
    """The top-k catalog rows for one query vector, excluded rows filtered out."""
    _, idx = index.search(np.ascontiguousarray(query[None, :], dtype=np.float32), k + len(excluded))
    hits = idx[0][~np.isin(idx[0], excluded)]
    return hits[:k]


def best_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest scores, best first (k may exceed the catalog)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _summarise(per_query: dict[str, np.ndarray], settings: EvalSettings) -> dict[str, dict[str, float]]:
    return {name: mean_with_ci(v, settings.n_bootstrap, settings.seed) for name, v in per_query.items()}


def _noise_block(model: Any, n_items: int) -> Callable[[np.ndarray], np.ndarray]:
    def block(rows: np.ndarray) -> np.ndarray:
        flat = np.tile(np.arange(n_items), len(rows))
        return np.asarray(model.score_items(flat), dtype=np.float32).reshape(len(rows), n_items)

    return block


# --- item-to-item -------------------------------------------------------------------------
def _ranker_block(model: Any, task: Any) -> Callable[[np.ndarray], np.ndarray]:
    n_items = len(task.item_ids)

    def block(rows: np.ndarray) -> np.ndarray:
        out = np.asarray(model.score_queries(task, rows), dtype=np.float32)
        if out.shape != (len(rows), n_items):
            raise EvaluationError(f"model {model.name!r} returned scores of shape {out.shape} for {len(rows)} "
                                  f"queries over {n_items} items; expected ({len(rows)}, {n_items})")
        return out

    return block


def _ranker_top(block: Callable[[np.ndarray], np.ndarray], excluded: np.ndarray,
                excluded_offsets: np.ndarray) -> Callable[[int], np.ndarray]:
    def one_query(i: int) -> np.ndarray:
        s = block(np.array([i]))[0].copy()
        s[excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
        return best_k(s, 10)

    return one_query


@protocol("item-to-item", needs=(Ranker, Encoder, TokenEncoder))
def evaluate_item_to_item(model: Any, task: ItemToItemTask, settings: EvalSettings) -> EvalResult:
    """Each query text is encoded and every catalog item ranked by cosine; the query's own
    item never counts. MRR, HR@10, nDCG@10 over queries with at least one relevant item.

    Text-free scorers need interaction counts, which item-to-item data lacks, so a model
    that is only an ItemScorer (popularity) cannot run here; one that is also an Encoder
    (random) is scored through its ItemScorer side: pure noise."""
    timing: dict[str, Any] = {"batch_size": settings.batch_size}
    details: dict[str, Any] = {}
    n_items = len(task.item_ids)
    if isinstance(model, Ranker):
        timing["fit_seconds"] = 0.0
        score_block = _ranker_block(model, task)
        one_query = _ranker_top(score_block, task.excluded, task.excluded_offsets)
        details["ranker"] = "joint scorer"
    elif isinstance(model, ItemScorer):
        with stopwatch() as fit_sw:
            model.fit_counts(getattr(task, "item_counts", None))
        timing["fit_seconds"] = fit_sw.seconds
        score_block = _noise_block(model, n_items)
        one_query: Callable[[int], Any] = lambda i: best_k(model.score_items(np.arange(n_items)), 10)  # noqa: E731
    elif isinstance(model, TokenEncoder):
        from recbench.benchmark.late_interaction import maxsim_sum, rerank_block

        fields = tuple(settings.fields or task.default_fields)
        texts = task.item_texts(fields)
        timing["fit_seconds"] = 0.0
        items = encode_items(model, texts, settings, timing)  # the dense first stage
        dense_bytes = timing["stored_bytes_per_item"]
        doc_tokens = encode_item_tokens(model, texts, "document", settings, timing)
        timing["dense_first_stage_bytes_per_item"] = dense_bytes
        q_texts = [texts[r] for r in task.query_items] if task.query_items is not None else list(task.query_texts)
        q_tokens = encode_item_tokens(model, q_texts, "query", settings, timing)
        queries = items[task.query_items] if task.query_items is not None else unit_rows(
            encode_checked(model, q_texts, settings.batch_size, settings.progress))
        depth = int(getattr(model, "rerank_depth", 100))

        def score_block(rows: np.ndarray) -> np.ndarray:
            return rerank_block(queries[rows] @ items.T, depth,
                                lambda j, cand: [maxsim_sum(q_tokens[rows[j]], doc_tokens[c]) for c in cand])

        index = faiss_index(items)

        def one_query(i: int) -> np.ndarray:
            q_vec = unit_rows(model.encode([q_texts[i]], batch_size=1))[0]
            q_tok = model.encode_tokens([q_texts[i]], kind="query", batch_size=1)[0]
            cand = top_k(index, q_vec, depth, task.excluded[task.excluded_offsets[i]:task.excluded_offsets[i + 1]])
            late = np.array([maxsim_sum(q_tok, doc_tokens[c]) for c in cand])
            return cand[np.argsort(-late, kind="stable")][:10]

        details.update({"fields": list(fields), "interaction": f"dense top-{depth}, re-ranked by MaxSim"})
    else:
        fields = tuple(settings.fields or task.default_fields)
        texts = task.item_texts(fields)
        fit_on_texts(model, texts, timing)
        items = encode_items(model, texts, settings, timing)
        if task.query_items is not None:
            queries = items[task.query_items]
            query_text = lambda i: texts[task.query_items[i]]  # noqa: E731
        else:
            queries = unit_rows(encode_checked(model, task.query_texts, settings.batch_size, settings.progress))
            query_text = lambda i: task.query_texts[i]  # noqa: E731
        score_block = lambda rows: queries[rows] @ items.T  # noqa: E731
        index = faiss_index(items)
        timing["index_bytes_per_item"] = int(items.shape[1] * 4)

        def one_query(i: int) -> np.ndarray:
            q = unit_rows(model.encode([query_text(i)], batch_size=1))[0]
            return top_k(index, q, 10, task.excluded[task.excluded_offsets[i]:task.excluded_offsets[i + 1]])

        details["fields"] = list(fields)
    with stopwatch() as rank_sw:
        higher, tied = relevant_tie_counts(score_block, len(task), task.relevant, task.relevant_offsets,
                                           task.excluded, task.excluded_offsets)
    timing["rank_seconds"] = rank_sw.seconds
    per_query = expected_ranking_metrics(higher, tied, task.relevant_offsets, task.grades, 10)
    details["relevant_items_in_ties"] = int((tied > 0).sum())
    metrics = _summarise(per_query, settings)
    details["queries_scored"] = int(np.isfinite(per_query["mrr"]).sum())
    nq = min(settings.latency_queries, len(task))
    picks = np.linspace(0, len(task) - 1, nq).astype(int) if nq else np.array([], dtype=int)
    timing["latency"] = latency_percentiles(lambda i: one_query(int(picks[i])), nq) if nq else {}
    return EvalResult(metrics=metrics, primary_metric="ndcg@10", timing=timing, details=details,
                      per_query={"query_id": np.arange(len(task)), **per_query})


# --- sequences ----------------------------------------------------------------------------
def pool_histories(unit: np.ndarray, task: SequencesTask, kind: str, decay: float) -> np.ndarray:
    """One query vector per user: the mean of the history's unit vectors, or a recency-weighted
    mean (weight decay**age, the newest item age 0)."""
    n = len(task)
    lengths = np.diff(task.history_offsets)
    owner = np.repeat(np.arange(n), lengths)
    if kind == "recency":
        age = task.history_offsets[owner + 1] - 1 - np.arange(len(task.history))
        w = decay ** age.astype(np.float64)
    else:
        w = np.ones(len(task.history))
    out = np.zeros((n, unit.shape[1]), dtype=np.float64)
    np.add.at(out, owner, unit[task.history] * w[:, None])
    return unit_rows(out.astype(np.float32))


@protocol("sequences", needs=(Ranker, Encoder, ItemScorer, TokenEncoder), poolings=SEQUENCE_POOLINGS)
def evaluate_sequences(model: Any, task: SequencesTask, settings: EvalSettings) -> EvalResult:
    """Next item by full ranking over all items, the user's history excluded (the target
    itself never is). User profile: ``--pooling mean | recency | topk`` over history
    embeddings. NDCG@10, Recall@10 and MRR over users."""
    timing: dict[str, Any] = {"batch_size": settings.batch_size}
    details: dict[str, Any] = {}
    n_items = len(task.item_ids)
    # exclusions: history items other than the target
    owner = np.repeat(np.arange(len(task)), np.diff(task.history_offsets))
    keep = task.history != task.targets[owner]
    excluded = task.history[keep]
    excluded_offsets = np.r_[0, np.cumsum(np.bincount(owner[keep], minlength=len(task)))]
    relevant, relevant_offsets = task.targets, np.arange(len(task) + 1)
    pooling = settings.pooling  # its vocabulary (SEQUENCE_POOLINGS) is checked when the cell is resolved
    if isinstance(model, Ranker):
        timing["fit_seconds"] = 0.0
        score_block = _ranker_block(model, task)
        one_query = _ranker_top(score_block, excluded, excluded_offsets)
        details["ranker"] = "joint scorer"
    elif isinstance(model, ItemScorer):
        with stopwatch() as fit_sw:
            model.fit_counts(task.train_counts)
        timing["fit_seconds"] = fit_sw.seconds
        score_block = _noise_block(model, n_items)

        def one_query(i: int) -> np.ndarray:
            s = model.score_items(np.arange(n_items))
            s[excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
            return best_k(s, 10)

        details["ranker"] = "item scorer (no text)"
    elif isinstance(model, TokenEncoder):
        from recbench.benchmark.late_interaction import candidates_vs_history, rerank_block

        fields = tuple(settings.fields or task.default_fields)
        texts = task.item_texts(fields)
        timing["fit_seconds"] = 0.0
        unit = encode_items(model, texts, settings, timing)  # the dense first stage
        timing["dense_first_stage_bytes_per_item"] = timing["stored_bytes_per_item"]
        tokens = encode_item_tokens(model, texts, "document", settings, timing)
        users = pool_histories(unit, task, "mean", settings.recency_decay)
        depth = int(getattr(model, "rerank_depth", 100))
        index = faiss_index(unit)

        def score_block(rows: np.ndarray) -> np.ndarray:
            dense = users[rows] @ unit.T
            for j, i in enumerate(rows):  # history items are excluded: keep them out of the top
                dense[j, excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
            return rerank_block(np.nan_to_num(dense, neginf=-1e9), depth,
                                lambda j, cand: candidates_vs_history(tokens, task.history_of(rows[j]), cand))

        def one_query(i: int) -> np.ndarray:
            h = task.history_of(i)
            q = unit_rows(unit[h].sum(axis=0, keepdims=True))[0]
            cand = top_k(index, q, depth, excluded[excluded_offsets[i]:excluded_offsets[i + 1]])
            late = candidates_vs_history(tokens, h, cand)
            return cand[np.argsort(-late, kind="stable")][:10]

        details.update({"fields": list(fields), "text_style": task.text_style,
                        "interaction": f"dense top-{depth} (mean pooling), re-ranked by MaxSim against history tokens"})
    else:
        fields = tuple(settings.fields or task.default_fields)
        texts = task.item_texts(fields)
        fit_on_texts(model, texts, timing)
        unit = encode_items(model, texts, settings, timing)
        index = faiss_index(unit)
        decay = settings.recency_decay
        if pooling == "topk":
            k = settings.topk

            def score_block(rows: np.ndarray) -> np.ndarray:
                out = np.empty((len(rows), n_items), dtype=np.float32)
                for j, i in enumerate(rows):
                    sims = unit[task.history_of(i)] @ unit.T
                    kk = min(k, sims.shape[0])
                    out[j] = np.partition(sims, sims.shape[0] - kk, axis=0)[-kk:].mean(axis=0)
                return out

            def one_query(i: int) -> np.ndarray:
                s = score_block(np.array([i]))[0]
                s[excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
                return best_k(s, 10)
        else:
            users = pool_histories(unit, task, pooling, decay)
            score_block = lambda rows: users[rows] @ unit.T  # noqa: E731

            def one_query(i: int) -> np.ndarray:
                h = task.history_of(i)
                w = decay ** np.arange(len(h) - 1, -1, -1.0) if pooling == "recency" else np.ones(len(h))
                q = unit_rows((w[:, None] * unit[h]).sum(axis=0, keepdims=True).astype(np.float32))[0]
                return top_k(index, q, 10, excluded[excluded_offsets[i]:excluded_offsets[i + 1]])

        details.update({"fields": list(fields), "text_style": task.text_style, "pooling": pooling,
                        **({"k": settings.topk} if pooling == "topk" else {}),
                        **({"decay": decay} if pooling == "recency" else {})})
    with stopwatch() as rank_sw:
        higher, tied = relevant_tie_counts(score_block, len(task), relevant, relevant_offsets, excluded,
                                           excluded_offsets)
    timing["rank_seconds"] = rank_sw.seconds
    per_query = expected_ranking_metrics(higher, tied, relevant_offsets, None, 10)
    details["relevant_items_in_ties"] = int((tied > 0).sum())
    per_query = {"ndcg@10": per_query["ndcg@10"], "recall@10": per_query["hr@10"], "mrr": per_query["mrr"]}
    metrics = _summarise(per_query, settings)
    nq = min(settings.latency_queries, len(task))
    picks = np.linspace(0, len(task) - 1, nq).astype(int) if nq else np.array([], dtype=int)
    timing["latency"] = latency_percentiles(lambda i: one_query(int(picks[i])), nq) if nq else {}
    variant = {}
    if not isinstance(model, (Ranker, ItemScorer, TokenEncoder)):
        if pooling != "mean":
            variant["pooling"] = pooling
        if tuple(details["fields"]) != tuple(task.default_fields):
            variant["fields"] = "+".join(details["fields"])
    return EvalResult(metrics=metrics, primary_metric="ndcg@10", timing=timing, details=details, variant=variant,
                      per_query={"query_id": np.asarray(task.users).astype(str), **per_query})
