"""``recbench report --site DIR``: the leaderboard as a static site (plain files that work from
``file://`` and any static host). An index with the latency-budget view, a page per task kind, a
page per dataset with a sortable, filterable table and an interactive quality-vs-cost plot
(Plotly, shipped with the site: no network), and a copy of every record a row shows.

All data reaches a page as JSON in a ``<script type="application/json">`` block, and the page's
script builds the tables with ``textContent`` only: a label, a path or a machine name is shown as
text, never run as markup."""

from __future__ import annotations

import html
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.results.commands import command_line
from recbench.results.comparisons import LEVEL, significance_vs_best
from recbench.results.rows import comparable, full_rows_frontier, load
from recbench.report.leaderboard import file_slug
from recbench.report.budget import with_throughput
from recbench.report.owned_folder import OwnedFolderError, check_owned_target, install_owned, owned_files
from recbench.results.records import read_record
from recbench.results.run_record import as_run
from recbench.results.seeds import training_seed

ASSETS = Path(__file__).resolve().parent / "assets"
KIND_TITLES = {"pairs": "Sentence similarity (pairs)", "impressions": "News and product impressions",
               "item-to-item": "Item-to-item retrieval", "sequences": "Sequential next item"}
# what a row's quality figure and its latency mean, per kind: said on every dataset page
KIND_MEANING = {
    "pairs": ("Quality: Spearman's rank correlation with the gold similarity, ×100 (−100 to 100).",
              "Latency: encoding one pair's two texts and scoring them."),
    "impressions": ("Quality: AUC over each impression's candidates (0 to 1; 0.5 is chance).",
                    "Latency: scoring one impression's candidates from item vectors computed beforehand "
                    "(pooling the user's history included); a joint scorer's forward pass where it has no vectors."),
    "item-to-item": ("Quality: NDCG@10 over the whole catalog (0 to 1).",
                     "Latency: building one query's vector (encoding its text where the query is a text) and "
                     "searching the catalog for the top 10."),
    "sequences": ("Quality: NDCG@10 of the next item over the whole catalog (0 to 1).",
                  "Latency: one user's query: pooling the history into a vector and searching the catalog, or "
                  "a sequence model's forward pass and top 10."),
}
LEGEND = ("Marks: ★ on the frontier (no row is both better and cheaper) · ≈ not separable from the best "
          "(Holm-adjusted p ≥ 0.05) · ⚠ timed on a busy machine · ◷ stopped by a time cap · ▿ a floor (knows "
          "nothing of the task). Plot: a diamond is a trained row, a circle a zero-shot one. A label's [ ] holds "
          "the model's options (sasrec[lr=0.003]), its { } the protocol's settings (sbert{index=hnsw}).")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def backend_of(record: dict[str, Any]) -> str:
    """The serving backend a row ran on: its params' where recorded, else its model's default
    (records before the option kept none: sbert read "–" on one dataset and "torch" on another),
    else "native" (the model's own code, no serving backend to choose)."""
    model = as_run(record).model
    params = model.params or {}
    if params.get("backend"):
        return str(params["backend"])
    import inspect

    from recbench.protocol.registry import baselines

    try:
        default = inspect.signature(baselines.get(model.name)).parameters.get("backend")
    except (KeyError, TypeError, ValueError, RuntimeError):
        default = None
    return str(default.default) if default is not None and default.default is not inspect.Parameter.empty else "native"


