"""The report's sections on where latency goes: a table of two-stage pipelines (first stage,
reranker, depth, the pipeline's quality beside the first stage's recall at that depth) and a
per-row split of the serving path's p50 by stage (``stages.py``), with a stacked bar plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tabulate import tabulate

from recbench.report.markdown import md_code
from recbench.results.records import short_spec
from recbench.results.run_record import RunRecord, as_run


def reranker_name(pipeline: dict[str, Any]) -> str:
    """A reranker as the tables name it: a checkpoint by the cell that trained it (the record's
    ``pipeline.trained_by``: ``cross-encoder(amazon-scientific-mix,200steps,seed=0)``), never by
    its folder's hash; a zero-shot reranker by its spec."""
    from recbench.protocol.checkpoints import describe_provenance

    trained_by = pipeline.get("trained_by")
    return describe_provenance(trained_by) if isinstance(trained_by, dict) else short_spec(str(pipeline["reranker"]))


def stages_of(rec: dict[str, Any]) -> dict[str, dict[str, float]]:
    return as_run(rec).latency.get("stages") or {}


def has_pipelines(records: list[dict[str, Any]]) -> bool:
    return any("pipeline" in (as_run(r).details or {}) for r in records)


def pipelines_table(records: dict[str, dict[str, Any]]) -> str:
    """One row per pipeline, grouped by first stage and reranker, deepest last; a column of
    how many queries each scored where some row scored a sample (``--max-queries``)."""
    rows = []
    runs = [as_run(r) for r in records.values()]
    sampled = any(run.query_sample for run in runs if "pipeline" in (run.details or {}))
    for run in runs:
        p = (run.details or {}).get("pipeline")
        if not p:
            continue
        est = run.primary
        st = stages_of(run)
        depth = int(p["depth"])
        sample = run.query_sample
        reranker = reranker_name(p)
        rows.append((run.model.spec, reranker, depth, [
            md_code(run.model.spec), md_code(reranker), f"{depth:,}",
            *([f"{sample['queries']:,} of {sample['of']:,}" if sample else "all"] if sampled else []),
            f"{est.value:.4f} [{est.ci_low:.4f}, {est.ci_high:.4f}]",
            f"{p.get('first_stage_ndcg@10', float('nan')):.4f}", f"{p.get(f'first_stage_recall@{depth}', float('nan')):.4f}",
            _ms(run, "p50_ms"), _ms(run, "p99_ms"),
            f"{st['first']['p50_ms']:.2f}" if "first" in st else "–",
            f"{st['rerank']['p50_ms']:.2f}" if "rerank" in st else "–"]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    head = ["first stage", "reranker", "depth K", *(["queries"] if sampled else []), "pipeline ndcg@10", "first stage alone ndcg@10",
            "first stage recall@K", "p50 ms", "p99 ms", "first p50", "rerank p50"]
    return tabulate([r[3] for r in rows], headers=head, tablefmt="github", disable_numparse=True)


def _ms(rec: dict[str, Any] | RunRecord, key: str) -> str:
    v = as_run(rec).latency.get(key)
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


def pipeline_curves(records: dict[str, dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Per (first stage, reranker): its depths' points (K, quality with interval, p50 end to end),
    shallowest first, after the first stage alone (K = 0: its quality, its stage's p50). Rows
    scored on a query sample make a curve of their own per sample size (``reranker (N queries)``):
    figures of different queries are not one curve."""
    curves: dict[tuple[str, str], list[dict[str, float]]] = {}
    for run in map(as_run, records.values()):
        p = (run.details or {}).get("pipeline")
        lat = run.latency
        if not p or lat.get("p50_ms") is None:
            continue
        est = run.primary
        sample = run.query_sample
        key = (run.model.spec, reranker_name(p) + (f" ({sample['queries']:,} queries)" if sample else ""))
        curves.setdefault(key, []).append({"k": float(p["depth"]), "value": est.value, "low": est.ci_low,
                                           "high": est.ci_high, "p50_ms": float(lat["p50_ms"])})
        first = stages_of(run).get("first", {}).get("p50_ms")
        alone = p.get("first_stage_ndcg@10")
        if first is not None and alone is not None and run.primary_metric == "ndcg@10":
            curves[key].append({"k": 0.0, "value": float(alone), "low": float("nan"), "high": float("nan"),
                                "p50_ms": float(first)})
    out = {}
    for key, points in curves.items():
        firsts = [q for q in points if q["k"] == 0]
        deep = sorted((q for q in points if q["k"] > 0), key=lambda q: q["k"])
        # the first stage alone: one point, at the median of its measured stage times
        out[key] = ([{**firsts[0], "p50_ms": float(sorted(q["p50_ms"] for q in firsts)[len(firsts) // 2])}]
                    if firsts else []) + deep
    return out


def plot_pipelines(records: dict[str, dict[str, Any]], title: str, out: Path,
                   save: Callable[[Any, Path], Path]) -> Path | None:
    """Quality against end-to-end p50 (log scale) per pipeline, one point per depth K labelled
    with K, starting from the first stage alone: how much quality each extra millisecond of
    reranking buys."""
    curves = pipeline_curves(records)
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.5), dpi=110)
    for (first, reranker), points in sorted(curves.items()):
        xs, ys = [q["p50_ms"] for q in points], [q["value"] for q in points]
        errs = [[max(0.0, q["value"] - q["low"]) if q["low"] == q["low"] else 0.0 for q in points],
                [max(0.0, q["high"] - q["value"]) if q["high"] == q["high"] else 0.0 for q in points]]
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=2, label=f"{first} → {reranker}")
        for q in points:
            ax.annotate("alone" if q["k"] == 0 else f"K={int(q['k'])}", (q["p50_ms"], q["value"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("p50 ms per query, end to end (log)")
    ax.set_ylabel(next(iter(records.values()))["primary_metric"])
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save(fig, out)
