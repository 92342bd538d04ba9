"""Encoding shared by every task kind: each distinct text once, in chunks with a progress bar,
NaN/inf and shape refused naming the model and the text, item vectors cached on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from recbench.protocol.cache import EmbeddingCache
from recbench.protocol.capabilities import CorpusFitted, Encoder
from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.model_contract import hook
from recbench.protocol.pooling import unit_rows
from recbench.protocol.timing import stopwatch
from recbench.protocol.progress import bar_disabled


def encode_checked(model: Encoder, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
    """Encodes in chunks (for a progress bar) and refuses NaN/inf or a wrong shape, naming the model."""
    chunk = max(batch_size * 16, 1024)
    parts = []
    with tqdm(total=len(texts), desc=f"encode {model.name}", unit="text", disable=bar_disabled(progress), leave=False) as bar:
        for start in range(0, len(texts), chunk):
            part = np.asarray(model.encode(list(texts[start : start + chunk]), batch_size=batch_size))
            parts.append(part)
            bar.update(len(part))
    emb = np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), dtype=np.float32)
    return checked_vectors(model, emb, texts)


def encode_query(model: Encoder, texts: Sequence[str]) -> np.ndarray:
    """A timed query's encode (batch size = the query's texts), held to the same checks as the
    batched encode: a model that fails only one text at a time fails the cell, not silently."""
    return checked_vectors(model, np.asarray(model.encode(list(texts), batch_size=len(texts))), texts)


def checked_vectors(model: Any, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """float32 (n, d) vectors, or an EvaluationError naming the model and the first bad text:
    a wrong shape, a non-numeric type, NaN or inf."""
    if emb.dtype.kind not in "fiu" or emb.dtype.kind == "b":
        raise EvaluationError(f"model {model.name!r} returned {emb.dtype} values; expected numbers")
    emb = emb.astype(np.float32, copy=False)
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
    """Encodes (or reads from the cache) every item once; unit rows for cosine by dot. A hit
    never loads a lazily loading model's weights; a miss loads them before the clock starts."""
    cache = EmbeddingCache(Path(settings.cache_dir) if settings.cache_dir else None) if settings.use_cache else None
    with stopwatch() as sw:
        emb = cache.get(model, texts) if cache is not None else None
    hit = emb is not None
    if not hit:
        load_weights(model)
        with stopwatch() as sw:
            warm = texts[: settings.warmup_texts]
            if warm:
                model.encode(warm, batch_size=settings.batch_size)
            emb = encode_checked(model, texts, settings.batch_size, settings.progress)
        if cache is not None:
            cache.put(model, texts, emb)
    timing.update({"encode_seconds": sw.seconds, "encoded_items": len(texts), "embedding_cache_hit": hit,
                   "embedding_dim": int(emb.shape[1]), "stored_bytes_per_item": int(emb.shape[1] * 4)})
    if not hit:
        timing["texts_per_second"] = len(texts) / sw.seconds if sw.seconds > 0 else float("inf")
    timing.update(offline_timing(model, texts, settings))
    return unit_rows(np.asarray(emb, dtype=np.float32))


def load_weights(model: Any) -> None:
    """Loads a lazily loading model's weights now (its ``load_weights`` hook), so that no timed
    encode pays for the load."""
    load = hook(model, "load_weights")
    if load is not None:
        load()


def encode_item_tokens(model: Any, texts: list[str], kind: str, settings: EvalSettings,
                        timing: dict[str, Any]) -> list[np.ndarray]:
    """Every text's token vectors (a token encoder), read from the token cache where
    ``settings.use_cache`` and the entry is there; encoded (after a warm-up) and stored otherwise."""
    from recbench.protocol.cache import TokenCache
    from recbench.protocol.late_interaction import token_bytes_per_item

    cache = TokenCache(Path(settings.cache_dir) if settings.cache_dir else None) if settings.use_cache else None
    tokens = cache.get(model, texts, kind) if cache is not None else None
    key = "item" if kind == "document" else "query"
    if tokens is not None:
        timing[f"{key}_tokens_from_cache"] = True
    else:
        model.encode_tokens(texts[: settings.warmup_texts], kind=kind, batch_size=settings.batch_size)
        with stopwatch() as sw:
            tokens = model.encode_tokens(texts, kind=kind, batch_size=settings.batch_size)
        check_tokens(model, tokens, texts)
        timing[f"{key}_token_encode_seconds"] = sw.seconds
        if kind == "document":  # the dense pass's rate where it ran first (it may have computed these tokens too)
            timing.setdefault("texts_per_second", len(texts) / sw.seconds if sw.seconds > 0 else float("inf"))
        if cache is not None:
            cache.put(model, texts, kind, tokens)
    if kind == "document":
        timing["stored_bytes_per_item"] = token_bytes_per_item(tokens)
    return tokens


def offline_timing(model: Any, texts: Sequence[str], settings: EvalSettings) -> dict[str, Any]:
    """The offline scenario for an encoder: throughput at each of ``settings.offline_batches``
    over ``settings.offline_texts`` of the task's texts, spread evenly (none when 0)."""
    from recbench.protocol.scenarios import offline

    n = min(settings.offline_texts, len(texts))
    if not n or not settings.offline_batches:
        return {}
    sample = [texts[i] for i in np.linspace(0, len(texts) - 1, n).astype(int)]
    return {"offline": offline(lambda t, b: model.encode(t, batch_size=b), sample, settings.offline_batches)}


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; a zero vector has similarity 0 with everything."""
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    den = na * nb
    dots = np.einsum("ij,ij->i", a, b)
    return np.divide(dots, den, out=np.zeros_like(dots), where=den > 0)
