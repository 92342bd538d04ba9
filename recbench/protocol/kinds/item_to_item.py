"""Task kind ``item-to-item``: a seed item (or a query text) ranks the whole catalog; MRR,
HR@10, nDCG@10 with ties broken as a random ranking would."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import numpy as np

from recbench.protocol.capabilities import Encoder, Ranker, TokenEncoder, dispatch, served_as
from recbench.protocol.encoding import encode_checked, encode_item_tokens, encode_items, encode_query, fit_on_texts
from recbench.protocol.settings import EvalResult, EvalSettings, EvaluationError
from recbench.protocol.model_contract import hook
from recbench.protocol.kinds.base import RATE, TaskKind, register_kind
from recbench.protocol.beyond_accuracy import BEYOND_RANGES
from recbench.protocol.kinds.ranking import (with_fusion, beyond_accuracy, beyond_accuracy_results, cutoffs_of, ranking_metrics_at, item_scorer_scoring, ranker_scoring, exact_scores, faiss_index, refuse_index, relevant_tie_counts, serving_index, summarise, take_ragged, top_k, full_catalog_texts)
from recbench.protocol.indexes import excluded_of
from recbench.protocol.pooling import unit_rows
from recbench.protocol.trec import TREC_DEPTH, RankedLists, ranking_trec_writer
from recbench.protocol.scenarios import measure_latency
from recbench.protocol.timing import stopwatch
from recbench.protocol.stages import stage
from recbench.protocol.rerank import pipeline
from recbench.protocol.kinds.tasks import ItemToItemTask


catalog_texts = full_catalog_texts  # what an encoder encodes: the whole catalog
OWN_CUTOFFS = (10,)  # the primary metric's; --cutoffs adds others


def late_interaction_scoring(model: Any, task: ItemToItemTask, settings: EvalSettings, timing: dict[str, Any],
                             details: dict[str, Any]) -> tuple[Callable, Callable]:
    """A token encoder: a first stage (dense top K, or candidates near each query token), re-ranked
    by MaxSim of the query's tokens against each candidate's."""
    from recbench.protocol.indexes import UNRETURNED
    from recbench.protocol.late_interaction import (TokenCandidates, TokenTable, exact_maxsim_recall, rerank_block)

    n_items = len(task.item_ids)
    fields = tuple(settings.fields or task.default_fields)
    texts = catalog_texts(task, settings)
    timing["fit_seconds"] = 0.0
    items = encode_items(model, texts, settings, timing)  # the dense first stage
    dense_bytes = timing["stored_bytes_per_item"]
    doc_tokens = encode_item_tokens(model, texts, "document", settings, timing)
    timing["dense_first_stage_bytes_per_item"] = dense_bytes
    q_texts = [texts[r] for r in task.query_items] if task.query_items is not None else list(task.query_texts)
    q_tokens = encode_item_tokens(model, q_texts, "query", settings, timing)
    queries = items[task.query_items] if task.query_items is not None else unit_rows(
        encode_checked(model, q_texts, settings.batch_size, settings.progress))
    depth = int(hook(model, "rerank_depth"))
    table = TokenTable(doc_tokens)  # exact MaxSim as matrix products (the whole catalog when depth covers it)
    skip = lambda i: excluded_of(task.excluded, task.excluded_offsets, i)  # noqa: E731
    if hook(model, "first_stage") == "tokens":
        with stopwatch() as build_sw:
            token_first = TokenCandidates(table)
        timing["first_stage"] = {**token_first.describe(), "build_seconds": build_sw.seconds}

        def score_block(rows: np.ndarray) -> np.ndarray:
            out = np.full((len(rows), n_items), UNRETURNED, dtype=np.float32)
            for j, i in enumerate(rows):
                cand = token_first(q_tokens[i])
                out[j, cand] = table.maxsim_sum(q_tokens[i], cand)
            return out

        def one_query(i: int, k: int = 10) -> np.ndarray:
            with stage("encode"):
                q_tok = model.encode_tokens([q_texts[i]], kind="query", batch_size=1)[0]
            with stage("search"):
                cand = token_first(q_tok)
                cand = cand[~np.isin(cand, skip(i))]
            with stage("rerank"):
                return cand[np.argsort(-table.maxsim_sum(q_tok, cand), kind="stable")][:k]

        interaction = "candidates from document tokens near each query token (faiss IVF), scored by MaxSim"
    else:
        index = faiss_index(items)

        def score_block(rows: np.ndarray) -> np.ndarray:
            return rerank_block(queries[rows] @ items.T, depth,
                                lambda j, cand: table.maxsim_sum(q_tokens[rows[j]], cand))

        def one_query(i: int, k: int = 10) -> np.ndarray:
            with stage("encode"):
                q_vec = unit_rows(encode_query(model, [q_texts[i]]))[0]
                q_tok = model.encode_tokens([q_texts[i]], kind="query", batch_size=1)[0]
            with stage("search"):
                cand = top_k(index, q_vec, max(depth, k), skip(i))
            with stage("rerank"):
                late = table.maxsim_sum(q_tok, cand)
            return cand[np.argsort(-late, kind="stable")][:k]

        interaction = f"dense top-{depth}, re-ranked by MaxSim"
    timing.setdefault("first_stage", {"kind": f"dense top-{depth}"})
    timing["first_stage"]["recall@10_of_exact_maxsim"] = exact_maxsim_recall(
        score_block, table, q_tokens, task.excluded, task.excluded_offsets, len(task))
    details.update({"fields": list(fields), "interaction": interaction})
    return score_block, one_query


def encoder_scoring(model: Any, task: ItemToItemTask, settings: EvalSettings, timing: dict[str, Any],
                    details: dict[str, Any]) -> tuple[Callable, Callable]:
    """An encoder: the catalog and the queries encoded, the catalog searched through the serving index."""
    fields = tuple(settings.fields or task.default_fields)
    texts = catalog_texts(task, settings)
    fit_on_texts(model, texts, timing)
    items = encode_items(model, texts, settings, timing)
    if task.query_items is not None:
        queries = items[task.query_items]
        query_text = lambda i: texts[task.query_items[i]]  # noqa: E731
    else:
        queries = unit_rows(encode_checked(model, task.query_texts, settings.batch_size, settings.progress))
        query_text = lambda i: task.query_texts[i]  # noqa: E731
    index, score_block = serving_index(settings, items, queries, task.excluded, task.excluded_offsets,
                                       exact_scores(queries, items), timing)

    def one_query(i: int, k: int = 10) -> np.ndarray:
        with stage("encode"):
            q = unit_rows(encode_query(model, [query_text(i)]))[0]
        with stage("search"):
            return top_k(index, q, k, excluded_of(task.excluded, task.excluded_offsets, i))

    details["fields"] = list(fields)
    return score_block, one_query


def evaluate_item_to_item(model: Any, task: ItemToItemTask, settings: EvalSettings) -> EvalResult:
    """Each query text is encoded and every catalog item ranked by cosine; the query's own
    item never counts. MRR, HR@10, nDCG@10 over queries with at least one relevant item.

    Text-free scorers need interaction counts, which item-to-item data lacks, so a model
    that is only an ItemScorer (popularity) cannot run here; one that is also an Encoder
    (random) is scored through its ItemScorer side: pure noise."""
    timing: dict[str, Any] = {"batch_size": settings.batch_size}
    details: dict[str, Any] = {}
    n_items = len(task.item_ids)
    served = served_as(model)
    if served != "encoder":
        refuse_index(settings, model, "scores items another way (a joint scorer, an item scorer or MaxSim)")

    def scoring(model: Any, timing: dict[str, Any], details: dict[str, Any]) -> tuple[Callable, Callable]:
        return dispatch(model, {
            "ranker": lambda: ranker_scoring(model, task, task.excluded, task.excluded_offsets, timing, details),
            "item_scorer": lambda: item_scorer_scoring(model, getattr(task, "item_counts", None), n_items,
                                                       task.excluded, task.excluded_offsets, timing, details),
            "token_encoder": lambda: late_interaction_scoring(model, task, settings, timing, details),
            "encoder": lambda: encoder_scoring(model, task, settings, timing, details),
        }, f"{task.name} (item-to-item)")

    score_block, one_query = with_fusion(settings, scoring, scoring(model, timing, details), task.excluded,
                                         task.excluded_offsets, timing, details)
    if settings.rerank:  # a two-stage pipeline: this model's top K, re-ordered by the reranker (rerank.py)
        if task.query_items is None:
            raise EvaluationError(f"--rerank: {task.name}'s queries are texts outside the catalog; a reranker "
                                  "here scores a query item against its candidates")
        score_block, one_query = pipeline(score_block, one_query, task, settings,
                                          lambda i: task.query_items[i:i + 1], catalog_texts(task, settings),
                                          task.relevant, task.relevant_offsets, task.excluded, task.excluded_offsets,
                                          timing, details)
    cutoffs = cutoffs_of(settings, OWN_CUTOFFS)
    counts = getattr(task, "item_counts", None)
    ranked = RankedLists(max(TREC_DEPTH, *cutoffs))
    beyond = beyond_accuracy(task, settings, cutoffs, counts)
    with stopwatch() as rank_sw:
        higher, tied = relevant_tie_counts(score_block, len(task), task.relevant, task.relevant_offsets,
                                           task.excluded, task.excluded_offsets, on_block=lambda scores: (beyond.add(scores), ranked.add(scores)))
    timing["rank_seconds"] = rank_sw.seconds
    if served == "ranker":  # what a joint scorer reports of its inputs (fields, fallbacks counted)
        details.update(hook(model, "details") or {})
    per_query = ranking_metrics_at(higher, tied, task.relevant_offsets, task.grades, cutoffs)
    details["relevant_items_in_ties"] = int((tied > 0).sum())
    metrics = summarise(per_query, settings)
    # several relevant items per query: no single target's popularity band to split by
    beyond_metrics, beyond_per_query = beyond_accuracy_results(beyond, per_query, None, settings, details)
    metrics.update(beyond_metrics)
    details["queries_scored"] = int(np.isfinite(per_query["mrr"]).sum())
    timing.update(measure_latency(one_query, len(task), settings))
    variant = {}  # a row of its own where the item text is not the dataset's default fields
    if "fields" in details and tuple(details["fields"]) != tuple(task.default_fields):
        variant["fields"] = "+".join(details["fields"])
    return EvalResult(metrics=metrics, primary_metric="ndcg@10", timing=timing, details=details, variant=variant,
                      ranked=ranked.result(),
                      per_query={"query_id": query_ids(task), **per_query, **beyond_per_query})


def query_ids(task: ItemToItemTask) -> np.ndarray:
    """Each query's row in the whole split (kept through a --max-queries sample)."""
    return np.arange(len(task)) if task.query_ids is None else task.query_ids


