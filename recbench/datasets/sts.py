"""STS Benchmark and the SemEval STS 2012-2016 English test sets.

- ``sts-b``: STS Benchmark (Cer et al., 2017), ``--split dev|test`` (default test); tab
  separated, 7 columns (genre, file, year, id, score, sentence1, sentence2); some rows carry
  two extra source columns, as in the original release, and are read the same way.
- ``sts12`` ... ``sts16``: one SemEval year each, every subset with its gold file; a pair
  whose gold line is empty is unscored and skipped (counted in the record); STS13's ``SMT``
  subset is LDC-restricted (gold without input) and left out.

Aggregates (see ``recbench.protocol.kinds.pairs.evaluate_pairs``): ``spearman``/``pearson`` pool
every scored pair of the year ("all", the convention of the SBERT and SimCSE papers);
``*_mean`` is the plain mean over subsets (SentEval's "mean", and the per-year average the SIF
paper reports); ``*_wmean`` weights subsets by size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import Dataset, PairsTask, PublishedResult, fingerprint_files
from recbench.datasets._parsing import DataFormatError, parse_score, read_lines

# sha256 of each official file, as released (checked after every download)
CHECKSUMS = {
    "STS12/STS.gs.MSRpar.txt": "5526be59228bc34ccb3cb6f1f56c0d7278d3419b8886713ae016fd92b151f19c",
    "STS12/STS.gs.MSRvid.txt": "9c6096c6bcfb0144c8bbddb00900ca9198c88498630cd0c8f08d18365f1d7150",
    "STS12/STS.gs.SMTeuroparl.txt": "708530c4d006d06881f3289fce35d624d7efe562dcf0fe5f8aa0eec3a135f6d4",
    "STS12/STS.gs.surprise.OnWN.txt": "088d8ca22c0aa406e4a5d2e6e308a4f38b482b8e736c2445a38ffb6e4c4fb4fd",
    "STS12/STS.gs.surprise.SMTnews.txt": "aa6dfc868db333c43dc59be14d46fa6587c7ebddc0d497e717f647bf35121cf1",
    "STS12/STS.input.MSRpar.txt": "76bf7089f9e7c05732163a227b3ce679512554513eb783f2548b07d659bd733d",
    "STS12/STS.input.MSRvid.txt": "476d14034a241f71b832e4ae557dd6cdbe265b57c915570a2583f93b4456948d",
    "STS12/STS.input.SMTeuroparl.txt": "dd31dbb6e7eef8a0d00347fe012f7cf372943167e30f60f6fb3b10219a41941f",
    "STS12/STS.input.surprise.OnWN.txt": "07ec7b91348aece0873b41f7fc4e76e9fddf05bdb82c048c98d92f5db0bec07d",
    "STS12/STS.input.surprise.SMTnews.txt": "2788a98ef33c3b7b704ef4891fe863cfcf061338e8aa41cb737d0f137f3ba03c",
    "STS13/STS.gs.FNWN.txt": "8ca95b7228119578e2007839cf7969f22c4f1fd41fd610c4b7f9683072d98066",
    "STS13/STS.gs.OnWN.txt": "0cd497aaddb00a2fb6db25f77bccfc09e8aa012e11549b81b434bab1a27ad954",
    "STS13/STS.gs.headlines.txt": "f49f64089011436dd296ef384c07160219406feef7dc4b9fa2af52a519f32bc6",
    "STS13/STS.input.FNWN.txt": "b48fc64cd85703ac6431f8ea6722f325fe9620fd4f33b3d5c24dd89c553e74bc",
    "STS13/STS.input.OnWN.txt": "127c66889627f26dc11864dc9be4ba1e4895ed60125985c755429ad588e4b9c8",
    "STS13/STS.input.headlines.txt": "885e6149fff28a79591ba464c13626d03593b822c88c7c04b6564354d31c7561",
    "STS14/STS.gs.OnWN.txt": "1c80147df270ea4cfce14a47ed29f8a2f10d5dc016d02836077fd786ff7f535b",
    "STS14/STS.gs.deft-forum.txt": "ba6dc76696b5c93985590a325b4d142449932cdf0d715b2bab1b1743fe3c488c",
    "STS14/STS.gs.deft-news.txt": "105c5b333abd50c274efb4dae9e3e0dab36ed63eee780cfb49955b1586bd62f2",
    "STS14/STS.gs.headlines.txt": "f243c34647255cd0b994565ed4f58dd31506e7d9c9d6250d1a6dd14095625832",
    "STS14/STS.gs.images.txt": "fc994ebacc7074c332626fa9e29542d7340a48a3cdb999b47cdb59c378523a62",
    "STS14/STS.gs.tweet-news.txt": "0098c644bfeaa2d511a8297b1940771865900c372c9dd49a62726dc5ec02c9a3",
    "STS14/STS.input.OnWN.txt": "a227d5fe1c1f729a52a0b39b5b36d3225e1bca3c278e7ed392cac2ecd3990f1c",
    "STS14/STS.input.deft-forum.txt": "8b48aa15bb850e2827446f6e98cc3c5123ff283924b4571a409aa2fab73e35c6",
    "STS14/STS.input.deft-news.txt": "92df5b8c48873cbfba36b73a77955fb965c9244776df9e9c2c4d2f6155bdeefe",
    "STS14/STS.input.headlines.txt": "a19f84294325c62a2a403b59957196fd7737f86654ded0e04e0b54bc4a8bcf9e",
    "STS14/STS.input.images.txt": "cec1b3c08b0e4c88aeaf8dca047f5b28f4a8588eeef58475e0f16491d2bb7193",
    "STS14/STS.input.tweet-news.txt": "250d29ec9394e35443b2a73016ccc55e11b20939a3b8ee3bea9a858ba2f9adc0",
    "STS15/STS.gs.answers-forums.txt": "1644301a7540e5484da285002e9269062852efb2272be614cad99c9530f6a102",
    "STS15/STS.gs.answers-students.txt": "028db213140f8c7aef7497c4ae38b6380938f20359852231669c83dce11c3701",
    "STS15/STS.gs.belief.txt": "5736192faaccbdbecd0ef6b73ec04b24115cd2e48d55dc3b1b170da3d2a81c75",
    "STS15/STS.gs.headlines.txt": "e8e432f769c8a94ddb62ae3343890ac24a9dd78a116d56c707313bc59413dd56",
    "STS15/STS.gs.images.txt": "ed8878209098c77ca7f02ac413d3fd698f92ad3425999555e50fda89fc46012a",
    "STS15/STS.input.answers-forums.txt": "fe8e460a74e8e38704ac4e6ddcedec89fd6e51cd0467d6f4301b444b259688e1",
    "STS15/STS.input.answers-students.txt": "16eedf46fb3b29822b275a0ddcff8e873a6eb4bafba244a17c4049ffc318d62a",
    "STS15/STS.input.belief.txt": "6e924a19fb1abbce01a8666f07766250b46a96c89272de8e5b01d0905bc61b79",
    "STS15/STS.input.headlines.txt": "779c195c54b72282bd3c8ca1dbb09a4155a39b2acd13d5cf819d8555d717cf6a",
    "STS15/STS.input.images.txt": "6f332542a75bcd18ea1442fc129306f746cd7ade7010ea274e763bfca576cc47",
    "STS16/STS2016.gs.answer-answer.txt": "332efd741b0cb247d20dd2a6cec854360c921c7e6b395f328f562d8d26057214",
    "STS16/STS2016.gs.headlines.txt": "01e33a95996201a6e81e3cce9eda0f15048b77613ea64dce2929bb35479f7d85",
    "STS16/STS2016.gs.plagiarism.txt": "29984944a91aaff484f2b2e5d4d434fc8a6f5ef6f578a880cccd2786f5142fdc",
    "STS16/STS2016.gs.postediting.txt": "81947ed9dbe7f85b7bd249df68ed5c7b2f16f06390ad568eb5554b1e26bc5577",
    "STS16/STS2016.gs.question-question.txt": "cf9ebf9d140191f73620cda0560947ad9283c910735d0d541b8a401a5e64afb0",
    "STS16/STS2016.input.answer-answer.txt": "7daf2cd87751a0f8b754fe705bdb280c31591d9febf5b6fce9dcb10d3b8a72a7",
    "STS16/STS2016.input.headlines.txt": "ec8ee1124e71f4cc18c861f542fa8f32c86fef0703de31b0f7a02e22e935d992",
    "STS16/STS2016.input.plagiarism.txt": "6760cb210f4423262fd8962674e6668409690ce888bb1617659c6886cf004019",
    "STS16/STS2016.input.postediting.txt": "a8a66185877785307803c99a0899d65aefb062c4bf7689560b95d37bb0c05474",
    "STS16/STS2016.input.question-question.txt": "b7f95dead3d8c59fbaacbb135643c6ebd322682db6502fdb24d4ce83c9bf016d",
    "stsbenchmark/sts-dev.csv": "5d7e944d8b02734b07bfdb5df67db3420c64bed153fcaa1ba47ad03480cf4234",
    "stsbenchmark/sts-test.csv": "affe45928a66ee5a708531233c95b7dacbbdc57f974f002a3d32ea0180cf816a",
    "stsbenchmark/sts-train.csv": "0f71910b59aa1ad973c5897f0791f3b0965a92b8f82b1a95f3eea9f4162fda82",
}

SBERT = "Reimers & Gurevych (2019), Sentence-BERT, EMNLP, Table 1"
SIF = "Arora, Liang & Ma (2017), A Simple but Tough-to-Beat Baseline for Sentence Embeddings, ICLR, Table 1"
FSE = "Borchers, fse (Fast Sentence Embeddings) benchmark, STSb test, glove-wiki-gigaword-50"
GLOVE_SBERT = "average GloVe 300d (vector set not stated in Table 1)"
GLOVE_SIF = "GloVe 840B 300d; p(w) from enwiki; per-year mean of Pearson over subsets (STS13 with SMT)"
GLOVE_FSE = "GloVe 6B 50d (glove-wiki-gigaword-50), same vectors as ours"


def _pearson_mean(model: str, value: float, note: str, ours: str) -> PublishedResult:
    return PublishedResult(model, "pearson_mean", value, SIF, note, ours)


STS_B_PUBLISHED = (
    PublishedResult("avg GloVe", "spearman", 58.02, SBERT, GLOVE_SBERT, "glove-avg"),
    PublishedResult("SBERT-NLI-base", "spearman", 77.03, SBERT, "BERT-base fine-tuned on NLI; ours is MiniLM-L6 (all-MiniLM-L6-v2)", "sbert"),
    PublishedResult("SIF (fse)", "pearson", 64.11, FSE, GLOVE_FSE, "sif"),
    PublishedResult("avg GloVe (fse)", "pearson", 37.47, FSE, GLOVE_FSE, "glove-avg"),
)

SEMEVAL_YEARS: dict[str, dict] = {
    "sts12": {
        "folder": "STS12", "prefix": "STS",
        "subsets": ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"],
        "url": "http://ixa2.si.ehu.es/stswiki/images/4/40/STS2012-en-test.zip",
        "published": (PublishedResult("avg GloVe", "spearman", 55.14, SBERT, GLOVE_SBERT, "glove-avg"),
                      _pearson_mean("SIF (GloVe+WR)", 56.2, GLOVE_SIF, "sif"), _pearson_mean("avg GloVe", 52.5, GLOVE_SIF, "glove-avg")),
    },
    "sts13": {
        "folder": "STS13", "prefix": "STS",
        "subsets": ["FNWN", "headlines", "OnWN"],
        "url": "http://ixa2.si.ehu.es/stswiki/images/2/2f/STS2013-en-test.zip",
        "published": (PublishedResult("avg GloVe", "spearman", 70.66, SBERT, GLOVE_SBERT, "glove-avg"),
                      _pearson_mean("SIF (GloVe+WR)", 56.6, GLOVE_SIF, "sif"), _pearson_mean("avg GloVe", 42.3, GLOVE_SIF, "glove-avg")),
    },
    "sts14": {
        "folder": "STS14", "prefix": "STS",
        "subsets": ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"],
        "url": "http://ixa2.si.ehu.es/stswiki/images/8/8c/STS2014-en-test.zip",
        "published": (PublishedResult("avg GloVe", "spearman", 59.73, SBERT, GLOVE_SBERT, "glove-avg"),
                      _pearson_mean("SIF (GloVe+WR)", 68.5, GLOVE_SIF, "sif"), _pearson_mean("avg GloVe", 54.2, GLOVE_SIF, "glove-avg")),
    },
    "sts15": {
        "folder": "STS15", "prefix": "STS",
        "subsets": ["answers-forums", "answers-students", "belief", "headlines", "images"],
        "url": "http://ixa2.si.ehu.es/stswiki/images/d/da/STS2015-en-test.zip",
        "published": (PublishedResult("avg GloVe", "spearman", 68.25, SBERT, GLOVE_SBERT, "glove-avg"),
                      _pearson_mean("SIF (GloVe+WR)", 71.7, GLOVE_SIF, "sif"), _pearson_mean("avg GloVe", 52.7, GLOVE_SIF, "glove-avg")),
    },
    "sts16": {
        "folder": "STS16", "prefix": "STS2016",
        "subsets": ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"],
        "url": "http://ixa2.si.ehu.es/stswiki/images/9/98/STS2016-en-test.zip",
        "published": (PublishedResult("avg GloVe", "spearman", 63.66, SBERT, GLOVE_SBERT, "glove-avg"),),
    },
}


@datasets.register("sts-b")
class STSBenchmark(Dataset):
    kind = "pairs"
    description = "STS Benchmark (Cer et al., 2017): 5,749 train / 1,500 dev / 1,379 test pairs, gold 0-5"
    citation = "Cer et al. (2017), SemEval-2017 Task 1, STS Benchmark"
    licence = "per source (parts CC BY-SA); see the release's LICENSE.txt"
    splits = ("train", "dev", "test")
    default_split = "test"
    primary_metric = "spearman"
    published = STS_B_PUBLISHED

    def sources(self) -> list[DataSource]:
        return [DataSource(
            subdir="sts/stsbenchmark",
            files={f"sts-{s}.csv": CHECKSUMS[f"stsbenchmark/sts-{s}.csv"] for s in self.splits},
            url="http://ixa2.si.ehu.es/stswiki/images/4/48/Stsbenchmark.tar.gz",
            homepage="http://ixa2.si.ehu.eus/stswiki/index.php/STSbenchmark",
            manual="download Stsbenchmark.tar.gz from the STS wiki (http://ixa2.si.ehu.eus/stswiki/index.php/STSbenchmark) "
                   "and unpack it so that sts/stsbenchmark/sts-test.csv exists under your data folder",
        )]

    def load(self, split: str | None = None) -> PairsTask:
        split = self.check_split(split)
        folder = self.locator.locate(self.sources()[0], self.name)
        path = folder / f"sts-{split}.csv"
        texts_a, texts_b, gold = read_sts_benchmark(path)
        return PairsTask(self.name, split, texts_a, texts_b, np.array(gold), fingerprint=fingerprint_files([path]),
                         info={"file": path.name})


def read_sts_benchmark(path: Path) -> tuple[list[str], list[str], list[float]]:
    """Reads an STS Benchmark csv; a row with fewer than 7 fields or a bad score is an error
    naming the file and line (the original is not quoted CSV: fields are split on tabs)."""
    texts_a, texts_b, gold = [], [], []
    for line_no, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 7:
            raise DataFormatError(
                f"{path}:{line_no}: {len(fields)} tab-separated fields; an STS Benchmark row has at least 7 "
                "(genre, file, year, id, score, sentence1, sentence2)"
            )
        score = parse_score(fields[4], path, line_no, "score")
        if not 0.0 <= score <= 5.0:
            raise DataFormatError(f"{path}:{line_no}: field 'score' is {score}, outside STS's 0-5 range")
        texts_a.append(fields[5])
        texts_b.append(fields[6])
        gold.append(score)
    if not gold:
        raise DataFormatError(f"{path}: no rows")
    return texts_a, texts_b, gold


def read_semeval_subset(input_path: Path, gold_path: Path) -> tuple[list[str], list[str], list[float], int]:
    """One SemEval subset: input lines (two tab-separated sentences, STS16 adds two source
    columns) aligned with gold lines; an empty gold line marks an unscored pair (skipped)."""
    inputs, golds = read_lines(input_path), read_lines(gold_path)
    if len(inputs) != len(golds):
        raise DataFormatError(
            f"{input_path} has {len(inputs)} lines but {gold_path} has {len(golds)}; they must align line by line"
        )
    texts_a, texts_b, gold, unscored = [], [], [], 0
    for line_no, (inp, g) in enumerate(zip(inputs, golds), start=1):
        if not g.strip():
            unscored += 1
            continue
        fields = inp.split("\t")
        if len(fields) < 2:
            raise DataFormatError(f"{input_path}:{line_no}: {len(fields)} tab-separated field(s); expected two sentences")
        score = parse_score(g, gold_path, line_no, "gold score")
        texts_a.append(fields[0])
        texts_b.append(fields[1])
        gold.append(score)
    return texts_a, texts_b, gold, unscored


class SemEvalYear(Dataset):
    """One SemEval STS year; subclasses below fix ``year``."""

    kind = "pairs"
    splits = ("test",)
    default_split = "test"
    primary_metric = "spearman"
    licence = "per subset; see the year's readme"
    year = ""

    def _spec(self) -> dict:
        return SEMEVAL_YEARS[self.year]

    def _files(self) -> list[tuple[str, str, str]]:
        spec = self._spec()
        return [(s, f"{spec['prefix']}.input.{s}.txt", f"{spec['prefix']}.gs.{s}.txt") for s in spec["subsets"]]

    def sources(self) -> list[DataSource]:
        spec = self._spec()
        names = [n for _, inp, gs in self._files() for n in (inp, gs)]
        return [DataSource(
            subdir=f"sts/semeval/{spec['folder']}",
            files={n: CHECKSUMS[f"{spec['folder']}/{n}"] for n in names},
            url=spec["url"],
            homepage="https://ixa2.si.ehu.eus/stswiki/",
            manual=f"download {spec['url'].rsplit('/', 1)[-1]} from the STS wiki and put its STS*.input.*.txt and "
                   f"STS*.gs.*.txt files in sts/semeval/{spec['folder']}/ under your data folder",
        )]

    def load(self, split: str | None = None) -> PairsTask:
        split = self.check_split(split)
        folder = self.locator.locate(self.sources()[0], self.name)
        texts_a: list[str] = []
        texts_b: list[str] = []
        gold: list[float] = []
        subsets: list[str] = []
        unscored: dict[str, int] = {}
        paths = []
        for subset, inp, gs in self._files():
            a, b, g, skipped = read_semeval_subset(folder / inp, folder / gs)
            texts_a += a
            texts_b += b
            gold += g
            subsets += [subset] * len(g)
            unscored[subset] = skipped
            paths += [folder / inp, folder / gs]
        return PairsTask(
            self.name, split, texts_a, texts_b, np.array(gold), subsets=np.array(subsets, dtype=object),
            fingerprint=fingerprint_files(paths),
            info={"subsets": list(dict.fromkeys(subsets)), "unscored_pairs_skipped": unscored},
        )


def _register_year(year: str) -> None:
    spec = SEMEVAL_YEARS[year]
    cls = type(
        f"SemEval{year.upper()}",
        (SemEvalYear,),
        {
            "year": year,
            "description": f"SemEval STS 20{year[-2:]} English test sets: {', '.join(spec['subsets'])}",
            "citation": f"Agirre et al. (20{year[-2:]}), SemEval STS shared task",
            "published": spec["published"],
            "__doc__": f"SemEval STS 20{year[-2:]} ({len(spec['subsets'])} subsets).",
        },
    )
    datasets.add(year, cls)


for _year in SEMEVAL_YEARS:
    _register_year(_year)
