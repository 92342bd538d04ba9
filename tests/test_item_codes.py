"""Item indexings (semantic IDs and their rivals): unique tuples, the cold-item protocol, what
each method promises about prefixes, and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.baselines.sequential._item_codes import (INDEXINGS, FittedIndexing, IndexingSpec, cached_indexing, code_stats, cooccurrence, first_appearance_order, fit_indexing, fit_residual_codebooks, item_codes, residual_codes, with_collision_level)


@pytest.fixture(autouse=True)
def quick_rqvae(monkeypatch):
    """The RQ-VAE trains 25 steps here, not 3,000: the catalogs are 120 items."""
    from recbench.baselines.sequential import rqvae

    monkeypatch.setattr(rqvae, "STEPS", 25)


def clustered_catalog(n_groups: int = 6, per_group: int = 20, dim: int = 16, seed: int = 0):
    """Item vectors in tight, well separated groups; sequences that stay within a group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, dim)) * 10
    group = np.repeat(np.arange(n_groups), per_group)
    vectors = (centres[group] + rng.normal(size=(len(group), dim)) * 0.1).astype(np.float32)
    sequences = [rng.choice(np.flatnonzero(group == g), size=8, replace=False)
                 for g in range(n_groups) for _ in range(15)]
    return vectors, group, sequences


@pytest.mark.parametrize("method", INDEXINGS)
def test_every_item_gets_a_unique_tuple_of_the_declared_shape(method):
    vectors, _, sequences = clustered_catalog()
    spec = IndexingSpec(method=method, levels=2, codes=8, branching=4)
    codes = item_codes(spec, vectors, sequences=sequences)
    assert codes.shape == (len(vectors), 3)
    assert (codes >= 0).all()
    assert len(np.unique(codes, axis=0)) == len(vectors)
    stats = code_stats(codes, spec)
    assert stats["tokens_per_item"] == 3 and stats["distinct_tuples"] <= len(vectors)
    assert all(0 < u <= 1 for u in stats["utilisation"][1:]) or method == "sequential"


@pytest.mark.parametrize("method", INDEXINGS)
def test_codes_are_seeded_and_items_outside_the_fit_never_move_a_fit_item(method):
    vectors, _, sequences = clustered_catalog()
    fit = np.ones(len(vectors), dtype=bool)
    fit[::7] = False  # the cold items
    warm_sequences = [s[fit[s]] for s in sequences]
    spec = IndexingSpec(method=method, levels=2, codes=8, branching=4, seed=3)
    once = item_codes(spec, vectors, fit, warm_sequences)
    again = item_codes(spec, vectors, fit, warm_sequences)
    assert np.array_equal(once, again)
    # the cold items' texts change (a new product): the warm items keep their tuples exactly
    moved = vectors.copy()
    moved[~fit] = np.random.default_rng(9).normal(size=moved[~fit].shape) * 10
    after = item_codes(spec, moved, fit, warm_sequences)
    assert np.array_equal(after[fit], once[fit])


def test_semantic_codes_put_items_of_one_text_group_under_one_first_code():
    vectors, group, sequences = clustered_catalog()
    codes = item_codes(IndexingSpec(method="semantic", levels=2, codes=6), vectors)
    for g in np.unique(group):
        assert len(np.unique(codes[group == g, 0])) == 1
    assert len(np.unique(codes[:, 0])) == 6


def test_collaborative_codes_follow_co_occurrence_not_text():
    vectors, group, sequences = clustered_catalog()
    shuffled = np.random.default_rng(1).permutation(vectors)  # text that says nothing about the groups
    codes = item_codes(IndexingSpec(method="collaborative", levels=1, branching=6), shuffled, sequences=sequences)
    for g in np.unique(group):
        assert len(np.unique(codes[group == g, 0])) == 1


def test_an_item_with_no_co_occurrence_gets_the_extra_first_code_and_hybrid_places_it_by_text():
    vectors, group, sequences = clustered_catalog()
    fit = np.ones(len(vectors), dtype=bool)
    lonely = np.flatnonzero(group == 2)[:3]
    fit[lonely] = False
    warm = [s[fit[s]] for s in sequences]
    collab = item_codes(IndexingSpec(method="collaborative", levels=1, branching=6), vectors, fit, warm)
    assert (collab[lonely, 0] == 6).all()
    hybrid = item_codes(IndexingSpec(method="hybrid", levels=2, codes=4, branching=6), vectors, fit, warm)
    mates = np.setdiff1d(np.flatnonzero(group == 2), lonely)
    assert set(hybrid[lonely, 0]) == set(hybrid[mates, 0]) and len(set(hybrid[mates, 0])) == 1


def test_sequential_numbers_follow_first_appearance_in_base_codes():
    order = first_appearance_order([np.array([3, 1, 3]), np.array([0, 4])], 6)
    assert order.tolist() == [3, 1, 0, 4, 2, 5]
    codes = item_codes(IndexingSpec(method="sequential", levels=2, codes=4), np.zeros((6, 2)),
                       sequences=[np.array([3, 1, 3]), np.array([0, 4])])
    # numbers 0..5 in base 4: item 3 -> 00, 1 -> 01, 0 -> 02, 4 -> 03, 2 -> 10, 5 -> 11
    assert codes[:, :2].tolist() == [[0, 2], [0, 1], [1, 0], [0, 0], [0, 3], [1, 1]]
    assert (codes[:, 2] == 0).all()


def test_residual_codes_reconstruct_better_with_each_level():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    books = fit_residual_codebooks(x, 3, 8, seed=0)
    codes = residual_codes(x, books)
    errors = []
    recon = np.zeros_like(x)
    for level, book in enumerate(books):
        recon = recon + book[codes[:, level]]
        errors.append(float(((x - recon) ** 2).sum()))
    assert errors[0] > errors[1] > errors[2]


