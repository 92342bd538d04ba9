"""--export mind-submission: MIND's leaderboard file, scored with the official formula (MIND's
evaluate.py: ranks -> 1/rank scores, then AUC, MRR, nDCG@5/10), gives the record's figures.
Also the issue's end-to-end: ``recbench run --model nrms --dataset mind-small --data-dir DIR``."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from mind_fixture import DEV, NEWS, write_mind
from recbench.protocol.kinds.impressions import candidate_ranks
from recbench.cli.app import app


# --- MIND's official scorer (msnews/MIND evaluate.py), written out independently -------------
def dcg_score(y_true, y_score, k=10):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order[:k])
    return np.sum((2 ** y_true - 1) / np.log2(np.arange(len(y_true)) + 2))


def ndcg_score(y_true, y_score, k=10):
    return dcg_score(y_true, y_score, k) / dcg_score(y_true, y_true, k)


def mrr_score(y_true, y_score):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order)
    return np.sum(y_true / (np.arange(len(y_true)) + 1)) / np.sum(y_true)


def official_scores(truth: dict[str, list[int]], prediction_lines: list[str]) -> dict[str, float]:
    aucs, mrrs, n5, n10 = [], [], [], []
    for line in prediction_lines:
        imp, ranks = line.split(" ", 1)
        y_score = 1.0 / np.array(json.loads(ranks), dtype=float)
        y_true = np.array(truth[imp])
        if 0 < y_true.sum() < len(y_true):  # the official script would fail on one label class
            aucs.append(roc_auc_score(y_true, y_score))
        mrrs.append(mrr_score(y_true, y_score))
        n5.append(ndcg_score(y_true, y_score, 5))
        n10.append(ndcg_score(y_true, y_score, 10))
    return {"auc": np.mean(aucs), "mrr": np.mean(mrrs), "ndcg@5": np.mean(n5), "ndcg@10": np.mean(n10)}


def train_behaviours(n_users: int = 12, per_user: int = 4, seed: int = 0) -> list[tuple[str, ...]]:
    """Enough train impressions for a validation slice and a train part (the fixture's three are too few)."""
    rng = np.random.default_rng(seed)
    ids = [n[0] for n in NEWS]
    rows = []
    for u in range(n_users):
        for j in range(per_user):
            history = rng.choice(ids, size=3, replace=False)
            shown = rng.choice(ids, size=4, replace=False)
            labels = rng.permutation([1, 0, 0, 0])
            rows.append((str(100 + u * per_user + j), f"T{u}", f"11/1{j}/2019 9:00:00 AM", " ".join(history),
                         " ".join(f"{n}-{l}" for n, l in zip(shown, labels))))
    return rows


def test_ranks_break_ties_as_the_official_scorer_does():
    ranks = candidate_ranks(np.array([0.2, 0.9, 0.2, 0.5]))
    assert ranks.tolist() == [4, 1, 3, 2]  # tied 0.2s: the later one ranks first, as argsort(score)[::-1]
    scores = np.array([0.2, 0.9, 0.2, 0.5])
    assert np.argsort(1.0 / ranks)[::-1].tolist() == np.argsort(scores)[::-1].tolist()


@pytest.mark.usefixtures("isolated_cache")
@pytest.mark.integration
def test_nrms_on_mind_small_exports_a_submission_that_the_official_formula_scores_as_recorded(tmp_path):
    dev = [row for row in DEV if row[3]]  # NRMS scores an empty history's candidates alike: a tie
    write_mind(tmp_path / "data", dev=dev, train=train_behaviours())
    out, results = tmp_path / "submission", tmp_path / "results"
    args = ["run", "--model", "nrms", "--dataset", "mind-small", "--data-dir", str(tmp_path / "data"),
            "--train-budget", "6steps", "--results-dir", str(results), "--no-isolate", "--no-progress",
            "--n-bootstrap", "10", "--latency-queries", "2", "--export", "mind-submission", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "exported" in result.output
    (record_path,) = results.glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["training"]["steps"] == 6 and record["exported"]["format"] == "mind-submission"
    (folder,) = out.iterdir()
    lines = (folder / "prediction.txt").read_text().splitlines()
    with zipfile.ZipFile(folder / "prediction.zip") as z:
        assert z.namelist() == ["prediction.txt"] and z.read("prediction.txt").decode().splitlines() == lines
    truth = {imp: [int(c.rsplit("-", 1)[1]) for c in shown.split()] for imp, _, _, _, shown in dev}
    assert [l.split(" ")[0] for l in lines] == [row[0] for row in dev]  # one line per impression, in order
    official = official_scores(truth, lines)
    for metric, value in official.items():
        assert record["metrics"][metric]["value"] == pytest.approx(value, abs=1e-12), metric

    again = CliRunner().invoke(app, args)  # never overwritten silently
    assert again.exit_code == 2 and "holds files already" in again.output


def test_an_export_format_of_another_kind_skips_the_cell_and_an_unknown_one_is_an_error(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--model", "sif", "--dataset", "lee", "--export", "mind-submission",
                                 str(tmp_path), "--results-dir", str(tmp_path / "r")])
    assert "writes 'impressions' cells only" in result.output
    result = runner.invoke(app, ["run", "--model", "sif", "--dataset", "lee", "--export", "trek", str(tmp_path)])
    assert result.exit_code != 0 and "unknown format 'trek'" in result.output
