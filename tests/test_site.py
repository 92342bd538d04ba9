"""The static site in a real browser (the system's Chromium driven by Playwright): it loads from
file:// with no console error, sorting and filtering change the rows, the plot draws its points,
the budget view gives the answer the Python view gives on the committed records, and a label
holding markup is shown as text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from recbench.report.budget import budget_view, parse_budget
from recbench.results.rows import load
from recbench.report.site.build import build_site

pytestmark = [pytest.mark.browser, pytest.mark.integration]  # a browser, the committed records
COMMITTED = Path(__file__).resolve().parent.parent / "results"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).is_file()), None)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the [test] extra)")
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(COMMITTED, out, significance=False)
    return out


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page, errors


def test_the_index_loads_with_no_error_and_links_every_kind_and_dataset(browser, site):
    page, errors = open_page(browser, site / "index.html")
    assert page.locator("#kinds h2").count() == 4  # pairs, impressions, item-to-item, sequences
    datasets = {(r["dataset"], r["split"]) for r in json.loads(page.locator("#data").text_content())["rows"]}
    assert page.locator("table.datasets tbody tr").count() == len(datasets)
    first = page.locator("table.datasets tbody tr a").first.get_attribute("href")
    assert (site / first).is_file()
    assert errors == []


def test_a_dataset_page_sorts_filters_and_plots(browser, site):
    page, errors = open_page(browser, site / "datasets" / "amazon-scientific-mix__dev.html")
    page.wait_for_selector("#plot .scatterlayer")
    rows = page.locator("table.rows tbody tr")
    total = rows.count()
    assert total > 10 and page.locator("#count").text_content().startswith(f"{total} of {total} rows")
    data = json.loads(page.locator("#data").text_content())["rows"]
    plotted = [r for r in data if r["p50_ms"] and r["value"] is not None]
    assert page.locator("#plot .scatterlayer .point").count() == len(plotted)
    # sorted by quality, best first; a click on p50 sorts by latency, fastest first
    best = max(data, key=lambda r: r["value"])
    assert rows.first.get_attribute("data-model") == best["model"]
    page.locator("th[data-sort=p50_ms]").click()  # a cost column sorts cheapest first
    fastest = min((r for r in data if r["p50_ms"] is not None), key=lambda r: r["p50_ms"])
    assert float(rows.first.locator("td.p50_ms").text_content()) == pytest.approx(round(fastest["p50_ms"], 2), abs=0.006)
    # filters: trained rows only, then a family, then a search
    page.select_option("#filter-trained", "trained")
    trained = [r for r in data if r["trained"]]
    assert rows.count() == len(trained) < total
    page.select_option("#filter-trained", "")
    page.fill("#filter-search", "sbert")
    assert rows.count() == sum("sbert" in r["model"] for r in data) > 0
    # the x axis selector redraws: rows without a bytes figure leave the plot
    page.fill("#filter-search", "")
    page.select_option("#plot-x", "bytes_per_item")
    assert page.locator("#plot .scatterlayer .point").count() == sum(
        1 for r in data if r["bytes_per_item"] and r["value"] is not None)
    assert errors == []


@pytest.mark.parametrize("budget", ["p99=5ms", "p99=0.5ms", "qps=1000", "bytes=512"])
def test_the_budget_view_answers_as_the_command_does(browser, site, budget):
    (limit,) = parse_budget(budget)
    expected = budget_view(load(COMMITTED), [limit])
    page, errors = open_page(browser, site / "index.html")
    page.select_option("#budget-quantity", limit.column)
    page.fill("#budget-value", str(limit.bound))
    for _, row in expected.iterrows():
        cell = page.locator(f"#budget-answer tr[data-dataset='{row['dataset']} ({row['split']})'] td.best")
        shown = cell.text_content()
        if row["best"] is None or row["best"] != row["best"]:
            assert shown == "none within the budget"
        else:
            assert shown.startswith(f"{row['best']}{row['best_marks']} "), (row["dataset"], shown, row["best"])
    assert errors == []


def untrained_ml100k_record() -> dict:
    """A committed untrained ml100k record, without its sidecars: a row to relabel."""
    sample = next(p for p in sorted(COMMITTED.glob("ml100k__*.json"))
                  if json.loads(p.read_text()).get("schema_version") == 2 and not json.loads(p.read_text()).get("training"))
    record = json.loads(sample.read_text())
    record["sidecar"], record["sidecars"], record["sidecar_sha256"] = None, {}, None
    return record


def site_of(tmp_path: Path, record: dict) -> Path:
    """A site built from one record; its folder."""
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    (runs / "ml100k__label.json").write_text(json.dumps(record))
    return build_site(runs, tmp_path / "site", significance=False).parent


def test_markup_in_a_label_is_shown_as_text(browser, tmp_path):
    record = untrained_ml100k_record()
    record["model"]["label"] = "sif<img src=x onerror=\"document.title='pwned'\">"
    out = site_of(tmp_path, record)
    page, errors = open_page(browser, out / "datasets" / "ml100k__test.html")
    assert page.locator("table.rows img").count() == 0 and page.title() != "pwned"
    assert "<img src=x" in page.locator("table.rows tbody").text_content()


def test_a_label_opening_a_comment_and_a_script_leaves_the_page_whole(browser, tmp_path):
    """Issue 34: `<!--<script>` inside the embedded JSON put the HTML parser in its double-escaped
    script state, the page's own scripts were swallowed and the index rendered empty."""
    record = untrained_ml100k_record()
    record["model"]["label"] = "sif<!--<script>"
    out = site_of(tmp_path, record)
    page, errors = open_page(browser, out / "index.html")
    assert page.locator("#kinds a").count() >= 1, page.content()[:2000]  # the index rendered its kinds
    page, errors = open_page(browser, out / "datasets" / "ml100k__test.html")
    assert "sif<!--<script>" in page.locator("table.rows tbody").text_content()
    assert errors == []


