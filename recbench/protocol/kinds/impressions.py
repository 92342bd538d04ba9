"""Task kind ``impressions``: a user's history and the candidates shown, with click labels;
MIND's official metrics averaged over impressions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recbench.protocol.capabilities import dispatch, Encoder, ItemScorer, Ranker, TokenEncoder
from recbench.protocol.encoding import encode_item_tokens, encode_items, fit_on_texts
from recbench.protocol.settings import EvalResult, EvalSettings, EvaluationError
from recbench.protocol.kinds.base import RATE, TaskKind, register_kind
from recbench.protocol.kinds.ranking import cutoffs_of, note_stored_bytes, take_ragged
from recbench.protocol.stages import stage
from recbench.protocol.metrics import impression_metrics, mean_with_ci
from recbench.protocol.pooling import POOLINGS, Pooling, score_all, score_one
from recbench.protocol.kinds.tasks import Impressions, ImpressionsTask, blank_cold_texts
from recbench.protocol.scenarios import measure_latency
from recbench.protocol.timing import stopwatch


OWN_CUTOFFS = (5, 10)  # MIND's nDCG@5 and @10; --cutoffs adds others

def _impression_quality(scores: np.ndarray, task: ImpressionsTask, settings: EvalSettings) -> tuple[dict, dict, dict]:
    imps = task.test
    if not np.isfinite(scores).all():
        raise EvaluationError(f"a score is NaN or inf for {int((~np.isfinite(scores)).sum())} candidates")
    cutoffs = cutoffs_of(settings, OWN_CUTOFFS)
    per_query = impression_metrics(scores, imps.labels, imps.candidate_offsets, cutoffs)
    counted = {f"impressions_scored_{name}": int(np.isfinite(v).sum()) for name, v in per_query.items()}
    if task.cold_items is not None:  # the cold-item protocol: each impression's warm and cold candidates apart
        cold = task.cold_items[imps.candidates]
        for part, keep in (("warm", ~cold), ("cold", cold)):
            offsets = np.r_[0, np.cumsum(keep)][imps.candidate_offsets]
            for name, vals in impression_metrics(scores[keep], imps.labels[keep], offsets, cutoffs).items():
                per_query[f"{name}[{part}]"] = vals
        counted["candidates"] = {"warm": int((~cold).sum()), "cold": int(cold.sum())}
    metrics = {name: mean_with_ci(vals, settings.n_bootstrap, settings.seed) for name, vals in per_query.items()}
    return metrics, counted, per_query


def click_counts(train: Any, n_items: int) -> np.ndarray:
    """Clicks per item in a train split of impressions."""
    return np.bincount(train.candidates[train.labels == 1], minlength=n_items).astype(np.float64)


def used_rows(imps: Any) -> np.ndarray:
    """Rows of every item the impressions reference (history or candidate), ascending."""
    return np.unique(np.concatenate([imps.history, imps.candidates]))


def encoded_rows(task: ImpressionsTask) -> np.ndarray:
    """The rows an encoder encodes: those the test impressions reference (of the whole split,
    when the impressions are a --max-queries sample)."""
    return task.catalog_rows if task.catalog_rows is not None else used_rows(task.test)


def catalog_texts(task: ImpressionsTask, settings: EvalSettings) -> list[str]:
    """The texts an encoder encodes: those of every item the test impressions reference."""
    texts_all = task.item_texts(tuple(settings.fields or task.default_fields))
    return [texts_all[r] for r in encoded_rows(task)]


def ranker_scores(model: Any, task: ImpressionsTask, settings: EvalSettings, timing: dict[str, Any], details: dict[str, Any],
                  variant: dict[str, Any]) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """A joint scorer: every test impression's candidates scored from the task itself."""
    imps = task.test
    timing["fit_seconds"] = 0.0
    with stopwatch() as score_sw:
        scores = np.asarray(model.score_queries(task, np.arange(len(imps))), dtype=np.float64)
    timing["score_seconds"] = score_sw.seconds
    note_stored_bytes(model, timing)
    if scores.shape != imps.candidates.shape:
        raise EvaluationError(f"model {model.name!r} returned {scores.shape} scores for "
                              f"{len(imps.candidates)} candidates")

    def one(i: int) -> np.ndarray:
        return model.score_queries(task, np.array([i]))

    details["ranker"] = "joint scorer"
    return scores, one


