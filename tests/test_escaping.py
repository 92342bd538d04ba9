"""Hostile names through `recbench report` (issue 19): a label, option value, dataset name or
file name holding a pipe, a line break, a backtick or HTML is shown as text; no table row is
split or injected."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from recbench.report.markdown import md_code, md_text
from recbench.results.records import write_record

HOSTILE = "x|y\n| injected | row |`tick`<script>alert(1)</script><img src=x onerror=alert(2)>"


def record(label: str, dataset: str, run_id: str, value: float) -> dict:
    return {"schema_version": 2, "run_id": run_id, "date": "2026-01-01T00:00:00+00:00", "config_hash": "h",
            "cell_key": f"{dataset}|{label}", "settings": {},
            "model": {"name": "m", "spec": "m", "label": label, "options": {"o": HOSTILE}, "variant": {}, "params": {}},
            "dataset": {"name": dataset, "spec": dataset, "kind": "pairs", "split": "test", "sizes": {"pairs": 3},
                        "options": {}, "fingerprint": "f"},
            "primary_metric": "spearman", "metrics": {"spearman": {"value": value, "ci_low": value - 1,
                                                                   "ci_high": value + 1}},
            "timing": {"latency": {"p50_ms": 1.0}}, "environment": {"fingerprint": "<b>machine</b>", "git_sha": "x", "python": "3", "packages": {}}}


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_a_hostile_label_and_dataset_name_stay_text_and_keep_the_table_whole(tmp_path):
    from recbench.report.leaderboard import render_markdown

    write_record(record(f"m[o={HOSTILE}]", "<img src=x onerror=alert(3)>", "a-1", 50.0), tmp_path)
    write_record(record("plain", "<img src=x onerror=alert(3)>", "a-2", 40.0), tmp_path)
    text = render_markdown(tmp_path, None, significance=False)
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 2
    for table in tables:  # every row of a table has its header's cells: none split, none injected
        assert {unescaped_pipes(line) for line in table} == {unescaped_pipes(table[0])}
    assert sum("injected" in line for table in tables for line in table) == 2  # one row in each table
    assert not any(line.lstrip().startswith("| injected") for line in text.splitlines())


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escaped_text_has_no_raw_html_no_line_break_and_no_bare_pipe(value):
    for out in (md_text(value), md_code(value)):
        assert "\n" not in out and "\r" not in out
        assert unescaped_pipes(out) == 0
    assert "<" not in md_text(value) and ">" not in md_text(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="|<>&")))
def test_a_code_span_holds_the_whole_text(value):
    out = md_code(value)
    fence = re.match(r"`+", out).group(0)
    inner = out[len(fence):-len(fence)]
    assert out.endswith(fence) and fence not in inner  # the span closes where it should
    assert value.strip() in inner


def test_a_label_with_html_becomes_an_escaped_code_element():
    assert md_code("sif[pc=reference]") == "`sif[pc=reference]`"
    assert md_code("a<b>|c") == "<code>a&lt;b&gt;\\|c</code>"