def hostile_record(text: str) -> dict:
    record = untrained_ml100k_record()
    record["model"]["label"] = "sif " + text
    record["model"]["name"] = "family " + text  # the plot's legend
    record["model"]["options"] = {"o": text}
    record["environment"]["fingerprint"] = "machine " + text
    return record


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=30))
@example(text='<a href="https://example.org">x</a><!--<script>&amp;\u2028|`')
def test_any_unicode_in_a_label_option_family_or_machine_is_shown_as_text_in_the_browser(browser, tmp_path_factory, text):
    """Issue 34's property: whatever a user's text holds, the page shows it as text (table, plot
    legend and hover), builds the same elements, and logs no error."""
    runs = tmp_path_factory.mktemp("runs")
    (runs / "ml100k__hostile.json").write_text(json.dumps(hostile_record(text)))
    out = build_site(runs, tmp_path_factory.mktemp("site") / "site", significance=False).parent
    page, errors = open_page(browser, out / "datasets" / "ml100k__test.html")
    page.wait_for_selector("#plot .scatterlayer")
    row = page.locator("table.rows tbody tr")
    assert row.count() == 1 and row.first.get_attribute("data-model") == "sif " + text
    shown = " ".join(row.first.text_content().split())  # HTML collapses white space, as it should
    assert " ".join(("sif " + text).split()) in shown and " ".join(("family " + text).split()) in shown
    links = page.locator("table.rows a")  # the row's own link to its record, and nothing a label made
    assert links.count() == 1 and links.first.text_content().strip() == "json"
    assert page.locator("table.rows img, #plot a, main script, main iframe").count() == 0
    assert page.locator("script").count() == 3  # the data block, Plotly and site.js: nothing injected
    hover = page.evaluate("document.getElementById('plot').data[0].text[0]")
    assert "<a" not in hover.replace("&lt;", "") and hover.count("<br>") == 3
    assert errors == []