def item_scorer_scores(model: Any, task: ImpressionsTask, settings: EvalSettings, timing: dict[str, Any], details: dict[str, Any],
                       variant: dict[str, Any]) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """An item scorer (popularity, noise) fitted on the train split's clicks: candidates scored without text."""
    imps = task.test
    with stopwatch() as fit_sw:
        model.fit_counts(click_counts(task.train, len(task.item_ids)) if task.train is not None else None)
    timing["fit_seconds"] = fit_sw.seconds
    scores = np.asarray(model.score_items(imps.candidates), dtype=np.float64)

    def one(i: int) -> np.ndarray:
        with stage("score"):
            return model.score_items(imps.candidates_of(i))

    details["ranker"] = "item scorer (no text)"
    return scores, one


def late_interaction_scores(model: Any, task: ImpressionsTask, settings: EvalSettings, timing: dict[str, Any], details: dict[str, Any],
                            variant: dict[str, Any]) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """A token encoder: each candidate's tokens against all of the history's (MaxSim mean)."""
    imps = task.test
    from recbench.protocol.late_interaction import candidates_vs_history

    fields = tuple(settings.fields or task.default_fields)
    used, texts = encoded_rows(task), catalog_texts(task, settings)
    timing["fit_seconds"] = 0.0
    used_tokens = encode_item_tokens(model, texts, "document", settings, timing)
    tokens: list[np.ndarray] = [np.zeros((0, 1), dtype=np.float32)] * len(task.item_ids)
    for r, t in zip(used, used_tokens):
        tokens[r] = t
    with stopwatch() as score_sw:
        scores = np.empty(len(imps.candidates), dtype=np.float64)
        for i in range(len(imps)):
            lo, hi = imps.candidate_offsets[i], imps.candidate_offsets[i + 1]
            scores[lo:hi] = candidates_vs_history(tokens, imps.history_of(i), imps.candidates[lo:hi])
    timing["score_seconds"] = score_sw.seconds

    def one(i: int) -> np.ndarray:
        with stage("score"):  # MaxSim of the candidates' stored tokens against the history's
            return candidates_vs_history(tokens, imps.history_of(i), imps.candidates_of(i))

    details.update({"fields": list(fields), "interaction": "candidate tokens vs all history tokens (MaxSim mean)"})
    if fields != tuple(task.default_fields):
        variant["fields"] = "+".join(fields)
    return scores, one


def encoder_scores(model: Any, task: ImpressionsTask, settings: EvalSettings, timing: dict[str, Any], details: dict[str, Any],
                   variant: dict[str, Any]) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """An encoder: candidates by cosine with the pooled history (--pooling mean | topk | mix)."""
    imps = task.test
    pooling = Pooling(settings.pooling, settings.topk, settings.mix_weight)
    fields = tuple(settings.fields or task.default_fields)
    used, texts = encoded_rows(task), catalog_texts(task, settings)
    fit_on_texts(model, texts, timing)
    emb = encode_items(model, texts, settings, timing)
    unit = np.zeros((len(task.item_ids), emb.shape[1]), dtype=np.float32)
    unit[used] = emb
    with stopwatch() as score_sw:
        scores = score_all(unit, imps, pooling).astype(np.float64)
    timing["score_seconds"] = score_sw.seconds

    def one(i: int) -> np.ndarray:
        return score_one(unit, imps.history_of(i), imps.candidates_of(i), pooling)

    details.update({"fields": list(fields), **pooling.describe()})
    if pooling.kind != "mean":
        variant.update(pooling.describe())
    if fields != tuple(task.default_fields):
        variant["fields"] = "+".join(fields)
    return scores, one


