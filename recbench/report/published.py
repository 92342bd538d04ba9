"""Published figures beside the board's rows: each shown beside our row measured under the
same evaluation rule as its source (sequences: the user's history kept in or left out of the
ranking), never mixed into the measured tables."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from tabulate import tabulate

from recbench.protocol.registry import UnknownNameError, datasets
from recbench.report.markdown import fmt_estimate, md_code, md_text
from recbench.report.parts import has_parts
from recbench.results.run_record import as_run


def published_for(records: list[dict[str, Any]]) -> tuple[tuple, str | None]:
    """The published figures of the dataset the records ran on, found by the dataset spec each
    record stores (its label may carry options: ``amazon-scientific[text_style=kv]``); and a
    note saying why none could be found, for the leaderboard to show rather than drop them."""
    spec = records[0]["dataset"].get("spec") or records[0]["dataset"]["name"]
    try:
        return tuple(datasets.get(spec).published), None
    except (UnknownNameError, RuntimeError) as exc:
        return (), f"Published figures for {md_code(spec)} cannot be shown: {md_text(exc)}"


def without_rule(label: str) -> str:
    """A row label less its ``seen_items=kept`` setting: the name a published row gives as ours."""
    return re.sub(r"\{\}|,(?=\})", "", re.sub(r"seen_items=kept,?", "", label))


def published_table(records: list[dict[str, Any]]) -> str | None:
    """Published figures beside ours, where our protocol is the published one: a dataset run
    with held-out (cold) items trains on less and is scored on other targets, so its rows are not
    set beside the standard protocol's published figures."""
    published, _ = published_for(records)
    if not published:
        return None
    if has_parts(records):
        return None
    runs = [as_run(r) for r in records]
    rows = []
    for p in published:
        under = [run for run in runs if str(run.settings.get("seen_items") or "excluded") == p.seen_items]
        by_label = {without_rule(run.model.label): run for run in under}
        label = p.ours
        if not label:  # no counterpart named: compare with our best measured row on that metric
            scored = [run for run in under if p.metric in run.metrics]
            label = max(scored, key=lambda run: run.metrics[p.metric].value).model.label if scored else ""
        ours = by_label.get(label)
        digits = 2 if abs(p.value) > 1.5 else 4
        ours_value = fmt_estimate(ours.metrics.get(p.metric), digits) if ours else "not run under this rule"
        shown = md_code(ours.model.label if ours else label) + ("" if p.ours else " (our best)") if label else "–"
        rule = "history kept in the ranking" if p.seen_items == "kept" else "history excluded"
        rows.append([md_text(p.model), md_text(p.metric), f"{p.value:.{digits}f}", md_text(rule), shown, ours_value,
                     md_text(p.note), md_text(p.citation)])
    return tabulate(rows, headers=["published model", "metric", "published", "rule", "ours (same rule)", "our figure",
                             "setting", "source"],
                    tablefmt="github", disable_numparse=True)


PEERS = "peers"  # <results>/peers/*.json: another library's figures on our split (benchmarks/recbole_peer.py)


def peer_table(results_dir: Path, dataset: str) -> str | None:
    """A peer library's figures on this dataset's split, under each evaluation rule, beside (never
    inside) the measured rows; a file that is not a peer summary is skipped with a warning."""
    rows = []
    for path in sorted((Path(results_dir) / PEERS).glob("*.json")):
        try:
            peer = json.loads(path.read_text(encoding="utf-8"))
            if peer.get("dataset") != dataset:
                continue
            for rule, figures in sorted(peer["figures"].items()):
                cells = [fmt_estimate(figures.get(m), 4) for m in ("ndcg@10", "recall@10", "mrr")]
                rows.append([md_text(peer["peer"]), md_text("history kept" if rule == "kept" else "history excluded"),
                             *cells, md_text(f"{int(peer['epochs'])} epochs max, seed {int(peer['seed'])}"),
                             md_code(path.name)])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            warnings.warn(f"skipping a peer file that cannot be read: {path}: {exc}", stacklevel=2)
    if not rows:
        return None
    return tabulate(rows, headers=["peer (on our split)", "rule", "ndcg@10", "recall@10", "mrr", "training", "file"],
                    tablefmt="github", disable_numparse=True)