def test_the_frontier_follows_the_latency_measure_in_use(browser, site):
    """Issue 35: ★ was the p50 frontier while the plot's x axis could be p99 or bytes."""
    page, errors = open_page(browser, site / "datasets" / "amazon-scientific__test.html")
    page.wait_for_selector("#plot .scatterlayer")
    data = json.loads(page.locator("#data").text_content())["rows"]

    def starred():
        return {r.get_attribute("data-model") for r in page.locator("table.rows tbody tr").all()
                if "★" in (r.locator("td").first.text_content() or "")}

    for measure in ("p50_ms", "p99_ms", "bytes_per_item"):
        page.select_option("#plot-x", measure)
        assert starred() == {r["model"] for r in data if r["frontiers"][measure]}, measure
    assert any(r["frontiers"]["p50_ms"] != r["frontiers"]["p99_ms"] for r in data)  # the measures differ here
    assert errors == []


def test_no_page_sends_a_request_off_the_machine_even_after_every_toolbar_button(browser, site):
    """Every page of the site, opened from file://: each request it makes is recorded; any that
    is not a local file fails the test, also after clicking every button of the plot's toolbar."""
    pages = sorted(site.rglob("*.html"))
    assert pages
    for path in pages:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("popup", lambda p: requests.append(p.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        buttons = page.locator(".modebar-btn")
        if page.locator("#plot").count():
            page.hover("#plot")
            titles = [(b.get_attribute("data-title") or "").lower() for b in buttons.all()]
            assert titles and not [t for t in titles if "share" in t or "cloud" in t or "studio" in t], titles
            assert page.evaluate("document.getElementById('plot')._context.plotlyServerURL") == ""
        for i in range(buttons.count()):
            page.hover("#plot")  # the toolbar shows while the pointer is over the plot
            page.once("download", lambda d: d.cancel())
            buttons.nth(i).click(force=True)
        page.wait_for_timeout(100)
        remote = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert remote == [], (path.name, remote)
        page.close()


def test_only_the_dataset_pages_load_the_plotting_library(browser, site):
    """The index and kind pages draw no plot: they load the site's own script only (kilobytes,
    not the 1.2 MB plotting library), and a dataset page shows its table before the plot."""
    for path in [site / "index.html", *sorted((site / "kinds").glob("*.html"))]:
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        assert not [u for u in requests if "plotly" in u], path.name
        page.close()
    page, errors = open_page(browser, next((site / "datasets").glob("*.html")))
    page.wait_for_selector("#plot .main-svg")
    assert page.locator("table.rows tbody tr").count() > 0 and errors == []


def test_controls_are_labelled_headers_are_buttons_and_an_empty_filter_says_so(browser, site):
    page, errors = open_page(browser, next((site / "datasets").glob("amazon-scientific__test*.html")))
    for control in page.locator("#filters select, #filters input").all():  # each inside its label
        assert control.evaluate("e => e.closest('label') !== null")
    headers = page.locator("table.rows thead th[data-sort]")
    assert headers.count() and all(h.locator("button").count() == 1 for h in headers.all())
    assert page.locator("th[data-sort=value]").get_attribute("aria-sort") == "descending"
    page.locator("th[data-sort=p50_ms] button").focus()
    page.keyboard.press("Enter")  # a header sorts from the keyboard too
    assert page.locator("th[data-sort=p50_ms]").get_attribute("aria-sort") == "ascending"
    page.fill("#filter-search", "no such model at all")
    assert page.locator("#table p.empty").text_content() == "No row matches these filters."
    assert errors == []


def test_the_budget_box_restarts_from_the_quantitys_own_budget(browser, site):
    page, _ = open_page(browser, site / "index.html")
    page.select_option("#budget-quantity", "qps")
    assert page.input_value("#budget-value") == "200"
    page.select_option("#budget-quantity", "p50_ms")
    assert page.input_value("#budget-value") == "5"


@pytest.mark.parametrize("width, height", [(375, 812), (1366, 900)])
def test_no_page_is_wider_than_the_screen(browser, site, width, height):
    """A phone and a laptop: every page fits the viewport's width; wide tables scroll in their box."""
    wide = []
    for path in sorted(site.rglob("*.html")):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            wide.append((path.name, overflow))
        page.close()
    assert wide == []


def test_axe_finds_no_accessibility_violation_on_any_page(browser, site):
    """axe-core (bundled by axe-playwright-python: no network) over every page, after the plot
    is drawn: zero violations of any impact."""
    axe = pytest.importorskip("axe_playwright_python", reason="the [test] extra bundles axe-core")
    axe_js = Path(axe.__file__).parent / "axe.min.js"
    found = {}
    for path in sorted(site.rglob("*.html")):
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        page.add_script_tag(path=str(axe_js))
        violations = page.evaluate("async () => (await axe.run()).violations.map(v => [v.id, v.impact, v.nodes.length])")
        if violations:
            found[path.name] = violations
        page.close()
    assert found == {}


def test_the_plot_has_a_text_alternative_naming_the_frontier(browser, site):
    page, errors = open_page(browser, next((site / "datasets").glob("amazon-scientific__test*.html")))
    page.wait_for_selector("#plot .main-svg")
    caption = page.locator("#plot-caption").text_content()
    assert page.locator("#plot").get_attribute("aria-describedby") == "plot-caption"
    assert caption.startswith("The plot: ndcg@10 against") and "frontier" in caption
    starred = [r.get_attribute("data-model") for r in page.locator("table.rows tbody tr").all()
               if "★" in (r.locator("td.marks").text_content() or "")]
    assert starred and all(model in caption for model in starred)
    assert errors == []


def serve_folder(folder: Path):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def slow_line(browser):
    """A browser context on a 1.6 Mbit/s line with 40 ms latency (Chromium's network emulation)."""
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 40,
                                                  "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 0.75e6 / 8})
    return context, page


def test_the_first_table_shows_within_two_seconds_on_a_slow_line(browser, site):
    """Served over HTTP on a 1.6 Mbit/s line (Chromium's network emulation): the largest dataset
    page shows its first table row in under 2 s, the plotting library still arriving; the
    figures (transfer bytes, time to first table) are printed for the notes."""
    base, server = serve_folder(site)
    try:
        largest = max((site / "datasets").glob("*.html"), key=lambda p: p.stat().st_size)
        context, page = slow_line(browser)
        sizes: list[int] = []
        page.on("response", lambda r: sizes.append(len(r.body())) if r.ok else None)
        import time

        start = time.perf_counter()
        page.goto(base + f"datasets/{largest.name}", wait_until="commit")
        page.wait_for_selector("table.rows tbody tr", timeout=30_000)
        first_table = time.perf_counter() - start
        page.wait_for_load_state("load", timeout=120_000)
        print(f"\n{largest.name}: first table {first_table:.2f} s; {sum(sizes) / 1e6:.2f} MB in all")
        assert first_table < 2.0
        context.close()
    finally:
        server.shutdown()


def test_with_javascript_off_the_pages_still_show_links_and_rows(browser, site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    assert page.locator("noscript ul.static a, ul.static a").count() > 0
    page.goto(next((site / "datasets").glob("amazon-scientific__test*.html")).as_uri())
    rows = page.locator("table.static tbody tr")
    assert rows.count() > 5 and "sasrec" in page.content()
    context.close()


def test_the_machine_column_is_short_with_the_whole_name_on_hover(browser, site):
    page, errors = open_page(browser, next((site / "datasets").glob("amazon-scientific__test*.html")))
    cell = page.locator("table.rows tbody tr td.machine span").first
    assert cell.text_content() in ("AMD EPYC ×2", "Intel Xeon ×2")
    assert "GB" in cell.get_attribute("title") and errors == []


def test_a_dataset_page_says_what_its_figures_mean_and_links_its_kind(browser, site):
    page, errors = open_page(browser, next((site / "datasets").glob("sts-b__test*.html")))
    text = page.locator("main").text_content()
    assert "×100" in text and "Latency: encoding one pair" in text and "a diamond is a trained row" in text
    href = page.locator("main p.note a").first.get_attribute("href")
    assert href.endswith("kinds/pairs.html") and (site / "kinds" / "pairs.html").is_file()
    assert errors == []


def test_the_view_lives_in_the_url_and_zoom_survives_a_filter(browser, site):
    path = next((site / "datasets").glob("amazon-scientific__test*.html"))
    page, errors = open_page(browser, path)
    page.wait_for_selector("#plot .main-svg")
    page.locator("th[data-sort=p50_ms] button").click()
    page.select_option("#plot-x", "p99_ms")
    page.fill("#filter-search", "sasrec")
    url = page.url
    assert "sort=p50_ms" in url and "x=p99_ms" in url and "q=sasrec" in url
    again = browser.new_page(viewport={"width": 1300, "height": 900})
    again.goto(url)
    again.wait_for_selector("#plot .main-svg")
    assert again.input_value("#filter-search") == "sasrec" and again.input_value("#plot-x") == "p99_ms"
    assert again.locator("th[data-sort=p50_ms]").get_attribute("aria-sort") == "ascending"
    models = [r.get_attribute("data-model") for r in again.locator("table.rows tbody tr").all()]
    assert models and all("sasrec" in m for m in models)
    # zoom, then filter: the axis range stays (uirevision)
    page.evaluate("Plotly.relayout('plot', {'yaxis.range': [0.05, 0.06]})")
    page.fill("#filter-search", "sas")
    assert page.evaluate("document.getElementById('plot').layout.yaxis.range") == [0.05, 0.06]
    page.fill("#filter-search", "no such model")
    assert "No row to plot" in page.locator("#plot").text_content()
    assert errors == []


def test_every_family_has_its_own_colour(browser, site):
    page, errors = open_page(browser, next((site / "datasets").glob("amazon-scientific__test*.html")))
    page.wait_for_selector("#plot .main-svg")
    traces = page.evaluate("""() => { const p = document.getElementById('plot');
        return p.data.filter(t => t.mode === 'markers').map(t => ({colour: t.marker.line.color, shades: t.marker.color,
            models: t.text.map(x => x.split('<br>')[0])})); }""")
    colours = [t["colour"] for t in traces]
    assert len(colours) > 10 and len(set(colours)) == len(colours), colours  # a colour per family
    several = [t for t in traces if len(set(t["models"])) > 1]
    assert several  # sbert's variants, sasrec's seeds and options ...
    for t in several:  # within a family, a shade per model: one model one shade, two models two shades
        by_model = {}
        for model, shade in zip(t["models"], t["shades"]):
            by_model.setdefault(model, set()).add(shade)
        assert all(len(v) == 1 for v in by_model.values()), by_model
        assert len({next(iter(v)) for v in by_model.values()}) == len(by_model), by_model
    assert errors == []


def test_a_rows_model_and_its_options_are_apart(browser, site):
    page, errors = open_page(browser, next((site / "datasets").glob("amazon-scientific__test*.html")))
    row = page.locator("table.rows tbody tr[data-model='sbert{index=hnsw}']")
    assert row.locator("td.model").text_content() == "sbert"
    assert row.locator("td.options").text_content() == "{index=hnsw}"
    assert errors == []


@pytest.mark.parametrize("width", [375, 1366])
def test_the_legend_never_covers_the_plotting_area(browser, site, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(next((site / "datasets").glob("amazon-scientific__test*.html")).as_uri())
    page.wait_for_selector("#plot .main-svg")
    area = page.locator("#plot .nsewdrag").first.bounding_box()  # the axes' drawing area
    legend = page.locator("#plot .legend").first.bounding_box()
    assert legend["y"] >= area["y"] + area["height"] or legend["y"] + legend["height"] <= area["y"]
    page.close()


@pytest.mark.parametrize("width", [375, 1366])
def test_the_plot_overlays_nothing_below_it(browser, site, width):
    """The plot's drawing (its legend included) ends inside its own box: a click on the table's
    header reaches the header (the legend once covered it and sorting did nothing)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(next((site / "datasets").glob("amazon-scientific__test*.html")).as_uri())
    page.wait_for_selector("#plot .main-svg")
    box = page.locator("#plot").bounding_box()
    legend = page.locator("#plot .legend").first.bounding_box()
    assert legend["y"] + legend["height"] <= box["y"] + box["height"] + 1
    page.locator("th[data-sort=p50_ms]").click()
    assert page.locator("th[data-sort=p50_ms]").get_attribute("aria-sort") == "ascending"
    page.close()
