"""Dataset adapters on the real shared data, plus bad-input errors on small fixtures."""

import numpy as np
import pytest

from recbench.protocol.data import DataLocator, DataNotFoundError
from recbench.protocol.registry import datasets
from recbench.datasets._parsing import DataFormatError


def load(name, split=None, locator=None):
    cls = datasets.get(name)
    base, _, arg = name.partition(":")
    return cls(name=base, arg=arg or None, locator=locator or DataLocator()).load(split)


def test_lee_has_1225_pairs_of_50_documents():
    task = load("lee")
    assert len(task) == 1225 and task.info["documents"] == 50
    assert 0.0 <= task.gold.min() and task.gold.max() <= 1.0


@pytest.mark.parametrize("split,n", [("test", 1379), ("dev", 1500), ("train", 5749)])
def test_sts_benchmark_split_sizes(real_data, split, n):
    task = load("sts-b", split)
    assert len(task) == n
    assert task.gold.min() >= 0 and task.gold.max() <= 5


@pytest.mark.parametrize("year,n,subsets", [("sts12", 3108, 5), ("sts13", 1500, 3), ("sts14", 3750, 6),
                                            ("sts15", 3000, 5), ("sts16", 1186, 5)])
def test_semeval_years_count_only_scored_pairs(real_data, year, n, subsets):
    task = load(year)
    assert len(task) == n
    assert len(set(task.subsets.tolist())) == subsets


def test_sts16_skips_unscored_pairs_and_counts_them(real_data):
    task = load("sts16")
    assert task.info["unscored_pairs_skipped"]["postediting"] == 3043
    assert sum(task.info["unscored_pairs_skipped"].values()) == 1318 + 1249 + 1041 + 3043 + 1346


def test_unknown_split_is_refused(real_data):
    with pytest.raises(ValueError, match="no split 'validation'"):
        load("sts-b", "validation")


def test_missing_data_names_dataset_paths_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_DATA", str(tmp_path / "nowhere"))
    locator = DataLocator(data_dir=tmp_path / "mine", cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(DataNotFoundError) as err:
        load("sts-b", locator=locator)
    msg = str(err.value)
    assert "dataset 'sts-b'" in msg
    for tried in (tmp_path / "mine" / "sts" / "stsbenchmark", tmp_path / "nowhere" / "sts" / "stsbenchmark",
                  tmp_path / "cache" / "sts" / "stsbenchmark"):
        assert str(tried) in msg
    assert "Stsbenchmark.tar.gz" in msg and "By hand" not in msg and "To get it by hand" in msg


def test_data_dir_may_point_at_the_dataset_folder_itself(real_data):
    locator = DataLocator(data_dir=real_data / "sts" / "stsbenchmark")
    assert len(load("sts-b", locator=locator)) == 1379


def test_malformed_sts_row_names_file_and_line(tmp_path):
    folder = tmp_path / "sts" / "stsbenchmark"
    folder.mkdir(parents=True)
    good = "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man is playing a flute.\tA man is playing a flute.\n"
    (folder / "sts-test.csv").write_text(good * 3 + "main-captions\tMSRvid\t2012test\t0004\tfive\tA b.\tC d.\n")
    for s in ("train", "dev"):
        (folder / f"sts-{s}.csv").write_text(good)
    with pytest.raises(DataFormatError, match=r"sts-test.csv:4: field 'score' is 'five', not a number"):
        load("sts-b", locator=DataLocator(data_dir=tmp_path))
    (folder / "sts-test.csv").write_text(good * 3 + "main-captions\tMSRvid\t2012test\n")
    with pytest.raises(DataFormatError, match=r"sts-test.csv:4: 3 tab-separated fields"):
        load("sts-b", locator=DataLocator(data_dir=tmp_path))


def test_pairs_file_default_and_named_columns(tmp_path):
    f = tmp_path / "mine.csv"
    f.write_text('sentence1,sentence2,score\n"a cat, sitting",a cat,4.5\nrain,sun,0.5\nbig,large,5\n')
    task = load(f"pairs:{f}")
    assert task.texts_a[0] == "a cat, sitting" and list(task.gold) == [4.5, 0.5, 5.0]
    g = tmp_path / "mine.tsv"
    g.write_text("q\td\trel\nx\ty\t1\nx\tz\t0\ny\tz\t2\n")
    task = load(f"pairs:{g}#q,d,rel")
    assert task.texts_b == ["y", "z", "z"] and np.array_equal(task.gold, [1, 0, 2])


def test_malformed_pairs_rows_name_file_and_line(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("sentence1,sentence2,score\na,b,1\nc,d,nan\n")
    with pytest.raises(DataFormatError, match=r"bad.csv:3: field 'score' is 'nan', not a finite number"):
        load(f"pairs:{f}")
    f.write_text("sentence1,sentence2,score\na,b,1\nc,d\n")
    with pytest.raises(DataFormatError, match=r"bad.csv:3: 2 fields, but the header has 3"):
        load(f"pairs:{f}")
    f.write_text("left,right,score\na,b,1\n")
    with pytest.raises(DataFormatError, match=r"bad.csv:1: header .* none of the default column sets"):
        load(f"pairs:{f}")
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['gold'\]"):
        load(f"pairs:{f}#left,right,gold")


def test_a_pairs_file_that_is_not_utf8_names_file_line_and_byte(tmp_path):
    f = tmp_path / "latin.csv"
    # past the csv reader's first buffer, so a streaming decoder's own offset would be wrong
    f.write_bytes(b"sentence1,sentence2,score\n" + b"a,b,1\n" * 3000 + b"caf\xe9 au lait,tea,2\n")
    with pytest.raises(DataFormatError, match=r"latin.csv:3002: not valid utf-8 text at byte 4 of the line"):
        load(f"pairs:{f}")


def test_gold_scores_without_variance_are_refused_not_recorded_as_nan(tmp_path):
    from recbench.protocol.settings import EvalSettings, EvaluationError
    from recbench.protocol.kinds.base import evaluate
    from recbench.protocol.registry import baselines

    f = tmp_path / "flat.csv"
    f.write_text("sentence1,sentence2,score\na cat,a dog,3\ntea,stocks fell,3\nhi,hello,3\n")
    with pytest.raises(EvaluationError, match=r"all 3 gold scores are 3: with no variance in the gold, a "
                                              r"correlation is undefined for any model"):
        evaluate(baselines.get("random")(), load(f"pairs:{f}"), EvalSettings(progress=False, latency_queries=0))
