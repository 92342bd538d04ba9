"""SBERT through recbench gives exactly what sentence-transformers gives."""

import numpy as np
import pytest

from recbench.baselines.encoders.sbert import SBERT, default_model_path


pytestmark = pytest.mark.integration  # model weights, training or a process per cell


@pytest.fixture(scope="module")
def model():
    return SBERT()


def test_recbench_sbert_equals_plain_sentence_transformers(model):
    from sentence_transformers import SentenceTransformer

    texts = ["A man is playing a flute.", "A man plays the flute.", "Stocks fell on Monday."]
    plain = SentenceTransformer(default_model_path(), device="cpu").encode(texts, batch_size=2)
    np.testing.assert_allclose(model.encode(texts, batch_size=2), plain, rtol=1e-5, atol=1e-6)
    sims = plain @ plain.T / np.outer(np.linalg.norm(plain, axis=1), np.linalg.norm(plain, axis=1))
    assert sims[0, 1] > 0.8 > 0.2 > sims[0, 2]  # a real model, not noise


def test_a_local_folder_runs_through_the_spec_argument():
    m = SBERT(arg=default_model_path(), max_seq_length=32)
    assert m.params["max_seq_length"] == 32 and m.encode(["hello"]).shape == (1, 384)


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder .*nope does not exist"):
        SBERT(arg=str(tmp_path / "nope"))


def test_identity_from_the_configuration_files_is_the_loaded_models():
    """The cache key and the record come from the folder's files; they must be what the loaded
    model says (max length, dimension, parameters), or a lazy model would key another model."""
    from recbench.baselines.encoders._st_config import folder_identity

    lazy = SBERT()
    assert lazy._model is None  # built without loading the weights
    identity = folder_identity(default_model_path())
    loaded = lazy.model
    assert identity.max_seq_length == loaded.max_seq_length
    assert identity.dim == loaded.get_embedding_dimension() == lazy.dim
    assert identity.n_parameters == sum(p.numel() for p in loaded.parameters()) == lazy.n_parameters


def test_a_fully_cached_run_never_loads_the_weights(tmp_path, monkeypatch):
    from recbench.baselines.encoders import sbert as sbert_module
    from recbench.protocol.encoding import encode_items
    from recbench.protocol.settings import EvalSettings

    texts = ["a red kettle", "a blue mug", "a green pan"]
    settings = EvalSettings(cache_dir=str(tmp_path), offline_texts=0, warmup_texts=1)
    cold_timing: dict = {}
    cold = encode_items(SBERT(), texts, settings, cold_timing)
    assert not cold_timing["embedding_cache_hit"]

    def refuse(*args, **kwargs):
        raise AssertionError("the weights were loaded although every text is cached")

    monkeypatch.setattr(sbert_module, "load_sentence_transformer", refuse)
    warm_model, warm_timing = SBERT(), {}
    warm = encode_items(warm_model, texts, settings, warm_timing)
    assert warm_timing["embedding_cache_hit"] and warm_model._model is None
    np.testing.assert_array_equal(warm, cold)
    assert warm_model.params == SBERT().params  # the record's parameters without the weights
