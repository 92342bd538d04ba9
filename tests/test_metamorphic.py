"""Metamorphic tests: the harness judged by models whose right answer is known, on small slices
of the real data, one test class per task kind.

- a constant model (one vector for every text: an untrained or collapsed encoder) scores
  exactly at chance on the ranking kinds, and is refused on pairs (a correlation with a
  constant is undefined);
- an oracle (a test plugin that scores the relevant items highest) scores 1.0;
- renaming item ids and reordering the catalog change no metric;
- duplicating the catalog has the documented effect of the tie rule (docs/reliability.md, "Ties").

Chance is computed independently of the metric code (scipy's hypergeometric distribution,
harmonic numbers), and a truly random ranking (the ``random`` baseline) must land within
four standard errors of it.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache

import numpy as np
import pytest
from scipy.stats import hypergeom

from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.kinds.base import evaluate
from recbench.protocol.kinds.ranking import relevant_tie_counts
from recbench.protocol.metrics import expected_ranking_metrics
from recbench.protocol.pooling import unit_rows
from recbench.protocol.registry import baselines, datasets
from recbench.run.runner import build_dataset, run_cell
from recbench.protocol.kinds.tasks import (Dataset, Impressions, ImpressionsTask, ItemToItemTask, PairsTask, SequencesTask)

FAST = EvalSettings(n_bootstrap=30, latency_queries=2, progress=False, use_cache=False)
DISCOUNTS = 1.0 / np.log2(np.arange(2, 12))  # ranks 1..10


# --- test plugins ------------------------------------------------------------------------
class ConstantEncoder:
    """The same vector for every text."""

    name = "constant"
    params: dict = {}

    def __init__(self, arg=None):
        pass

    def encode(self, texts, batch_size=32):
        return np.ones((len(texts), 8), dtype=np.float32)


class Oracle:
    """Knows the answers: scores each query's relevant items (by grade) above everything."""

    name = "oracle"
    params: dict = {}

    def __init__(self, arg=None):
        pass

    def score_queries(self, task, queries):
        if task.kind == "impressions":
            return np.concatenate([task.test.labels[task.test.candidate_offsets[q]:task.test.candidate_offsets[q + 1]]
                                   for q in queries]).astype(np.float64)
        out = np.zeros((len(queries), len(task.item_ids)), dtype=np.float32)
        for j, q in enumerate(queries):
            if task.kind == "sequences":
                out[j, task.targets[q]] = 1.0
            else:
                lo, hi = task.relevant_offsets[q], task.relevant_offsets[q + 1]
                out[j, task.relevant[lo:hi]] = 1.0 + (task.grades[lo:hi] if task.grades is not None else 0.0)
        return out


class TextOracle(Oracle):
    """Scores every item whose text equals a relevant item's text: it cannot tell text twins apart."""

    name = "text-oracle"

    def score_queries(self, task, queries):
        texts = np.asarray(task.item_texts(), dtype=object)
        rel = super().score_queries(task, queries)
        out = np.zeros_like(rel)
        for j in range(len(queries)):
            out[j] = np.isin(texts, texts[rel[j] > 0])
        return out


class PairsOracle:
    """An encoder whose cosine for each pair of its slice is the gold score / 5: every text of
    the slice occurs in one pair only, so a 2-d vector per text can say it."""

    name = "pairs-oracle"
    params: dict = {}
    vectors: dict[str, np.ndarray] = {}

    def __init__(self, arg=None):
        pass

    @classmethod
    def for_task(cls, task: PairsTask) -> "PairsOracle":
        cls.vectors = {}
        for a, b, g in zip(task.texts_a, task.texts_b, task.gold):
            theta = np.arccos(g / 5.0)
            cls.vectors[a] = np.array([1.0, 0.0], dtype=np.float32)
            cls.vectors[b] = np.array([np.cos(theta), np.sin(theta)], dtype=np.float32)
        return cls()

    def encode(self, texts, batch_size=32):
        return np.stack([self.vectors[t] for t in texts])


# --- small real slices and their transformations ----------------------------------------------
@lru_cache(maxsize=None)
def _real(name: str):
    return build_dataset(name, DataLocator()).load()


