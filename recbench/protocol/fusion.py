"""``--fuse rrf:bm25``: the run's model fused with other first stages by reciprocal rank
(Cormack, Clarke & Buettcher 2009, the fusion ranx and BEIR users reach for first), on the
full-ranking kinds over the catalog and on impressions within each impression's candidates.

Each model ranks the catalog on its own (the query's excluded items left out); an item's fused
score is ``sum_m w_m / (k + rank_m)`` over the models that list it in their top ``depth``
(``rank_m`` the 1-based rank; tied items share the best rank of their tie, so the fusion does
not depend on the catalog's order). Items no model lists score 0 and tie at the bottom (the
kinds' tie rule then treats them as a random order).

Spec: ``METHOD:MODEL[*WEIGHT][+MODEL[*WEIGHT]...][@DEPTH]``. ``rrf`` uses k = 60 (the paper's);
``rr`` uses k = 0, plain reciprocal-rank weights, which favour each list's first items. The
run's own model has weight 1. Examples: ``rrf:bm25``, ``rrf:bm25*0.5@50``, ``rr:bm25+sif``.

Serving (the latency): every model's served top ``depth``, then the fused order, so the time
is the sum of the models' serving paths plus the merge. There a model's list carries no
scores, so a tie inside one model's top ``depth`` takes its list order; the quality figures
use shared ranks as above. Only the two differ, and only where a model ties within its top
``depth``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from recbench.protocol.settings import EvaluationError

METHODS = {"rrf": 60.0, "rr": 0.0}
DEFAULT_DEPTH = 100
_SPEC = re.compile(r"(?P<method>[a-z]+):(?P<models>[^@]+?)(?:@(?P<depth>\d+))?")
_MODEL = re.compile(r"(?P<name>[A-Za-z0-9_.:/-]+?)(?:\*(?P<weight>\d+(?:\.\d+)?))?")


@dataclass(frozen=True)
class FusionSpec:
    method: str
    k: float
    others: tuple[tuple[str, float], ...]  # (model spec, weight) of each model fused with the run's
    depth: int

    def label(self) -> str:
        """The spec as a row's label shows it (defaults left out)."""
        parts = "+".join(name if weight == 1.0 else f"{name}*{weight:g}" for name, weight in self.others)
        return f"{self.method}:{parts}" + (f"@{self.depth}" if self.depth != DEFAULT_DEPTH else "")


def parse_fusion(spec: str) -> FusionSpec:
    """``rrf:bm25*0.5+sif@50`` -> FusionSpec; a malformed spec is refused, saying the form."""
    form = "METHOD:MODEL[*WEIGHT][+MODEL...][@DEPTH], e.g. rrf:bm25 or rr:bm25*0.5@50"
    m = _SPEC.fullmatch(spec.strip())
    if m is None or m["method"] not in METHODS:
        raise EvaluationError(f"--fuse {spec!r}: expected {form}; methods: {', '.join(METHODS)}")
    others = []
    for part in m["models"].split("+"):
        pm = _MODEL.fullmatch(part.strip())
        if pm is None or not pm["name"]:
            raise EvaluationError(f"--fuse {spec!r}: {part!r} is not MODEL or MODEL*WEIGHT ({form})")
        weight = float(pm["weight"]) if pm["weight"] else 1.0
        if weight <= 0:
            raise EvaluationError(f"--fuse {spec!r}: a weight must be above 0 ({form})")
        others.append((pm["name"], weight))
    depth = int(m["depth"]) if m["depth"] else DEFAULT_DEPTH
    if depth < 1:
        raise EvaluationError(f"--fuse {spec!r}: the depth must be at least 1 ({form})")
    return FusionSpec(m["method"], METHODS[m["method"]], tuple(others), depth)


def shared_ranks(scores: np.ndarray) -> np.ndarray:
    """Each item's 1-based rank in its row, tied items sharing the best rank of their tie;
    -inf (excluded) items get rank n+1 (beyond any depth)."""
    order = np.argsort(-scores, axis=1, kind="stable")  # best first
    ordered = np.take_along_axis(scores, order, axis=1)
    positions = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    new_value = np.ones(scores.shape, dtype=bool)
    new_value[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(new_value, positions, 0), axis=1)  # where each tie begins
    ranks = np.empty(scores.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, first + 1, axis=1)
    ranks[~np.isfinite(scores)] = scores.shape[1] + 1
    return ranks


