"""What the sequence models' training shares: each training user's whole sequence, the items
those sequences reach, and endless epochs of shuffled batches (one order per epoch, drawn from
the training seed's generator, so a seed gives the same batches on any machine)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np


def training_sequences(train_task: Any) -> list[np.ndarray]:
    """Each training user's items in order: the history, then the target."""
    return [np.r_[train_task.past_of(i), train_task.targets[i]] for i in range(len(train_task))]


def seen_items(sequences: list[np.ndarray], n_items: int) -> np.ndarray:
    """Which catalog rows some training sequence holds (the items training sees)."""
    seen = np.zeros(n_items, dtype=bool)
    for s in sequences:
        seen[s] = True
    return seen


def shuffled_batches(n: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless batches of ``min(size, n)`` indices into ``n`` sequences: a new permutation each
    epoch, its last incomplete batch dropped."""
    size = min(size, n)
    while True:
        order = rng.permutation(n)
        for s in range(0, len(order) - size + 1, size):
            yield order[s : s + size]


def check_scorable(name: str, trained: bool, n_items: int, task: Any, before: str = "scores") -> None:
    """A sequence model scores only after training, and only the catalog it trained on."""
    if not trained:
        raise RuntimeError(f"{name} must be trained before it {before} (it has no zero-shot mode)")
    if len(task.item_ids) != n_items:
        raise ValueError(f"{name} was trained on a catalog of {n_items} items; {task.name} has {len(task.item_ids)}")


def batched_scores(queries: np.ndarray, n_items: int, score: Callable[[np.ndarray], np.ndarray],
                   size: int = 512) -> np.ndarray:
    """Every catalog item's score for each query row, ``size`` query rows at a time (the caller
    holds torch's no-grad and eval state)."""
    out = [score(queries[s : s + size]) for s in range(0, len(queries), size)]
    return np.concatenate(out) if out else np.zeros((0, n_items), dtype=np.float32)