def evaluate_impressions(model: Any, task: ImpressionsTask, settings: EvalSettings) -> EvalResult:
    """Scores every candidate of every test impression, then MIND's metrics averaged over
    impressions (AUC skips impressions with one label class; all skip those with no click).

    An encoder ranks by the cosine between a pooled user profile and each candidate; each
    distinct item that the test impressions reference is encoded once (cached on disk). A
    click scorer (popularity) is fitted on the train split's clicks. Latency is per impression:
    pooling + scoring with item vectors already computed, the work done online at serving time.
    """
    imps = task.test
    timing: dict[str, Any] = {"batch_size": settings.batch_size}
    details: dict[str, Any] = {}
    variant: dict[str, Any] = {}

    def scoring(model: Any, timing: dict[str, Any], details: dict[str, Any], variant: dict[str, Any]) -> tuple:
        return dispatch(model, {
            "ranker": lambda: ranker_scores(model, task, settings, timing, details, variant),
            "item_scorer": lambda: item_scorer_scores(model, task, settings, timing, details, variant),
            "token_encoder": lambda: late_interaction_scores(model, task, settings, timing, details, variant),
            "encoder": lambda: encoder_scores(model, task, settings, timing, details, variant),
        }, f"{task.name} (impressions)")

    scores, one = scoring(model, timing, details, variant)
    if settings.fuse:  # other models' candidate scores, fused by reciprocal rank (fusion.py)
        scores, one = fuse_impressions(settings, scoring, scores, one, imps.candidate_offsets, details)
    metrics, counted, per_query_values = _impression_quality(scores, task, settings)
    timing.update(measure_latency(one, len(imps), settings))
    details.update(counted)
    return EvalResult(metrics=metrics, primary_metric="auc", timing=timing, details=details, variant=variant,
                      per_query={"query_id": np.asarray(imps.ids).astype(str), **per_query_values}, scores=scores)


def fuse_impressions(settings: EvalSettings, scoring: Callable, scores: np.ndarray, one: Callable,
                     offsets: np.ndarray, details: dict[str, Any]) -> tuple[np.ndarray, Callable]:
    """``--fuse`` on impressions: each fused model scores every candidate; ranks within each
    impression are fused by reciprocal rank, in quality and in the served impression alike."""
    from recbench.protocol.fusion import fused_candidates, fused_one, score_fused_models

    spec, parts, weights = score_fused_models(settings, lambda model, timing, own: scoring(model, timing, own, {}),
                                              (scores, one), {}, details)
    return (fused_candidates([p for p, _ in parts], weights, spec, offsets),
            fused_one([o for _, o in parts], weights, spec))


def candidate_ranks(scores: np.ndarray) -> np.ndarray:
    """1 = best. A tie goes to the candidate listed later, as MIND's scorer breaks it
    (``np.argsort(score)[::-1]``), so MRR and nDCG of the ranks equal ours exactly; AUC does too
    unless scores tie (a rank cannot say "tied", our AUC counts a tie one half)."""
    order = np.argsort(scores, kind="stable")[::-1]
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def write_mind_submission(task: ImpressionsTask, result: EvalResult, folder: Path) -> list[Path]:
    """MIND's leaderboard format: ``prediction.txt``, one line per impression, ``<id> [r1,r2,...]``
    with the rank of each candidate in the order behaviors.tsv lists them, and
    ``prediction.zip`` holding it (what the leaderboard takes). Written atomically."""
    import os
    import tempfile
    import zipfile

    if result.scores is None:
        raise EvaluationError("this evaluation kept no candidate scores to export")
    imps = task.test
    offsets = imps.candidate_offsets
    text = "".join(f"{imps.ids[i]} [{','.join(map(str, candidate_ranks(result.scores[offsets[i]:offsets[i + 1]])))}]\n"
                   for i in range(len(imps)))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("prediction.txt", "prediction.zip"):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        os.close(fd)
        try:
            if name.endswith(".txt"):
                Path(tmp).write_text(text, encoding="utf-8")
            else:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                    z.writestr("prediction.txt", text)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(folder / name)
    return written


def write_impressions_trec(task: ImpressionsTask, result: EvalResult, folder: Path) -> list[Path]:
    """``--export trec``: each impression's candidates in MIND's rank order (``candidate_ranks``)
    as a TREC run, its clicks as qrels (``protocol/trec.py``)."""
    from recbench.protocol.trec import write_trec

    if result.scores is None:
        raise EvaluationError("this evaluation kept no candidate scores to export")
    imps, ids = task.test, task.item_ids
    offsets = imps.candidate_offsets

    def run():
        for i in range(len(imps)):
            lo, hi = offsets[i], offsets[i + 1]
            scores = result.scores[lo:hi]
            for c in np.argsort(candidate_ranks(scores), kind="stable"):
                yield imps.ids[i], ids[imps.candidates[lo + c]], scores[c]

    qrels = ((imps.ids[i], ids[imps.candidates[j]], imps.labels[j])
             for i in range(len(imps)) for j in range(offsets[i], offsets[i + 1]))
    return write_trec(folder, run(), qrels)


