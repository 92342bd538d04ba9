"""The cold-item protocol for impressions (``-D cold=0.2`` on a Mix dataset): the cold items
leave the train split (as candidates and in histories), so no click on one is learnt from; the
evaluated impressions keep them, and every metric is also reported over each impression's warm
candidates and over its cold candidates (``auc[cold]``: how well the new items among those
shown are ranked)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from recbench.protocol.kinds.tasks import Impressions, ImpressionsTask
from recbench.datasets._sequences import ColdItems


def without_items(imps: Impressions, drop: np.ndarray) -> tuple[Impressions, int]:
    """The impressions with every ``drop`` item taken out of histories and candidates; an
    impression left with no click (its clicked item was dropped) or no candidate goes. Returns
    the new split and how many impressions went."""
    keep_h, keep_c = ~drop[imps.history], ~drop[imps.candidates]
    h_off = np.r_[0, np.cumsum(keep_h)][imps.history_offsets]  # the offsets once the dropped are gone
    c_off = np.r_[0, np.cumsum(keep_c)][imps.candidate_offsets]
    labels = imps.labels[keep_c]
    running = np.r_[0, np.cumsum(labels)]
    clicks = running[c_off[1:]] - running[c_off[:-1]]
    alive = (np.diff(c_off) > 0) & (clicks > 0)
    history, candidates = imps.history[keep_h], imps.candidates[keep_c]
    rows = np.flatnonzero(alive)
    h_len, c_len = np.diff(h_off)[rows], np.diff(c_off)[rows]
    h_idx = np.concatenate([np.arange(h_off[r], h_off[r + 1]) for r in rows]) if len(rows) else np.zeros(0, int)
    c_idx = np.concatenate([np.arange(c_off[r], c_off[r + 1]) for r in rows]) if len(rows) else np.zeros(0, int)
    out = Impressions(imps.ids[rows], imps.users[rows], imps.times[rows], history[h_idx], np.r_[0, np.cumsum(h_len)],
                      candidates[c_idx], np.r_[0, np.cumsum(c_len)], labels[c_idx])
    return out, int(len(imps) - len(rows))


def first_seen_of(item_ids: np.ndarray, users_items_times: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
    """Each item's first engagement time (inf if never engaged), from a log's (items, times)."""
    if users_items_times is None:
        return None
    items, times = users_items_times
    first: dict[str, float] = {}
    for item, t in zip(items, times):
        if t < first.get(item, np.inf):
            first[item] = float(t)
    return np.array([first.get(str(i), np.inf) for i in item_ids], dtype=np.float64)


def with_cold_items(task: ImpressionsTask, cold: ColdItems, first_seen: np.ndarray | None) -> ImpressionsTask:
    """The task under the cold-item protocol (see the module's docstring)."""
    mask = cold.mask(np.asarray(task.item_ids), first_seen, task.name)
    train, dropped = (without_items(task.train, mask) if task.train is not None else (None, 0))
    test_cold = mask[task.test.candidates]
    info = {**task.info, "cold_items": {**cold.describe(), "items": int(mask.sum()),
                                        "train_impressions_dropped": dropped,
                                        "test_candidates_cold": int(test_cold.sum()),
                                        "test_clicks_cold": int((test_cold & (task.test.labels == 1)).sum())}}
    if train is not None:
        info["train_stats"] = train.stats()
    return replace(task, train=train, cold_items=mask, info=info,
                   fingerprint=f"{task.fingerprint}|cold={json.dumps(cold.describe(), sort_keys=True)}")
