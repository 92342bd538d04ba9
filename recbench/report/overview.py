"""``leaderboard.md`` as an overview a reader takes in on one screen per task kind: per dataset the
answer to "the best row under a p99 budget" at a few standard budgets and the p50 frontier, on the
dataset's board machine; every full table goes to a Markdown page per dataset beside it
(``leaderboard/<dataset>__<split>.md``), linked from the overview. The single document grew to
200 KB: nobody read past its third table."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
from tabulate import tabulate

from recbench.report.budget import Limit, budget_view, row_marks
from recbench.protocol.cache import write_text_atomically
from recbench.report.markdown import file_slug, md_code, md_link_target, md_text
from recbench.report.owned_folder import check_owned_target, install_owned
from recbench.protocol.kinds.base import all_kinds


@dataclass
class Board:
    """The leaderboard's parts: its head (what the figures mean, the machines), the summary per
    task kind, the rows (``frame``, frontier marked) and one full section per dataset, so that one
    rendering serves the single document, the overview and the per-dataset pages."""

    head: list[str]
    summary: list[str]
    frame: pd.DataFrame
    sections: list[tuple[tuple[str, str], str, list[str]]] = field(default_factory=list)  # (key, kind, lines)

    def whole(self) -> str:
        return "\n".join(self.head + self.summary + [line for _, _, lines in self.sections for line in lines])


STANDARD_BUDGETS_MS = (1.0, 5.0, 20.0, 100.0)  # p99: an in-request feature, a fast API, a page, a batch job
PAGES_MARKER = ".recbench-pages"  # in the pages folder: the pages this command wrote, one per line


def pages_folder(out: Path) -> Path:
    """Where the per-dataset pages of the overview ``out`` go: a folder named after it, beside it."""
    return Path(out).with_suffix("")


def check_pages_target(out: Path) -> None:
    """The pages folder may hold only pages this command wrote (its marker), or nothing."""
    check_owned_target(pages_folder(out), PAGES_MARKER, "--out", "a set of leaderboard pages")


def page_name(key: tuple[str, str]) -> str:
    return f"{file_slug(f'{key[0]}__{key[1]}')}.md"


def _value(value: float, top: float) -> str:
    """As the dataset's table writes it: correlations (x100, ``top`` > 1.5) with 2 decimals, rates with 4."""
    return f"{value:.2f}" if top > 1.5 else f"{value:.4f}"


def _top(group: pd.DataFrame) -> float:
    values = pd.to_numeric(group["value"], errors="coerce").abs()
    return float(values.max()) if values.notna().any() else 0.0


def budget_answers(frame: pd.DataFrame, budgets_ms: tuple[float, ...] = STANDARD_BUDGETS_MS) -> dict[tuple, list[str]]:
    """Per (dataset, split): the best comparable row within p99 <= each budget, as table cells
    (the row keeps its busy, time-capped and floor marks: an answer never hides them)."""
    tops = {key: _top(group) for key, group in frame.groupby(["dataset", "split"])}
    out: dict[tuple, list[str]] = {}
    for bound in budgets_ms:
        view = budget_view(frame, [Limit("p99", "p99_ms", bound, True)])
        for r in view.itertuples(index=False):
            cell = "–"
            if isinstance(r.best, str):
                cell = f"{md_code(r.best)}{r.best_marks} {_value(r.value, tops[(r.dataset, r.split)])}"
            out.setdefault((r.dataset, r.split), []).append(cell)
    return out


def frontier_path(group: pd.DataFrame) -> str:
    """The frontier rows of a dataset (its ★), cheapest first: ``model`` value @ p50 ms."""
    on = group[group["frontier"].astype(bool)].sort_values("p50_ms")
    top = _top(group)
    return " → ".join(f"{md_code(r['model'])}{row_marks(r)} {_value(float(r['value']), top)} @ {r['p50_ms']:.3g} ms"
                      for _, r in on.iterrows()) or "no row timed on every query"


def render_overview(board: Board, links: dict[tuple[str, str], str]) -> str:
    """The overview: the board's head and summary, then per task kind one table of budget answers
    and the frontier of each dataset, each linking to its full page (``links``)."""
    lines = list(board.head)
    if board.frame.empty:
        return "\n".join(lines)
    lines += ["Every dataset's full table (all rows and metrics, rows timed on other machines, plots, pipelines, "
              "published figures) is on its own page, linked below.", ""]
    lines += board.summary
    answers = budget_answers(board.frame)
    descriptions = {k.name: k.description for k in all_kinds()}
    kinds = {key: kind for key, kind, _ in board.sections}
    lines += ["## Answers per dataset", "",
              "Per dataset, on its board machine and among rows scored on every query: the best row whose p99 "
              f"latency is within each budget, and the p50 frontier ({'★'} rows, cheapest first). "
              "`recbench report --budget p99=X` answers any other budget, with the next step up.", ""]
    for kind in dict.fromkeys(kinds.values()):  # the sections come in the board's order of kinds
        keys = [key for key in kinds if kinds[key] == kind]
        lines += [f"### {md_text(kind)}", ""] + ([md_text(descriptions[kind]), ""] if descriptions.get(kind) else [])
        rows, paths = [], []
        for key in keys:
            group = board.frame[(board.frame["dataset"] == key[0]) & (board.frame["split"] == key[1])]
            title = f"[{md_text(f'{key[0]} ({key[1]})')}]({md_link_target(links[key])})"
            metric = md_text(group["primary_metric"].iloc[0])
            rows.append([title, metric, md_text(group["board_machine"].iloc[0] or "–"),
                         *answers.get(key, ["–"] * len(STANDARD_BUDGETS_MS))])
            paths.append(f"- {title} ({metric}): {frontier_path(group)}")
        lines += [tabulate(rows, headers=["dataset", "metric", "timed on",
                                          *[f"p99 ≤ {b:g} ms" for b in STANDARD_BUDGETS_MS]],
                           tablefmt="github", disable_numparse=True), "", "Frontier by p50:", "", *paths, ""]
    return "\n".join(lines)


def render_page(key: tuple[str, str], section: list[str], overview_link: str) -> str:
    """A dataset's page: its full section under its own title, a link back to the overview."""
    body = section[1:] if section and section[0].startswith("## ") else section
    return "\n".join([f"# {md_text(key[0])} ({md_text(key[1])})", "",
                      f"[← the overview]({md_link_target(overview_link)}) (what the marks and columns mean)", "",
                      *body])


def write_board(board_for: Callable[[Path], Board], out: Path) -> Path:
    """Writes the per-dataset pages into ``pages_folder(out)`` (only pages this command wrote are
    replaced or removed) and then the overview at ``out``, each atomically. ``board_for(pages_dir)``
    renders the board with plot links relative to the pages' folder."""
    out = Path(out)
    folder = pages_folder(out)
    check_pages_target(out)
    board: Board = board_for(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    links = {}
    try:
        back = os.path.relpath(out, folder)
        for key, _, section in board.sections:
            (tmp / page_name(key)).write_text(render_page(key, section, back), encoding="utf-8")
            links[key] = os.path.relpath(folder / page_name(key), out.parent)
        install_owned(tmp, folder, PAGES_MARKER)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_text_atomically(out, render_overview(board, links))
    return out

