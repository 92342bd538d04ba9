"""MovieLens-100K (Harper & Konstan, 2015) as sequential next-item prediction: each user's
ratings in time order (ties by item id), every rating an engagement; item text from the
title, release year and genres. Read from RecBole's atomic files (``ml-100k.inter``,
``ml-100k.item``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbench.benchmark.registry import datasets
from recbench.benchmark.tasks import SequencesTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError
from recbench.datasets._sequences import SequenceDataset, leave_one_out
from recbench.datasets.mix import ML100K


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
        inter_path, item_path = folder / "ml-100k.inter", folder / "ml-100k.item"
        inter = pd.read_csv(inter_path, sep="\t", dtype=str, na_filter=False)
        items = pd.read_csv(item_path, sep="\t", dtype=str, na_filter=False)
        for path, df, cols in ((inter_path, inter, ["user_id:token", "item_id:token", "timestamp:float"]),
                               (item_path, items, ["item_id:token", "movie_title:token_seq", "release_year:token",
                                                   "class:token_seq"])):
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise DataFormatError(f"{path}:1: missing column(s) {missing}; the header has {list(df.columns)}")
        index = pd.Index(items["item_id:token"])
        rows = index.get_indexer(inter["item_id:token"])
        if (rows < 0).any():
            bad = int(np.flatnonzero(rows < 0)[0])
            raise DataFormatError(f"{inter_path}:{bad + 2}: item {inter['item_id:token'].iloc[bad]!r} has no row "
                                  f"in {item_path.name} (no text)")
        ts = pd.to_numeric(inter["timestamp:float"], errors="coerce").to_numpy()
        if np.isnan(ts).any():
            bad = int(np.flatnonzero(np.isnan(ts))[0])
            raise DataFormatError(f"{inter_path}:{bad + 2}: field 'timestamp' is not a number")
        frame = pd.DataFrame({"user": inter["user_id:token"], "row": rows, "ts": ts})
        frame = frame.sort_values(["user", "ts", "row"], kind="stable")
        users, seqs = [], []
        for user, group in frame.groupby("user", sort=True):
            users.append(user)
            seqs.append(group["row"].to_numpy())
        fields = {
            "title": items["movie_title:token_seq"].tolist(),
            "year": items["release_year:token"].tolist(),
            "genres": items["class:token_seq"].str.replace(" ", ", ").tolist(),
        }
        return leave_one_out(self.name, split, items["item_id:token"].to_numpy(dtype=object), fields, users, seqs,
                             default_fields=("title", "year", "genres"), text_style=self.text_style,
                             fingerprint=fingerprint_files([inter_path, item_path]))
