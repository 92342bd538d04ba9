"""Which records `recbench verify FOLDER --untrained --max-seconds S --sample N --sample-seed K` re-runs:
CI verifies a seeded handful of the committed board, a different one per commit, any reproducible."""

import json

import pytest

from recbench.run.verify import select_records
from tests.minimal_record import minimal_record


@pytest.fixture
def folder(tmp_path):
    for i in range(12):
        rec = minimal_record(f"20260101T0000{i:02d}Z-aaaaaa")
        rec["timing"] = {"total_seconds": 5.0 * i}
        if i % 3 == 0:
            rec["training"] = {"steps": 10}
        elif i == 4:
            rec["settings"] = {"rerank": "cross-encoder:checkpoints/cross-encoder-abc"}  # trained reranker
        (tmp_path / f"r{i:02d}.json").write_text(json.dumps(rec))
    return tmp_path


def test_untrained_and_quick_filters(folder):
    names = [p.name for p in select_records([folder], untrained=True)]
    assert names == [f"r{i:02d}.json" for i in (1, 2, 5, 7, 8, 10, 11)]
    quick = [p.name for p in select_records([folder], untrained=True, max_seconds=25)]
    assert quick == ["r01.json", "r02.json", "r05.json"]


def test_a_seeded_sample_repeats_and_another_seed_moves(folder):
    one = select_records([folder], untrained=True, sample=3, seed=7)
    assert one == select_records([folder], untrained=True, sample=3, seed=7) and len(one) == 3
    samples = {tuple(select_records([folder], untrained=True, sample=3, seed=s)) for s in range(10)}
    assert len(samples) > 1
    assert len(select_records([folder], untrained=True, sample=50)) == 7  # never more than there are
    with pytest.raises(ValueError, match="positive"):
        select_records([folder], sample=0)