def _rows(frame: pd.DataFrame, significance: bool) -> list[dict[str, Any]]:
    """One JSON row per leaderboard row, with its table's frontier and ≈ marks."""
    out = []
    for (dataset, split), group in frame.groupby(["dataset", "split"], sort=True):
        group = group.copy()
        frontier = full_rows_frontier(group)
        group["neg_qps"] = -with_throughput(group)["qps"]  # more queries/s is better: the frontier takes it negated
        frontiers = {"p50_ms": frontier, "p99_ms": full_rows_frontier(group, "p99_ms"),
                     "qps": full_rows_frontier(group, "neg_qps"), "bytes_per_item": full_rows_frontier(group, "bytes_per_item")}
        pvalues = significance_vs_best(group) if significance and len(group) > 1 else {}
        is_comparable = comparable(group)
        full = group[is_comparable]
        best = full["value"].astype(float).idxmax() if full["value"].notna().any() else None
        for position, ((index, row), on_frontier) in enumerate(zip(group.iterrows(), frontier)):
            records = [read_record(Path(p)) for p in row["paths"]]
            newest = max(map(as_run, records), key=lambda r: r.date)
            seeds = sorted({s for s in (training_seed(r) for r in records) if s is not None})
            p = pvalues.get(row["model"])
            out.append({k: _clean(v) for k, v in {
                "dataset": dataset, "split": split, "kind": row["kind"],
                "page": f"datasets/{file_slug(f'{dataset}__{split}')}.html",
                "model": row["model"], "family": newest.model.name, "backend": backend_of(newest),
                "trained": bool(row["trained"]), "seeds": len(seeds), "seed_list": seeds,
                "metric": row["primary_metric"], "value": row["value"], "ci_low": row.get("ci_low"),
                "ci_high": row.get("ci_high"), "seed_sd": row.get("seed_sd"),
                "p50_ms": row["p50_ms"], "p99_ms": row["p99_ms"], "qps": (row["server_qps"] if pd.notna(row["server_qps"])
                                                                          else (1000.0 / row["p50_ms"] if row["p50_ms"] else None)),
                "qps_from": "server" if pd.notna(row["server_qps"]) else "one query at a time",
                "bytes_per_item": row["bytes_per_item"], "train_minutes": row["train_minutes"],
                "train_device": row.get("train_device") or "",
                "parameters": row["parameters"], "machine": row["machine"] or "–",
                "comparable": bool(is_comparable[index]),  # on every query and on the board's machine
                "board_machine": row.get("board_machine") or "–",
                "best": index == best, "frontier": bool(on_frontier),
                "frontiers": {m: bool(f[position]) for m, f in frontiers.items()},  # one per latency measure
                "tied_with_best": p is not None and p >= LEVEL, "p_vs_best": p,
                "busy": row["busy"] or "", "machine_dependent": bool(row["machine_dependent"]),
                "floor": bool(row.get("floor")),
                "records": [f"records/{Path(p).name}" for p in row["paths"]],
                "command": command_line(newest.to_dict(), seeds or None),
                **beyond_figures(newest),
            }.items()})
    return out


def beyond_figures(run: Any) -> dict[str, float | None]:
    """Coverage@10, tail share@10 and the primary metric on tail targets of a full ranking
    (from the row's newest record), None where the row has none."""
    def value(name: str) -> float | None:
        est = run.metrics.get(name)
        return None if est is None else est.value

    return {"coverage": value("coverage@10"), "tail_share": value("tail_share@10"),
            "tail_quality": value(f"{run.primary_metric}[tail]")}


