"""Training seeds: the seed-aware comparison on synthetic rows whose between-seed variance is
known, Holm's adjustment against a brute-force definition, and seed rows in the report."""

from __future__ import annotations

import itertools
import json

import numpy as np
from minimal_record import minimal_record
import pytest

from recbench.results.seeds import hierarchical_bootstrap, holm, seed_siblings, spread
from recbench.results.significance import compare_per_query


def synthetic_rows(rng, seeds=3, queries=300, seed_sd=0.02, query_sd=0.2, noise_sd=0.05, shift=0.0):
    """Two rows, equal but for ``shift``: value = query effect + seed effect + noise."""
    base = rng.normal(0.5, query_sd, queries)
    a = base + rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, noise_sd, (seeds, queries))
    b = base + shift + rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, noise_sd, (seeds, queries))
    return a, b


def test_with_no_true_difference_the_seed_aware_test_keeps_its_level_and_the_query_only_test_does_not():
    rng = np.random.default_rng(7)
    hier = query_only = 0
    trials = 80
    for t in range(trials):
        a, b = synthetic_rows(rng)
        hier += hierarchical_bootstrap(a, b, n_boot=400, seed=t).p_value < 0.05
        query_only += compare_per_query(a[0], b[0], "x", n_boot=10, n_perm=400, seed=t).p_value < 0.05
    # the seed effect (sd 0.02) dwarfs the query-level standard error (~0.004): one seed's
    # luck looks "significant" most of the time when only queries are resampled
    assert query_only / trials > 0.5
    assert hier / trials <= 0.15  # 3 seeds: a bootstrap is a little liberal, never far off


def test_the_bootstrap_spread_matches_the_known_variance_of_the_difference():
    rng = np.random.default_rng(3)
    seed_sd, noise_sd, queries, seeds = 0.03, 0.05, 400, 4
    widths = []
    for t in range(30):
        a, b = synthetic_rows(rng, seeds=seeds, queries=queries, seed_sd=seed_sd, noise_sd=noise_sd)
        c = hierarchical_bootstrap(a, b, n_boot=600, seed=t)
        widths.append((c.ci_high - c.ci_low) / (2 * 1.96))
        assert c.seeds_a == seeds and c.seeds_b == seeds and c.shared_queries == queries
    truth = np.sqrt(2 * seed_sd ** 2 / seeds + 2 * noise_sd ** 2 / (seeds * queries))
    assert np.mean(widths) == pytest.approx(truth, rel=0.3)


def test_a_real_difference_is_found_and_its_sign_kept():
    a, b = synthetic_rows(np.random.default_rng(1), seed_sd=0.005, shift=0.05)
    c = hierarchical_bootstrap(a, b, n_boot=1000)
    assert c.difference == pytest.approx(0.05, abs=0.015) and c.ci_low > 0 and c.p_value < 0.01
    flipped = hierarchical_bootstrap(b, a, n_boot=1000)
    assert flipped.difference == pytest.approx(-c.difference) and flipped.ci_high < 0


def test_spreading_restores_the_unbiased_seed_variance():
    x = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 6.0]])
    s = spread(x)
    assert np.allclose(s.mean(axis=0), x.mean(axis=0))
    assert np.allclose(s.var(axis=0, ddof=0), x.var(axis=0, ddof=1))
    assert spread(x[:1]) is not None and np.array_equal(spread(x[:1]), x[:1])


def brute_force_holm(p: dict[str, float]) -> dict[str, float]:
    """Holm by its definition: reject H_(i) iff every H_(j), j <= i, has p_(j) <= alpha / (m - j + 1);
    the adjusted p-value is the smallest alpha that rejects it."""
    keys = sorted(p, key=p.get)
    m = len(keys)
    out = {}
    for i, k in enumerate(keys):
        out[k] = min(1.0, max((m - j) * p[keys[j]] for j in range(i + 1)))
    return out


@pytest.mark.parametrize("values", [(0.01, 0.04, 0.03, 0.2), (0.5, 0.001, 0.02), (0.049,), (0.01, 0.01, 0.9, 0.012)])
def test_holm_matches_its_definition_and_never_lowers_a_p_value(values):
    p = {f"r{i}": v for i, v in enumerate(values)}
    adjusted = holm(p)
    assert adjusted == pytest.approx(brute_force_holm(p))
    assert all(adjusted[k] >= p[k] for k in p)
    # as a test procedure: rejections at 0.05 are a prefix of the sorted p-values
    rejected = sorted((k for k in p if adjusted[k] < 0.05), key=p.get)
    assert rejected == sorted(p, key=p.get)[: len(rejected)]


def test_seed_siblings_are_the_newest_record_of_each_seed_of_the_same_row(tmp_path):
    def record(name, seed, date, label="m", budget="10steps"):
        base = minimal_record(f"{name}-{seed}")
        rec = {**base, "date": date, "dataset": {**base["dataset"], "name": "d"},
               "model": {**base["model"], "label": label}, "cell": {"training": {"seed": seed, "budget": budget}}}
        (tmp_path / f"{name}.json").write_text(json.dumps(rec))
        return tmp_path / f"{name}.json"

    s0 = record("a", 0, "2026-01-01")
    record("b", 1, "2026-01-01")
    s1 = record("c", 1, "2026-01-02")  # newer run of seed 1
    record("d", 2, "2026-01-01", budget="20steps")  # another budget: another row
    record("e", 2, "2026-01-01", label="other")
    assert seed_siblings(s0) == [s0, s1]
    assert list(itertools.chain(seed_siblings(s1))) == [s0, s1]
