"""Full ranking (item-to-item, sequences): exact ranks, metrics, splits and bad input."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.ranking import faiss_index, relevant_tie_counts, top_k
from recbench.protocol.metrics import expected_ranking_metrics
from recbench.run.runner import build_dataset, run_cell
from recbench.datasets._parsing import DataFormatError
from recbench.datasets.wine import read_wine_reviews, held_out_item_mask

FAST = EvalSettings(n_bootstrap=50, latency_queries=3, progress=False, use_cache=False)


def test_ranks_and_metrics_match_a_brute_force_sort():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 50)).astype(np.float32)
    rel = [rng.choice(50, size=rng.integers(1, 4), replace=False) for _ in range(30)]
    exc = [np.setdiff1d(rng.choice(50, size=2, replace=False), r) for r in rel]
    flat = lambda xs: (np.concatenate(xs).astype(np.int64), np.r_[0, np.cumsum([len(x) for x in xs])])  # noqa: E731
    (r, ro), (e, eo) = flat(rel), flat(exc)
    higher, tied = relevant_tie_counts(lambda rows: scores[rows], 30, r, ro, e, eo, block=7)
    assert (tied == 0).all()  # continuous scores: no ties, so the expectation is the plain rank
    ranks = higher + 1
    per_query = expected_ranking_metrics(higher, tied, ro, None, 10)
    for q in range(30):
        order = [i for i in np.argsort(-scores[q], kind="stable") if i not in exc[q]]
        positions = sorted(order.index(i) + 1 for i in rel[q])
        assert sorted(ranks[ro[q]:ro[q + 1]].tolist()) == positions
        assert per_query["mrr"][q] == pytest.approx(1 / positions[0])
        assert per_query["hr@10"][q] == float(positions[0] <= 10)
        dcg = sum(1 / np.log2(p + 1) for p in positions if p <= 10)
        idcg = sum(1 / np.log2(p + 1) for p in range(1, min(len(positions), 10) + 1))
        assert per_query["ndcg@10"][q] == pytest.approx(dcg / idcg)


def _brute_force_expectation(scores, relevant, grades, k):
    """Averages MRR, HR@k and nDCG@k over every order of the tied items (all permutations)."""
    import itertools

    groups = [np.flatnonzero(scores == v) for v in sorted(set(scores.tolist()), reverse=True)]
    gain = {int(i): 2.0 ** g - 1 for i, g in zip(relevant, grades)}
    ideal = sorted(gain.values(), reverse=True)
    idcg = sum(g / np.log2(p + 2) for p, g in enumerate(ideal[:k]))
    totals, count = np.zeros(3), 0
    for orders in itertools.product(*[itertools.permutations(g) for g in groups]):
        ranking = [int(i) for order in orders for i in order]
        pos = [ranking.index(i) + 1 for i in gain]
        dcg = sum(gain[i] / np.log2(ranking.index(i) + 2) for i in gain if ranking.index(i) < k)
        totals += [1 / min(pos), float(min(pos) <= k), dcg / idcg]
        count += 1
    return totals / count


@pytest.mark.parametrize("seed", range(12))
def test_tie_expectation_equals_averaging_over_every_tie_order(seed):
    """The independent reference: enumerate every order of the tied items and average."""
    rng = np.random.default_rng(seed)
    n_items, k = 9, 3
    scores = rng.integers(0, 3, size=n_items).astype(np.float32)  # three levels: many ties
    relevant = rng.choice(n_items, size=rng.integers(1, 4), replace=False)
    grades = rng.integers(1, 3, size=len(relevant)).astype(float)
    higher, tied = relevant_tie_counts(lambda rows: scores[None, :], 1, relevant, np.array([0, len(relevant)]),
                                       np.array([], dtype=np.int64), np.array([0, 0]))
    got = expected_ranking_metrics(higher, tied, np.array([0, len(relevant)]), grades, k)
    want = _brute_force_expectation(scores, relevant, grades, k)
    assert [got["mrr"][0], got[f"hr@{k}"][0], got[f"ndcg@{k}"][0]] == pytest.approx(want, abs=1e-12)


def test_tie_averaged_ndcg_matches_scikit_learn():
    """scikit-learn's ndcg_score(ignore_ties=False) averages DCG over tied orders too."""
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(7)
    n_q, n_items, k = 40, 60, 10
    scores = rng.integers(0, 6, size=(n_q, n_items)).astype(np.float32)
    rel = [rng.choice(n_items, size=rng.integers(1, 5), replace=False) for _ in range(n_q)]
    flat = np.concatenate(rel).astype(np.int64)
    offsets = np.r_[0, np.cumsum([len(x) for x in rel])]
    higher, tied = relevant_tie_counts(lambda rows: scores[rows], n_q, flat, offsets,
                                       np.array([], dtype=np.int64), np.zeros(n_q + 1, dtype=np.int64))
    got = expected_ranking_metrics(higher, tied, offsets, None, k)["ndcg@10"]
    for q in range(n_q):
        truth = np.zeros((1, n_items))
        truth[0, rel[q]] = 1
        assert got[q] == pytest.approx(ndcg_score(truth, scores[q : q + 1], k=k, ignore_ties=False), abs=1e-12)