def real(name: str):
    return copy.deepcopy(_real(name))


def slice_sequences(task: SequencesTask, n: int) -> SequencesTask:
    task.users, task.targets = task.users[:n], task.targets[:n]
    task.history = task.history[: task.history_offsets[n]]
    task.history_offsets = task.history_offsets[: n + 1]
    return task


def slice_item_to_item(task: ItemToItemTask, n: int) -> ItemToItemTask:
    task.query_items = task.query_items[:n]
    task.relevant, task.relevant_offsets = task.relevant[: task.relevant_offsets[n]], task.relevant_offsets[: n + 1]
    task.excluded, task.excluded_offsets = task.excluded[: task.excluded_offsets[n]], task.excluded_offsets[: n + 1]
    return task


def slice_impressions(task: ImpressionsTask, n: int) -> ImpressionsTask:
    t = task.test
    task.test = Impressions(t.ids[:n], t.users[:n], t.times[:n], t.history[: t.history_offsets[n]],
                            t.history_offsets[: n + 1], t.candidates[: t.candidate_offsets[n]],
                            t.candidate_offsets[: n + 1], t.labels[: t.candidate_offsets[n]])
    return task


def reorder_catalog(task, seed: int = 3):
    """A random new order of the item table, every reference moved with it, ids renamed."""
    n = len(task.item_ids)
    perm = np.random.default_rng(seed).permutation(n)  # new row r holds old item perm[r]
    new_row = np.empty(n, dtype=np.int64)
    new_row[perm] = np.arange(n)
    task.item_ids = np.array([f"renamed-{i}" for i in range(n)], dtype=object)
    task.item_fields = {f: [v[p] for p in perm] for f, v in task.item_fields.items()}
    if isinstance(task, SequencesTask):
        task.history, task.targets = new_row[task.history], new_row[task.targets]
        task.train_counts = task.train_counts[perm]
    elif isinstance(task, ItemToItemTask):
        task.query_items, task.relevant, task.excluded = (new_row[task.query_items], new_row[task.relevant],
                                                          new_row[task.excluded])
    else:
        for imps in (task.test, task.train):
            imps.history, imps.candidates = new_row[imps.history], new_row[imps.candidates]
    return task


def duplicate_catalog(task):
    """Every item gets a text twin (rows n..2n-1) that is never relevant; item-to-item queries
    exclude their twin as they exclude themselves."""
    n = len(task.item_ids)
    task.item_ids = np.concatenate([task.item_ids, np.array([f"{i}-twin" for i in task.item_ids], dtype=object)])
    task.item_fields = {f: list(v) + list(v) for f, v in task.item_fields.items()}
    if isinstance(task, SequencesTask):
        task.train_counts = np.concatenate([task.train_counts, task.train_counts])
    elif isinstance(task, ItemToItemTask):
        per_query = np.split(task.excluded, task.excluded_offsets[1:-1])
        both = [np.concatenate([e, e + n]) for e in per_query]
        task.excluded = np.concatenate(both).astype(np.int64)
        task.excluded_offsets = np.r_[0, np.cumsum([len(e) for e in both])]
    return task


ACCURACY = re.compile(r"(mrr|auc|ndcg@\d+|recall@\d+|hr@\d+)")


def metrics_of(model, task, accuracy: bool = True) -> dict[str, np.ndarray]:
    """Each query's figures: its accuracy metrics (chance and the oracle are defined for them),
    or with ``accuracy=False`` every numeric one (the beyond-accuracy figures too)."""
    per_query = evaluate(model, task, FAST).per_query
    return {k: v for k, v in per_query.items() if k != "query_id" and np.asarray(v).dtype.kind == "f"
            and (not accuracy or ACCURACY.fullmatch(k))}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-9, err_msg=k)