def fused_block(blocks: list[Callable[[np.ndarray], np.ndarray]], weights: list[float], spec: FusionSpec,
                excluded: np.ndarray, excluded_offsets: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The fused score block: every model's block, excluded items removed, ranks fused."""
    def block(rows: np.ndarray) -> np.ndarray:
        fused = None
        for score_block, weight in zip(blocks, weights):
            scores = np.array(score_block(rows), dtype=np.float64, copy=True)
            if not np.isfinite(scores).all():
                raise EvaluationError("a fused model gave a NaN or infinite score")
            for j, i in enumerate(rows):
                scores[j, excluded[excluded_offsets[i]:excluded_offsets[i + 1]]] = -np.inf
            ranks = shared_ranks(scores)
            part = np.where(ranks <= spec.depth, weight / (spec.k + ranks), 0.0)
            fused = part if fused is None else fused + part
        return fused

    return block


def fused_top(tops: list[Callable[..., np.ndarray]], weights: list[float], spec: FusionSpec) -> Callable[..., np.ndarray]:
    """The served query: each model's top ``depth``, merged by reciprocal rank."""
    def one_query(i: int, k: int = 10) -> np.ndarray:
        fused: dict[int, float] = {}
        for top, weight in zip(tops, weights):
            for rank, item in enumerate(np.asarray(top(i, spec.depth)).tolist(), start=1):
                fused[item] = fused.get(item, 0.0) + weight / (spec.k + rank)
        items = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
        values = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
        return items[np.argsort(-values, kind="stable")][:k]

    return one_query


def fused_candidates(parts: list[np.ndarray], weights: list[float], spec: FusionSpec, offsets: np.ndarray) -> np.ndarray:
    """Impressions: each model's flat candidate scores, ranked within each impression (shared
    ranks), fused by reciprocal rank; flat like theirs."""
    fused = np.zeros(len(parts[0]), dtype=np.float64)
    for scores, weight in zip(parts, weights):
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != fused.shape or not np.isfinite(scores).all():
            raise EvaluationError("a fused model gave candidate scores of another shape, or NaN")
        for lo, hi in zip(offsets[:-1], offsets[1:]):
            ranks = shared_ranks(scores[None, lo:hi])[0]
            fused[lo:hi] += np.where(ranks <= spec.depth, weight / (spec.k + ranks), 0.0)
    return fused


def fused_one(ones: list[Callable[[int], np.ndarray]], weights: list[float], spec: FusionSpec) -> Callable[[int], np.ndarray]:
    """Impressions' served query: every model scores the impression's candidates, then the fusion."""
    def one(i: int) -> np.ndarray:
        parts = [np.asarray(o(i), dtype=np.float64) for o in ones]
        return fused_candidates(parts, weights, spec, np.array([0, len(parts[0])]))

    return one


def score_fused_models(settings: Any, score: Callable[[Any, dict, dict], tuple], first: tuple,
                       timing: dict[str, Any], details: dict[str, Any]) -> tuple[FusionSpec, list[tuple], list[float]]:
    """What every kind's ``--fuse`` shares: the spec, and each fused model built as given and
    scored by the kind's dispatch (``score(model, timing, details)``), beside the run's own
    ``first`` parts, with their weights. Each fused model's details and fit time go under
    ``details["fusion"]``; what serving stores per item adds up in ``timing``."""
    from recbench.protocol.registry import build_model

    spec = parse_fusion(settings.fuse)
    parts, weights = [first], [1.0]
    fused: dict[str, Any] = {"method": spec.method, "k": spec.k, "depth": spec.depth, "models": {}}
    for name, weight in spec.others:
        own_timing: dict[str, Any] = {"batch_size": settings.batch_size}
        own_details: dict[str, Any] = {}
        parts.append(score(build_model(name), own_timing, own_details))
        weights.append(weight)
        fused["models"][name] = {"weight": weight, **({"fit_seconds": own_timing["fit_seconds"]}
                                                      if "fit_seconds" in own_timing else {}), **own_details}
        for key in ("stored_bytes_per_item", "index_bytes_per_item"):
            if key in own_timing:
                timing[key] = timing.get(key, 0) + own_timing[key]
    details["fusion"] = fused
    return spec, parts, weights

