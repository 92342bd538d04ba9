"""A cache that cannot lie (issue 19): the key follows the weights of a local model folder and
the code of a plugin; a damaged, foreign-shaped or non-finite entry is removed and recomputed."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from recbench.protocol.cache import EmbeddingCache, folder_fingerprint, model_key, vectors_digest
from recbench.protocol.encoding import encode_items
from recbench.protocol.settings import EvalSettings


class Hashing:
    name = "hashing"
    dim = 8

    def __init__(self, salt: str = "a", fingerprint: str | None = None):
        self.salt, self.weights_fingerprint = salt, fingerprint

    @property
    def params(self):
        return {"salt": self.salt}

    def encode(self, texts, batch_size=32):
        rng = np.random.default_rng(abs(hash((self.salt, tuple(texts)))) % 2**32)
        return rng.normal(size=(len(texts), self.dim)).astype(np.float32)


TEXTS = ["a red apple", "a green pear", "tea"]


def test_a_model_folder_with_other_weights_gets_another_key(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden": 8}')
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    before = folder_fingerprint(folder)
    (folder / "model.safetensors").write_bytes(b"\x01" * 64)  # fine-tuned again, same folder
    after = folder_fingerprint(folder)
    assert before != after
    assert model_key(Hashing(fingerprint=before)) != model_key(Hashing(fingerprint=after))
    assert model_key(Hashing(fingerprint=before)) == model_key(Hashing(fingerprint=before))


@pytest.mark.parametrize("damage", ["nan_row", "other_dim", "fewer_rows", "bytes", "checksum"])
def test_a_bad_entry_is_removed_and_recomputed_with_a_warning(tmp_path, damage):
    settings = EvalSettings(cache_dir=str(tmp_path), offline_texts=0, warmup_texts=0)
    cache = EmbeddingCache(tmp_path)
    model = Hashing()

    def run(m) -> tuple[np.ndarray, bool]:  # the production path: the kinds' item encode
        timing: dict = {}
        vectors = encode_items(m, TEXTS, settings, timing)
        return vectors, timing["embedding_cache_hit"]

    good, hit = run(model)
    assert not hit
    raw = cache.get(model, TEXTS)
    path = cache.path(model, TEXTS)
    if damage == "bytes":
        path.write_bytes(path.read_bytes()[:50])
    else:
        bad = {"nan_row": np.vstack([raw[:2], np.full((1, 8), np.nan, np.float32)]),
               "other_dim": np.zeros((3, 4), np.float32), "fewer_rows": raw[:2],
               "checksum": raw + 1.0}[damage]
        digest = "0" * 64 if damage == "checksum" else vectors_digest(bad)
        with open(path, "wb") as f:
            np.savez(f, vectors=bad, sha256=np.array(digest))
    with pytest.warns(UserWarning, match="not usable"):
        again, hit = run(model)
    assert not hit and np.array_equal(again, good)

    class Refuses(Hashing):  # replaced: the next run hits and never encodes
        def encode(self, texts, batch_size=32):
            raise AssertionError("encoded although every vector is cached")

    Refuses.__qualname__ = Hashing.__qualname__
    Refuses.__module__ = Hashing.__module__
    assert run(Refuses())[1]


def test_entries_are_readable_by_the_group(tmp_path):
    path = EmbeddingCache(tmp_path).put(Hashing(), TEXTS, Hashing().encode(TEXTS))
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_a_record_is_readable_by_the_group(tmp_path):
    from minimal_record import minimal_record
    from recbench.results.records import write_record

    rec = minimal_record("x-1")
    path = write_record(rec, tmp_path, {"query_id": np.arange(3)})
    assert stat.S_IMODE(path.stat().st_mode) & 0o040 and stat.S_IMODE(path.with_suffix(".queries.npz").stat().st_mode) & 0o040


def test_a_checkpoint_folder_is_readable_by_the_group(tmp_path):
    from recbench.protocol.cache import folder_mode
    from recbench.run.training import CheckpointCache, TrainingReport

    class Tiny:
        name, params = "tiny", {}

        def save_checkpoint(self, folder):
            (folder / "w.bin").write_bytes(b"0")

    report = TrainingReport(1.0, 1, 1, 1, 1, 1, "auc", 0.5, 1.0, "1steps", "steps")
    folder = CheckpointCache(tmp_path).save(Tiny(), "k", report, {})
    assert stat.S_IMODE(folder.stat().st_mode) == folder_mode()


class Tokens:
    """A token encoder whose tokens depend on the text only (deterministic)."""
    name = "tokens"
    params = {"v": 1}

    def __init__(self):
        self.calls = 0

    def encode_tokens(self, texts, kind="document", batch_size=32):
        self.calls += 1
        out = []
        for t in texts:
            rng = np.random.default_rng(sum(map(ord, t)) + (0 if kind == "document" else 7))
            v = rng.normal(size=(len(t.split()), 4)).astype(np.float32)
            out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        return out


def test_token_vectors_come_back_from_the_cache_exactly_and_a_damaged_entry_is_recomputed(tmp_path):
    from recbench.protocol.cache import TokenCache
    from recbench.protocol.encoding import encode_item_tokens

    settings = EvalSettings(cache_dir=str(tmp_path), progress=False)
    model = Tokens()
    first_timing, second_timing = {}, {}
    first = encode_item_tokens(model, TEXTS, "document", settings, first_timing)
    calls = model.calls
    second = encode_item_tokens(model, TEXTS, "document", settings, second_timing)
    assert model.calls == calls and second_timing.get("item_tokens_from_cache")  # a hit encodes nothing
    assert all(np.array_equal(a, b) for a, b in zip(first, second)) and len(second) == len(TEXTS)
    assert second_timing["stored_bytes_per_item"] == first_timing["stored_bytes_per_item"]
    query = encode_item_tokens(model, TEXTS, "query", settings, {})  # the query side is its own entry
    assert not np.array_equal(query[0], first[0])
    path = TokenCache(tmp_path).path(model, TEXTS, "document")
    with np.load(path) as z:
        parts = dict(z)
    parts["lengths"] = parts["lengths"] + np.array([1, -1, 0])  # the same total, other boundaries
    np.savez(path, **parts)
    with pytest.warns(UserWarning, match="token cache: .* not usable"):
        again = encode_item_tokens(model, TEXTS, "document", settings, {})
    assert model.calls > calls + 1 and all(np.array_equal(a, b) for a, b in zip(first, again))
