"""Leave-one-out splits of chronological item sequences, shared by the sequence adapters."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from recbench.benchmark.tasks import Dataset, SequencesTask

MAX_HISTORY = 50


class SequenceDataset(Dataset):
    """What every sequence adapter shares: leave-one-out splits, NDCG@10 first, and the
    ``text_style`` option (``-D text_style=kv`` for Recformer's key-value item sentences)."""

    kind = "sequences"
    splits = ("test", "valid")
    default_split = "test"
    primary_metric = "ndcg@10"

    def __init__(self, name: str, arg: str | None = None, locator=None, text_style: str = "plain") -> None:
        super().__init__(name, arg, locator)
        self.text_style = text_style


def user_sequences(users: Sequence[Any], rows: np.ndarray, *keys: Sequence[Any]) -> tuple[list[Any], list[np.ndarray]]:
    """Each user's item rows in time order: users sorted, a user's rows by ``keys`` in turn
    (time, then a tie-break); the sort is stable, so the log's order settles what they leave tied."""
    names = [f"key{i}" for i in range(len(keys))]
    frame = pd.DataFrame({"user": users, "row": rows, **dict(zip(names, keys))})
    frame = frame.sort_values(["user", *names], kind="stable")
    out_users, seqs = [], []
    for user, group in frame.groupby("user", sort=True):
        out_users.append(user)
        seqs.append(group["row"].to_numpy())
    return out_users, seqs


def repeat_counts(sequences: Sequence[np.ndarray]) -> dict[str, int]:
    """Repeated items in users' sequences (re-purchases, re-watches): kept as the log has them,
    and counted, so the record says how many there were."""
    repeats = [len(s) - len(np.unique(s)) for s in sequences]
    return {"users_with_repeated_items": int(sum(r > 0 for r in repeats)), "repeated_engagements": int(sum(repeats))}


def leave_one_out(
    name: str,
    split: str,
    item_ids: np.ndarray,
    item_fields: dict[str, list[str]],
    users: Sequence[str],
    sequences: Sequence[np.ndarray],
    default_fields: tuple[str, ...],
    text_style: str = "plain",
    fingerprint: str = "",
    info: dict[str, Any] | None = None,
    max_history: int = MAX_HISTORY,
) -> SequencesTask:
    """``test``: the last item is the target, the items before it (the last ``max_history``)
    the history; ``valid``: the same one step earlier. A user whose sequence is too short to
    give a target and at least one history item (1 item for test, 2 for valid) cannot be
    split: counted and skipped. Popularity counts the training part (all but the last two)."""
    if split not in ("test", "valid"):
        raise ValueError(f"sequences split must be 'test' or 'valid', not {split!r}")
    drop_last = 0 if split == "test" else 1
    kept_users, histories, targets, pasts = [], [], [], []
    skipped = 0
    counts = np.zeros(len(item_ids), dtype=np.float64)
    for user, seq in zip(users, sequences):
        seq = np.asarray(seq, dtype=np.int64)
        np.add.at(counts, seq[:-2], 1.0)
        usable = seq[: len(seq) - drop_last]
        if len(usable) < 2:
            skipped += 1
            continue
        kept_users.append(user)
        histories.append(usable[:-1][-max_history:])
        pasts.append(usable[:-1])
        targets.append(usable[-1])
    lengths = np.array([len(h) for h in histories], dtype=np.int64)
    past_lengths = np.array([len(p) for p in pasts], dtype=np.int64)
    return SequencesTask(
        name=name, split=split, item_ids=item_ids, item_fields=item_fields,
        users=np.array(kept_users, dtype=object),
        history=np.concatenate(histories) if histories else np.zeros(0, dtype=np.int64),
        history_offsets=np.r_[0, np.cumsum(lengths)], targets=np.array(targets, dtype=np.int64),
        train_counts=counts, default_fields=default_fields, text_style=text_style, fingerprint=fingerprint,
        info={**(info or {}), "users_skipped_too_short": skipped, "max_history": max_history,
              **repeat_counts(sequences)},
        past=np.concatenate(pasts) if pasts else np.zeros(0, dtype=np.int64), past_offsets=np.r_[0, np.cumsum(past_lengths)],
    )
