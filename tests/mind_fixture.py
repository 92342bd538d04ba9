"""Writes small, closed MIND-format folders (every id resolves) for tests."""

from __future__ import annotations

from pathlib import Path

NEWS = [
    ("N1", "sports", "football", "Team wins the football final", "A late goal decided the match."),
    ("N2", "sports", "tennis", "Tennis star reaches the final", "She won in straight sets."),
    ("N3", "finance", "markets", "Stock markets fall on rate fears", "Investors sold shares."),
    ("N4", "finance", "economy", "Central bank raises interest rates", "Inflation stays high."),
    ("N5", "food", "recipes", "Easy pasta recipe for busy nights", "Tomatoes, garlic and basil."),
    ("N6", "food", "restaurants", "New pizza restaurant opens downtown", "Wood-fired ovens."),
    ("N7", "sports", "football", "Coach signs a new football contract", "Three more seasons."),
    ("N8", "finance", "markets", "Bond yields climb as markets slide", "A rough week."),
]

TRAIN = [
    ("1", "U1", "11/11/2019 9:05:58 AM", "N1 N2", "N7-1 N3-0 N5-0"),
    ("2", "U2", "11/11/2019 9:10:00 AM", "N3", "N8-1 N6-0"),
    ("3", "U3", "11/11/2019 9:12:00 AM", "N5", "N6-1 N7-1 N4-0"),
]

DEV = [
    ("10", "U1", "11/15/2019 8:00:00 AM", "N1 N2 N7", "N3-0 N6-0 N1-1 N4-0"),
    ("11", "U2", "11/15/2019 8:01:00 AM", "N3 N8", "N4-1 N5-0 N2-0"),
    ("12", "U3", "11/15/2019 8:02:00 AM", "N5 N6", "N6-1 N3-0 N7-0 N8-0"),
    ("13", "U4", "11/15/2019 8:03:00 AM", "", "N1-1 N5-0"),  # empty history
    ("14", "U1", "11/15/2019 8:04:00 AM", "N1", "N7-1 N2-1"),  # one label class
]


def news_line(row) -> str:
    nid, cat, sub, title, abstract = row
    return "\t".join([nid, cat, sub, title, abstract, f"https://assets.msn.com/labs/mind/{nid}.html", "[]", "[]"])


def write_split(folder: Path, behaviors, news=NEWS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.tsv").write_text("".join(news_line(r) + "\n" for r in news), encoding="utf-8")
    (folder / "behaviors.tsv").write_text("".join("\t".join(r) + "\n" for r in behaviors), encoding="utf-8")


def write_mind(root: Path, release: str = "small", dev=DEV, train=TRAIN) -> Path:
    """``root/MIND<release>_train`` and ``root/MIND<release>_dev``, as the official zips unpack."""
    write_split(root / f"MIND{release}_train", train)
    write_split(root / f"MIND{release}_dev", dev)
    return root
