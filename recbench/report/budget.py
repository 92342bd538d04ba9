"""The latency-budget view: given a budget (p99 <= X ms, >= Y queries/s, <= Z bytes per item, on a
machine), the best leaderboard row per dataset within it, and what the next step up buys: the
cheapest row outside the budget that beats it (the next point of the quality-cost frontier),
with its gain and its cost. ``recbench report --budget p99=5ms`` prints it.

Rows with no figure for a limited quantity (a row never timed under the server scenario has no
queries/s of its own) count as outside: a budget is only met by what was measured."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tabulate import tabulate

from recbench.report.markdown import md_code, md_text


@dataclass(frozen=True)
class Limit:
    """One bound: ``column`` of the report frame at most (or at least) ``bound``."""

    key: str
    column: str
    bound: float
    at_most: bool

    def met(self, values: pd.Series) -> pd.Series:
        v = pd.to_numeric(values, errors="coerce")
        return (v <= self.bound) if self.at_most else (v >= self.bound)

    def describe(self) -> str:
        return f"{self.key} {'≤' if self.at_most else '≥'} {self.bound:g}{SHOWN_UNIT[self.key]}"


# key -> (frame column, at most?)
QUANTITIES = {
    "p50": ("p50_ms", True), "p90": ("p90_ms", True), "p95": ("p95_ms", True), "p99": ("p99_ms", True),
    "qps": ("qps", False), "bytes": ("bytes_per_item", True), "params": ("parameters", True),
    "train": ("train_minutes", True),
}
SHOWN_UNIT = {"p50": " ms", "p90": " ms", "p95": " ms", "p99": " ms", "qps": " queries/s", "bytes": " bytes/item",
              "params": " parameters", "train": " train min"}
# the units each quantity may be written in, and their scale to the frame column's unit: a unit
# of another quantity (p99=5kb, bytes=5ms, train=30s read as 30,000 minutes) is refused
LATENCY = {"": 1.0, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0}
UNITS = {
    **{q: LATENCY for q in ("p50", "p90", "p95", "p99")},
    "qps": {"": 1.0, "/s": 1.0, "qps": 1.0, "k": 1e3, "k/s": 1e3},
    "bytes": {"": 1.0, "b": 1.0, "kb": 1024.0, "kib": 1024.0, "mb": 1024.0 ** 2, "mib": 1024.0 ** 2},
    "params": {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9},
    "train": {"": 1.0, "s": 1 / 60, "min": 1.0, "m": 1.0, "h": 60.0},
}


DIGITS = {"qps": 0, "bytes": 0, "params": 0, "train": 1}


class BudgetError(ValueError):
    """A budget that cannot be read."""


def parse_budget(text: str) -> list[Limit]:
    """``p99=5ms``, ``qps=1000``, ``bytes=1.5KB``, several joined by commas."""
    limits = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in QUANTITIES:
            raise BudgetError(f"budget {part!r}: give QUANTITY=VALUE with QUANTITY one of "
                              f"{', '.join(QUANTITIES)} (e.g. p99=5ms, qps=1000, bytes=512)")
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zµ/]*)\s*", value.lower())
        if not m:
            raise BudgetError(f"budget {part!r}: {value!r} is not a number with an optional unit")
        number, unit = float(m.group(1)), m.group(2)
        if unit not in UNITS[key]:
            raise BudgetError(f"budget {part!r}: {unit!r} is not a unit of {key}; use one of "
                              f"{', '.join(u for u in UNITS[key] if u) or 'none'}")
        column, at_most = QUANTITIES[key]
        limits.append(Limit(key, column, number * UNITS[key][unit], at_most))
    if not limits:
        raise BudgetError("an empty budget: give e.g. p99=5ms")
    return limits


def with_throughput(frame: pd.DataFrame, p99_ms: float | None = None) -> pd.DataFrame:
    """Adds ``qps``: the server scenario's sustained rate where measured, else one query at a
    time (1000 / p50 ms). With ``p99_ms`` (a budget that bounds p99 too: "best under p99 <= 50 ms
    at >= 200 queries/s") a server rate counts only where it was found under a p99 bound at
    least that tight: a rate sustained at p99 <= 100 ms says nothing of p99 <= 50 ms."""
    out = frame.copy()
    single = 1000.0 / pd.to_numeric(out["p50_ms"], errors="coerce")
    server = pd.to_numeric(out.get("server_qps"), errors="coerce") if "server_qps" in out else single * np.nan
    if p99_ms is not None and "server_bound_ms" in out:
        server = server.where(pd.to_numeric(out["server_bound_ms"], errors="coerce") <= p99_ms)
    out["qps"] = server.where(server.notna(), single)
    return out


def row_marks(row: pd.Series | None) -> str:
    """The marks an answer keeps: ⚠ timed busy, ◷ time-capped training, ▿ a floor (a budget
    answer never hides them)."""
    from recbench.report.marks import BUSY, FLOOR, TIME_CAPPED

    if row is None:
        return ""
    flag = lambda name: bool(row.get(name)) and not (isinstance(row.get(name), float) and np.isnan(row.get(name)))  # noqa: E731
    return (BUSY if flag("busy") else "") + (TIME_CAPPED if flag("machine_dependent") else "") + (FLOOR if flag("floor") else "")


def budget_view(frame: pd.DataFrame, limits: list[Limit], machine: str | None = None) -> pd.DataFrame:
    """One row per dataset split: the best row within the budget and the next step up."""
    p99 = next((l.bound for l in limits if l.key == "p99"), None)
    frame = with_throughput(frame, p99 if any(l.key == "qps" for l in limits) else None)
    if "sample" in frame:  # a row scored on a query sample is no answer beside full rows
        frame = frame[frame["sample"].isna()]
    if "on_board" in frame:  # one machine per answer: the board's (load(machine=...) chooses it)
        frame = frame[frame["on_board"].astype(bool)]
    if machine:
        frame = frame[frame["machine"].fillna("").str.contains(machine, case=False, regex=False)]
    rows = []
    for (dataset, split), group in frame.groupby(["dataset", "split"], sort=True):
        group = group[pd.to_numeric(group["value"], errors="coerce").notna()]
        if group.empty:
            continue
        inside = np.ones(len(group), dtype=bool)
        for limit in limits:
            inside &= limit.met(group[limit.column]).fillna(False).to_numpy()
        within, outside = group[inside], group[~inside]
        best = within.loc[within["value"].idxmax()] if len(within) else None
        floor = best["value"] if best is not None else -np.inf
        better = outside[outside["value"] > floor]
        cost = limits[0].column
        step = None
        if len(better):
            key = pd.to_numeric(better[cost], errors="coerce")
            key = key if limits[0].at_most else -key
            step = better.loc[key.fillna(np.inf).idxmin()]
        rows.append({
            "dataset": dataset, "split": split, "kind": group["kind"].iloc[0], "metric": group["primary_metric"].iloc[0],
            "rows": len(group), "within": int(inside.sum()),
            "best": None if best is None else best["model"], "best_marks": row_marks(best),
            "value": None if best is None else float(best["value"]),
            "ci_low": None if best is None else best.get("ci_low"), "ci_high": None if best is None else best.get("ci_high"),
            **{f"best_{l.key}": None if best is None else best.get(l.column) for l in limits},
            "next": None if step is None else step["model"], "next_marks": row_marks(step),
            "next_value": None if step is None else float(step["value"]),
            "gain": None if step is None or best is None else float(step["value"] - best["value"]),
            **{f"next_{l.key}": None if step is None else step.get(l.column) for l in limits},
        })
    return pd.DataFrame(rows)


def _num(x: object, digits: int) -> str:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if np.isnan(v):
        return "–"
    if v != 0 and abs(v) < 10.0 ** -digits * 5:  # 0.37 queries/s printed as 0: two significant digits instead
        return f"{v:.2g}"
    return f"{v:,.{digits}f}"


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def budget_table(view: pd.DataFrame, limits: list[Limit], markdown: bool = True) -> str:
    """The view as a table (GitHub Markdown, or plain text for a terminal)."""
    code = md_code if markdown else str
    text = md_text if markdown else str
    rows = []
    for _, r in view.iterrows():
        shown = lambda prefix: ", ".join(f"{l.key} {_num(r[f'{prefix}_{l.key}'], DIGITS.get(l.key, 2))}"  # noqa: E731
                                         for l in limits)
        best = ("none within the budget" if _missing(r["best"]) else
                f"{code(r['best'])}{r.get('best_marks') or ''} {r['value']:.4f} [{_num(r['ci_low'], 4)}, "
                f"{_num(r['ci_high'], 4)}] ({shown('best')})")
        step = ("nothing better outside it" if _missing(r["next"]) else
                f"{code(r['next'])}{r.get('next_marks') or ''} {r['next_value']:.4f}" + ("" if _missing(r["gain"]) else f" (+{r['gain']:.4f})")
                + f" at {shown('next')}")
        rows.append([text(f"{r['dataset']} ({r['split']})"), text(r["metric"]), f"{r['within']}/{r['rows']}", best, step])
    head = ["dataset", "metric", "rows within", "best within the budget", "the next step up buys"]
    return tabulate(rows, headers=head, tablefmt="github" if markdown else "simple", disable_numparse=True)
