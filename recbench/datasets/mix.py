"""Mix-style impressions: MIND-format news.tsv / behaviors.tsv built from any interaction log.

The recipe (the seed project's "Mix" dataset):
- a user's history is the items they engaged with before, in time order (the last
  ``max_history`` kept);
- each engagement after the first is one impression: the engaged item is the positive, and
  ``negatives`` items engaged by *other* users at about the same time, which this user never
  engaged, are the negatives ("about the same time": drawn from the ``window`` engagements
  before and after it in the global time order, widened if too few qualify);
- each user's final impression goes to dev, the earlier ones to train;
- a re-engagement (an item already in the user's history) makes no impression: the task is
  recommending new items, and a positive that sits in the history is given away to any model
  that compares vectors (counted in build.json as ``repeat_engagements_skipped``);
- everything is seeded; candidates are shuffled so the positive's position tells nothing.

Stand-in where a log has no timestamps (Amazon's UniSRec files keep order, not time):
negatives are drawn from the whole log in proportion to how often each item was engaged
(popularity-matched sampling), still excluding the user's own items; the time column is empty.

Sources are registered interaction logs (``_logs.py``): ``ml100k`` (MovieLens-100K in RecBole's
atomic format, ``movielens.py``; every rating counts as an engagement; item text: title, year,
genres), ``amazon-scientific`` (UniSRec's Industrial & Scientific files, ``amazon.py``; item text:
title, categories, brand), ``interactions:<dir>`` (your CSV log) and any plugin's.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path


import numpy as np
import pandas as pd

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import Dataset, ImpressionsTask, PublishedResult
from recbench.datasets._parsing import DataFormatError
from recbench.datasets._logs import InteractionLog, get_log_source, load_source
from recbench.datasets._task_cache import TaskCache, task_key
from recbench.datasets._cold_impressions import first_seen_of, with_cold_items
from recbench.datasets._sequences import ColdItems
from recbench.datasets.mind import BEHAVIOR_COLUMNS, NEWS_COLUMNS, MindSplit, task_from_tables


@dataclass(frozen=True)
class MixRecipe:
    negatives: int = 20
    window: int = 500
    max_history: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        # window 0 never widens when exhausted (the sampler looped for ever); negatives below one
        # make no impression; a negative seed is refused by numpy deep inside
        for name, low in (("negatives", 1), ("window", 1), ("max_history", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"impressions recipe: {name} must be a whole number of at least {low}, not {value!r}")


# --- the recipe -------------------------------------------------------------------------------
def _format_time(ts: int | None) -> str:
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%m/%d/%Y %I:%M:%S %p").lstrip("0")


def looks_ordinal(users: np.ndarray, times: np.ndarray) -> bool:
    """Whether the "timestamps" are each user's positions: every user's, in order, exactly
    start, start + 1, ... with one start (0 or 1) for all, as a log exported without times has."""
    frame = pd.DataFrame({"user": users, "t": times})
    if not np.all(np.mod(frame["t"].to_numpy(dtype=np.float64), 1) == 0):
        return False
    frame["rank"] = frame.groupby("user", sort=False).cumcount()
    offset = frame["t"] - frame["rank"]
    return bool(offset.nunique() == 1 and offset.iloc[0] in (0, 1) and frame["rank"].max() >= 1)


@dataclass
class MixBuild:
    """The recipe's output in memory: each split's behaviour rows and news table, as MIND's
    files would hold them, and what was built (``stats``, written as build.json)."""

    splits: dict[str, MindSplit]
    stats: dict


def mix_tables(log: InteractionLog, recipe: MixRecipe = MixRecipe(), where: Path = Path("<mix>")) -> MixBuild:
    """The Mix recipe over a log, in memory; ``where`` names the folder in error messages."""
    rng = np.random.default_rng(recipe.seed)
    n = len(log.items)
    if log.timestamps is not None:
        order = np.lexsort((log.items, log.users, log.timestamps))
    else:
        order = np.arange(n)  # the log's own order
    users, items = log.users[order], log.items[order]
    times = log.timestamps[order] if log.timestamps is not None else None
    ordinal = times is not None and looks_ordinal(users, times)
    if ordinal:  # positions, not times: every user's k-th engagement would share "time" k
        warnings.warn("build-impressions: the timestamps are each user's positions (0, 1, 2, ...), not times; "
                      "they order each user's engagements, but negatives are drawn popularity-matched from the "
                      "whole log (no time window) and behaviors.tsv gets no time", stacklevel=2)
        times = None
    known = set(log.news["id"])
    unknown = sorted(set(items) - known)
    if unknown:
        raise DataFormatError(f"{len(unknown)} engaged item id(s) have no text, e.g. {unknown[:3]}")

    # positions of each user's engagements, in time order
    by_user: dict[str, list[int]] = {}
    for pos, u in enumerate(users):
        by_user.setdefault(u, []).append(pos)
    user_items = {u: set(items[p] for p in ps) for u, ps in by_user.items()}

    def draw_negatives(pos: int, user: str) -> list[str]:
        """Up to ``recipe.negatives`` distinct items the user never engaged with, drawn from the
        time window around ``pos`` (widened when exhausted). The draws come in batches of the
        number still missing: a seeded Generator gives the same values batched as one by one,
        so the negatives are those of a one-draw-at-a-time loop, in a fraction of the time."""
        own = user_items[user]
        chosen: list[str] = []
        seen: set[str] = set()
        lo, hi = (max(0, pos - recipe.window), min(n, pos + recipe.window + 1)) if times is not None else (0, n)
        limit = 50 * recipe.negatives  # draws in one window before it is widened
        tries = 0
        while len(chosen) < recipe.negatives:
            if tries >= limit:  # the window is exhausted: widen it
                if (lo, hi) == (0, n):
                    break
                lo, hi, tries = max(0, lo - recipe.window * 4), min(n, hi + recipe.window * 4), -1
            k = min(recipe.negatives - len(chosen), limit - tries)
            tries += k
            for cand in items[rng.integers(lo, hi, size=k)]:
                if cand in own or cand in seen:
                    continue
                seen.add(cand)
                chosen.append(cand)
        return chosen

    rows = {"train": [], "dev": []}
    short_users = repeats = 0
    for user in sorted(by_user):
        positions = by_user[user]
        first_time = []  # positions whose item the user had not engaged before
        seen_items: set[str] = set()
        for p in positions:
            if items[p] in seen_items:
                repeats += 1
            else:
                first_time.append(p)
                seen_items.add(items[p])
        if len(first_time) < 2:
            short_users += 1  # one distinct engagement: no history to recommend from
            continue
        targets = first_time[1:]
        for t_index, pos in enumerate(targets):
            t = positions.index(pos)
            history = [items[p] for p in positions[max(0, t - recipe.max_history):t]]
            negs = draw_negatives(pos, user)
            cands = [(items[pos], 1)] + [(c, 0) for c in negs]
            perm = rng.permutation(len(cands))
            split = "dev" if t_index == len(targets) - 1 else "train"
            rows[split].append((user, _format_time(times[pos] if times is not None else None), " ".join(history),
                                " ".join(f"{cands[i][0]}-{cands[i][1]}" for i in perm)))
    splits, stats = {}, {}
    for split, split_rows in rows.items():
        used = {tok for r in split_rows for tok in r[2].split()} | {c[:-2] for r in split_rows for c in r[3].split()}
        news = log.news[log.news["id"].isin(used)]
        news_out = news.assign(url="", title_entities="[]", abstract_entities="[]")[NEWS_COLUMNS]
        behaviors = pd.DataFrame([(f"{split[0]}{k}", user, time, hist, imp)
                                  for k, (user, time, hist, imp) in enumerate(split_rows, start=1)],
                                 columns=BEHAVIOR_COLUMNS, dtype=object)
        splits[split] = MindSplit(news_out.reset_index(drop=True).fillna("").astype(str), behaviors, where / split)
        stats[split] = {"impressions": len(split_rows), "news": int(len(news))}
    stats["users_skipped_one_engagement"] = short_users
    stats["repeat_engagements_skipped"] = repeats
    stats["recipe"] = asdict(recipe)
    stats["negatives_from"] = ("time window" if times is not None else
                               "popularity-matched (timestamps are ordinal positions)" if ordinal else
                               "popularity-matched (no timestamps)")
    return MixBuild(splits, json.loads(json.dumps(stats)))  # as build.json would read back


def mind_bytes(table: MindSplit) -> dict[str, bytes]:
    """The two files of a split, byte for byte as written (MIND's headerless TSV)."""
    news = table.news.to_csv(sep="\t", header=False, index=False, quoting=3).encode("utf-8")
    behaviors = "".join("\t".join(row) + "\n" for row in table.behaviors.itertuples(index=False, name=None))
    return {"news.tsv": news, "behaviors.tsv": behaviors.encode("utf-8")}


def build_fingerprint(build: MixBuild) -> str:
    """What the fingerprint of the written files would be (``fingerprint_files`` over dev's and
    train's news.tsv and behaviors.tsv), computed from the bytes in memory."""
    files = [(name, data) for split in ("dev", "train") for name, data in mind_bytes(build.splits[split]).items()]
    h = hashlib.sha256()
    for name, data in sorted(files, key=lambda f: f[0]):  # stable: dev before train, as for the files
        h.update(name.encode())
        h.update(data)
    return h.hexdigest()[:16]


def build_impressions(log: InteractionLog, out: Path, recipe: MixRecipe = MixRecipe()) -> dict:
    """Writes ``out/train`` and ``out/dev`` in MIND's format (``recbench datasets
    build-impressions``); returns what was built."""
    out = Path(out)
    build = mix_tables(log, recipe, out)
    for split, table in build.splits.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in mind_bytes(table).items():
            (folder / name).write_bytes(data)
    (out / "build.json").write_text(json.dumps(build.stats, indent=2) + "\n")
    return build.stats


def build_code(source: str) -> list[Path]:
    """The code that determines a Mix task: this package's modules (the recipe, the MIND
    parsing, the built-in log readers), the task classes, and a plugin log reader's module."""
    import inspect

    from recbench.protocol.kinds import tasks

    files = sorted(Path(__file__).parent.glob("*.py")) + [Path(tasks.__file__)]
    reader = inspect.getsourcefile(get_log_source(source)[0].read)
    return files + ([Path(reader)] if reader and Path(reader) not in files else [])


SEED_WRITEUP = "the seed's bi-encoder writeup (../shared/seeds/biencoder-writeup.md), Table 1, Mix columns"
SEED_MIX_NOTE = ("context only: their Mix is another, private dataset (88K users, 176K impressions) and their "
                 "encoder gte-modernbert-base, 1 epoch; title only")
# (published model, our counterpart, AUC, MRR, nDCG@5)
_SEED_MIX_ROWS = (
    ("Bi-Encoder BCE", "biencoder[loss=bce]", 0.7186, 0.4179, 0.4404),
    ("Bi-Encoder InfoNCE", "biencoder[loss=infonce]", 0.7550, 0.4674, 0.4951),
    ("Bi-Encoder MINCE", "biencoder", 0.7551, 0.4679, 0.4955),
    ("Bi-Encoder all components", "biencoder[lora=8,pooling=mix,redundancy=1.0]", 0.8367, 0.6217, 0.6510),
)
SEED_MIX_PUBLISHED = tuple(
    PublishedResult(model, metric, value, SEED_WRITEUP, SEED_MIX_NOTE, ours)
    for model, ours, auc, mrr, ndcg5 in _SEED_MIX_ROWS
    for metric, value in (("auc", auc), ("mrr", mrr), ("ndcg@5", ndcg5))
)


class MixDataset(Dataset):
    kind = "impressions"
    splits = ("dev",)
    default_split = "dev"
    primary_metric = "auc"
    source = ""

    def __init__(self, name: str, arg: str | None = None, locator=None, negatives: int = 20, window: int = 500,
                 max_history: int = 50, seed: int = 0, cold: float = 0.0, cold_by: str = "hash",
                 cold_seed: int = 0) -> None:
        super().__init__(name, arg, locator)
        self.recipe = MixRecipe(int(negatives), int(window), int(max_history), int(seed))
        self.cold = ColdItems(float(cold), str(cold_by), int(cold_seed)) if float(cold) else None

    def sources(self) -> list[DataSource]:
        return [get_log_source(self.source)[0].data]  # its files, declared by the log source

    def load(self, split: str | None = None) -> ImpressionsTask:
        """Built in memory from the source log (seconds: negatives drawn over the whole log) and
        kept in the task cache, keyed by the source files, the recipe and the building code;
        no MIND file is written."""
        split = self.check_split(split)
        log = load_source(self.source, self.locator)

        def build() -> ImpressionsTask:
            tables = mix_tables(log, self.recipe, Path(f"<{self.name}>"))
            return task_from_tables(self.name, split, tables.splits["dev"], tables.splits["train"], "error",
                                    build_fingerprint(tables), {"build": tables.stats})

        identity = {"dataset": self.name, "split": split, "recipe": asdict(self.recipe), "class": type(self).__name__}
        key = task_key(identity, log.source_files, build_code(self.source))
        task = TaskCache().get_or_build(self.name, key, build)
        if self.cold is None:
            return task
        timed = log.timestamps is not None and not looks_ordinal(log.users, log.timestamps)
        first_seen = first_seen_of(task.item_ids, (log.items, log.timestamps) if timed else None)
        return with_cold_items(task, self.cold, first_seen)


@datasets.register("ml100k-mix")
class ML100kMix(MixDataset):
    description = "MovieLens-100K as Mix-style impressions (title, year, genres; time-window negatives)"
    citation = "Harper & Konstan (2015), The MovieLens Datasets; recipe: the seed project's Mix dataset"
    licence = "GroupLens research licence"
    source = "ml100k"


@datasets.register("amazon-scientific-mix")
class AmazonScientificMix(MixDataset):
    description = "Amazon Industrial & Scientific (UniSRec) as Mix-style impressions (popularity-matched negatives)"
    citation = "Ni et al. (2019) Amazon reviews; Hou et al. (2022) UniSRec processing; recipe: the seed's Mix"
    licence = "Amazon review data, research use"
    source = "amazon-scientific"
    published = SEED_MIX_PUBLISHED
