"""SBERT through recbench gives exactly what sentence-transformers gives."""

import numpy as np
import pytest

from recbench.baselines.sbert import SBERT, default_model_path


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
