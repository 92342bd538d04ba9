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

Sources: ``ml100k`` (MovieLens-100K in RecBole's atomic format; every rating counts as an
engagement; item text: title, year, genres) and ``amazon-scientific`` (UniSRec's Industrial &
Scientific files; item text: title, categories, brand).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import warnings
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from recbench.benchmark.data import DataLocator, DataSource, default_cache_dir
from recbench.benchmark.registry import datasets
from recbench.benchmark.tasks import Dataset, ImpressionsTask, PublishedResult
from recbench.datasets._parsing import DataFormatError
from recbench.datasets.mind import build_task


@dataclass
class InteractionLog:
    """Engagements in order: user, item id, timestamp (None when the source has none), and the
    item table as MIND's news columns."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None
    news: pd.DataFrame  # columns id, category, subcategory, title, abstract
    source_files: list[Path]


BUILDER_VERSION = 2  # part of the cache key: a change to the recipe's code rebuilds cached folders


@dataclass(frozen=True)
class MixRecipe:
    negatives: int = 20
    window: int = 500
    max_history: int = 50
    seed: int = 0


# --- sources ------------------------------------------------------------------------------
ML100K = DataSource(
    subdir="movielens/ml-100k",
    files={"ml-100k.inter": "", "ml-100k.item": ""},
    homepage="https://grouplens.org/datasets/movielens/100k/",
    manual="get ml-100k in RecBole's atomic format (ml-100k.inter, ml-100k.item), e.g. with RecBole's dataset "
           "download, into movielens/ml-100k/ under your data folder",
)
AMAZON_SCIENTIFIC = DataSource(
    subdir="amazon/Scientific",
    files={"Scientific.text": "", "Scientific.item2index": "", "Scientific.test.inter": ""},
    homepage="https://github.com/RUCAIBox/UniSRec",
    manual="get UniSRec's processed 'Scientific' files (Scientific.text, .item2index, .test.inter) into "
           "amazon/Scientific/ under your data folder",
)


def load_ml100k(folder: Path) -> InteractionLog:
    inter_path, item_path = folder / "ml-100k.inter", folder / "ml-100k.item"
    inter = pd.read_csv(inter_path, sep="\t", dtype=str, na_filter=False)
    need = ["user_id:token", "item_id:token", "timestamp:float"]
    missing = [c for c in need if c not in inter.columns]
    if missing:
        raise DataFormatError(f"{inter_path}:1: missing column(s) {missing}; the header has {list(inter.columns)}")
    ts = pd.to_numeric(inter["timestamp:float"], errors="coerce")
    if ts.isna().any():
        line = int(np.flatnonzero(ts.isna().to_numpy())[0]) + 2
        raise DataFormatError(f"{inter_path}:{line}: field 'timestamp' is not a number")
    items = pd.read_csv(item_path, sep="\t", dtype=str, na_filter=False)
    for col in ("item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"):
        if col not in items.columns:
            raise DataFormatError(f"{item_path}:1: missing column {col!r}; the header has {list(items.columns)}")
    genres = items["class:token_seq"].str.split(" ")
    news = pd.DataFrame({
        "id": "M" + items["item_id:token"],
        "category": genres.str[0].fillna(""),
        "subcategory": items["class:token_seq"],
        "title": items["movie_title:token_seq"],
        "abstract": items["release_year:token"] + ". " + genres.str.join(", "),
        # kept apart too, for the sequence adapter's fields (not written to news.tsv)
        "year": items["release_year:token"],
        "genres": genres.str.join(", "),
    })
    return InteractionLog(
        users=inter["user_id:token"].to_numpy(dtype=object),
        items=("M" + inter["item_id:token"]).to_numpy(dtype=object),
        timestamps=ts.to_numpy(dtype=np.int64),
        news=news, source_files=[inter_path, item_path],
    )


def load_amazon_unisrec(folder: Path, name: str = "Scientific") -> InteractionLog:
    text_path, index_path, test_path = (folder / f"{name}.text", folder / f"{name}.item2index",
                                        folder / f"{name}.test.inter")
    index = pd.read_csv(index_path, sep="\t", header=None, names=["asin", "idx"], dtype=str, na_filter=False)
    asin_of = index.set_index("idx")["asin"]
    text = pd.read_csv(text_path, sep="\t", dtype=str, na_filter=False, quoting=3)
    if list(text.columns[:2]) != ["item_id:token", "text:token_seq"]:
        raise DataFormatError(f"{text_path}:1: expected columns item_id:token, text:token_seq; got {list(text.columns)}")
    parts = text["text:token_seq"].str.strip().str.rstrip(".").str.rsplit(". ", n=2)
    title = parts.str[0].fillna("")
    categories = parts.map(lambda p: p[1] if len(p) > 2 else "")
    brand = parts.map(lambda p: p[-1] if len(p) > 1 else "")
    news = pd.DataFrame({"id": text["item_id:token"], "category": "", "subcategory": "", "title": title,
                         "abstract": (categories + ". " + brand).str.strip(". ")})
    seqs = pd.read_csv(test_path, sep="\t", dtype=str, na_filter=False)
    users, items = [], []
    for line_no, (user, hist, target) in enumerate(seqs.itertuples(index=False, name=None), start=2):
        sequence = (hist.split(" ") if hist else []) + [target]
        try:
            asins = [asin_of[i] for i in sequence]
        except KeyError as exc:
            raise DataFormatError(f"{test_path}:{line_no}: item index {exc.args[0]} is not in {index_path.name}") from None
        users += [user] * len(asins)
        items += asins
    return InteractionLog(users=np.array(users, dtype=object), items=np.array(items, dtype=object), timestamps=None,
                          news=news, source_files=[text_path, index_path, test_path])


SOURCES: dict[str, tuple[DataSource, Callable[[Path], InteractionLog]]] = {
    "ml100k": (ML100K, load_ml100k),
    "amazon-scientific": (AMAZON_SCIENTIFIC, load_amazon_unisrec),
}


def load_source(name: str, locator: DataLocator) -> InteractionLog:
    """A named log, or ``interactions:<dir>`` (a user's own CSV log; problems warned with file and line)."""
    if name.startswith("interactions:"):
        from recbench.datasets.interactions import read_log

        log, _, problems = read_log(Path(name.split(":", 1)[1]))
        problems.warn()
        return log
    if name not in SOURCES:
        raise ValueError(f"unknown interaction-log source {name!r}; known: {', '.join(SOURCES)}, "
                         "interactions:<dir>")
    source, loader = SOURCES[name]
    return loader(locator.locate(source, name))


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


def build_impressions(log: InteractionLog, out: Path, recipe: MixRecipe = MixRecipe()) -> dict:
    """Writes ``out/train`` and ``out/dev`` in MIND's format; returns what was built."""
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
        own = user_items[user]
        chosen: list[str] = []
        seen: set[str] = set()
        lo, hi = (max(0, pos - recipe.window), min(n, pos + recipe.window + 1)) if times is not None else (0, n)
        tries = 0
        while len(chosen) < recipe.negatives:
            tries += 1
            if tries > 50 * recipe.negatives:  # the window is exhausted: widen it
                if (lo, hi) == (0, n):
                    break
                lo, hi, tries = max(0, lo - recipe.window * 4), min(n, hi + recipe.window * 4), 0
            cand = items[rng.integers(lo, hi)]
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
    out = Path(out)
    stats = {}
    for split, split_rows in rows.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        used = {tok for r in split_rows for tok in r[2].split()} | {c[:-2] for r in split_rows for c in r[3].split()}
        news = log.news[log.news["id"].isin(used)]
        news_out = news.assign(url="", title_entities="[]", abstract_entities="[]")
        news_out[["id", "category", "subcategory", "title", "abstract", "url", "title_entities",
                  "abstract_entities"]].to_csv(folder / "news.tsv", sep="\t", header=False, index=False, quoting=3)
        with open(folder / "behaviors.tsv", "w", encoding="utf-8") as f:
            for k, (user, time, hist, imp) in enumerate(split_rows, start=1):
                f.write(f"{split[0]}{k}\t{user}\t{time}\t{hist}\t{imp}\n")
        stats[split] = {"impressions": len(split_rows), "news": int(len(news))}
    stats["users_skipped_one_engagement"] = short_users
    stats["repeat_engagements_skipped"] = repeats
    stats["recipe"] = asdict(recipe)
    stats["negatives_from"] = ("time window" if times is not None else
                               "popularity-matched (timestamps are ordinal positions)" if ordinal else
                               "popularity-matched (no timestamps)")
    (out / "build.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def build_cached(source: str, locator: DataLocator, recipe: MixRecipe, cache_root: Path | None = None) -> Path:
    """The built folder for (source data, recipe), built once into the cache, atomically."""
    src, loader = SOURCES[source]
    folder = locator.locate(src, source)
    h = hashlib.sha256(json.dumps({**asdict(recipe), "builder": BUILDER_VERSION}, sort_keys=True).encode())
    for name in sorted(src.files):
        h.update((folder / name).read_bytes())
    target = (cache_root or default_cache_dir()) / "mix" / f"{source}-{h.hexdigest()[:12]}"
    if (target / "build.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        build_impressions(loader(folder), tmp, recipe)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


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
                 max_history: int = 50, seed: int = 0) -> None:
        super().__init__(name, arg, locator)
        self.recipe = MixRecipe(int(negatives), int(window), int(max_history), int(seed))

    def sources(self) -> list[DataSource]:
        return [SOURCES[self.source][0]]

    def load(self, split: str | None = None) -> ImpressionsTask:
        split = self.check_split(split)
        folder = build_cached(self.source, self.locator, self.recipe)
        build = json.loads((folder / "build.json").read_text())
        return build_task(self.name, split, folder / "dev", folder / "train", "error", {"build": build})


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
