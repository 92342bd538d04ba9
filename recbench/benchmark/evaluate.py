"""One evaluation protocol per task kind. A protocol takes a model and a task and returns
quality (with intervals) and timing; it knows capabilities, never model or dataset names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from recbench.benchmark.cache import EmbeddingCache
from recbench.benchmark.metrics import (
    CORRELATIONS,
    bootstrap_indices,
    impression_metrics,
    mean_with_ci,
    percentile_interval,
)
from recbench.benchmark.pooling import POOLINGS, Pooling, score_all, score_one, unit_rows
from recbench.benchmark.protocols import CorpusFitted, Encoder, ItemScorer, Ranker, TokenEncoder
from recbench.benchmark.tasks import ImpressionsTask, PairsTask
from recbench.benchmark.timing import latency_percentiles, stopwatch


class EvaluationError(RuntimeError):
    """The model produced something that cannot be scored (NaN, wrong shape, ...)."""


@dataclass
class EvalSettings:
    batch_size: int = 32
    seed: int = 0
    n_bootstrap: int = 1000
    latency_queries: int = 200
    warmup_texts: int = 64
    progress: bool = True
    pooling: str = "mean"  # impressions/sequences: how a user profile is pooled from history embeddings
    topk: int = 3
    recency_decay: float = 0.8  # sequences, pooling=recency: weight decay**age
    mix_weight: float = 0.5
    fields: tuple[str, ...] | None = None  # impressions: item fields forming the text (None: dataset default)
    use_cache: bool = True  # impressions: reuse item embeddings cached on disk
    cache_dir: str | None = None


@dataclass
class EvalResult:
    metrics: dict[str, dict[str, float]]
    primary_metric: str
    timing: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    variant: dict[str, Any] = field(default_factory=dict)  # protocol choices that name a distinct row
    # per-query values for paired significance (the run's sidecar file): "query_id" plus one
    # array per metric (NaN where undefined); pairs store "prediction" and "gold" instead
    per_query: dict[str, np.ndarray] = field(default_factory=dict)


PROTOCOLS: dict[str, Callable[[Any, Any, EvalSettings], EvalResult]] = {}
REQUIREMENTS: dict[str, tuple[type, ...]] = {}
POOLINGS_BY_KIND: dict[str, tuple[str, ...]] = {}  # the one vocabulary of --pooling, per task kind


def protocol(kind: str, needs: tuple[type, ...], poolings: tuple[str, ...] = ()) -> Callable:
    """Registers the protocol for a task kind, the capabilities a model needs for it, and the
    ways it can pool a user's history (none for kinds without histories)."""

    def decorate(fn: Callable[[Any, Any, EvalSettings], EvalResult]) -> Callable:
        PROTOCOLS[kind] = fn
        REQUIREMENTS[kind] = needs
        POOLINGS_BY_KIND[kind] = poolings
        return fn

    return decorate


def supports(model_or_class: Any, kind: str) -> bool:
    """Whether a model (or a model class) has a capability that the kind's protocol accepts."""
    needs = REQUIREMENTS.get(kind, ())
    if isinstance(model_or_class, type):
        return any(issubclass(model_or_class, cap) for cap in needs) if needs else False
    return any(isinstance(model_or_class, cap) for cap in needs)


def evaluate(model: Any, task: Any, settings: EvalSettings) -> EvalResult:
    if task.kind not in PROTOCOLS:
        raise EvaluationError(f"no evaluation protocol for task kind {task.kind!r}")
    if not supports(model, task.kind):
        raise EvaluationError(
            f"model {model.name!r} cannot run {task.kind!r} tasks: it has none of the capabilities "
            f"{', '.join(c.__name__ for c in REQUIREMENTS[task.kind])}"
        )
    return PROTOCOLS[task.kind](model, task, settings)