def test_a_constant_ranking_scores_exactly_chance():
    """All items tied: MRR = H(N)/N, HR@k = k/N, nDCG@k = mean discount of the first k places."""
    n_items, k = 500, 10
    higher, tied = np.zeros(1, dtype=np.int64), np.full(1, n_items - 1)
    got = expected_ranking_metrics(higher, tied, np.array([0, 1]), None, k)
    assert got["mrr"][0] == pytest.approx(sum(1 / r for r in range(1, n_items + 1)) / n_items, rel=1e-12)
    assert got[f"hr@{k}"][0] == pytest.approx(k / n_items, rel=1e-12)
    assert got[f"ndcg@{k}"][0] == pytest.approx(sum(1 / np.log2(r + 1) for r in range(1, k + 1)) / n_items, rel=1e-12)


def test_faiss_top_k_equals_a_numpy_sort_and_skips_excluded():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(200, 16)).astype(np.float32)
    q = rng.normal(size=16).astype(np.float32)
    exc = np.argsort(-(items @ q))[:3]  # exclude the three best
    got = top_k(faiss_index(items), q, 10, exc)
    want = [i for i in np.argsort(-(items @ q)) if i not in exc][:10]
    assert got.tolist() == want


def test_the_cut_wine_row_is_reported_by_line_and_the_rest_kept(real_data):
    path = real_data / "wine" / "winemag-data-130k-v2.first-rows.csv"
    fields, cut = read_wine_reviews(path)
    assert len(fields["description"]) == 5810 and fields["id"][-1] == "5809"
    assert cut == [{"line": 5812, "id": "5810", "fields": 11, "expected": 14}]


def test_wine_tasks_on_real_data(real_data):
    tdm = build_dataset("wine-tdm", DataLocator()).load()
    test_items = tdm.info["test_items"]
    assert 0.17 * 5810 < test_items < 0.23 * 5810  # 20% of the items by id hash
    assert len(tdm) == test_items and tdm.sizes["mean_relevant"] == 1.0 and len(tdm.item_ids) == 5810
    similar = build_dataset("wine-similar", DataLocator()).load()
    assert len(similar) + similar.info["queries_skipped_no_other_review_of_their_kind"] == test_items
    for q in range(0, len(similar), 500):  # the query's own review is excluded and never relevant
        own = similar.query_items[q]
        rel = similar.relevant[similar.relevant_offsets[q]:similar.relevant_offsets[q + 1]]
        assert own not in rel and similar.excluded[similar.excluded_offsets[q]] == own
        assert {similar.item_fields["variety"][r] for r in rel} == {similar.item_fields["variety"][own]}


def test_wine_expert_layout_on_a_fixture(tmp_path, real_data):
    fields, _ = read_wine_reviews(real_data / "wine" / "winemag-data-130k-v2.first-rows.csv")
    test = np.flatnonzero(held_out_item_mask(fields["id"], 0.2, 0))  # seeds must be test items
    t = [fields["title"][r] for r in test]
    ann = tmp_path / "expert.csv"
    ann.write_text(
        "seed wine title,seed wine url,recommended title,recommended url,text only ranking (1-5),general rank\n"
        f'"{t[0]}",u0,"{t[1]}",u1,5,1\n"{t[0]}",u0,"{t[2]}",u2,2,3\n"{t[3]}",u3,"{t[4]}",u4,4,2\n'
        f'"{t[3]}",u3,"No Such Wine 1999",u9,3,1\n')
    task = build_dataset(f"wine-expert:{ann}", DataLocator()).load()
    assert len(task) == 2 and task.info["unmatched_rows"] == 1
    assert task.grades.tolist() == [5.0, 2.0, 4.0]
    rec = run_cell("sif", f"wine-expert:{ann}", settings=FAST, results_dir=None).record
    assert 0 <= rec["metrics"]["ndcg@10"]["value"] <= 1
    bad = tmp_path / "bad.csv"
    bad.write_text("seed wine title,recommended title,text only ranking (1-5)\n"
                   f'"{t[0]}","{t[1]}",great\n')
    with pytest.raises(DataFormatError, match=r"bad.csv:2: field 'text only ranking \(1-5\)' is 'great'"):
        build_dataset(f"wine-expert:{bad}", DataLocator()).load()