def _json_block(element_id: str, data: Any) -> str:
    # every <, > and & as a JSON escape: "</script>" cannot close the block and "<!--<script>" cannot
    # put the parser in its double-escaped state (which swallowed the page's own scripts)
    text = (json.dumps(data, ensure_ascii=False, allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _page(title: str, depth: int, body: str, data: dict[str, Any], page: str) -> str:
    """One page; the plotting library (1.2 MB) only on the dataset pages, which draw a plot, and
    after the site script, which renders the tables without it."""
    up = "../" * depth
    plotting = f'<script src="{up}assets/{PLOTTING_SCRIPT}" defer></script>\n' if page == "dataset" else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · recbench</title>
<link rel="stylesheet" href="{up}assets/site.css">
</head><body data-page="{page}" data-root="{up}">
<header><a href="{up}index.html">recbench leaderboard</a> <span class="crumb">{html.escape(title)}</span></header>
<main>{body}</main>
{_json_block("data", data)}
<script src="{up}assets/site.js"></script>
{plotting}</body></html>
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


MARKER = ".recbench-site"  # in a folder this command built: the files it wrote there, one per line


class SiteTargetError(ValueError):
    """--site names a folder the site may not be written into; nothing was written."""


def site_files(out_dir: Path) -> set[str] | None:
    """The files a previous build wrote into ``out_dir`` (its marker), None when it has no marker."""
    return owned_files(out_dir, MARKER)


def check_site_target(results_dir: Path, out_dir: Path) -> None:
    """Refuses, before anything is written, a target that would lose what this command did not
    create: the results folder or a folder above it, an existing file, and a non-empty folder
    that is not a site this command built (no marker)."""
    out, results = Path(out_dir).resolve(), Path(results_dir).resolve()
    if out == results or results.is_relative_to(out):
        raise SiteTargetError(f"--site {out_dir}: it holds the results folder {results_dir}; the site needs a "
                              "folder of its own (e.g. site/)")
    try:
        check_owned_target(Path(out_dir), MARKER, "--site", "a site")
    except OwnedFolderError as exc:
        raise SiteTargetError(str(exc)) from None


def install_site(built: Path, out_dir: Path) -> None:
    """Moves the built files in; removes only files the previous build listed (``install_owned``)."""
    install_owned(built, out_dir, MARKER)


def build_site(results_dir: Path, out_dir: Path, significance: bool = True) -> Path:
    """Writes the site into ``out_dir``: built in a temporary folder beside it, then each file
    moved in; only files a previous build wrote are replaced or removed. A folder that is not a
    site this command built, the results folder and its parents are refused (nothing written).
    Returns the index page."""
    frame = load(results_dir)
    if frame.empty:
        raise ValueError(f"no run records in {results_dir}/: nothing to publish")
    rows = _rows(frame, significance)
    out_dir = Path(out_dir)
    check_site_target(results_dir, out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        _assets(tmp)
        for row in rows:
            for rel in row["records"]:
                src = Path(results_dir) / Path(rel).name
                if not (tmp / rel).exists():
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, tmp / rel)
        kinds = sorted({r["kind"] for r in rows}, key=lambda k: list(KIND_TITLES).index(k) if k in KIND_TITLES else 99)
        machines = sorted({r["machine"] for r in rows})
        index_body = ("<h1>recbench leaderboard</h1>"
                      "<p>Quality against cost for text recommenders and sentence embeddings, measured on one "
                      "machine per row. Pick a task kind, or ask the budget view below.</p>"
                      "<section id='kinds'></section>" + static_datasets(rows, 0) +
                      "<h2>Latency budget</h2><div id='budget'></div>")
        _write(tmp / "index.html", _page("index", 0, index_body, {"rows": rows, "kinds": kinds, "titles": KIND_TITLES,
                                                                   "machines": machines}, "index"))
        for kind in kinds:
            kind_rows = [r for r in rows if r["kind"] == kind]
            body = (f"<h1>{html.escape(KIND_TITLES.get(kind, kind))}</h1><section id='datasets'></section>"
                    + static_datasets(kind_rows, 1))
            _write(tmp / "kinds" / f"{file_slug(kind)}.html",
                   _page(KIND_TITLES.get(kind, kind), 1, body, {"rows": kind_rows, "kind": kind}, "kind"))
        for (dataset, split), _ in frame.groupby(["dataset", "split"], sort=True):
            page_rows = [r for r in rows if r["dataset"] == dataset and r["split"] == split]
            title = f"{dataset} ({split})"
            kind = page_rows[0]["kind"]
            quality, latency = KIND_MEANING.get(kind, ("", ""))
            body = (f"<h1>{html.escape(title)}</h1>"
                    f"<p class='note'>A {html.escape(kind)} task (<a href='../kinds/{html.escape(file_slug(kind))}.html'>"
                    f"all {html.escape(kind)} datasets</a>). {html.escape(quality)} {html.escape(latency)}</p>"
                    f"<p class='note legend'>{html.escape(LEGEND)}</p>"
                    "<div id='plot-controls'></div><div id='plot' class='plot'></div>"
                    "<div id='filters'></div><p id='count'></p><div id='table'></div>" + static_rows(page_rows))
            _write(tmp / page_rows[0]["page"], _page(title, 1, body, {"rows": page_rows, "dataset": dataset,
                                                                       "split": split}, "dataset"))
        install_site(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / "index.html"


def static_datasets(rows: list[dict[str, Any]], depth: int) -> str:
    """The datasets as links, written into the page for a browser without JavaScript."""
    up = "../" * depth
    seen = {}
    for r in rows:
        seen.setdefault((r["dataset"], r["split"]), r["page"])
    items = "".join(f'<li><a href="{html.escape(up + page)}">{html.escape(f"{d} ({s})")}</a></li>'
                    for (d, s), page in sorted(seen.items()))
    return f"<noscript><ul class='static'>{items}</ul></noscript>"


def static_rows(rows: list[dict[str, Any]]) -> str:
    """A dataset's rows as a plain table written into the page (readable with JavaScript off;
    the script draws the sortable one)."""
    def num(v: Any, digits: int) -> str:
        return "–" if not isinstance(v, (int, float)) or v != v else f"{v:.{digits}f}"

    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["model"], f"{num(r['value'], 4)} [{num(r.get('ci_low'), 4)}, {num(r.get('ci_high'), 4)}]",
            num(r["p50_ms"], 2), num(r["p99_ms"], 2), r["machine"])) + "</tr>"
        for r in sorted(rows, key=lambda r: -(r["value"] if isinstance(r["value"], (int, float)) else float("-inf"))))
    head = "".join(f"<th>{h}</th>" for h in ("model", "quality [95% CI]", "p50 ms", "p99 ms", "machine"))
    return f"<noscript><table class='static'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></noscript>"


# plotly.js's "basic" bundle (scatter, bar, pie; MIT, vendored from npm's plotly.js-basic-dist-min
# 4.1.1 with its licence): 1.2 MB where the full bundle the plotly package ships weighs 4.8 MB,
# and the site draws scatter plots with error bars only
PLOTTING_SCRIPT = "plotly-basic.min.js"


def _assets(root: Path) -> None:
    target = root / "assets"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("site.js", "site.css", PLOTTING_SCRIPT, "plotly-basic.LICENSE.txt"):
        shutil.copyfile(ASSETS / name, target / name)
