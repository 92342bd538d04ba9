"""SIF and average GloVe against independent plain-numpy computations."""

import numpy as np
import pytest
from sklearn.decomposition import TruncatedSVD
from wordfreq import get_frequency_dict

from recbench.baselines.encoders._words import load_glove_6b_50d, tokenize, tokenize_batch, weighted_average
from recbench.baselines.encoders.glove import SIF, GloveAverage

pytestmark = pytest.mark.integration  # model weights, training or a process per cell


SENTENCES = [
    "the cat sat on the mat",
    "a dog chased the ball in the park",
    "stock markets fell sharply on monday",
    "the president met foreign leaders today",
    "children played football after school",
    "heavy rain flooded the city streets",
]


@pytest.fixture(scope="module")
def glove():
    return load_glove_6b_50d()


def plain_lookup(glove, word):
    hits = np.flatnonzero(glove.words == word)
    return glove.vectors[hits[0]] if len(hits) else None


def test_tokenize_matches_glove_conventions():
    assert tokenize("Don't panic: the Woman's 1,650 points rose 0.11%!") == [
        "do", "n't", "panic", "the", "woman", "'s", "1,650", "points", "rose", "0.11"]
    assert tokenize("strife-torn U.S. café") == ["strife", "torn", "u", "s", "café"]
    assert tokenize("It\u2019s") == ["it", "'s"]


def test_batch_lookup_equals_a_word_by_word_loop(glove):
    texts = ["Hello there, world!", "", "zzzzqqq unknownword", "The U.N. isn't here"]
    got = weighted_average(tokenize_batch(texts, glove.words), glove.vectors, None)
    for text, row in zip(texts, got):
        vecs = [v for w in tokenize(text) if (v := plain_lookup(glove, w)) is not None]
        want = np.mean(vecs, axis=0) if vecs else np.zeros(glove.vectors.shape[1])
        np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6)


def test_glove_average_is_the_mean_of_word_vectors(glove):
    model = GloveAverage()
    got = model.encode(SENTENCES[:2])
    want = np.stack([np.mean([plain_lookup(glove, w) for w in s.split()], axis=0) for s in SENTENCES[:2]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_sif_matches_the_papers_algorithm_in_plain_numpy(glove):
    """Arora et al.: weighted mean with a/(a+p(w)), then the first singular vector of the
    uncentred embedding matrix removed (the authors fit it with TruncatedSVD)."""
    a = 1e-3
    model = SIF(a=a, pc="self")
    model.fit_corpus(SENTENCES)
    got = model.encode(SENTENCES)

    freq = get_frequency_dict("en", wordlist="best")  # unrounded (word_frequency rounds to 3 digits)
    rows = []
    for s in SENTENCES:
        words = s.split()  # these sentences need no tokenizer: plain lower-case words
        vecs = np.stack([plain_lookup(glove, w) for w in words])
        weights = np.array([a / (a + freq[w]) for w in words])
        rows.append((weights[:, None] * vecs).sum(axis=0) / len(words))
    x = np.stack(rows).astype(np.float64)
    svd = TruncatedSVD(n_components=1, n_iter=7, random_state=0).fit(x)
    u = svd.components_[0]
    want = x - np.outer(x @ u, u)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_sif_needs_its_component_before_encoding():
    with pytest.raises(RuntimeError, match="fit_corpus"):
        SIF(pc="self").encode(["a sentence"])


def test_sif_reference_component_is_fitted_at_load_and_recorded():
    model = SIF(pc="reference")
    assert "lee_background" in model.params["component_fitted_on"]
    before = model.component.copy()
    model.fit_corpus(SENTENCES)  # a reference component ignores the evaluated texts
    np.testing.assert_array_equal(model.component, before)


def test_sif_word_frequencies_from_a_user_corpus(tmp_path, glove):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat\nthe dog\nthe cat\n")
    model = SIF(word_freq=str(corpus), pc="none")
    p_the = model.probabilities[glove.words.get_loc("the")]
    p_cat = model.probabilities[glove.words.get_loc("cat")]
    assert p_the == pytest.approx(3 / 6) and p_cat == pytest.approx(2 / 6)


def test_sif_rejects_bad_options():
    with pytest.raises(ValueError, match="pc must be"):
        SIF(pc="centre")


def test_the_batched_tokenizer_finds_exactly_the_tokens_of_the_per_text_pattern(glove):
    """tokenize_batch splits on whitespace and remembers chunks; it must give the ids that the
    regular expression gives text by text, boundaries, odd characters and repeats included."""
    texts = ["Don't stop: it's 1,650.5 km—isn't it?", "", "  ", "café au lait\nnew line", "\x01 \x00 weird",
             "...!!!", "The the THE the", "Don't stop: it's 1,650.5 km—isn't it?", "ünïcode wörds_and_underscores"]
    batch = tokenize_batch(texts, glove.words)
    for i, text in enumerate(texts):
        want = [glove.words.get_loc(t) for t in tokenize(text) if t in glove.words]
        assert batch.word[batch.sentence == i].tolist() == want, text
    assert batch.n_tokens_total == sum(len(tokenize(t)) for t in texts)
    again = tokenize_batch(texts[::-1], glove.words)  # remembered chunks give the same ids
    assert again.word[again.sentence == 0].tolist() == batch.word[batch.sentence == len(texts) - 1].tolist()