def chance_single_relevant(n_ranked: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One relevant item at a uniformly random place among n_ranked items: per query, the
    mean and the variance of each metric."""
    out = {}
    n = n_ranked.astype(np.float64)
    inv = [1.0 / np.arange(1, m + 1) for m in n_ranked]
    mrr = np.array([x.sum() for x in inv]) / n
    out["mrr"] = (mrr, np.array([(x * x).sum() for x in inv]) / n - mrr ** 2)
    hit = np.minimum(10, n) / n
    out["recall@10"] = (hit, hit * (1 - hit))
    d = np.array([DISCOUNTS[: min(10, m)].sum() for m in n_ranked]) / n
    out["ndcg@10"] = (d, np.array([(DISCOUNTS[: min(10, m)] ** 2).sum() for m in n_ranked]) / n - d ** 2)
    return out


def within_standard_errors(values: np.ndarray, chance: tuple[np.ndarray, np.ndarray], n_se: float = 4.0) -> None:
    """A random ranking's mean over queries lies within n_se standard errors of chance; the
    standard error comes from the chance distribution and the number of queries (a sample's
    own spread understates it: 1/rank is heavy-tailed)."""
    mean, var = chance
    se = np.sqrt(np.sum(var)) / len(values)
    assert abs(values.mean() - mean.mean()) <= n_se * se, (values.mean(), mean.mean(), se)


# --- sequences -----------------------------------------------------------------------------
@pytest.mark.usefixtures("real_data")
class TestSequences:
    N = 600

    def task(self):
        return slice_sequences(real("amazon-scientific"), self.N)

    def test_constant_model_scores_exactly_chance(self):
        task = self.task()
        got = metrics_of(ConstantEncoder(), task)
        n_ranked = np.array([len(task.item_ids) - len(np.setdiff1d(task.history_of(i), [task.targets[i]]))
                             for i in range(len(task))])
        want = chance_single_relevant(n_ranked)
        for k in want:
            np.testing.assert_allclose(got[k], want[k][0], rtol=1e-10, err_msg=k)
        noise = metrics_of(baselines.get("random")(), task)  # a truly random ranking, same chance
        for k in want:
            within_standard_errors(noise[k], want[k])

    def test_oracle_scores_one(self):
        got = metrics_of(Oracle(), self.task())
        for k, v in got.items():
            assert np.all(v == 1.0), k

    def test_renamed_ids_and_reordered_catalog_change_nothing(self):
        model = baselines.get("glove-avg")()
        assert_same(metrics_of(model, self.task(), accuracy=False),
                    metrics_of(model, reorder_catalog(self.task()), accuracy=False))

    def test_a_text_twin_of_the_target_shares_its_place(self):
        """Documented effect: a relevant item tied with its twin is first or second with equal
        chance: MRR (1 + 1/2) / 2, Recall@10 1, nDCG@10 (1 + 1/log2 3) / 2."""
        task = self.task()
        texts = np.asarray(task.item_texts(), dtype=object)
        _, inverse, counts = np.unique(texts, return_inverse=True, return_counts=True)
        alone = counts[inverse][task.targets] == 1  # targets whose text no other item has
        assert alone.mean() > 0.5
        twins = metrics_of(TextOracle(), duplicate_catalog(task))
        np.testing.assert_allclose(twins["mrr"][alone], 0.75)
        np.testing.assert_allclose(twins["recall@10"][alone], 1.0)
        np.testing.assert_allclose(twins["ndcg@10"][alone], (1 + 1 / np.log2(3)) / 2)


# --- item-to-item --------------------------------------------------------------------------
@pytest.mark.usefixtures("real_data")
class TestItemToItem:
    N = 300

    def task(self):
        return slice_item_to_item(real("wine-similar"), self.N)

    def test_constant_model_scores_exactly_chance(self):
        task = self.task()
        got = metrics_of(ConstantEncoder(), task)
        mean: dict[str, list[float]] = {"mrr": [], "hr@10": [], "ndcg@10": []}
        var: dict[str, list[float]] = {"mrr": [], "hr@10": [], "ndcg@10": []}
        for q in range(len(task)):  # R relevant among N ranked items, at random: hypergeometric
            n = len(task.item_ids) - (task.excluded_offsets[q + 1] - task.excluded_offsets[q])
            r = int(task.relevant_offsets[q + 1] - task.relevant_offsets[q])
            ranks = np.arange(0, n - r + 2)
            none_before = hypergeom(n, r, ranks).pmf(0)  # P(first relevant beyond rank x)
            first_at = none_before[:-1] - none_before[1:]  # P(first relevant at rank x + 1)
            mrr = float(np.sum(first_at / (ranks[:-1] + 1)))
            mean["mrr"].append(mrr)
            var["mrr"].append(float(np.sum(first_at / (ranks[:-1] + 1.0) ** 2)) - mrr ** 2)
            hit = 1.0 - hypergeom(n, r, 10).pmf(0)
            mean["hr@10"].append(hit)
            var["hr@10"].append(hit * (1 - hit))
            idcg = DISCOUNTS[: min(r, 10)].sum()  # DCG = sum of d_x X_x, X_x: rank x holds a relevant item
            p, p2 = r / n, r * (r - 1) / (n * (n - 1))
            mean["ndcg@10"].append(p * DISCOUNTS.sum() / idcg)
            second = p * (DISCOUNTS ** 2).sum() + p2 * (DISCOUNTS.sum() ** 2 - (DISCOUNTS ** 2).sum())
            var["ndcg@10"].append((second - (p * DISCOUNTS.sum()) ** 2) / idcg ** 2)
        for k in mean:
            np.testing.assert_allclose(got[k], mean[k], rtol=1e-7, err_msg=k)
        noise = metrics_of(baselines.get("random")(), task)
        for k in mean:
            within_standard_errors(noise[k], (np.asarray(mean[k]), np.asarray(var[k])))

    def test_oracle_scores_one(self):
        got = metrics_of(Oracle(), self.task())  # 48 relevant items tied at the top: sums of discounts
        for k, v in got.items():
            np.testing.assert_allclose(v, 1.0, rtol=0, atol=1e-12, err_msg=k)

    def test_renamed_ids_and_reordered_catalog_change_nothing(self):
        model = baselines.get("glove-avg")()
        assert_same(metrics_of(model, self.task(), accuracy=False),
                    metrics_of(model, reorder_catalog(self.task()), accuracy=False))

    def test_duplicating_the_catalog_doubles_what_lies_above_and_beside(self):
        """Documented effect: with a twin for every item, a relevant item that had h items
        above it and t beside it has 2h above and 2t + 1 beside (its own twin)."""
        model = baselines.get("glove-avg")()
        task = self.task()
        items = unit_rows(model.encode(task.item_texts()))
        items = items.astype(np.float64)  # as the protocol scores (ranking.exact_scores)
        h, t = relevant_tie_counts(lambda rows: items[task.query_items[rows]] @ items.T, len(task), task.relevant,
                                   task.relevant_offsets, task.excluded, task.excluded_offsets)
        want = expected_ranking_metrics(2 * h, 2 * t + 1, task.relevant_offsets, None, 10)
        assert_same(metrics_of(model, duplicate_catalog(self.task())), want)


# --- impressions ---------------------------------------------------------------------------
@pytest.mark.usefixtures("real_data")
class TestImpressions:
    N = 800

    def task(self):
        return slice_impressions(real("amazon-scientific-mix"), self.N)

    def test_constant_model_is_at_chance(self):
        """AUC counts a tie one half: exactly 0.5. MRR and nDCG follow MIND's scorer (the later
        candidate wins a tie); candidates are shuffled, so they sit at chance within the
        standard error."""
        task = self.task()
        got = metrics_of(ConstantEncoder(), task)
        defined = np.isfinite(got["auc"])
        np.testing.assert_array_equal(got["auc"][defined], 0.5)
        sizes = np.diff(task.test.candidate_offsets)
        clicks = np.add.reduceat(task.test.labels, task.test.candidate_offsets[:-1])
        single = clicks == 1
        chance = chance_single_relevant(sizes[single])
        within_standard_errors(got["mrr"][single], chance["mrr"])
        within_standard_errors(got["ndcg@10"][single], chance["ndcg@10"])

    def test_oracle_scores_one(self):
        got = metrics_of(Oracle(), self.task())
        for k, v in got.items():
            assert np.all(v[np.isfinite(v)] == 1.0), k

    def test_renamed_ids_and_reordered_item_table_change_nothing(self):
        model = baselines.get("glove-avg")()
        assert_same(metrics_of(model, self.task(), accuracy=False),
                    metrics_of(model, reorder_catalog(self.task()), accuracy=False))

    def test_duplicated_items_change_nothing(self):
        """Candidates are listed per impression, so twins in the item table, referenced at
        random instead of their originals, cannot move a metric."""
        model = baselines.get("glove-avg")()
        task = duplicate_catalog(self.task())
        rng = np.random.default_rng(5)
        n = len(task.item_ids) // 2
        for imps in (task.test, task.train):
            imps.history = imps.history + n * rng.integers(0, 2, len(imps.history))
            imps.candidates = imps.candidates + n * rng.integers(0, 2, len(imps.candidates))
        assert_same(metrics_of(model, self.task()), metrics_of(model, task))


# --- pairs ---------------------------------------------------------------------------------
@pytest.mark.usefixtures("real_data")
class TestPairs:
    def task(self) -> PairsTask:
        """STS-B test pairs whose two texts occur in no other pair (so the oracle can exist)."""
        full = _real("sts-b")
        texts = full.texts_a + full.texts_b
        once = {t for t in texts if texts.count(t) == 1}
        keep = [i for i in range(len(full)) if full.texts_a[i] in once and full.texts_b[i] in once][:300]
        return PairsTask("sts-b-slice", "test", [full.texts_a[i] for i in keep], [full.texts_b[i] for i in keep],
                         full.gold[keep])

    def correlations(self, model, task) -> dict[str, float]:
        return {k: v["value"] for k, v in evaluate(model, task, FAST).metrics.items()}

    def test_constant_model_is_refused(self):
        with pytest.raises(EvaluationError, match="all 300 pairs got the same similarity"):
            evaluate(ConstantEncoder(), self.task(), FAST)

    def test_oracle_scores_one_hundred(self):
        task = self.task()
        got = self.correlations(PairsOracle.for_task(task), task)
        assert got["spearman"] == pytest.approx(100.0) and got["pearson"] == pytest.approx(100.0)

    def test_reordering_pairs_and_swapping_sides_change_nothing(self):
        model = baselines.get("glove-avg")()
        task = self.task()
        order = np.random.default_rng(2).permutation(len(task))
        moved = PairsTask("moved", "test", [task.texts_b[i] for i in order], [task.texts_a[i] for i in order],
                          task.gold[order])
        assert self.correlations(model, moved) == pytest.approx(self.correlations(model, task), abs=1e-9)

    def test_duplicating_every_pair_changes_no_correlation(self):
        model = baselines.get("glove-avg")()
        task = self.task()
        twice = PairsTask("twice", "test", task.texts_a * 2, task.texts_b * 2, np.r_[task.gold, task.gold])
        assert self.correlations(model, twice) == pytest.approx(self.correlations(model, task), abs=1e-9)


# --- through the whole harness: plugins, records, bounds ----------------------------------------
@pytest.fixture()
def plugins():
    class SequencesSlice(Dataset):
        kind = "sequences"
        primary_metric = "ndcg@10"

        def load(self, split=None):
            return slice_sequences(real("amazon-scientific"), 300)

    baselines.add("oracle", Oracle)
    baselines.add("constant", ConstantEncoder)
    datasets.add("scientific-slice", SequencesSlice)
    yield
    for reg, name in ((baselines, "oracle"), (baselines, "constant"), (datasets, "scientific-slice")):
        reg._entries.pop(name, None)


@pytest.mark.usefixtures("real_data", "plugins")
def test_plugins_through_the_harness_write_records_within_bounds(tmp_path):
    oracle = run_cell("oracle", "scientific-slice", settings=FAST, results_dir=tmp_path).record
    accuracy = {k: v["value"] for k, v in oracle["metrics"].items() if ACCURACY.fullmatch(k.split("[")[0])}
    assert set(accuracy.values()) == {1.0} and {"ndcg@10", "recall@10", "mrr"} <= set(accuracy)
    constant = run_cell("constant", "scientific-slice", settings=FAST, results_dir=tmp_path).record
    assert 0 < constant["metrics"]["ndcg@10"]["value"] < 0.01  # chance over ~4,380 items, not 1.0
    with pytest.raises(EvaluationError, match="model 'constant' on sts-b"):
        run_cell("constant", "sts-b", settings=FAST, results_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2
