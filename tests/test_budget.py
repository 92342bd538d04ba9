"""The latency-budget view: the best row within a budget and what the next step up buys."""

from __future__ import annotations

import pandas as pd
import pytest

from recbench.report.budget import BudgetError, budget_table, budget_view, parse_budget


def frame() -> pd.DataFrame:
    rows = [  # one dataset: a cheap weak row, a mid row, a slow strong row, one with no p99
        ("cheap", 0.50, 0.4, 200, "laptop"), ("mid", 0.60, 3.0, 1536, "laptop"),
        ("slow", 0.70, 40.0, 1536, "laptop"), ("untimed", 0.90, None, 100, "laptop"),
        ("server-box", 0.65, 2.0, 512, "big server"),
    ]
    return pd.DataFrame([{"dataset": "d", "split": "test", "kind": "pairs", "primary_metric": "spearman",
                          "model": m, "value": v, "ci_low": v - 0.01, "ci_high": v + 0.01, "p50_ms": None if p is None else p / 2,
                          "p99_ms": p, "bytes_per_item": b, "machine": mach, "server_qps": None}
                         for m, v, p, b, mach in rows])


def test_budgets_parse_with_units_and_refuse_nonsense():
    (p99,) = parse_budget("p99=5ms")
    assert (p99.column, p99.bound, p99.at_most) == ("p99_ms", 5.0, True)
    assert parse_budget("p99=500us")[0].bound == pytest.approx(0.5)
    qps, size = parse_budget("qps=1k, bytes=1.5KB")
    assert (qps.bound, qps.at_most) == (1000.0, False) and size.bound == 1536.0
    for bad, why in (("latency=5ms", "QUANTITY one of"), ("p99=fast", "not a number"), ("p99=5parsecs", "not a unit of p99"),
                     ("", "empty budget")):
        with pytest.raises(BudgetError, match=why):
            parse_budget(bad)


def test_the_best_row_within_the_budget_and_the_cheapest_better_row_outside_it():
    limits = parse_budget("p99=5ms")
    view = budget_view(frame(), limits).iloc[0]
    # "untimed" scores best but has no p99: a budget is only met by what was measured
    assert view["best"] == "server-box" and view["within"] == 3 and view["rows"] == 5
    assert view["next"] == "slow" and view["gain"] == pytest.approx(0.05)  # an unmeasured cost comes last
    laptop = budget_view(frame(), limits, machine="laptop").iloc[0]
    assert laptop["best"] == "mid" and laptop["rows"] == 4
    assert laptop["next"] == "slow" and laptop["gain"] == pytest.approx(0.10)
    tight = budget_view(frame(), parse_budget("p99=1ms"), machine="laptop").iloc[0]
    assert tight["best"] == "cheap" and tight["next"] == "mid" and tight["gain"] == pytest.approx(0.10)
    none = budget_view(frame(), parse_budget("p99=0.1ms")).iloc[0]
    assert none["best"] is None and none["next"] == "cheap"  # the cheapest row is the first step
    text = budget_table(budget_view(frame(), parse_budget("p99=0.1ms")), parse_budget("p99=0.1ms"))
    assert "none within the budget" in text and "`cheap` 0.5000" in text


def test_a_row_measured_as_throughput_meets_a_queries_per_second_budget():
    f = frame()
    f.loc[f["model"] == "slow", "server_qps"] = 5000.0  # the server scenario measured it sustaining 5,000/s
    view = budget_view(f, parse_budget("qps=1000")).iloc[0]
    # single-stream rows: 1000 / p50; cheap = 5,000/s, mid = 667/s; slow by its server figure
    assert view["best"] == "slow"


def test_a_server_rate_meets_a_p99_budget_only_when_found_under_a_bound_as_tight():
    """ "best under p99 <= 50 ms at >= 200 queries/s": a row whose server search sustained 300/s
    at p99 <= 50 ms answers; one that sustained 400/s only at p99 <= 100 ms does not."""
    f = frame()
    f["p99_ms"], f["p50_ms"] = 20.0, 10.0  # every row's single stream within 50 ms, 100/s one at a time
    f["server_bound_ms"] = None
    f.loc[f["model"] == "mid", ["server_qps", "server_bound_ms"]] = [300.0, 50.0]
    f.loc[f["model"] == "slow", ["server_qps", "server_bound_ms"]] = [400.0, 100.0]
    view = budget_view(f, parse_budget("p99=50ms,qps=200")).iloc[0]
    assert view["best"] == "mid" and view["within"] == 1
    loose = budget_view(f, parse_budget("p99=100ms,qps=200")).iloc[0]
    assert loose["best"] == "slow" and loose["within"] == 2


def test_a_small_throughput_keeps_two_significant_digits():
    from recbench.report.budget import _num

    assert _num(0.37, 0) == "0.37" and _num(0.004, 2) == "0.004" and _num(1234.5, 0) == "1,234"
    assert _num(0.0, 0) == "0" and _num(None, 0) == "–"


def test_an_answer_keeps_the_busy_time_capped_and_floor_marks():
    """A budget answer never picks a busy or time-capped row without its mark (issue 35)."""
    f = frame()
    f["busy"], f["machine_dependent"], f["floor"] = "", False, False
    f.loc[f["model"] == "server-box", "busy"] = "latency"
    f.loc[f["model"] == "slow", "machine_dependent"] = True
    f.loc[f["model"] == "cheap", "floor"] = True
    view = budget_view(f, parse_budget("p99=5ms"))
    text = budget_table(view, parse_budget("p99=5ms"))
    assert "`server-box`⚠ 0.6500" in text and "`slow`◷ 0.7000" in text
    assert budget_view(f, parse_budget("p99=1ms")).iloc[0]["best_marks"] == "▿"
