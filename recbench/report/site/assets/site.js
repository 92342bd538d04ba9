// recbench site: tables, filters, plots and the budget view, built from the page's JSON block.
// Every value is put into the page as text (textContent), never as markup.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("data").textContent);
  const page = document.body.dataset.page;
  const root = document.body.dataset.root || "";
  const MARKS = { frontier: "★", tied: "≈", busy: "⚠", capped: "◷", floor: "▿" };
  const QUANTITIES = {
    p50_ms: { label: "p50 latency (ms)", atMost: true, log: true, digits: 2, start: 5 },
    p99_ms: { label: "p99 latency (ms)", atMost: true, log: true, digits: 2, start: 5 },
    qps: { label: "queries per second", atMost: false, log: true, digits: 0, start: 200 },
    bytes_per_item: { label: "bytes per item", atMost: true, log: true, digits: 0, start: 1536 },
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "className") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }
  // "sbert[fields=title]{index=hnsw}" -> ["sbert", "[fields=title]{index=hnsw}"]: the model apart from its options
  function splitLabel(label) {
    const text = String(label), at = text.search(/[[{]/);
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at)];
  }
  // "Intel(R) Xeon(R) Processor x2, 23.5 GB, Linux" -> "Intel Xeon ×2", the whole name on hover
  function shortMachine(machine) {
    const text = String(machine ?? "–");
    const cpu = text.split(",")[0].replace(/\((R|TM)\)/g, "").replace(/\b(Processor|CPU)\b/g, "").replace(/\s+/g, " ").trim();
    const [name, cores] = cpu.split(/ x(?=\d+$)/);
    return el("span", { title: text }, cores ? `${name} ×${cores}` : name);
  }
  const isNum = (v) => typeof v === "number" && isFinite(v);
  // below what d decimals can show (0.37 queries/s as "0"), two significant digits instead
  const fmt = (v, d) => (!isNum(v) ? "–" : v !== 0 && Math.abs(v) < 5 * Math.pow(10, -d - 1) * 10
    ? v.toPrecision(2) : v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
  const digitsOf = (rows) => (Math.max(0, ...rows.map((r) => Math.abs(r.value || 0))) > 1.5 ? 2 : 4);
  const withCi = (r, d) =>
    fmt(r.value, d) + (isNum(r.ci_low) && isNum(r.ci_high) ? ` [${fmt(r.ci_low, d)}, ${fmt(r.ci_high, d)}]` : "");
  // ★ follows the latency measure in use (the dataset page's x axis; p50 elsewhere): one frontier per measure,
  // computed with the board's rules (full evaluations, the board's machine) when the site was built
  let measure = "p50_ms";
  const onFrontier = (r) => (r.frontiers && measure in r.frontiers ? r.frontiers[measure] : r.frontier);
  const marks = (r) =>
    (onFrontier(r) ? MARKS.frontier : "") + (r.tied_with_best ? MARKS.tied : "") + (r.busy ? MARKS.busy : "") +
    (r.machine_dependent ? MARKS.capped : "") + (r.floor ? MARKS.floor : "");
  // what a budget answer keeps of a row's marks: it never picks a busy, time-capped or floor row unmarked
  const answerMarks = (r) => (r.busy ? MARKS.busy : "") + (r.machine_dependent ? MARKS.capped : "") +
    (r.floor ? MARKS.floor : "");
  const link = (href, text) => el("a", { href: root + href }, text);
  // Plotly reads hover, legend and axis texts as its own small HTML (<a>, <b>, <br>): a user's
  // text goes in with &, < and > as entities, so a label holding markup is shown, not rendered
  const plotText = (v) => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  // ---- the budget view (index page): best row per dataset within a budget, and the next step up
  function withinBudget(row, quantity, bound) {
    const v = row[quantity];
    if (!isNum(v)) return false; // a budget is only met by what was measured
    return QUANTITIES[quantity].atMost ? v <= bound : v >= bound;
  }
  function budgetAnswer(rows, quantity, bound, machine) {
    const byDataset = new Map();
    for (const r of rows) {
      // one machine per answer (each dataset's board machine unless one is chosen), full evaluations only
      if (r.comparable === false || (machine && r.machine !== machine)) continue;
      const key = `${r.dataset} (${r.split})`;
      if (!byDataset.has(key)) byDataset.set(key, []);
      byDataset.get(key).push(r);
    }
    const out = [];
    for (const [key, group] of [...byDataset.entries()].sort()) {
      const inside = group.filter((r) => withinBudget(r, quantity, bound) && isNum(r.value));
      const best = inside.reduce((a, b) => (a === null || b.value > a.value ? b : a), null);
      const floor = best ? best.value : -Infinity;
      const better = group.filter((r) => !inside.includes(r) && isNum(r.value) && r.value > floor);
      const cost = (r) => (isNum(r[quantity]) ? (QUANTITIES[quantity].atMost ? r[quantity] : -r[quantity]) : Infinity);
      const next = better.reduce((a, b) => (a === null || cost(b) < cost(a) ? b : a), null);
      out.push({ key, page: group[0].page, rows: group.length, within: inside.length, best, next });
    }
    return out;
  }
  function renderBudget(container, rows, machines) {
    const quantity = el("select", { id: "budget-quantity" },
      ...Object.entries(QUANTITIES).map(([k, q]) => el("option", { value: k }, q.label)));
    quantity.value = "p99_ms";
    const bound = el("input", { id: "budget-value", type: "number", value: "5", step: "any", min: "0" });
    const machine = el("select", { id: "budget-machine" }, el("option", { value: "" }, "each dataset's board machine"),
      ...machines.map((m) => el("option", { value: m }, m)));
    const out = el("div", { id: "budget-answer" });
    const draw = () => {
      const q = quantity.value, b = parseFloat(bound.value), d = QUANTITIES[q].digits;
      out.replaceChildren();
      if (!isFinite(b)) return;
      const sign = QUANTITIES[q].atMost ? "≤" : "≥";
      out.appendChild(el("p", { className: "note" }, `Best row per dataset with ${QUANTITIES[q].label} ${sign} ${b}` +
        (machine.value ? ` on ${machine.value}` : "") + "; the next step is the cheapest row outside the budget that beats it."));
      const table = el("table", { className: "budget" }, el("thead", {}, el("tr", {},
        ...["dataset", "rows within", "best within the budget", "the next step up buys"].map((h) => el("th", {}, h)))));
      const body = el("tbody");
      for (const a of budgetAnswer(rows, q, b, machine.value)) {
        const dg = a.best ? digitsOf([a.best]) : 4;
        body.appendChild(el("tr", { "data-dataset": a.key },
          el("td", {}, link(a.page, a.key)),
          el("td", {}, `${a.within}/${a.rows}`),
          el("td", { className: "best" }, a.best ? `${a.best.model}${answerMarks(a.best)} ${withCi(a.best, dg)} (${fmt(a.best[q], d)})` : "none within the budget"),
          el("td", { className: "next" }, a.next ? `${a.next.model}${answerMarks(a.next)} ${fmt(a.next.value, dg)}` +
            (a.best ? ` (+${fmt(a.next.value - a.best.value, dg)})` : "") + ` at ${fmt(a.next[q], d)}` : "nothing better outside it")));
      }
      table.appendChild(body);
      out.appendChild(table);
    };
    // another quantity starts from its own budget (2 ms means nothing as queries per second)
    quantity.addEventListener("input", () => { bound.value = String(QUANTITIES[quantity.value].start); });
    for (const c of [quantity, bound, machine]) c.addEventListener("input", draw);
    container.append(el("label", {}, "quantity ", quantity), " ", el("label", {}, "budget ", bound), " ",
      el("label", {}, "machine ", machine), out);
    draw();
  }

  // ---- index and kind pages: the datasets and their best rows
  function bestOf(group) {
    return group.filter((r) => isNum(r.value)).reduce((a, b) => (a === null || b.value > a.value ? b : a), null);
  }
  function datasetList(rows) {
    const groups = new Map();
    for (const r of rows) {
      const key = `${r.dataset} (${r.split})`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    const table = el("table", { className: "datasets" }, el("thead", {}, el("tr", {},
      ...["dataset", "metric", "rows", "best row", "its p50 ms", "best row at p50 ≤ 1 ms"].map((h) => el("th", {}, h)))));
    const body = el("tbody");
    for (const [key, group] of [...groups.entries()].sort()) {
      // the best rows compared: scored on every query and timed on the dataset's board machine
      const compared = group.filter((r) => r.comparable !== false);
      const best = bestOf(compared);
      const fast = bestOf(compared.filter((r) => isNum(r.p50_ms) && r.p50_ms <= 1));
      const d = digitsOf(group);
      body.appendChild(el("tr", {}, el("td", {}, link(group[0].page, key)), el("td", {}, group[0].metric),
        el("td", {}, String(group.length)), el("td", {}, best ? `${best.model} ${withCi(best, d)}` : "–"),
        el("td", {}, best ? fmt(best.p50_ms, 2) : "–"),
        el("td", {}, fast ? `${fast.model} ${fmt(fast.value, d)} at ${fmt(fast.p50_ms, 2)} ms` : "–")));
    }
    table.appendChild(body);
    return table;
  }

  // one colour per model family (Plotly's Dark24: the default ten repeat on a board of 20 families)
  const FAMILY_COLOURS = ["#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
    "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038"];
  // each model of a family a shade of the family's colour, darker to lighter in label order
  function shade(hex, i, n) {
    if (n <= 1) return hex;
    const t = -0.35 + 0.7 * (i / (n - 1));
    const mixed = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16))
      .map((v) => Math.round(t < 0 ? v * (1 + t) : v + (255 - v) * t));
    return "#" + mixed.map((v) => v.toString(16).padStart(2, "0")).join("");
  }
  // nothing leaves the page: no cloud, share, edit-in-Chart-Studio or link-out actions, no server URL
  const PLOT_CONFIG = {
    displaylogo: false, responsive: true, showLink: false, showSendToCloud: false, showEditInChartStudio: false,
    plotlyServerURL: "", modeBarButtonsToRemove: ["sendDataToCloud", "editInChartStudio"],
  };

  // ---- dataset page: filters, a sortable table, the plot
  const COLUMNS = [
    { key: "marks", label: "", get: marks },
    { key: "model", label: "model", get: (r) => r.model, show: (r) => splitLabel(r.model)[0] },
    { key: "options", label: "options and settings", get: (r) => splitLabel(r.model)[1] || "–" },
    { key: "value", label: "quality [95% CI]", get: (r) => r.value, show: (r, d) => withCi(r, d) + (r.seeds > 1 ? ` (${r.seeds} seeds)` : "") },
    { key: "p50_ms", label: "p50 ms", get: (r) => r.p50_ms, show: (r) => fmt(r.p50_ms, 2) },
    { key: "p99_ms", label: "p99 ms", get: (r) => r.p99_ms, show: (r) => fmt(r.p99_ms, 2) },
    { key: "qps", label: "queries/s", get: (r) => r.qps, show: (r) => fmt(r.qps, 0) },
    { key: "bytes_per_item", label: "bytes/item", get: (r) => r.bytes_per_item, show: (r) => fmt(r.bytes_per_item, 0) },
    { key: "train_minutes", label: "train min", get: (r) => r.train_minutes, show: (r) => fmt(r.train_minutes, 1) +
      (!r.train_device || r.train_device === "cpu" || r.train_minutes == null ? ""
        : r.train_device.startsWith("cpu; ") ? " (CPU seeds)" : ` on ${r.train_device.split(" (")[0]}`) },
    { key: "coverage", label: "coverage@10", get: (r) => r.coverage, show: (r) => fmt(r.coverage, 3), optional: true },
    { key: "tail_quality", label: "tail targets", get: (r) => r.tail_quality, show: (r) => fmt(r.tail_quality, 4), optional: true },
    { key: "family", label: "family", get: (r) => r.family },
    { key: "backend", label: "backend", get: (r) => r.backend },
    { key: "trained", label: "trained", get: (r) => (r.trained ? "trained" : "zero-shot") },
    { key: "machine", label: "machine", get: (r) => r.machine, show: (r) => shortMachine(r.machine) },
  ];
  function datasetPage(rows) {
    const d = digitsOf(rows);
    // beyond-accuracy columns only where some row of this page has them (full-ranking kinds)
    const columns = COLUMNS.filter((c) => !c.optional || rows.some((r) => c.get(r) !== null && c.get(r) !== undefined));
    const state = { sort: "value", desc: true, filters: {}, search: "" };
    // the view in the URL (#sort=p50_ms&desc=0&family=sbert&q=mini&x=p99_ms), so that it can be shared
    const wanted = new URLSearchParams(location.hash.slice(1));
    if (columns.some((c) => c.key === wanted.get("sort"))) state.sort = wanted.get("sort");
    if (wanted.has("desc")) state.desc = wanted.get("desc") !== "0";
    const remember = () => {
      const h = new URLSearchParams();
      if (state.sort !== "value" || !state.desc) { h.set("sort", state.sort); h.set("desc", state.desc ? "1" : "0"); }
      for (const [key, [, v]] of Object.entries(state.filters)) if (v) h.set(key, v);
      if (state.search) h.set("q", state.search);
      if (xSelect.value !== "p50_ms") h.set("x", xSelect.value);
      history.replaceState(null, "", h.toString() ? `#${h}` : location.pathname + location.search);
    };
    const filterDefs = [
      ["family", "family", (r) => r.family], ["trained", "trained or not", (r) => (r.trained ? "trained" : "zero-shot")],
      ["backend", "backend", (r) => r.backend], ["machine", "machine", (r) => r.machine],
    ];
    const filters = document.getElementById("filters");
    for (const [key, label, get] of filterDefs) {
      const values = [...new Set(rows.map(get))].sort();
      const select = el("select", { id: `filter-${key}` }, el("option", { value: "" }, `any ${label}`),
        ...values.map((v) => el("option", { value: v }, v)));
      select.addEventListener("input", () => { state.filters[key] = [get, select.value]; draw(); });
      if (wanted.get(key) && values.includes(wanted.get(key))) {
        select.value = wanted.get(key);
        state.filters[key] = [get, select.value];
      }
      filters.append(el("label", {}, `${label} `, select), " ");
    }
    const search = el("input", { id: "filter-search", type: "search", placeholder: "model contains..." });
    search.addEventListener("input", () => { state.search = search.value.toLowerCase(); draw(); });
    if (wanted.get("q")) { search.value = wanted.get("q"); state.search = search.value.toLowerCase(); }
    filters.append(el("label", {}, "model ", search));
    const tableBox = document.getElementById("table");
    const count = document.getElementById("count");
    const visible = () => rows.filter((r) => Object.values(state.filters).every(([get, v]) => !v || get(r) === v) &&
      (!state.search || r.model.toLowerCase().includes(state.search)));
    function draw() {
      const col = columns.find((c) => c.key === state.sort);
      const shown = visible().sort((a, b) => {
        const x = col.get(a), y = col.get(b);
        const missing = (v) => v === null || v === undefined || v === "–";
        if (missing(x) !== missing(y)) return missing(x) ? 1 : -1; // unmeasured rows last either way
        const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return state.desc ? -c : c;
      });
      const head = el("tr", {}, ...columns.map((c) => el("th", {
        "data-sort": c.key, className: c.key === state.sort ? (state.desc ? "sorted desc" : "sorted asc") : "",
        "aria-sort": c.key === state.sort ? (state.desc ? "descending" : "ascending") : "none",
        // on the cell, so a click anywhere in it sorts; the button inside (focus, Enter, Space) clicks through to it
        onclick: () => { state.desc = state.sort === c.key ? !state.desc : c.key === "value"; state.sort = c.key; draw(); },
      }, el("button", {
        type: "button", className: "sort",
      }, c.label || el("span", { className: "visually-hidden" }, "marks")))), el("th", {}, "record"), el("th", {}, "command"));
      const body = el("tbody");
      for (const r of shown) {
        body.appendChild(el("tr", { "data-model": r.model },
          ...columns.map((c) => el("td", { className: c.key }, c.show ? c.show(r, d) : String(c.get(r) ?? "–"))),
          el("td", {}, ...r.records.map((p, i) => el("a", { href: root + p, title: p }, `json${r.records.length > 1 ? i + 1 : ""} `))),
          el("td", { className: "command" }, r.command ? el("details", {}, el("summary", {}, "command"), el("code", {}, r.command)) : "–")));
      }
      tableBox.replaceChildren(el("table", { className: "rows" }, el("thead", {}, head), body));
      if (!shown.length) tableBox.appendChild(el("p", { className: "empty" }, "No row matches these filters."));
      count.textContent = `${shown.length} of ${rows.length} rows · ${MARKS.frontier} on the ${QUANTITIES[measure].label}-quality frontier · ` +
        `${MARKS.tied} not separable from the best (Holm-adjusted p ≥ 0.05) · ${MARKS.busy} timed on a busy machine · ` +
        `${MARKS.capped} stopped by a time cap · ${MARKS.floor} a floor (knows nothing of the task)`;
      remember();
      plot(shown);
    }
    const xSelect = el("select", { id: "plot-x" }, ...Object.entries(QUANTITIES).map(([k, q]) => el("option", { value: k }, q.label)));
    xSelect.addEventListener("input", () => { measure = xSelect.value; draw(); });
    if (QUANTITIES[wanted.get("x")]) { xSelect.value = wanted.get("x"); measure = xSelect.value; }
    document.getElementById("plot-controls").append(el("label", {}, "x axis ", xSelect));
    function plot(shown) {
      const box = document.getElementById("plot");
      if (typeof Plotly === "undefined") {  // the plotting script is deferred: the table comes first
        if (document.readyState === "loading") {
          document.addEventListener("DOMContentLoaded", () => plot(shown), { once: true });
        } else {
          box.textContent = "(the plotting script did not load)";
        }
        return;
      }
      const q = QUANTITIES[xSelect.value];
      const points = shown.filter((r) => isNum(r[xSelect.value]) && isNum(r.value) && r[xSelect.value] > 0);
      if (!points.length) {  // no empty axes: say why nothing is drawn
        Plotly.purge(box);
        box.replaceChildren(el("p", { className: "empty" }, "No row to plot: none matches these filters or has this quantity."));
        box.dataset.points = "0";
        return;
      }
      if (box.querySelector("p.empty")) box.replaceChildren();
      const families = [...new Set(points.map((r) => r.family))].sort();
      const traces = families.map((f, fi) => {
        const pts = points.filter((r) => r.family === f);
        const base = FAMILY_COLOURS[fi % FAMILY_COLOURS.length];
        const models = [...new Set(pts.map((r) => r.model))].sort();
        return {
          type: "scatter", mode: "markers", name: plotText(f), x: pts.map((r) => r[xSelect.value]), y: pts.map((r) => r.value),
          error_y: { type: "data", symmetric: false, array: pts.map((r) => (isNum(r.ci_high) ? r.ci_high - r.value : 0)),
            arrayminus: pts.map((r) => (isNum(r.ci_low) ? r.value - r.ci_low : 0)), thickness: 1, color: base },
          marker: { size: 10, symbol: pts.map((r) => (r.trained ? "diamond" : "circle")),
            color: pts.map((r) => shade(base, models.indexOf(r.model), models.length)), line: { width: 1, color: base } },
          text: pts.map((r) => `${plotText(r.model)}${answerMarks(r)}<br>${plotText(r.metric)} ${withCi(r, d)}<br>${q.label}: ` +
            `${fmt(r[xSelect.value], q.digits)}${r.busy ? " " + MARKS.busy + " timed busy" : ""}<br>` +
            `${r.trained ? "trained" : "zero-shot"} · ${plotText(r.machine)}`),
          hovertemplate: "%{text}<extra></extra>",
        };
      });
      const front = points.filter(onFrontier).sort((a, b) => a[xSelect.value] - b[xSelect.value]);  // the table's ★
      const perRow = Math.max(1, Math.floor((box.clientWidth || window.innerWidth) / 170));
      const legendRows = Math.ceil((families.length + 1) / perRow);
      traces.push({ type: "scatter", mode: "lines", name: "frontier", x: front.map((r) => r[xSelect.value]),
        y: front.map((r) => r.value), line: { dash: "dot", color: "#888" }, hoverinfo: "skip" });
      Plotly.react(box, traces, {
        xaxis: { title: { text: q.label }, type: q.log ? "log" : "linear" }, yaxis: { title: { text: plotText(rows[0].metric) } },
        // the legend below the axes, never over a point; a phone gets a taller plot for its wrapped legend
        // room below for the legend's rows, so that it overlays neither the axes nor the table after the plot
        margin: { t: 20, b: 80 + 24 * legendRows }, legend: { orientation: "h", x: 0, xanchor: "left", y: -0.12, yanchor: "top" },
        height: (window.innerWidth < 600 ? 420 : 460) + 80 + 24 * legendRows,
        colorway: FAMILY_COLOURS,
        uirevision: xSelect.value,  // zoom and hidden series survive sorting and filtering (not a new axis)
      }, PLOT_CONFIG);
      box.dataset.points = String(points.length);
      // the plot's text alternative: what it shows and which rows make its frontier
      let caption = document.getElementById("plot-caption");
      if (!caption) {
        caption = el("p", { id: "plot-caption", className: "note" });
        box.after(caption);
      }
      box.setAttribute("aria-describedby", "plot-caption");
      caption.textContent = `The plot: ${rows[0].metric} against ${q.label} for ${points.length} rows` +
        (front.length ? `; the frontier (best quality for its cost): ${front.map((r) => `${r.model} ` +
          `${fmt(r.value, d)} at ${fmt(r[xSelect.value], q.digits)}`).join(", ")}.` : "; no row is on a frontier.");
    }
    draw();
  }

  if (page === "index") {
    const kinds = document.getElementById("kinds");
    for (const kind of data.kinds) {
      const rows = data.rows.filter((r) => r.kind === kind);
      kinds.append(el("h2", {}, link(`kinds/${kind.replace(/[^A-Za-z0-9._-]/g, "_")}.html`, data.titles[kind] || kind)),
        datasetList(rows));
    }
    renderBudget(document.getElementById("budget"), data.rows, data.machines);
  } else if (page === "kind") {
    document.getElementById("datasets").append(datasetList(data.rows));
  } else if (page === "dataset") {
    datasetPage(data.rows);
  }
})();
