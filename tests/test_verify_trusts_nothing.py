"""`recbench verify` trusts nothing a record says about itself (issue 34): identity comes from
the cell section and a record whose other sections disagree fails; the tolerance comes from the
re-run, never from the record's interval or training claims; every metric is recomputed from
the record's own sidecar, whose checksum is checked; sidecars resolve only beside the record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recbench.results.records import RecordError, read_per_query
from recbench.protocol.registry import datasets
from recbench.run.verify import verify_record

from test_every_model_smoke import QUICK, TWO_STEPS, dataset_of
from toy_tasks import edit_record, recorded_run


@pytest.fixture()
def smoke_pairs():
    datasets.add("verify-pairs", dataset_of("pairs"))
    datasets.add("verify-sequences", dataset_of("sequences"))
    yield
    datasets.remove("verify-pairs")
    datasets.remove("verify-sequences")


def recorded(tmp_path: Path, model: str = "glove-avg", dataset: str = "verify-pairs", training=None) -> Path:
    return recorded_run(tmp_path / "runs", model, dataset, QUICK, training)


def test_an_honest_record_repeats_and_its_sidecar_agrees(tmp_path, smoke_pairs, isolated_cache):
    path = recorded(tmp_path)
    v = verify_record(path)
    assert v.ok, [(c.metric, c.recorded, c.now) for c in v.checks]
    assert any(c.basis == "recomputed from its sidecar" for c in v.checks)


def test_a_forged_figure_does_not_repeat_however_wide_its_claimed_interval(tmp_path, smoke_pairs, isolated_cache):
    path = recorded(tmp_path)

    def forge(r):
        r["metrics"]["spearman"] = {"value": r["metrics"]["spearman"]["value"] + 5, "ci_low": -100.0, "ci_high": 100.0}
        r["training"] = {"steps": 1}  # a claimed training section used to widen the tolerance

    edit_record(path, forge)
    with pytest.raises(RecordError, match="training: the record says True, its cell gives False"):
        verify_record(path)
    edit_record(path, lambda r: r.pop("training"))
    v = verify_record(path)
    failed = {c.metric for c in v.checks if not c.ok}
    assert "spearman" in failed and "spearman (sidecar)" in failed and not v.ok


def test_a_record_relabelled_as_another_model_fails(tmp_path, smoke_pairs, isolated_cache):
    path = recorded(tmp_path)

    def relabel(r):
        r["model"].update(name="sbert", spec="sbert", label="sbert")

    edit_record(path, relabel)
    with pytest.raises(RecordError, match="model.spec: the record says 'sbert', its cell gives 'glove-avg'"):
        verify_record(path)


def test_a_swapped_sidecar_is_refused_by_verify_and_compare(tmp_path, smoke_pairs, isolated_cache):
    path = recorded(tmp_path)
    side = path.with_suffix(".queries.npz")
    values = read_per_query(path)
    values["prediction"] = values["gold"] * 2.0  # "perfect" predictions put in after the run
    np.savez_compressed(side, **values)
    with pytest.raises(RecordError, match="is not the one the run wrote"):
        read_per_query(path)
    with pytest.raises(RecordError, match="is not the one the run wrote"):
        verify_record(path)


def test_a_sidecar_outside_the_records_folder_is_never_read(tmp_path, smoke_pairs, isolated_cache):
    path = recorded(tmp_path)
    elsewhere = tmp_path / "elsewhere.npz"
    elsewhere.write_bytes(path.with_suffix(".queries.npz").read_bytes())
    for name in (str(elsewhere), "../elsewhere.npz"):
        edit_record(path, lambda r: r.update(sidecar=name))
        with pytest.raises(RecordError, match="not a file name beside the record"):
            read_per_query(path)


def test_a_trained_rows_tolerance_comes_from_the_rerun_not_the_record(tmp_path, smoke_pairs, isolated_cache):
    path = recorded(tmp_path, model="sasrec", dataset="verify-sequences", training=TWO_STEPS)

    def widen(r):  # a claimed interval 2,000 wide around every figure
        for est in r["metrics"].values():
            est["ci_low"], est["ci_high"] = est["value"] - 1000.0, est["value"] + 1000.0

    edit_record(path, widen)
    v = verify_record(path)
    assert all(c.tolerance < 100.0 for c in v.checks), [(c.metric, c.tolerance) for c in v.checks]
    assert {c.basis for c in v.checks if "(sidecar)" not in c.metric} == {"the re-run's 95% CI half-width"}


def test_a_part_metric_undefined_on_some_queries_is_recomputed_over_those_it_is_defined_on(tmp_path):
    """The cold-item protocol's auc[warm] is NaN where an impression has no warm click: the
    sidecar check means over the defined queries, as the metric does (it printed nan: MISMATCH)."""
    import json

    import numpy as np

    from recbench.protocol.data import sha256_of
    from recbench.run.verify import sidecar_checks

    side = tmp_path / "r.queries.npz"
    np.savez(side, query_id=np.array(["a", "b", "c"]), auc=np.array([0.5, 0.7, 0.9]),
             **{"auc[warm]": np.array([0.6, np.nan, 0.8])})
    record = {"sidecar": side.name, "sidecar_sha256": sha256_of(side),
              "metrics": {"auc": {"value": 0.7}, "auc[warm]": {"value": 0.7}}}
    (tmp_path / "r.json").write_text(json.dumps(record))
    checks = {c.metric: c for c in sidecar_checks(tmp_path / "r.json", record)}
    assert checks["auc[warm] (sidecar)"].now == pytest.approx(0.7) and checks["auc[warm] (sidecar)"].ok
    assert checks["auc (sidecar)"].ok