def sample_item_queries(task: ItemToItemTask, rows: np.ndarray) -> ItemToItemTask:
    """The task with only the queries at ``rows`` (--max-queries); the catalog stays whole,
    and each query keeps its judgments, its exclusions and its id in the whole split."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    relevant, relevant_offsets = take_ragged(task.relevant, task.relevant_offsets, rows)
    grades = None if task.grades is None else take_ragged(task.grades, task.relevant_offsets, rows)[0]
    excluded, excluded_offsets = take_ragged(task.excluded, task.excluded_offsets, rows)
    return replace(task, relevant=relevant, relevant_offsets=relevant_offsets, grades=grades,
                   excluded=excluded, excluded_offsets=excluded_offsets,
                   query_items=None if task.query_items is None else task.query_items[rows],
                   query_texts=None if task.query_texts is None else [task.query_texts[r] for r in rows],
                   query_ids=query_ids(task)[rows])


def item_to_item_training_split(task: ItemToItemTask, seed: int) -> tuple[ItemToItemTask, ItemToItemTask]:
    """The train part and validation slice that the dataset carved from its train items (for
    the wine catalogs: title-description matching over the train items, 500 of them held out
    for validation; ``datasets/wine.py``). The test items' texts are in neither."""
    if task.training is None or task.validation is None:
        raise EvaluationError(f"{task.name}: this item-to-item dataset has no train part of its catalog to train on")
    return task.training, task.validation


def trec_judgments(task: ItemToItemTask) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The qrels of ``--export trec``: each query's relevant items and their grades."""
    return task.relevant, task.relevant_offsets, task.grades


ITEM_TO_ITEM = register_kind(TaskKind(
    name="item-to-item", evaluate=evaluate_item_to_item, needs=(Ranker, Encoder, TokenEncoder),
    primary_metric="ndcg@10", metric_ranges={r"mrr|ndcg@\d+|hr@\d+|recall@\d+": RATE, **BEYOND_RANGES},
    description="a seed item; a query builds its vector and searches all items",
    catalog_texts=catalog_texts, training_split=item_to_item_training_split, searches_index=True, reranks=True,
    sample_queries=sample_item_queries, exports={"trec": ranking_trec_writer(trec_judgments)},
    report_order=2, cutoffs=OWN_CUTOFFS))
