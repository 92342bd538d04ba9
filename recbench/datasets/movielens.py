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
from recbench.datasets._sequences import SequenceDataset, leave_one_out, user_sequences
from recbench.datasets.mix import ML100K, load_ml100k


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
                             fingerprint=fingerprint_files([inter_path, item_path]))
