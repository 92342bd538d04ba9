"""MovieLens-100K (Harper & Konstan, 2015) as sequential next-item prediction: each user's
ratings in time order (ties by item id), every rating an engagement; item text from the
title, release year and genres. Read from RecBole's atomic files (``ml-100k.inter``,
``ml-100k.item``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import SequencesTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError
from recbench.datasets._sequences import first_seen_times, SequenceDataset, leave_one_out, user_sequences
from recbench.protocol.data import DataSource
from recbench.datasets._logs import InteractionLog, LogSource, register_log_source


ML100K = DataSource(
    subdir="movielens/ml-100k",
    files={"ml-100k.inter": "", "ml-100k.item": ""},
    homepage="https://grouplens.org/datasets/movielens/100k/",
    manual="get ml-100k in RecBole's atomic format (ml-100k.inter, ml-100k.item), e.g. with RecBole's dataset "
           "download, into movielens/ml-100k/ under your data folder",
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


register_log_source(LogSource("ml100k", load_ml100k, ML100K))  # the log behind ml100k-mix


@datasets.register("ml100k")
class ML100k(SequenceDataset):
    description = "MovieLens-100K: next movie by full ranking over 1,682 titles (leave-one-out)"
    citation = "Harper & Konstan (2015), The MovieLens Datasets, ACM TiiS"
    licence = "GroupLens research licence"

    def sources(self):
        return [ML100K]

    def load(self, split: str | None = None) -> SequencesTask:
        split = self.check_split(split)
        folder = self.locator.locate(ML100K, self.name)
        log = load_ml100k(folder)  # the same reader (and checks) as ml100k-mix
        inter_path, item_path = log.source_files
        rows = pd.Index(log.news["id"]).get_indexer(log.items)
        if (rows < 0).any():
            bad = int(np.flatnonzero(rows < 0)[0])
            raise DataFormatError(f"{inter_path}:{bad + 2}: item {log.items[bad][1:]!r} has no row "
                                  f"in {item_path.name} (no text)")
        users, seqs = user_sequences(log.users, rows, log.timestamps, rows)  # ties by item row
        fields = {f: log.news[f].tolist() for f in ("title", "year", "genres")}
        item_ids = log.news["id"].str[1:].to_numpy(dtype=object)  # "M242" -> "242", as in the files
        return leave_one_out(self.name, split, item_ids, fields, users, seqs,
                             default_fields=("title", "year", "genres"), text_style=self.text_style,
                             fingerprint=fingerprint_files([inter_path, item_path]), cold=self.cold,
                             first_seen=first_seen_times(rows, log.timestamps, len(item_ids)))