# ---------------------------------------------------------------------------------------
def encode_checked(model: Encoder, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
    """Encodes in chunks (for a progress bar) and refuses NaN/inf or a wrong shape, naming the model."""
    chunk = max(batch_size * 16, 1024)
    parts = []
    with tqdm(total=len(texts), desc=f"encode {model.name}", unit="text", disable=not progress, leave=False) as bar:
        for start in range(0, len(texts), chunk):
            part = np.asarray(model.encode(list(texts[start : start + chunk]), batch_size=batch_size))
            parts.append(part)
            bar.update(len(part))
    emb = np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise EvaluationError(
            f"model {model.name!r} returned an array of shape {emb.shape} for {len(texts)} texts; expected (n, d)"
        )
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EvaluationError(
            f"model {model.name!r} produced non-finite embeddings (NaN or inf) for {int(bad.sum())} of "
            f"{len(texts)} texts, the first for text {first}: {texts[first][:80]!r}; no record written"
        )
    return emb.astype(np.float32, copy=False)


def check_tokens(model: Any, tokens: list[np.ndarray], texts: Sequence[str]) -> None:
    """Token encoders get the same NaN check as encoders, naming the model and the text."""
    if len(tokens) != len(texts):
        raise EvaluationError(f"model {model.name!r} returned {len(tokens)} token arrays for {len(texts)} texts")
    for i, t in enumerate(tokens):
        if not np.isfinite(t).all():
            raise EvaluationError(f"model {model.name!r} produced non-finite token vectors for text {i}: "
                                  f"{texts[i][:80]!r}; no record written")


def fit_on_texts(model: Any, texts: list[str], timing: dict[str, Any]) -> None:
    """Lets a corpus-fitted model (SIF) fit its statistics on the texts it will encode."""
    with stopwatch() as sw:
        if isinstance(model, CorpusFitted):
            model.fit_corpus(texts)
    timing["fit_seconds"] = sw.seconds


def encode_items(model: Any, texts: list[str], settings: EvalSettings, timing: dict[str, Any]) -> np.ndarray:
    """Encodes (or reads from the cache) every item once; unit rows for cosine by dot."""
    def compute() -> np.ndarray:
        warm = texts[: settings.warmup_texts]
        if warm:
            model.encode(warm, batch_size=settings.batch_size)
        return encode_checked(model, texts, settings.batch_size, settings.progress)

    with stopwatch() as sw:
        if settings.use_cache:
            emb, hit = EmbeddingCache(Path(settings.cache_dir) if settings.cache_dir else None).get_or_compute(
                model, texts, compute)
        else:
            emb, hit = compute(), False
    timing.update({"encode_seconds": sw.seconds, "encoded_items": len(texts), "embedding_cache_hit": hit,
                   "embedding_dim": int(emb.shape[1]), "stored_bytes_per_item": int(emb.shape[1] * 4)})
    if not hit:
        timing["texts_per_second"] = len(texts) / sw.seconds if sw.seconds > 0 else float("inf")
    return unit_rows(np.asarray(emb, dtype=np.float32))


def encode_item_tokens(model: Any, texts: list[str], kind: str, settings: EvalSettings,
                        timing: dict[str, Any]) -> list[np.ndarray]:
    from recbench.benchmark.late_interaction import token_bytes_per_item

    model.encode_tokens(texts[: settings.warmup_texts], kind=kind, batch_size=settings.batch_size)
    with stopwatch() as sw:
        tokens = model.encode_tokens(texts, kind=kind, batch_size=settings.batch_size)
    check_tokens(model, tokens, texts)
    key = "item" if kind == "document" else "query"
    timing[f"{key}_token_encode_seconds"] = sw.seconds
    if kind == "document":
        timing["texts_per_second"] = len(texts) / sw.seconds if sw.seconds > 0 else float("inf")
        timing["stored_bytes_per_item"] = token_bytes_per_item(tokens)
    return tokens


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; a zero vector has similarity 0 with everything."""
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    den = na * nb
    dots = np.einsum("ij,ij->i", a, b)
    return np.divide(dots, den, out=np.zeros_like(dots), where=den > 0)


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


@protocol("pairs", needs=(Encoder, TokenEncoder))
def evaluate_pairs(model: Encoder, task: PairsTask, settings: EvalSettings) -> EvalResult:
    """Cosine of the two texts' embeddings against the gold score: Spearman and Pearson x100.

    Each distinct text is encoded once. With several subsets (a SemEval year), ``spearman``
    and ``pearson`` are over all pairs pooled ("all", the SBERT/SimCSE convention), and
    ``*_mean`` / ``*_wmean`` are the plain and size-weighted means over subsets (SentEval's;
    the SIF paper's per-year figures are the plain mean). Intervals come from a stratified
    bootstrap: pairs are resampled within each subset with one seeded draw.
    """
    distinct, inverse = np.unique(np.asarray(task.texts_a + task.texts_b, dtype=object), return_inverse=True)
    distinct_list = [str(t) for t in distinct]
    n = len(task)
    timing: dict[str, Any] = {"batch_size": settings.batch_size}

    with stopwatch() as fit_sw:
        if isinstance(model, CorpusFitted):
            model.fit_corpus(distinct_list)
    timing["fit_seconds"] = fit_sw.seconds

    warm = distinct_list[: settings.warmup_texts]
    late = isinstance(model, TokenEncoder)
    if late:
        from recbench.benchmark.late_interaction import symmetric_maxsim, token_bytes_per_item

        if warm:
            model.encode_tokens(warm, kind="document", batch_size=settings.batch_size)
        with stopwatch() as enc_sw:
            tokens = model.encode_tokens(distinct_list, kind="document", batch_size=settings.batch_size)
        check_tokens(model, tokens, distinct_list)
        pred = np.array([symmetric_maxsim(tokens[a], tokens[b]) for a, b in zip(inverse[:n], inverse[n:])])
        timing["stored_bytes_per_text"] = token_bytes_per_item(tokens)
    else:
        if warm:
            model.encode(warm, batch_size=settings.batch_size)
        with stopwatch() as enc_sw:
            emb = encode_checked(model, distinct_list, settings.batch_size, settings.progress)
        timing["embedding_dim"] = int(emb.shape[1])
        timing["stored_bytes_per_text"] = int(emb.shape[1] * 4)
        pred = cosine_rows(emb[inverse[:n]], emb[inverse[n:]]).astype(np.float64)
    refuse_constant_similarities(model, task, pred)
    timing["encode_seconds"] = enc_sw.seconds
    timing["encoded_texts"] = len(distinct_list)
    timing["texts_per_second"] = len(distinct_list) / enc_sw.seconds if enc_sw.seconds > 0 else float("inf")
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
    nq = min(settings.latency_queries, n)
    picks = np.linspace(0, n - 1, nq).astype(int) if nq else np.array([], dtype=int)

    def one_query(i: int) -> float:
        j = picks[i]
        if late:
            ta, tb = model.encode_tokens([task.texts_a[j], task.texts_b[j]], kind="document", batch_size=2)
            return symmetric_maxsim(ta, tb)
        e = model.encode([task.texts_a[j], task.texts_b[j]], batch_size=2)
        return float(cosine_rows(e[:1], e[1:])[0])

    timing["latency"] = latency_percentiles(one_query, nq) if nq else {}
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


# ---------------------------------------------------------------------------------------
def _impression_quality(scores: np.ndarray, task: ImpressionsTask, settings: EvalSettings) -> tuple[dict, dict, dict]:
    imps = task.test
    if not np.isfinite(scores).all():
        raise EvaluationError(f"a score is NaN or inf for {int((~np.isfinite(scores)).sum())} candidates")
    per_query = impression_metrics(scores, imps.labels, imps.candidate_offsets)
    metrics = {name: mean_with_ci(vals, settings.n_bootstrap, settings.seed) for name, vals in per_query.items()}
    counted = {f"impressions_scored_{name}": int(np.isfinite(v).sum()) for name, v in per_query.items()}
    return metrics, counted, per_query


def click_counts(train: Any, n_items: int) -> np.ndarray:
    """Clicks per item in a train split of impressions."""
    return np.bincount(train.candidates[train.labels == 1], minlength=n_items).astype(np.float64)


@protocol("impressions", needs=(Ranker, Encoder, ItemScorer, TokenEncoder), poolings=POOLINGS)
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
    pooling = Pooling(settings.pooling, settings.topk, settings.mix_weight)
    if isinstance(model, Ranker):
        timing["fit_seconds"] = 0.0
        with stopwatch() as score_sw:
            scores = np.asarray(model.score_queries(task, np.arange(len(imps))), dtype=np.float64)
        timing["score_seconds"] = score_sw.seconds
        if scores.shape != imps.candidates.shape:
            raise EvaluationError(f"model {model.name!r} returned {scores.shape} scores for "
                                  f"{len(imps.candidates)} candidates")

        def one(i: int) -> np.ndarray:
            return model.score_queries(task, np.array([i]))

        details["ranker"] = "joint scorer"
    elif isinstance(model, ItemScorer):
        with stopwatch() as fit_sw:
            model.fit_counts(click_counts(task.train, len(task.item_ids)) if task.train is not None else None)
        timing["fit_seconds"] = fit_sw.seconds
        scores = np.asarray(model.score_items(imps.candidates), dtype=np.float64)

        def one(i: int) -> np.ndarray:
            return model.score_items(imps.candidates_of(i))

        details["ranker"] = "item scorer (no text)"
    elif isinstance(model, TokenEncoder):
        from recbench.benchmark.late_interaction import candidates_vs_history

        fields = tuple(settings.fields or task.default_fields)
        texts_all = task.item_texts(fields)
        used = np.unique(np.concatenate([imps.history, imps.candidates]))
        texts = [texts_all[r] for r in used]
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
            return candidates_vs_history(tokens, imps.history_of(i), imps.candidates_of(i))

        details.update({"fields": list(fields), "interaction": "candidate tokens vs all history tokens (MaxSim mean)"})
        if fields != tuple(task.default_fields):
            variant["fields"] = "+".join(fields)
    else:
        fields = tuple(settings.fields or task.default_fields)
        texts_all = task.item_texts(fields)
        used = np.unique(np.concatenate([imps.history, imps.candidates]))
        texts = [texts_all[r] for r in used]
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
    metrics, counted, per_query_values = _impression_quality(scores, task, settings)
    nq = min(settings.latency_queries, len(imps))
    picks = np.linspace(0, len(imps) - 1, nq).astype(int) if nq else np.array([], dtype=int)
    timing["latency"] = latency_percentiles(lambda i: one(int(picks[i])), nq) if nq else {}
    details.update(counted)
    return EvalResult(metrics=metrics, primary_metric="auc", timing=timing, details=details, variant=variant,
                      per_query={"query_id": np.asarray(imps.ids).astype(str), **per_query_values})


# the full-ranking protocols (item-to-item, sequences) register themselves on import
from recbench.benchmark import full_ranking  # noqa: E402,F401
