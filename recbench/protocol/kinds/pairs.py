"""Task kind ``pairs``: two texts and a gold score; Spearman and Pearson x100 of the cosine."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from recbench.protocol.capabilities import CorpusFitted, Encoder, PairScorer, TokenEncoder, dispatch
from recbench.protocol.model_contract import hook
from recbench.protocol.encoding import check_tokens, cosine_rows, encode_checked, encode_query, offline_timing
from recbench.protocol.settings import EvalResult, EvalSettings, EvaluationError
from recbench.protocol.kinds.base import CORRELATION_X100, TaskKind, register_kind
from recbench.protocol.metrics import CORRELATIONS, bootstrap_indices, percentile_interval
from recbench.protocol.kinds.tasks import PairsTask
from recbench.protocol.scenarios import measure_latency
from recbench.protocol.timing import stopwatch


def refuse_constant_gold(task: PairsTask) -> None:
    """Gold scores that do not vary (over the dataset or one of its subsets) make every
    correlation undefined, whatever the model: refused before any model time is spent, naming
    the dataset, rather than written down as NaN."""
    subsets = task.subsets if task.subsets is not None else np.full(len(task.gold), "all", dtype=object)
    for name in dict.fromkeys(subsets.tolist()):
        part = np.asarray(task.gold)[subsets == name]
        if len(part) and np.ptp(part) == 0:
            where = "" if name == "all" else f" of subset {name!r}"
            raise EvaluationError(
                f"{task.name}: all {len(part):,} gold scores{where} are {float(part[0]):g}: with no variance in the "
                "gold, a correlation is undefined for any model; check the score column; no record written")


def refuse_constant_similarities(model: Any, task: PairsTask, pred: np.ndarray) -> None:
    """A correlation with a constant is undefined: a model whose similarities do not vary over
    a dataset's (or a subset's) pairs cannot be scored there, and saying NaN would be a lie
    of its own. Typical causes: an untrained or collapsed encoder, one vector for every text."""
    if not np.isfinite(pred).all():
        raise EvaluationError(f"model {model.name!r} on {task.name}: a similarity score is not finite; "
                              "no record written")
    subsets = task.subsets if task.subsets is not None else np.full(len(pred), "all", dtype=object)
    for name in dict.fromkeys(subsets.tolist()):
        part = pred[subsets == name]
        if np.ptp(part) == 0:
            where = "" if name == "all" else f" of subset {name!r}"
            raise EvaluationError(
                f"model {model.name!r} on {task.name}: all {len(part):,} pairs{where} got the same similarity "
                f"({float(part[0]):.6g}); its embeddings do not vary over these texts (a constant or collapsed "
                "model), so a correlation is undefined; no record written")


def evaluate_pairs(model: Encoder, task: PairsTask, settings: EvalSettings) -> EvalResult:
    """Cosine of the two texts' embeddings against the gold score: Spearman and Pearson x100.

    Each distinct text is encoded once. With several subsets (a SemEval year), ``spearman``
    and ``pearson`` are over all pairs pooled ("all", the SBERT/SimCSE convention), and
    ``*_mean`` / ``*_wmean`` are the plain and size-weighted means over subsets (SentEval's;
    the SIF paper's per-year figures are the plain mean). Intervals come from a stratified
    bootstrap: pairs are resampled within each subset with one seeded draw.
    """
    refuse_constant_gold(task)
    distinct, inverse = np.unique(np.asarray(task.texts_a + task.texts_b, dtype=object), return_inverse=True)
    distinct_list = [str(t) for t in distinct]
    n = len(task)
    timing: dict[str, Any] = {"batch_size": settings.batch_size}

    with stopwatch() as fit_sw:
        if isinstance(model, CorpusFitted):
            model.fit_corpus(distinct_list)
    timing["fit_seconds"] = fit_sw.seconds

    warm = distinct_list[: settings.warmup_texts]
    batch_path: list[Callable[[list[int]], object]] = []  # how a server serves several pairs in one call

    def late_interaction() -> tuple[np.ndarray, Callable[[int], float], bool]:
        from recbench.protocol.late_interaction import symmetric_maxsim, token_bytes_per_item

        if warm:
            model.encode_tokens(warm, kind="document", batch_size=settings.batch_size)
        with stopwatch() as enc_sw:
            tokens = model.encode_tokens(distinct_list, kind="document", batch_size=settings.batch_size)
        check_tokens(model, tokens, distinct_list)
        timing["encode_seconds"] = enc_sw.seconds
        timing["stored_bytes_per_text"] = token_bytes_per_item(tokens)

        def one_query(j: int) -> float:  # encode one pair's tokens and score it
            ta, tb = model.encode_tokens([task.texts_a[j], task.texts_b[j]], kind="document", batch_size=2)
            return symmetric_maxsim(ta, tb)

        return np.array([symmetric_maxsim(tokens[a], tokens[b]) for a, b in zip(inverse[:n], inverse[n:])]), one_query, False

    def cosine() -> tuple[np.ndarray, Callable[[int], float], bool]:
        if warm:
            model.encode(warm, batch_size=settings.batch_size)
        with stopwatch() as enc_sw:
            emb = encode_checked(model, distinct_list, settings.batch_size, settings.progress)
        timing["encode_seconds"] = enc_sw.seconds
        timing["embedding_dim"] = int(emb.shape[1])
        timing["stored_bytes_per_text"] = int(emb.shape[1] * 4)

        def one_query(j: int) -> float:  # encode one pair and score it
            e = encode_query(model, [task.texts_a[j], task.texts_b[j]])
            return float(cosine_rows(e[:1], e[1:])[0])

        def some_queries(rows: list[int]) -> np.ndarray:  # a server's batch: every text in one encode call
            e = encode_query(model, [t for j in rows for t in (task.texts_a[j], task.texts_b[j])])
            return cosine_rows(e[0::2], e[1::2])

        batch_path.append(some_queries)
        return cosine_rows(emb[inverse[:n]], emb[inverse[n:]]).astype(np.float64), one_query, True

    def joint() -> tuple[np.ndarray, Callable[[int], float], bool]:
        with stopwatch() as fit_pairs_sw:
            model.fit_pairs(distinct_list)
        timing["fit_seconds"] += fit_pairs_sw.seconds
        with stopwatch() as score_sw:  # no text is encoded: "encode" is the scoring of every pair
            scores = np.asarray(model.score_pairs(task.texts_a, task.texts_b), dtype=np.float64)
        timing["encode_seconds"] = score_sw.seconds
        if hook(model, "stored_bytes_per_text"):
            timing["stored_bytes_per_text"] = int(model.stored_bytes_per_text)
        if scores.shape != (n,):
            raise EvaluationError(f"model {model.name!r} returned {scores.shape} pair scores for {n} pairs")
        batch_path.append(lambda rows: model.score_pairs([task.texts_a[j] for j in rows], [task.texts_b[j] for j in rows]))
        return scores, lambda j: float(model.score_pairs([task.texts_a[j]], [task.texts_b[j]])[0]), False

    pred, one_query, offline = dispatch(model, {"pair_scorer": joint, "token_encoder": late_interaction,
                                                "encoder": cosine},
                                        f"{task.name} (pairs)")
    refuse_constant_similarities(model, task, pred)
    timing["encoded_texts"] = len(distinct_list)
    encode_seconds = timing["encode_seconds"]
    timing["texts_per_second"] = len(distinct_list) / encode_seconds if encode_seconds > 0 else float("inf")
    gold = task.gold

    # --- quality with a stratified bootstrap --------------------------------------------
    subsets = task.subsets if task.subsets is not None else np.array(["all"] * n, dtype=object)
    names = list(dict.fromkeys(subsets.tolist()))
    rng_seed = settings.seed
    per_subset: dict[str, dict[str, Any]] = {}
    pooled_idx = []
    boot_by_subset: dict[str, dict[str, np.ndarray]] = {}
    for k, sname in enumerate(names):
        pos = np.flatnonzero(subsets == sname)
        local = bootstrap_indices(len(pos), settings.n_bootstrap, rng_seed + k)
        global_idx = pos[local]
        pooled_idx.append(global_idx)
        entry: dict[str, Any] = {"pairs": int(len(pos))}
        boot_by_subset[sname] = {}
        for which, fn in CORRELATIONS.items():
            value = float(fn(pred[pos], gold[pos])) * 100
            boots = np.asarray(fn(pred[global_idx], gold[global_idx])) * 100
            lo, hi = percentile_interval(boots)
            entry[which] = {"value": value, "ci_low": lo, "ci_high": hi}
            boot_by_subset[sname][which] = boots
        per_subset[sname] = entry
    all_idx = np.concatenate(pooled_idx, axis=1)

    metrics: dict[str, dict[str, float]] = {}
    for which, fn in CORRELATIONS.items():
        value = float(fn(pred, gold)) * 100
        lo, hi = percentile_interval(np.asarray(fn(pred[all_idx], gold[all_idx])) * 100)
        metrics[which] = {"value": value, "ci_low": lo, "ci_high": hi}
    wmeans: dict[str, dict[str, float]] = {}
    if len(names) > 1:
        sizes = np.array([per_subset[s]["pairs"] for s in names], dtype=np.float64)
        for which in CORRELATIONS:
            values = np.array([per_subset[s][which]["value"] for s in names])
            boots = np.stack([boot_by_subset[s][which] for s in names])  # (subsets, n_boot)
            for agg, weights in (("mean", np.ones_like(sizes)), ("wmean", sizes)):
                w = weights / weights.sum()
                lo, hi = percentile_interval(w @ boots)
                estimate = {"value": float(w @ values), "ci_low": lo, "ci_high": hi}
                # the size-weighted mean stays in the details, to keep tables narrow
                (metrics if agg == "mean" else wmeans)[f"{which}_{agg}"] = estimate

    # --- per-query latency: encode one pair and score it ---------------------------------
    timing.update(measure_latency(one_query, n, settings, batch_path[0] if batch_path else None))
    if offline:  # the offline scenario's batch throughput: encoders only
        timing.update(offline_timing(model, distinct_list, settings))
    return EvalResult(
        per_query={"query_id": np.arange(n), "prediction": pred, "gold": gold},
        metrics=metrics,
        primary_metric="spearman",
        timing=timing,
        details={
            "subsets": per_subset,
            "weighted_means": wmeans,
            "aggregates": "spearman/pearson: all pairs pooled; *_mean: plain mean over subsets; *_wmean: size-weighted",
        },
    )

PAIRS = register_kind(TaskKind(
    name="pairs", evaluate=evaluate_pairs, needs=(Encoder, TokenEncoder, PairScorer), primary_metric="spearman",
    metric_ranges={r"(spearman|pearson)(_mean|_wmean)?": CORRELATION_X100},
    description="two texts and a gold score; a query encodes both texts and scores them", report_order=0))
