"""The static site as a visitor meets it (issue 39): every page of the site built from the committed
records, opened in the system's Chromium over HTTP, with its weight (bytes of every response),
its requests (and how many leave the machine), axe-core's violations, and the time to its first
table on a 1.6 Mbit/s line for the heaviest page; screenshots of the index and the
amazon-scientific page at 375 and 1366 px go to docs/img/.

    python benchmarks/bench_site.py [--out benchmarks/results/site.md] [--screenshots docs/img]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "site.md")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()

    from axe_playwright_python import __file__ as axe_init
    from playwright.sync_api import sync_playwright

    from recbench.report.site.build import build_site
    from test_site import serve_folder, slow_line

    chromium = next(p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).is_file())
    site = Path(tempfile.mkdtemp()) / "site"
    build_site(ROOT / "results", site, significance=False)
    axe_js = Path(axe_init).parent / "axe.min.js"
    base, server = serve_folder(site)
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for path in sorted(site.rglob("*.html")):
                rel = path.relative_to(site).as_posix()
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                sizes: list[int] = []
                urls: list[str] = []
                page.on("request", lambda r: urls.append(r.url))
                page.on("response", lambda r: sizes.append(len(r.body())) if r.ok else None)
                page.goto(base + rel)
                page.wait_for_load_state("load")
                if page.locator("#plot").count():
                    page.wait_for_selector("#plot .main-svg")
                page.add_script_tag(path=str(axe_js))
                violations = page.evaluate("async () => (await axe.run()).violations.length")
                remote = [u for u in urls if not u.startswith((base, "data:", "blob:", "about:"))]
                rows.append((rel, sum(sizes), len(urls), len(remote), violations))
                page.close()
            heaviest = max(rows, key=lambda r: r[1])[0]
            context, page = slow_line(browser)
            start = time.perf_counter()
            page.goto(base + heaviest, wait_until="commit")
            page.wait_for_selector("table tbody tr", timeout=60_000)
            first_table = time.perf_counter() - start
            context.close()
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                dataset = next(r[0] for r in rows if r[0].startswith("datasets/amazon-scientific__test"))
                for name, rel in (("index", "index.html"), ("dataset", dataset)):
                    for width, height, suffix in ((1366, 900, ""), (375, 812, "-phone")):
                        page = browser.new_page(viewport={"width": width, "height": height})
                        page.goto(base + rel)
                        page.wait_for_load_state("load")
                        if page.locator("#plot").count():
                            page.wait_for_selector("#plot .main-svg")
                        page.screenshot(path=str(args.screenshots / f"site-{name}{suffix}.png"))
                        page.close()
            browser.close()
    finally:
        server.shutdown()
    lines = ["| page | weight (KB) | requests | leaving the machine | axe violations |", "|---|---|---|---|---|"]
    lines += [f"| {rel} | {size / 1024:,.0f} | {n} | {remote} | {v} |" for rel, size, n, remote, v in rows]
    total_remote = sum(r[3] for r in rows)
    summary = (f"{len(rows)} pages; {sum(r[2] for r in rows)} requests, {total_remote} leaving the machine; "
               f"axe violations {sum(r[4] for r in rows)}; heaviest {heaviest} {max(r[1] for r in rows) / 1e6:.2f} MB, "
               f"first table at 1.6 Mbit/s in {first_table:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# The site as a visitor meets it (`python benchmarks/bench_site.py`)\n\n" + summary + "\n\n"
                        + "\n".join(lines) + "\n", encoding="utf-8")
    print(summary)


if __name__ == "__main__":
    main()
