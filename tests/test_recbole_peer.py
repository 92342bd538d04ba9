"""benchmarks/recbole_peer.py (issue 38): the atomic files hold each user's sequence in order,
target last, and a peer's saved scores are ranked by our protocol under both rules (checked
against ranks counted by hand)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from recbole_peer import score_task, write_atomic_files  # noqa: E402
from test_every_model_smoke import sequences_task  # noqa: E402


def test_the_inter_file_holds_each_sequence_target_last(tmp_path):
    task = sequences_task()
    path = write_atomic_files(task, tmp_path / "smoke", "smoke")
    lines = path.read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\ttimestamp:float"
    by_user: dict[str, list[tuple[float, str]]] = {}
    for line in lines[1:]:
        user, item, t = line.split("\t")
        by_user.setdefault(user, []).append((float(t), item))
    for i, user in enumerate(task.users):
        items = [item for _, item in sorted(by_user[str(user)])]
        assert items[-1] == str(task.item_ids[task.targets[i]])
        assert items[:-1] == [str(task.item_ids[j]) for j in task.past_of(i)]


def test_peer_scores_are_ranked_by_our_protocol_under_both_rules(tmp_path):
    task = sequences_task()
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(len(task), len(task.item_ids))).astype(np.float32)
    order = rng.permutation(len(task.item_ids))  # the peer's own item order
    np.savez_compressed(tmp_path / "Peer.scores.npz", users=np.asarray(task.users).astype(str)[::-1],
                        items=np.asarray(task.item_ids).astype(str)[order], scores=scores[::-1][:, order],
                        best_valid=0.1, epochs=3, seed=0, split="{}")
    figures = json.loads(score_task(task, tmp_path, "Peer", "smoke", n_boot=20).read_text())["figures"]
    for rule in ("excluded", "kept"):
        ndcg = []
        for i in range(len(task)):
            s = scores[i].astype(np.float64).copy()
            if rule == "excluded":
                s[[h for h in task.history_of(i) if h != task.targets[i]]] = -np.inf
            rank = 1 + int((s > s[task.targets[i]]).sum())
            ndcg.append(1 / np.log2(rank + 1) if rank <= 10 else 0.0)
        assert figures[rule]["ndcg@10"]["value"] == pytest.approx(np.mean(ndcg), abs=1e-12)
    assert figures["kept"]["ndcg@10"]["value"] <= figures["excluded"]["ndcg@10"]["value"]