VALIDATION_IMPRESSIONS = 1000


def take_impressions(imps: Impressions, rows: np.ndarray) -> Impressions:
    """The impressions at ``rows``, as a new columnar split."""
    history, history_offsets = take_ragged(imps.history, imps.history_offsets, rows)
    candidates, candidate_offsets = take_ragged(imps.candidates, imps.candidate_offsets, rows)
    labels, _ = take_ragged(imps.labels, imps.candidate_offsets, rows)
    return Impressions(imps.ids[rows], imps.users[rows], imps.times[rows], history, history_offsets,
                       candidates, candidate_offsets, labels)


def impressions_training_split(task: ImpressionsTask, seed: int) -> tuple[ImpressionsTask, ImpressionsTask]:
    """Train part and validation slice, both from the task's train split: the validation slice
    is each user's last train impression (in file order, which is time order for MIND and the
    Mix recipe) among users with at least two, a seeded sample of at most 1,000 of them; the
    rest trains. Impressions without a click train nothing and are dropped from the train part.
    The evaluated split (dev/test) is in neither."""
    if task.train is None or len(task.train) == 0:
        raise EvaluationError(f"{task.name}: no train split of impressions to train on")
    train = task.train
    clicks = np.add.reduceat(train.labels, train.candidate_offsets[:-1]) if len(train.labels) else np.zeros(0)
    if not (clicks > 0).any():
        raise EvaluationError(f"{task.name}: the train split has no impression with a click; nothing to learn from")
    users = np.asarray(train.users)
    last = {u: i for i, u in enumerate(users)}
    counts = dict(zip(*np.unique(users, return_counts=True)))
    candidates = np.array(sorted(i for u, i in last.items() if counts[u] >= 2 and clicks[i] > 0), dtype=np.int64)
    rng = np.random.default_rng(seed)
    valid_rows = np.sort(rng.choice(candidates, size=min(VALIDATION_IMPRESSIONS, len(candidates)), replace=False))
    keep = np.ones(len(train), dtype=bool)
    keep[valid_rows] = False
    keep &= clicks > 0
    train_part = take_impressions(train, np.flatnonzero(keep))
    valid = take_impressions(train, valid_rows)
    fields, info = task.item_fields, task.info
    if task.cold_items is not None:  # the cold-item protocol: no cold item is in train; its text is blank too
        fields = blank_cold_texts(fields, task.cold_items)
        info = {**info, "cold_texts_blanked": int(task.cold_items.sum())}
    common = dict(name=task.name, item_ids=task.item_ids, item_fields=fields, default_fields=task.default_fields,
                  fingerprint=task.fingerprint, info=info, cold_items=task.cold_items)
    nothing = take_impressions(train, np.zeros(0, dtype=np.int64))
    return (ImpressionsTask(split="train", test=nothing, train=train_part, **common),
            ImpressionsTask(split="valid", test=valid, train=train_part, **common))

def sample_impressions(task: ImpressionsTask, rows: np.ndarray) -> ImpressionsTask:
    """The task with only the test impressions at ``rows`` (--max-queries)."""
    return replace(task, test=take_impressions(task.test, np.sort(rows)), catalog_rows=encoded_rows(task))


IMPRESSIONS = register_kind(TaskKind(
    name="impressions", evaluate=evaluate_impressions, needs=(Ranker, Encoder, ItemScorer, TokenEncoder),
    primary_metric="auc", metric_ranges={r"auc|mrr|ndcg@\d+": RATE}, poolings=POOLINGS,
    description="a user's clicked history and the candidates shown; a query pools the history and scores "
                "the candidates from item vectors computed beforehand",
    catalog_texts=catalog_texts, training_split=impressions_training_split,
    exports={"mind-submission": write_mind_submission, "trec": write_impressions_trec}, sample_queries=sample_impressions, report_order=1,
    cutoffs=OWN_CUTOFFS))
