"""The Mix task cache: a warm load is the built task, array for array; the negatives drawn in
batches are those of the one-draw-at-a-time loop; a damaged entry is rebuilt."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.data import DataLocator
from recbench.datasets import mix
from recbench.datasets._logs import load_source
from recbench.datasets._task_cache import TaskCache, _same, task_key


def write_log(folder, n_users=40, n_items=60, per_user=12, timed=True, seed=3):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["user,item,timestamp" if timed else "user,item"]
    t = 1_600_000_000
    for u in range(n_users):
        for i in rng.choice(n_items, size=per_user, replace=False):
            t += int(rng.integers(1, 5000))
            rows.append(f"u{u},i{i},{t}" if timed else f"u{u},i{i}")
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    (folder / "items.csv").write_text("item,title\n" + "".join(f"i{i},item number {i}\n" for i in range(n_items)))
    return load_source(f"interactions:{folder}", DataLocator())


def one_at_a_time(log, recipe):
    """The recipe's negatives as first written: one Generator call per draw."""
    rng = np.random.default_rng(recipe.seed)
    n = len(log.items)
    order = np.lexsort((log.items, log.users, log.timestamps)) if log.timestamps is not None else np.arange(n)
    users, items = log.users[order], log.items[order]
    times = log.timestamps is not None
    by_user: dict = {}
    for pos, u in enumerate(users):
        by_user.setdefault(u, []).append(pos)
    user_items = {u: set(items[p] for p in ps) for u, ps in by_user.items()}
    out = []
    for user in sorted(by_user):
        positions = by_user[user]
        first, seen_items = [], set()
        for p in positions:
            if items[p] not in seen_items:
                first.append(p)
                seen_items.add(items[p])
        if len(first) < 2:
            continue
        for pos in first[1:]:
            own, chosen, seen = user_items[user], [], set()
            lo, hi = (max(0, pos - recipe.window), min(n, pos + recipe.window + 1)) if times else (0, n)
            tries = 0
            while len(chosen) < recipe.negatives:
                tries += 1
                if tries > 50 * recipe.negatives:
                    if (lo, hi) == (0, n):
                        break
                    lo, hi, tries = max(0, lo - recipe.window * 4), min(n, hi + recipe.window * 4), 0
                cand = items[rng.integers(lo, hi)]
                if cand in own or cand in seen:
                    continue
                seen.add(cand)
                chosen.append(cand)
            out.append(sorted(chosen))
            rng.permutation(len(chosen) + 1)
    return out


@pytest.mark.parametrize("timed,window,negatives", [(True, 5, 8), (True, 500, 4), (False, 500, 6), (True, 1, 12)])
def test_batched_draws_give_the_negatives_of_one_draw_at_a_time(tmp_path, timed, window, negatives):
    log = write_log(tmp_path / "log", timed=timed)
    recipe = mix.MixRecipe(negatives=negatives, window=window, seed=7)
    built = mix.mix_tables(log, recipe)
    got = []
    rows = sorted((r for split in ("train", "dev") for r in built.splits[split].behaviors.itertuples(index=False)),
                  key=lambda r: (r.user, int(r.impression_id[1:]) if r.impression_id[0] == "t" else 10**9))
    by_user: dict = {}
    for r in rows:
        by_user.setdefault(r.user, []).append(sorted(t[:-2] for t in r.impressions.split() if t.endswith("-0")))
    for user in sorted(by_user):
        got.extend(by_user[user])
    assert got == one_at_a_time(log, recipe)


def mix_task(log, tmp_path):
    tables = mix.mix_tables(log, mix.MixRecipe(negatives=4), tmp_path)
    return mix.task_from_tables("toy-mix", "dev", tables.splits["dev"], tables.splits["train"], "error",
                                mix.build_fingerprint(tables), {"build": tables.stats})


def test_a_warm_load_is_the_built_task_and_builds_nothing(tmp_path):
    log = write_log(tmp_path / "log")
    cache = TaskCache(tmp_path / "cache")
    key = task_key({"dataset": "toy-mix"}, log.source_files, [])
    built = cache.get_or_build("toy-mix", key, lambda: mix_task(log, tmp_path))

    def refuse():
        raise AssertionError("built again although cached")

    warm = cache.get_or_build("toy-mix", key, refuse)
    assert _same(warm, built)
    assert warm.test.ids.dtype == object and isinstance(warm.item_fields["title"][0], str)
    assert warm.sizes == built.sizes


def test_another_source_file_gets_another_key(tmp_path):
    log = write_log(tmp_path / "log")
    before = task_key({"dataset": "toy-mix"}, log.source_files, [])
    with open(log.source_files[0], "a") as f:
        f.write("u0,i1,1900000000\n")
    assert task_key({"dataset": "toy-mix"}, log.source_files, []) != before
    assert task_key({"dataset": "toy-mix", "recipe": 1}, log.source_files, []) != before


def test_a_damaged_entry_is_removed_and_rebuilt_with_a_warning(tmp_path):
    log = write_log(tmp_path / "log")
    cache = TaskCache(tmp_path / "cache")
    key = task_key({"dataset": "toy-mix"}, log.source_files, [])
    built = cache.get_or_build("toy-mix", key, lambda: mix_task(log, tmp_path))
    entry = next((tmp_path / "cache").glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    with pytest.warns(UserWarning, match="not usable"):
        again = cache.get_or_build("toy-mix", key, lambda: mix_task(log, tmp_path))
    assert _same(again, built)
