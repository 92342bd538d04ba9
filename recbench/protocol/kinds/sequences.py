"""Task kind ``sequences``: a user's history predicts the next item by full ranking
(leave-one-out); NDCG@10, Recall@10, MRR with ties broken as a random ranking would."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import numpy as np

from recbench.protocol.capabilities import Encoder, ItemScorer, Ranker, TokenEncoder, dispatch, served_as
from recbench.protocol.encoding import encode_item_tokens, encode_items, fit_on_texts
from recbench.protocol.settings import EvalResult, EvalSettings, EvaluationError
from recbench.protocol.model_contract import hook
from recbench.protocol.kinds.base import RATE, TaskKind, register_kind
from recbench.protocol.kinds.ranking import (with_fusion, best_k, beyond_accuracy, beyond_accuracy_results, cutoffs_of, ranking_metrics_at, item_scorer_scoring, ranker_scoring, summarise_parts, exact_scores, faiss_index, refuse_index, relevant_tie_counts, serving_index, summarise, take_ragged, top_k, full_catalog_texts)
from recbench.protocol.beyond_accuracy import BEYOND_RANGES, popularity_bands
from recbench.protocol.pooling import unit_rows
from recbench.protocol.trec import TREC_DEPTH, RankedLists, ranking_trec_writer
from recbench.protocol.scenarios import measure_latency
from recbench.protocol.timing import stopwatch
from recbench.protocol.stages import stage
from recbench.protocol.rerank import pipeline
from recbench.protocol.kinds.tasks import SequencesTask, blank_cold_texts

SEQUENCE_POOLINGS = ("mean", "recency", "topk")
OWN_CUTOFFS = (10,)  # the primary metric's; --cutoffs adds others


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


catalog_texts = full_catalog_texts  # what an encoder encodes: the whole catalog


def late_interaction_scoring(model: Any, task: SequencesTask, settings: EvalSettings, excluded: np.ndarray,
                             excluded_offsets: np.ndarray, timing: dict[str, Any],
                             details: dict[str, Any]) -> tuple[Callable, Callable]:
    """A token encoder: a dense first stage (mean-pooled history vector), its top items re-ranked
    by MaxSim of their tokens against the history's."""
    from recbench.protocol.late_interaction import candidates_vs_history, rerank_block

    fields = tuple(settings.fields or task.default_fields)
    texts = catalog_texts(task, settings)
    timing["fit_seconds"] = 0.0
    unit = encode_items(model, texts, settings, timing)  # the dense first stage
    timing["dense_first_stage_bytes_per_item"] = timing["stored_bytes_per_item"]
    tokens = encode_item_tokens(model, texts, "document", settings, timing)
    users = pool_histories(unit, task, "mean", settings.recency_decay)
    depth = int(hook(model, "rerank_depth"))
    index = faiss_index(unit)

    def score_block(rows: np.ndarray) -> np.ndarray:
        dense = users[rows] @ unit.T
        for j, i in enumerate(rows):  # history items are excluded: keep them out of the top
            dense[j, excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
        return rerank_block(np.nan_to_num(dense, neginf=-1e9), depth,
                            lambda j, cand: candidates_vs_history(tokens, task.history_of(rows[j]), cand))

    def one_query(i: int, k: int = 10) -> np.ndarray:
        h = task.history_of(i)
        q = unit_rows(unit[h].sum(axis=0, keepdims=True))[0]
        with stage("search"):
            cand = top_k(index, q, max(depth, k), excluded[excluded_offsets[i]:excluded_offsets[i + 1]])
        with stage("rerank"):
            late = candidates_vs_history(tokens, h, cand)
        return cand[np.argsort(-late, kind="stable")][:k]

    details.update({"fields": list(fields), "text_style": task.text_style,
                    "interaction": f"dense top-{depth} (mean pooling), re-ranked by MaxSim against history tokens"})
    return score_block, one_query


def encoder_scoring(model: Any, task: SequencesTask, settings: EvalSettings, excluded: np.ndarray,
                    excluded_offsets: np.ndarray, timing: dict[str, Any],
                    details: dict[str, Any]) -> tuple[Callable, Callable]:
    """An encoder: the catalog encoded once, each user's history pooled (--pooling mean | recency
    | topk) and the catalog searched through the serving index."""
    n_items = len(task.item_ids)
    pooling = settings.pooling  # its vocabulary (SEQUENCE_POOLINGS) is checked when the cell is resolved
    fields = tuple(settings.fields or task.default_fields)
    texts = catalog_texts(task, settings)
    fit_on_texts(model, texts, timing)
    unit = encode_items(model, texts, settings, timing)
    decay = settings.recency_decay
    if pooling == "topk":
        refuse_index(settings, model, "with --pooling topk scores items by its k best history matches, "
                     "which no single query vector serves")
        k = settings.topk

        def score_block(rows: np.ndarray) -> np.ndarray:
            out = np.empty((len(rows), n_items), dtype=np.float32)
            for j, i in enumerate(rows):
                sims = unit[task.history_of(i)] @ unit.T
                kk = min(k, sims.shape[0])
                out[j] = np.partition(sims, sims.shape[0] - kk, axis=0)[-kk:].mean(axis=0)
            return out

        def one_query(i: int, k: int = 10) -> np.ndarray:
            s = score_block(np.array([i]))[0]
            s[excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
            return best_k(s, k)
    else:
        users = pool_histories(unit, task, pooling, decay)
        index, score_block = serving_index(settings, unit, users, excluded, excluded_offsets,
                                           exact_scores(users, unit), timing)

        def one_query(i: int, k: int = 10) -> np.ndarray:
            with stage("pool"):
                h = task.history_of(i)
                w = decay ** np.arange(len(h) - 1, -1, -1.0) if pooling == "recency" else np.ones(len(h))
                q = unit_rows((w[:, None] * unit[h]).sum(axis=0, keepdims=True).astype(np.float32))[0]
            with stage("search"):
                return top_k(index, q, k, excluded[excluded_offsets[i]:excluded_offsets[i + 1]])

    details.update({"fields": list(fields), "text_style": task.text_style, "pooling": pooling,
                    **({"k": settings.topk} if pooling == "topk" else {}),
                    **({"decay": decay} if pooling == "recency" else {})})
    return score_block, one_query


SEEN_ITEMS = ("excluded", "kept")


def seen_exclusions(task: SequencesTask, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """What each user's ranking leaves out: the history items other than the target ("excluded",
    our rule: an item the user has is no recommendation), or nothing ("kept": RecBole's rule, and
    that of UniSRec's and Recformer's evaluation code, under which published figures were made)."""
    if rule not in SEEN_ITEMS:
        raise EvaluationError(f"--seen-items is {' or '.join(SEEN_ITEMS)}, not {rule!r}")
    if rule == "kept":
        return np.zeros(0, dtype=np.int64), np.zeros(len(task) + 1, dtype=np.int64)
    owner = np.repeat(np.arange(len(task)), np.diff(task.history_offsets))
    keep = task.history != task.targets[owner]
    return task.history[keep], np.r_[0, np.cumsum(np.bincount(owner[keep], minlength=len(task)))]


def evaluate_sequences(model: Any, task: SequencesTask, settings: EvalSettings) -> EvalResult:
    """Next item by full ranking over all items, the user's history excluded (the target
    itself never is; ``--seen-items kept`` ranks the history too: ``seen_exclusions``). User profile: ``--pooling mean | recency | topk`` over history
    embeddings. NDCG@10, Recall@10 and MRR over users."""
    timing: dict[str, Any] = {"batch_size": settings.batch_size}
    details: dict[str, Any] = {}
    n_items = len(task.item_ids)
    excluded, excluded_offsets = seen_exclusions(task, settings.seen_items)
    relevant, relevant_offsets = task.targets, np.arange(len(task) + 1)
    served = served_as(model)
    if served != "encoder":
        refuse_index(settings, model, "scores items another way (a joint scorer, an item scorer or MaxSim)")

    def scoring(model: Any, timing: dict[str, Any], details: dict[str, Any]) -> tuple[Callable, Callable]:
        return dispatch(model, {
            "ranker": lambda: ranker_scoring(model, task, excluded, excluded_offsets, timing, details),
            "item_scorer": lambda: item_scorer_scoring(model, task.train_counts, n_items, excluded, excluded_offsets,
                                                       timing, details),
            "token_encoder": lambda: late_interaction_scoring(model, task, settings, excluded, excluded_offsets,
                                                              timing, details),
            "encoder": lambda: encoder_scoring(model, task, settings, excluded, excluded_offsets, timing, details),
        }, f"{task.name} (sequences)")

    score_block, one_query = with_fusion(settings, scoring, scoring(model, timing, details), excluded,
                                         excluded_offsets, timing, details)
    if settings.rerank:  # a two-stage pipeline: this model's top K, re-ordered by the reranker
        score_block, one_query = pipeline(score_block, one_query, task, settings, task.history_of,
                                          catalog_texts(task, settings), relevant, relevant_offsets, excluded,
                                          excluded_offsets, timing, details)
    cutoffs = cutoffs_of(settings, OWN_CUTOFFS)
    ranked = RankedLists(max(TREC_DEPTH, *cutoffs))
    beyond = beyond_accuracy(task, settings, cutoffs, task.train_counts)
    with stopwatch() as rank_sw:
        higher, tied = relevant_tie_counts(score_block, len(task), relevant, relevant_offsets, excluded,
                                           excluded_offsets, on_block=lambda scores: (beyond.add(scores), ranked.add(scores)))
    timing["rank_seconds"] = rank_sw.seconds
    if served == "ranker":  # what a joint scorer reports of its inputs (fields, fallbacks counted)
        details.update(hook(model, "details") or {})
    at = ranking_metrics_at(higher, tied, relevant_offsets, None, cutoffs)
    details["relevant_items_in_ties"] = int((tied > 0).sum())
    # one relevant item per user: HR@k is recall@k; the primary first, MRR last (the order records keep)
    per_query = {name: at[source] for k in sorted(cutoffs, key=lambda k: k != 10)
                 for name, source in ((f"ndcg@{k}", f"ndcg@{k}"), (f"recall@{k}", f"hr@{k}"))}
    per_query["mrr"] = at["mrr"]
    metrics = summarise(per_query, settings)
    beyond_metrics, beyond_per_query = beyond_accuracy_results(beyond, per_query, task.targets, settings, details)
    beyond_per_query["popularity_band"] = popularity_bands(task.train_counts)[task.targets]
    parts: dict[str, np.ndarray] = {}
    if task.cold_items is not None:  # the cold-item protocol: every metric over warm and over cold targets too
        cold_target = task.cold_items[task.targets]
        metrics.update(summarise_parts(per_query, {"warm": ~cold_target, "cold": cold_target}, settings))
        parts["part"] = np.where(cold_target, "cold", "warm")
        details["targets"] = {"warm": int((~cold_target).sum()), "cold": int(cold_target.sum())}
    timing.update(measure_latency(one_query, len(task), settings))
    variant = {} if settings.seen_items == "excluded" else {"seen_items": settings.seen_items}
    details["seen_items"] = settings.seen_items
    if served == "encoder":
        if settings.pooling != "mean":
            variant["pooling"] = settings.pooling
        if tuple(details["fields"]) != tuple(task.default_fields):
            variant["fields"] = "+".join(details["fields"])
    metrics.update(beyond_metrics)
    return EvalResult(metrics=metrics, primary_metric="ndcg@10", timing=timing, details=details, variant=variant,
                      ranked=ranked.result(),
                      per_query={"query_id": np.asarray(task.users).astype(str), **per_query, **beyond_per_query,
                                 **parts})


VALIDATION_USERS = 1000


def sequences_from(users: np.ndarray, sequences: list[np.ndarray], like: SequencesTask, split: str,
                   max_history: int | None) -> SequencesTask:
    """A sequences task whose targets are each sequence's last item and whose histories are the
    items before it (the last ``max_history``; None keeps them whole)."""
    histories = [s[:-1] if max_history is None else s[:-1][-max_history:] for s in sequences]
    lengths = np.array([len(h) for h in histories], dtype=np.int64)
    counts = np.zeros(len(like.item_ids), dtype=np.float64)
    for s in sequences:
        np.add.at(counts, s[:-1], 1.0)
    return SequencesTask(
        name=like.name, split=split, item_ids=like.item_ids, item_fields=like.item_fields, users=users,
        history=np.concatenate(histories) if histories else np.zeros(0, dtype=np.int64),
        history_offsets=np.r_[0, np.cumsum(lengths)],
        targets=np.array([s[-1] for s in sequences], dtype=np.int64), train_counts=counts,
        default_fields=like.default_fields, text_style=like.text_style, fingerprint=like.fingerprint,
        info={**like.info, "part": split}, past=np.concatenate([s[:-1] for s in sequences]) if sequences else None,
        past_offsets=np.r_[0, np.cumsum([len(s) - 1 for s in sequences])] if sequences else None,
        cold_items=like.cold_items)


def without_cold_items(task: SequencesTask) -> SequencesTask:
    """The task a model may learn from under the cold-item protocol: the same catalog rows, but
    every cold item's text blanked (so no text of one reaches an encoder in training). The
    sequences are built without cold items by the caller; ``cold_items`` stays set so that a
    model with a loss over the whole catalog leaves cold rows out of it."""
    if task.cold_items is None:
        return task
    cold = task.cold_items
    return replace(task, item_fields=blank_cold_texts(task.item_fields, cold), info={**task.info, "cold_texts_blanked": int(cold.sum())})


def sequences_training_split(task: SequencesTask, seed: int) -> tuple[SequencesTask, SequencesTask]:
    """Train part and validation slice from each user's sequence before the evaluated target:
    its last item is the validation item, and everything before it trains (SASRec's protocol:
    for the test split a model trains on each sequence before the dataset's validation item).
    The validation slice predicts the validation item of a seeded sample of at most 1,000 users
    with a history of at least one item; the train part holds every user's sequence before the
    validation item (as history + target: the last item is its target, histories uncapped).
    Neither holds an evaluated target. Under the cold-item protocol neither holds a cold item,
    in a sequence or as a text."""
    pasts = [task.past_of(i) for i in range(len(task))]
    if task.cold_items is not None:  # cold items leave every sequence a model learns from
        pasts = [p[~task.cold_items[p]] for p in pasts]
    trainable = [i for i, p in enumerate(pasts) if len(p) >= 3]  # >= 2 items before the validation item
    if not trainable:
        raise EvaluationError(f"{task.name}: no user has two items before the validation item; nothing to train on")
    train = sequences_from(task.users[trainable], [pasts[i][:-1] for i in trainable], task, "train", None)
    can_validate = [i for i, p in enumerate(pasts) if len(p) >= 2]
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(can_validate, size=min(VALIDATION_USERS, len(can_validate)), replace=False))
    max_history = int(task.info.get("max_history", 50))
    valid = sequences_from(task.users[picked], [pasts[i] for i in picked], task, "valid", max_history)
    return without_cold_items(train), without_cold_items(valid)

def sample_sequences(task: SequencesTask, rows: np.ndarray) -> SequencesTask:
    """The task with only the users at ``rows`` (--max-queries); the catalog and the
    popularity counts stay whole."""
    rows = np.sort(rows)
    history, history_offsets = take_ragged(task.history, task.history_offsets, rows)
    past = past_offsets = None
    if task.past is not None and task.past_offsets is not None:
        past, past_offsets = take_ragged(task.past, task.past_offsets, rows)
    return replace(task, users=task.users[rows], history=history, history_offsets=history_offsets,
                   targets=task.targets[rows], past=past, past_offsets=past_offsets)


def trec_judgments(task: SequencesTask) -> tuple[np.ndarray, np.ndarray, None]:
    """The qrels of ``--export trec``: the target of each user."""
    return task.targets, np.arange(len(task) + 1), None


SEQUENCES = register_kind(TaskKind(
    name="sequences", evaluate=evaluate_sequences, needs=(Ranker, Encoder, ItemScorer, TokenEncoder),
    primary_metric="ndcg@10", metric_ranges={r"mrr|ndcg@\d+|hr@\d+|recall@\d+": RATE, **BEYOND_RANGES},
    poolings=SEQUENCE_POOLINGS,
    description="a user's item sequence; a query pools the history into a vector and searches all items "
                "for the next one",
    catalog_texts=catalog_texts, training_split=sequences_training_split, searches_index=True, reranks=True,
    sample_queries=sample_sequences, exports={"trec": ranking_trec_writer(trec_judgments)},
    report_order=3, cutoffs=OWN_CUTOFFS))
