"""Leave-one-out splits of chronological item sequences, shared by the sequence adapters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from recbench.protocol.kinds.tasks import Dataset, SequencesTask

MAX_HISTORY = 50


COLD_BY = ("hash", "time")


@dataclass(frozen=True)
class ColdItems:
    """Which catalog items are cold: kept out of everything a model trains on, and the test
    targets among them reported apart. ``by``: ``hash`` (a seeded hash of the item id: a fixed,
    reproducible ``fraction`` of the catalog) or ``time`` (the ``fraction`` of engaged items first
    seen last: the new items of a catalog that grows, where the log has times)."""

    fraction: float
    by: str = "hash"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"cold: the fraction of cold items must lie in (0, 1), not {self.fraction}")
        if self.by not in COLD_BY:
            raise ValueError(f"cold_by must be one of {', '.join(COLD_BY)}, not {self.by!r}")

    def mask(self, item_ids: np.ndarray, first_seen: np.ndarray | None, where: str) -> np.ndarray:
        """A boolean mask over the catalog: True for a cold item."""
        if self.by == "hash":
            return np.array([_unit_hash(f"{self.seed}:{item}") < self.fraction for item in item_ids], dtype=bool)
        if first_seen is None:
            raise ValueError(f"{where}: cold_by=time needs the time each item was first engaged with, and this "
                             "dataset's files hold no times (use cold_by=hash)")
        engaged = np.isfinite(first_seen)
        order = np.argsort(np.where(engaged, first_seen, -np.inf), kind="stable")  # never-engaged first: warm
        n_cold = int(round(self.fraction * engaged.sum()))
        cold = np.zeros(len(item_ids), dtype=bool)
        if n_cold:
            cold[order[-n_cold:]] = True
        return cold

    def describe(self) -> dict[str, Any]:
        return {"fraction": self.fraction, "by": self.by, **({"seed": self.seed} if self.by == "hash" else {})}


def _unit_hash(text: str) -> float:
    """A number in [0, 1) from a string, the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


def first_seen_times(rows: np.ndarray, times: np.ndarray, n_items: int) -> np.ndarray:
    """Each catalog row's first engagement time (inf where never engaged)."""
    out = np.full(n_items, np.inf)
    np.minimum.at(out, np.asarray(rows, dtype=np.int64), np.asarray(times, dtype=np.float64))
    return out


class SequenceDataset(Dataset):
    """What every sequence adapter shares: leave-one-out splits, NDCG@10 first, the
    ``text_style`` option (``-D text_style=kv`` for Recformer's key-value item sentences) and the
    cold-item protocol (``-D cold=0.2``, ``-D cold_by=hash|time``, ``-D cold_seed=0``)."""

    kind = "sequences"
    splits = ("test", "valid")
    default_split = "test"
    primary_metric = "ndcg@10"

    def __init__(self, name: str, arg: str | None = None, locator=None, text_style: str = "plain",
                 cold: float = 0.0, cold_by: str = "hash", cold_seed: int = 0) -> None:
        super().__init__(name, arg, locator)
        self.text_style = text_style
        self.cold = ColdItems(float(cold), str(cold_by), int(cold_seed)) if float(cold) else None


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
    cold: ColdItems | None = None,
    first_seen: np.ndarray | None = None,
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
    cold_mask, cold_info = None, {}
    if cold is not None:
        cold_mask = cold.mask(np.asarray(item_ids), first_seen, name)
        counts[cold_mask] = 0.0  # nothing is learnt from a cold item, popularity included
        fingerprint = f"{fingerprint}|cold={json.dumps(cold.describe(), sort_keys=True)}"
        targets_arr = np.asarray(targets, dtype=np.int64)
        cold_info = {"cold_items": {**cold.describe(), "items": int(cold_mask.sum()),
                                    "test_targets_cold": int(cold_mask[targets_arr].sum()) if len(targets_arr) else 0}}
    return SequencesTask(
        name=name, split=split, item_ids=item_ids, item_fields=item_fields,
        users=np.array(kept_users, dtype=object),
        history=np.concatenate(histories) if histories else np.zeros(0, dtype=np.int64),
        history_offsets=np.r_[0, np.cumsum(lengths)], targets=np.array(targets, dtype=np.int64),
        train_counts=counts, default_fields=default_fields, text_style=text_style, fingerprint=fingerprint,
        info={**(info or {}), "users_skipped_too_short": skipped, "max_history": max_history,
              **repeat_counts(sequences), **cold_info},
        cold_items=cold_mask,
        past=np.concatenate(pasts) if pasts else np.zeros(0, dtype=np.int64), past_offsets=np.r_[0, np.cumsum(past_lengths)],
    )
