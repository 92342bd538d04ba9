"""The Lee document-similarity corpus (Lee, Pincombe and Welsh, 2005), embedded in gensim.

50 short news documents; every one of the 1,225 pairs was rated by humans. gensim ships
the documents (``lee.cor``) and the mean rating matrix (``similarities0-1.txt``, upper
triangle used). The literature (Lee et al. 2005; gensim's LSI/doc2vec tutorials) reports
Pearson's r here, so Pearson is the primary metric; Spearman is reported too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import Dataset, PairsTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError, read_lines


def gensim_test_data() -> Path:
    import gensim

    return Path(gensim.__file__).parent / "test" / "test_data"


@datasets.register("lee")
class Lee(Dataset):
    kind = "pairs"
    description = "Lee et al. (2005) news document similarity: 50 documents, 1,225 rated pairs (inside gensim)"
    citation = "Lee, Pincombe & Welsh (2005), An empirical evaluation of models of text document similarity, CogSci"
    licence = "distributed with gensim (LGPL-2.1) for research use"
    splits = ("test",)
    default_split = "test"
    primary_metric = "pearson"

    def sources(self) -> list[DataSource]:
        return [DataSource(subdir=str(gensim_test_data()), files={"lee.cor": "", "similarities0-1.txt": ""},
                           homepage="embedded in the gensim wheel: gensim/test/test_data/")]

    def load(self, split: str | None = None) -> PairsTask:
        split = self.check_split(split)
        root = gensim_test_data()
        docs_path, sims_path = root / "lee.cor", root / "similarities0-1.txt"
        for p in (docs_path, sims_path):
            if not p.is_file():
                raise FileNotFoundError(f"dataset 'lee': {p} is missing; reinstall gensim (pip install --force-reinstall gensim)")
        docs = [line.strip() for line in read_lines(docs_path, encoding="latin-1") if line.strip()]
        sims = np.loadtxt(sims_path)
        if sims.shape != (len(docs), len(docs)):
            raise DataFormatError(f"{sims_path}: a {sims.shape} matrix for {len(docs)} documents in {docs_path}")
        i, j = np.triu_indices(len(docs), k=1)
        return PairsTask(
            name=self.name, split=split,
            texts_a=[docs[k] for k in i], texts_b=[docs[k] for k in j], gold=sims[i, j],
            fingerprint=fingerprint_files([docs_path, sims_path]),
            info={"documents": len(docs)},
        )