def test_the_collision_column_numbers_fit_rows_first():
    codes = np.array([[1, 1], [1, 1], [2, 0], [1, 1]])
    fit = np.array([False, True, True, True])
    out = with_collision_level(codes, fit)
    assert out[:, 2].tolist() == [2, 0, 0, 1]


def test_cooccurrence_counts_pairs_within_the_window_both_ways():
    m = cooccurrence([np.array([0, 1, 2, 3])], 4, window=2).toarray()
    assert m[0, 1] == m[1, 0] == 1 and m[0, 2] == 1 and m[0, 3] == 0 and np.trace(m) == 0


def test_cached_codes_are_the_computed_codes_and_a_damaged_entry_is_recomputed(tmp_path):
    vectors, _, sequences = clustered_catalog()
    spec = IndexingSpec(method="semantic", levels=2, codes=6)
    fit = np.ones(len(vectors), dtype=bool)
    first = cached_indexing(spec, vectors, fit, root=tmp_path).codes_for(vectors)
    (entry,) = tmp_path.glob("*.npz")
    assert np.array_equal(cached_indexing(spec, vectors, fit, root=tmp_path).codes_for(vectors), first)
    entry.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="not usable"):
        assert np.array_equal(cached_indexing(spec, vectors, fit, root=tmp_path).codes_for(vectors), first)


def test_bad_specs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="indexing must be one of"):
        IndexingSpec(method="titles")
    with pytest.raises(ValueError, match="levels >= 1"):
        IndexingSpec(levels=0)
    with pytest.raises(ValueError, match="no item to fit"):
        item_codes(IndexingSpec(), np.zeros((3, 2)), np.zeros(3, dtype=bool))


@pytest.mark.parametrize("method", INDEXINGS)
def test_a_fitted_indexing_round_trips_and_places_new_texts_as_a_fresh_fit_would(method):
    vectors, _, sequences = clustered_catalog()
    fit = np.ones(len(vectors), dtype=bool)
    fit[::5] = False
    warm = [s[fit[s]] for s in sequences]
    spec = IndexingSpec(method=method, levels=2, codes=6, branching=4)
    blank = vectors.copy()
    blank[~fit] = 0.0  # at training the cold items' texts are blank
    fitted = fit_indexing(spec, blank, fit, warm)
    reloaded = FittedIndexing.from_arrays(spec, fitted.arrays())
    served = reloaded.codes_for(vectors)  # served: the cold items' real texts
    assert np.array_equal(served, item_codes(spec, vectors, fit, warm))
    with pytest.raises(ValueError, match="indexing state is for"):
        FittedIndexing.from_arrays(IndexingSpec(method=method, levels=3), fitted.arrays())


def test_rqvae_learns_codes_that_follow_the_text_and_places_a_cold_item_by_its_text():
    """TIGER's RQ-VAE on well separated text groups: each group's items share their first code,
    and an item the fit never saw gets its group's first code from its text alone; the encoder
    and code books are all a checkpoint keeps (the state round-trips)."""
    vectors, group, _ = clustered_catalog()
    fit = np.ones(len(vectors), dtype=bool)
    fit[::10] = False
    spec = IndexingSpec(method="rqvae", levels=2, codes=6, seed=1)
    fitted = fit_indexing(spec, vectors, fit)
    codes = fitted.codes_for(vectors)
    for g in np.unique(group):
        warm = codes[(group == g) & fit, 0]
        first = np.bincount(warm).argmax()
        assert (warm == first).mean() >= 0.9
        assert (codes[(group == g) & ~fit, 0] == first).all()
    again = FittedIndexing.from_arrays(spec, fitted.arrays())
    assert np.array_equal(again.codes_for(vectors), codes) and again.encoder is not None



def test_rqvae_restarts_dead_codes_so_every_level_keeps_its_code_book_in_use():
    """K-means initialisation alone let amazon-scientific's code books collapse (3 of 256 level-1
    codes in use after 3,000 steps); a code no row chose since the last restart is moved onto a
    residual of the batch. Here: 400 items spread in 32 dimensions, 16 codes a level."""
    from recbench.baselines.sequential import rqvae

    vectors = np.random.default_rng(0).normal(size=(400, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def in_use(restart_every):
        encoder, books = rqvae.train_rqvae(vectors, 2, 16, 0, steps=600, batch=256, restart_every=restart_every)
        codes = residual_codes(rqvae.encode_numpy(encoder, vectors), books)
        return [len(np.unique(codes[:, level])) for level in range(2)]

    kept, collapsed = in_use(rqvae.RESTART_EVERY), in_use(0)
    assert min(kept) >= 14, kept
    assert sum(kept) > 2 * sum(collapsed), (kept, collapsed)  # without restarts the books collapse here too


def test_a_changed_rqvae_fit_is_in_the_codes_key_and_the_models_params():
    from recbench.protocol.registry import baselines

    rq, semantic = IndexingSpec(method="rqvae"), IndexingSpec(method="semantic")
    assert rq.fit_version and rq.key.endswith(f":v{rq.fit_version}") and rq.params == {"indexing_fit": f"v{rq.fit_version}"}
    assert semantic.fit_version is None and semantic.params == {} and semantic.key == "semantic:L3:K256:B16:s0"
    assert baselines.get("tiger")(indexing="rqvae").params["indexing_fit"] == f"v{rq.fit_version}"
    assert baselines.get("sasrec-sid")(indexing="rqvae").params["indexing_fit"] == f"v{rq.fit_version}"
    assert "indexing_fit" not in baselines.get("tiger")().params  # earlier cells' checkpoints stay theirs
