"""ColBERT late interaction: encoding conventions and MaxSim against plain loops."""

import numpy as np
import pytest

from recbench.protocol.late_interaction import (RERANKED, candidates_vs_history, maxsim_mean, maxsim_sum, rerank_block, symmetric_maxsim)


pytestmark = pytest.mark.integration  # model weights, training or a process per cell


@pytest.fixture(scope="module")
def colbert():
    from recbench.baselines.encoders.colbert import ColBERTMiniLM

    return ColBERTMiniLM()


def test_queries_are_mask_augmented_to_32_tokens_with_the_q_marker(colbert):
    ids, mask = colbert._batch(["wine with cherry notes"], colbert.q_marker, 32, pad_with_mask=True)
    assert ids.shape == (1, 32) and mask.sum() == 32  # [MASK] padding is attended
    assert ids[0, 0] == colbert.tokenizer.cls_token_id and ids[0, 1] == colbert.q_marker
    assert (ids[0, 7:] == colbert.tokenizer.mask_token_id).all()
    q = colbert.encode_tokens(["wine with cherry notes"], kind="query")[0]
    assert q.shape == (32, 384)


def test_documents_drop_padding_and_punctuation_and_are_unit_length(colbert):
    docs = colbert.encode_tokens(["Hello, world!", "a much longer document about red wine and food"], kind="document")
    assert docs[0].shape == (5, 384)  # [CLS] [D] hello world [SEP]
    assert docs[1].shape[0] == 2 + 9 + 1
    np.testing.assert_allclose(np.linalg.norm(docs[1], axis=1), 1.0, rtol=1e-5)


def test_projection_changes_the_dimension(tmp_path):
    from recbench.baselines.encoders.colbert import ColBERTMiniLM

    m = ColBERTMiniLM(dim=128)
    assert m.encode_tokens(["short text"])[0].shape[1] == 128 and m.params["projection"] == "seeded random"


def test_maxsim_against_plain_loops():
    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    q, d = unit(rng.normal(size=(4, 8))), unit(rng.normal(size=(6, 8)))
    best = [max(float(qi @ dj) for dj in d) for qi in q]
    assert maxsim_sum(q, d) == pytest.approx(sum(best))
    assert maxsim_mean(q, d) == pytest.approx(np.mean(best))
    back = [max(float(dj @ qi) for qi in q) for dj in d]
    assert symmetric_maxsim(q, d) == pytest.approx((np.mean(best) + np.mean(back)) / 2)
    tokens = [unit(rng.normal(size=(rng.integers(1, 5), 8))) for _ in range(6)]
    hist, cands = np.array([0, 2]), np.array([1, 3, 5])
    h = np.concatenate([tokens[0], tokens[2]])
    want = [np.mean([max(float(t @ x) for x in h) for t in tokens[c]]) for c in cands]
    np.testing.assert_allclose(candidates_vs_history(tokens, hist, cands), want, rtol=1e-5)
    assert candidates_vs_history(tokens, np.array([], dtype=int), cands).tolist() == [0, 0, 0]


def test_rerank_orders_the_top_by_late_scores_and_keeps_dense_order_below():
    dense = np.array([[0.9, 0.8, 0.7, 0.1, 0.05]])
    late = {0: 0.1, 1: 0.5, 2: 0.3}
    out = rerank_block(dense, 3, lambda j, rows: [late[int(r)] for r in rows])
    assert np.argsort(-out[0]).tolist() == [1, 2, 0, 3, 4]
    assert out[0, 3] == pytest.approx(0.1) and out[0, 1] == pytest.approx(RERANKED + 0.5)


def test_the_token_table_scores_as_the_per_item_loop_for_few_and_for_all_items():
    from recbench.protocol.late_interaction import TokenTable

    rng = np.random.default_rng(2)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    tokens = [unit(rng.normal(size=(int(n), 8))).astype(np.float32) if n else np.zeros((0, 8), np.float32)
              for n in rng.integers(0, 7, 40)]
    tokens[3] = np.zeros((0, 8), np.float32)  # an item with no token scores 0, as maxsim_sum says
    table = TokenTable(tokens)
    q = unit(rng.normal(size=(5, 8))).astype(np.float32)
    for rows in (np.array([7, 3, 0, 39]), np.arange(40), np.array([5, 5, 2])):  # few (gathered) and all (one product)
        want = [maxsim_sum(q, tokens[r]) for r in rows]
        np.testing.assert_allclose(table.maxsim_sum(q, rows), want, rtol=1e-5, atol=1e-6)
    assert table.maxsim_sum(np.zeros((0, 8), np.float32), np.arange(3)).tolist() == [0, 0, 0]


def test_untrained_dense_and_document_tokens_come_from_one_pass(colbert, monkeypatch):
    texts = ["a red wine with cherry notes", "crisp white wine", "a sparkling rosé, dry and fresh"]
    plain = [t.copy() for t in colbert.encode_tokens(texts, kind="document")]
    colbert.encode(texts)  # the dense pass keeps the catalog's document tokens
    calls = []
    monkeypatch.setattr(colbert, "_states", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError))
    again = colbert.encode_tokens(texts, kind="document")
    assert not calls
    for a, b in zip(plain, again):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)