def test_amazon_scientific_split_reproduces_unisrec_targets(real_data):
    folder = real_data / "amazon" / "Scientific"
    for split, fname in (("test", "Scientific.test.inter"), ("valid", "Scientific.valid.inter")):
        task = build_dataset("amazon-scientific", DataLocator()).load(split)
        theirs = pd.read_csv(folder / fname, sep="\t", dtype=str)
        assert len(task) == len(theirs) == 8442
        assert task.targets.tolist() == theirs["item_id:token"].astype(int).tolist()
        # the history too (theirs may hold one older item where the full sequence had more than 50)
        for i in range(0, len(task), 997):
            ours = task.history_of(i).tolist()
            their = [int(x) for x in theirs["item_id_list:token_seq"].iloc[i].split()]
            assert their[-len(ours):] == ours


def test_sequences_exclude_history_and_skip_users_too_short(tmp_path):
    folder = tmp_path / "Toy"
    folder.mkdir()
    (folder / "Toy.item2index").write_text("".join(f"A{i}\t{i}\n" for i in range(6)))
    (folder / "Toy.text").write_text("item_id:token\ttext:token_seq\n" +
                                     "".join(f"A{i}\tTitle {i}. Cat. Brand{i}. \n" for i in range(6)))
    (folder / "Toy.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n"
                                           "0\t0 1 2\t3\n1\t\t4\n2\t5 1\t1\n")
    task = build_dataset(f"amazon-unisrec:{folder}", DataLocator()).load("test")
    assert len(task) == 2 and task.info["users_skipped_too_short"] == 1  # user 1 has a one-item sequence
    assert task.item_texts(("title", "brand"), style="kv")[0] == "title: Title 0 brand: Brand0"
    rec = run_cell("random", f"amazon-unisrec:{folder}", settings=FAST, results_dir=None).record
    assert rec["dataset"]["sizes"]["users"] == 2
    valid = build_dataset(f"amazon-unisrec:{folder}", DataLocator()).load("valid")
    assert valid.targets.tolist() == [2, 1] and valid.info["users_skipped_too_short"] == 1


def test_an_item_without_text_is_an_error_naming_file_and_line(tmp_path):
    folder = tmp_path / "Toy"
    folder.mkdir()
    (folder / "Toy.item2index").write_text("A0\t0\nA1\t1\n")
    (folder / "Toy.text").write_text("item_id:token\ttext:token_seq\nA0\tT0. C. B. \nA1\tT1. C. B. \n")
    (folder / "Toy.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0\t1\n1\t0 7\t1\n")
    with pytest.raises(DataFormatError, match=r"Toy.test.inter:3: item 7 has no text"):
        build_dataset(f"amazon-unisrec:{folder}", DataLocator()).load()


def test_raw_amazon_json_is_five_core_filtered_in_time_order(tmp_path):
    rng = np.random.default_rng(0)
    reviews, meta = [], []
    for a in range(8):
        meta.append({"asin": f"B{a}", "title": f"Product {a}", "brand": "Acme", "category": ["Tools", "Saws"]})
    for u in range(12):
        for a in rng.choice(8, size=6, replace=False):
            reviews.append({"reviewerID": f"U{u}", "asin": f"B{a}", "unixReviewTime": int(rng.integers(1e9, 2e9))})
    reviews.append({"reviewerID": "Ulone", "asin": "B0", "unixReviewTime": 1})  # not in the 5-core
    with gzip.open(tmp_path / "Tools_5.json.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in reviews))
    (tmp_path / "meta_Tools.json").write_text("\n".join(json.dumps(m) for m in meta))
    task = build_dataset(f"amazon:{tmp_path}", DataLocator()).load()
    assert len(task) == 12 and task.info["interactions_kept"] == 72
    u0 = sorted((r["unixReviewTime"], r["asin"]) for r in reviews if r["reviewerID"] == "U0")
    assert task.item_ids[task.targets[0]] == u0[-1][1]
    assert [task.item_ids[r] for r in task.history_of(0)] == [a for _, a in u0[:-1]]
