"""The report's sections on where latency goes: a table of two-stage pipelines (first stage,
reranker, depth, the pipeline's quality beside the first stage's recall at that depth) and a
per-row split of the serving path's p50 by stage (``stages.py``), with a stacked bar plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tabulate import tabulate

from recbench.benchmark.markdown import md_code


def stages_of(rec: dict[str, Any]) -> dict[str, dict[str, float]]:
    return ((rec.get("timing") or {}).get("latency") or {}).get("stages") or {}


def has_pipelines(records: list[dict[str, Any]]) -> bool:
    return any("pipeline" in (r.get("details") or {}) for r in records)


def pipelines_table(records: dict[str, dict[str, Any]]) -> str:
    """One row per pipeline, grouped by first stage and reranker, deepest last."""
    rows = []
    for rec in records.values():
        p = (rec.get("details") or {}).get("pipeline")
        if not p:
            continue
        pm = rec["primary_metric"]
        est = rec["metrics"][pm]
        st = stages_of(rec)
        depth = int(p["depth"])
        rows.append((rec["model"]["spec"], p["reranker"], depth, [
            md_code(rec["model"]["spec"]), md_code(p["reranker"]), f"{depth:,}",
            f"{est['value']:.4f} [{est['ci_low']:.4f}, {est['ci_high']:.4f}]",
            f"{p.get('first_stage_ndcg@10', float('nan')):.4f}", f"{p.get(f'first_stage_recall@{depth}', float('nan')):.4f}",
            _ms(rec, "p50_ms"), _ms(rec, "p99_ms"),
            f"{st['first']['p50_ms']:.2f}" if "first" in st else "–",
            f"{st['rerank']['p50_ms']:.2f}" if "rerank" in st else "–"]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    head = ["first stage", "reranker", "depth K", "pipeline ndcg@10", "first stage alone ndcg@10",
            "first stage recall@K", "p50 ms", "p99 ms", "first p50", "rerank p50"]
    return tabulate([r[3] for r in rows], headers=head, tablefmt="github", disable_numparse=True)


def _ms(rec: dict[str, Any], key: str) -> str:
    v = ((rec.get("timing") or {}).get("latency") or {}).get(key)
    return "–" if v is None else f"{v:.2f}"


def stage_table(records: dict[str, dict[str, Any]]) -> str:
    """Each row's end-to-end p50 and its top-level stages' p50 (inner stages in parentheses)."""
    rows = []
    for label, rec in sorted(records.items()):
        st = stages_of(rec)
        if not st:
            continue
        top = [n for n in st if "." not in n]
        parts = []
        for n in top:
            inner = [f"{m.split('.', 1)[1]} {st[m]['p50_ms']:.2f}" for m in st if m.startswith(n + ".")]
            parts.append(f"{n} {st[n]['p50_ms']:.2f}" + (f" ({', '.join(inner)})" if inner else ""))
        rows.append([md_code(label), _ms(rec, "p50_ms"), "; ".join(parts)])
    return tabulate(rows, headers=["row", "p50 ms", "p50 ms by stage"], tablefmt="github", disable_numparse=True)


def plot_stages(records: dict[str, dict[str, Any]], title: str, out: Path,
                save: Callable[[Any, Path], Path]) -> Path | None:
    """A stacked horizontal bar per row: the p50 of each top-level stage (``save`` writes the
    figure: the report's atomic writer)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(label, {n: v["p50_ms"] for n, v in stages_of(rec).items() if "." not in n})
            for label, rec in sorted(records.items())]
    rows = [(label, st) for label, st in rows if st]
    if not rows:
        return None
    names = sorted({n for _, st in rows for n in st})
    fig, ax = plt.subplots(figsize=(8.0, 0.35 * len(rows) + 1.5), dpi=110)
    for k, name in enumerate(names):
        lefts = [sum(st.get(n, 0.0) for n in names[:k]) for _, st in rows]
        ax.barh(range(len(rows)), [st.get(name, 0.0) for _, st in rows], left=lefts, label=name)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=7)
    ax.set_xlabel("p50 ms per query, by stage")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return save(fig, out)
