// trackhouse dashboard: every number comes from POST /api/query, the projects' names and timezones
// from GET /api/projects. Every value shown came from the open internet (slugs, referrers,
// attributes, project names), so it is only ever set as text, never as HTML; the page's CSP
// allows no inline script either.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const OLD_KEY = "trackhouse_dashboard_key"; // where earlier versions kept the key (sessionStorage)
  const SVG = "http://www.w3.org/2000/svg";
  const CARDS = [
    ["events", "Events"], ["visitors", "Visitors"], ["sessions", "Sessions"],
    ["bounce_rate", "Bounce rate"], ["conversions", "Conversions"], ["conversion_value", "Conversion value"],
  ];
  const RATES = new Set(["bounce_rate"]);
  // dim: the query dimension; metric: what ranks the rows; hideEmpty: rows without a value left out.
  const TABLES = [
    { title: "Top links", label: "Slug", dim: "link_slug", hideEmpty: true },
    { title: "Event types", label: "Type", dim: "event_type" },
    { title: "Referrers", label: "Domain", dim: "referrer_domain", empty: "(direct / none)" },
    { title: "Countries", label: "Country", dim: "country" },
    { title: "Devices", label: "Device", dim: "device_type" },
    { title: "Browsers", label: "Browser", dim: "browser" },
    { title: "Operating systems", label: "OS", dim: "os" },
    { title: "UTM sources", label: "Source", dim: "utm_source", hideEmpty: true },
    { title: "UTM campaigns", label: "Campaign", dim: "utm_campaign", hideEmpty: true },
    { title: "QR scans", label: "QR code", dim: "qr_code_id", metric: "qr_scans", hideEmpty: true },
  ];
  const LIVE_EVERY_MS = 30000;
  const MAX_PARALLEL = 3; // the API runs QUERY_CONCURRENCY (2) at once and queues a few more
  const CHIP_CHARS = 60; // a chip shows at most this many characters of its value

  const state = {
    range: "30d",
    tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    bots: false,
    project: "",
    zones: new Map(), // project_id -> its timezone (the registry's), for the projects that have one
    filters: [], // {dim, value, op}: op "is", or "contains" for a value the answer cut
    seq: 0,
    series: null,
  };

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // --- the key: pasted into the form and held in this page's memory only, never in a URL (the
  // browser keeps URLs in its history, session restore and favicon databases) nor in storage.
  let signedInKey = "";
  const key = () => signedInKey;
  // A `/dashboard#key=…` link (earlier versions signed in with one) does not sign in: the key is
  // taken out of the address bar, and the page says why.
  function refuseKeyInLink() {
    if (!/(?:^#|&)key=/.test(location.hash)) return "";
    history.replaceState(null, "", location.pathname + location.search);
    return "Keys in links are not accepted (the browser keeps links in its history): paste the key here.";
  }

  // --- queries, a few at a time; a 429 (all slots busy) is retried after Retry-After
  let active = 0;
  const waiting = [];
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  async function slot() {
    while (active >= MAX_PARALLEL) await new Promise((resolve) => waiting.push(resolve));
    active++;
  }
  function release() { active--; const next = waiting.shift(); if (next) next(); }
  // A POST of `body` (a GET without one) to `path`.
  async function api(path, body) {
    await slot();
    try {
      for (let attempt = 0; ; attempt++) {
        const response = await fetch(path, {
          method: body === undefined ? "GET" : "POST",
          headers: Object.assign({ Authorization: "Bearer " + key() }, body === undefined ? {} : { "Content-Type": "application/json" }),
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: "omit",
          cache: "no-store",
        });
        if (response.status === 429 && attempt < 3) {
          await sleep(1000 * (Number(response.headers.get("Retry-After")) || 1));
          continue;
        }
        const data = await response.json().catch(() => ({}));
        if (!response.ok) throw new ApiError(response.status, data.error || response.statusText);
        return data;
      }
    } finally {
      release();
    }
  }
  const query = (body) => api("/api/query", body);

  function selection(extra) {
    const filters = state.filters.map((f) => [f.op, f.dim, [f.value]]);
    if (state.project) filters.push(["is", "project_id", [state.project]]);
    return Object.assign({ date_range: state.range, timezone: state.tz, filters, include: { bots: state.bots } }, extra);
  }

  // --- formatting
  const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function format(metric, value) {
    if (value === null || value === undefined) return "–";
    if (RATES.has(metric)) return value.toFixed(1) + "%";
    if (metric === "conversion_value") return money.format(value);
    return integer.format(value);
  }
  function change(metric, now, before) {
    if (before === null || before === undefined || now === null || now === undefined) return ["", "–"];
    if (RATES.has(metric)) {
      const points = now - before;
      return [points > 0 ? "up" : points < 0 ? "down" : "", (points >= 0 ? "+" : "") + points.toFixed(1) + " pp"];
    }
    if (before === 0) return now > 0 ? ["up", "new"] : ["", "0%"];
    const percent = ((now - before) / before) * 100;
    return [percent > 0 ? "up" : percent < 0 ? "down" : "", (percent >= 0 ? "+" : "") + percent.toFixed(0) + "%"];
  }
  // Code points, as the API counts them (leftUTF8; a string's .length counts UTF-16 units).
  const chars = (text) => [...text].length;
  // At most `max` characters, an ellipsis last when cut here or before (`cutBefore`).
  const shorten = (text, max, cutBefore) =>
    chars(text) > max ? [...text].slice(0, max - 1).join("") + "…" : cutBefore ? text + "…" : text;
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  // kind: loading | ready | empty | error, also on <body data-state> (a readiness signal for tests)
  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").classList.toggle("error", kind === "error");
    document.body.dataset.state = kind;
  }

  // --- rendering
  function renderCards(now, before) {
    const cards = $("cards");
    cards.replaceChildren();
    CARDS.forEach(([metric, label], i) => {
      const card = el("div", "card");
      card.dataset.metric = metric;
      const value = now.results[0].metrics[i];
      const valueNode = el("div", "value", format(metric, value));
      valueNode.dataset.value = value === null ? "" : String(value);
      const [direction, text] = before ? change(metric, value, before.results[0].metrics[i]) : ["", "–"];
      const changeNode = el("div", "change " + direction, text);
      changeNode.title = "Against the previous period of the same length";
      card.append(el("div", "label", label), valueNode, changeNode);
      cards.append(card);
    });
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function renderChart() {
    const box = $("chart");
    box.replaceChildren();
    const data = state.series;
    if (!data) return;
    const rows = data.results;
    const width = Math.max(box.clientWidth, 200), height = box.clientHeight || 200;
    const left = 40, right = 8, top = 8, bottom = 22;
    const plotW = width - left - right, plotH = height - top - bottom;
    const max = Math.max(1, ...rows.map((r) => Math.max(r.metrics[0] || 0, r.metrics[1] || 0)));
    const x = (i) => left + (rows.length < 2 ? plotW / 2 : (i * plotW) / (rows.length - 1));
    const y = (v) => top + plotH - ((v || 0) / max) * plotH;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Events and visitors over time" });
    chart.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
    chart.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: top, y2: top }));
    chart.append(svg("text", { x: left - 6, y: top + 10, "text-anchor": "end" }, integer.format(max)));
    chart.append(svg("text", { x: left - 6, y: top + plotH, "text-anchor": "end" }, "0"));
    const labelAt = [0, Math.floor((rows.length - 1) / 2), rows.length - 1];
    [...new Set(labelAt)].forEach((i) => {
      if (rows[i]) {
        const anchor = i === 0 ? "start" : i === rows.length - 1 ? "end" : "middle";
        chart.append(svg("text", { x: x(i), y: height - 6, "text-anchor": anchor }, rows[i].dimensions[0].replace("T", " ").slice(0, 16)));
      }
    });
    ["events", "visitors"].forEach((name, m) => {
      const points = rows.map((r, i) => `${x(i).toFixed(1)},${y(r.metrics[m]).toFixed(1)}`).join(" ");
      chart.append(svg("polyline", { class: name, points }));
    });
    box.append(chart);
    const legend = el("div", "legend");
    legend.append(el("span", "events", "Events"), el("span", "visitors", "Visitors"));
    box.append(legend);
  }

  function renderTable(spec, data) {
    const panel = el("section", "panel");
    panel.dataset.dimension = spec.dim;
    panel.append(el("h2", "", spec.title));
    // Rows with nothing to count (e.g. engagement, which is not an event) and, where asked, without a value, left out.
    const rows = data ? data.results.filter((r) => r.metrics.some((m) => m) && !(spec.hideEmpty && r.dimensions[0] === "")) : [];
    if (!rows.length) {
      panel.append(el("div", "empty", data ? "No data" : "Could not load"));
      return panel;
    }
    const metric = spec.metric || "events";
    const table = el("table");
    const head = el("tr");
    head.append(el("th", "", spec.label), el("th", "num", metric === "qr_scans" ? "Scans" : "Events"), el("th", "num", "Visitors"));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    const top = Math.max(1, ...rows.map((r) => r.metrics[0] || 0));
    for (const row of rows) {
      const value = row.dimensions[0];
      // The answer cuts long free text to its first value_max_chars characters; an `is` filter
      // on the cut value would match nothing, so a row that may be cut filters by prefix.
      const cut = Boolean(data.meta && data.meta.truncated_values) && chars(value) >= data.meta.value_max_chars;
      const tr = el("tr");
      tr.dataset.value = value;
      if (cut) tr.dataset.cut = "true";
      tr.title = cut ? "Filter by values starting with this (cut) value" : "Filter by this value";
      const name = el("td", "name");
      const fill = el("span", "fill");
      fill.style.width = (((row.metrics[0] || 0) / top) * 100).toFixed(1) + "%"; // CSSOM: allowed by the CSP
      name.append(fill, el("span", "", value === "" ? spec.empty || "(none)" : cut ? value + "…" : value));
      tr.append(name, el("td", "num", integer.format(row.metrics[0] || 0)), el("td", "num", integer.format(row.metrics[1] || 0)));
      tr.addEventListener("click", () => addFilter(spec.dim, value, cut ? "contains" : "is"));
      body.append(tr);
    }
    table.append(body);
    panel.append(table);
    return panel;
  }

  function renderChips() {
    const chips = $("chips");
    chips.replaceChildren();
    state.filters.forEach((f, i) => {
      const shown = f.value === "" ? "(none)" : shorten(f.value, CHIP_CHARS, f.op === "contains");
      const chip = el("button", "chip", `${f.dim} ${f.op === "contains" ? "starts with" : "is"} ${shown}`);
      chip.type = "button";
      chip.title = "Remove this filter";
      chip.addEventListener("click", () => { state.filters.splice(i, 1); renderChips(); refresh(); });
      chips.append(chip);
    });
  }
  function addFilter(dim, value, op) {
    if (state.filters.some((f) => f.dim === dim && f.value === value && f.op === op)) return;
    state.filters.push({ dim, value, op });
    renderChips();
    refresh();
  }

  // --- loading everything for the current selection
  function failed(error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut("The key was refused (401). Paste the admin token or a read key.");
      return true;
    }
    const reason = error instanceof ApiError && error.status === 403 ? "Reads are disabled on this server: " : "Could not load: ";
    setStatus(reason + error.message, "error");
    return false;
  }

  async function refresh() {
    const seq = ++state.seq;
    setStatus("Loading…", "loading");
    const metrics = CARDS.map(([metric]) => metric);
    try {
      const now = await query(selection({ metrics }));
      if (seq !== state.seq) return;
      const [start, end] = now.meta.date_range;
      const span = Date.parse(end) - Date.parse(start);
      const previous = state.range === "all" ? Promise.resolve(null)
        : query(selection({ metrics, date_range: [new Date(Date.parse(start) - span).toISOString(), new Date(Date.parse(start)).toISOString()] }));
      const grain = span <= 2 * 86400000 ? "time:hour" : "time:day";
      const series = query(selection({ metrics: ["events", "visitors"], dimensions: [grain], limit: 10000 }));
      const tables = TABLES.map((spec) => query(selection({ metrics: [spec.metric || "events", "visitors"], dimensions: [spec.dim], limit: 10 })).catch(() => null));
      const [before, points] = await Promise.all([previous, series]);
      const tableData = await Promise.all(tables);
      if (seq !== state.seq) return;
      renderCards(now, before);
      state.series = points;
      $("chart-grain").textContent = grain === "time:hour" ? "by hour" : "by day";
      renderChart();
      $("tables").replaceChildren(...TABLES.map((spec, i) => renderTable(spec, tableData[i])));
      const events = now.results[0].metrics[0];
      const range = `${start.slice(0, 16).replace("T", " ")} – ${end.slice(0, 16).replace("T", " ")} (${state.tz})`;
      setStatus(events ? range : `No events in this range: ${range}`, events ? "ready" : "empty");
    } catch (error) {
      if (seq === state.seq) failed(error);
    }
  }

  // Answers can arrive out of order (a project change while the timer's query is in flight):
  // only the latest request may write, or every project's count overwrites this project's.
  let liveSeq = 0;
  async function refreshLive() {
    const seq = ++liveSeq;
    try {
      const data = await query(selection({ metrics: ["visitors"], date_range: "5m", filters: state.project ? [["is", "project_id", [state.project]]] : [] }));
      if (seq === liveSeq) $("live-count").textContent = integer.format(data.results[0].metrics[0] || 0);
    } catch (error) {
      if (seq === liveSeq) $("live-count").textContent = "–";
    }
  }

  // The projects this key reads: the registry's by name, then those only the data names (the
  // admin's over unregistered events, or every one without a registry) by id.
  async function loadProjects() {
    const [listed, data] = await Promise.all([
      api("/api/projects"),
      query({ metrics: ["events"], dimensions: ["project_id"], date_range: "all", include: { bots: true }, limit: 500 }),
    ]);
    const projects = listed.projects.map((p) => [p.project_id, p.name]);
    const known = new Set(projects.map(([id]) => id));
    for (const id of data.results.map((r) => r.dimensions[0])) {
      if (!known.has(id)) projects.push([id, id === "" ? "(no project)" : id]);
    }
    state.zones = new Map(listed.projects.filter((p) => p.timezone).map((p) => [p.project_id, p.timezone]));
    const select = $("project");
    select.replaceChildren();
    if (projects.length !== 1) select.append(new Option("All projects", ""));
    for (const [id, name] of projects) select.append(new Option(name, id));
    state.project = projects.length === 1 ? projects[0][0] : "";
    select.value = state.project;
    projectTimezone();
  }
  // A project with a timezone opens in it; "All projects" (or one without) keeps the current one.
  function projectTimezone() {
    const zone = state.zones.get(state.project);
    if (!zone) return;
    const select = $("timezone");
    if (![...select.options].some((o) => o.value === zone)) select.append(new Option(zone, zone));
    select.value = zone;
    state.tz = zone;
  }

  // --- controls
  function setRange(range) {
    state.range = range;
    for (const button of $("presets").querySelectorAll("button")) button.classList.toggle("on", button.dataset.range === range);
    refresh();
  }
  function fillTimezones() {
    const select = $("timezone");
    const zones = new Set(["UTC", state.tz, ...(Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [])]);
    for (const zone of [...zones].sort()) select.append(new Option(zone, zone));
    select.value = state.tz;
  }
  function signedIn(yes) {
    for (const id of ["main", "logout", "live", "project-field"]) $(id).hidden = !yes;
    $("login").hidden = yes;
  }
  function signOut(message) {
    signedInKey = "";
    state.seq++; liveSeq++; // answers still in flight are dropped
    for (const id of ["cards", "chart", "tables", "chips"]) $(id).replaceChildren();
    state.filters = [];
    signedIn(false);
    $("login-error").textContent = message || "";
    $("key").focus();
  }
  async function signIn() {
    const asked = key();
    signedIn(true);
    setStatus("Loading…", "loading");
    try {
      await loadProjects();
    } catch (error) {
      if (asked === key()) failed(error);
      return;
    }
    if (asked !== key()) return; // signed out meanwhile
    setRange(state.range);
    refreshLive();
  }

  function wire() {
    fillTimezones();
    $("presets").addEventListener("click", (event) => {
      const range = event.target.dataset && event.target.dataset.range;
      if (range) setRange(range);
    });
    $("custom").addEventListener("submit", (event) => {
      event.preventDefault();
      const from = $("from").value, to = $("to").value;
      if (from && to) setRange(from <= to ? [from, to] : [to, from]);
    });
    $("timezone").addEventListener("change", () => { state.tz = $("timezone").value; refresh(); });
    $("bots").addEventListener("change", () => { state.bots = $("bots").checked; refresh(); refreshLive(); });
    $("project").addEventListener("change", () => { state.project = $("project").value; projectTimezone(); refresh(); refreshLive(); });
    $("logout").addEventListener("click", () => signOut(""));
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      signedInKey = $("key").value.trim();
      $("key").value = "";
      if (signedInKey) signIn();
    });
    let resizing;
    window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(renderChart, 150); });
    setInterval(() => { if (!$("main").hidden) refreshLive(); }, LIVE_EVERY_MS);
  }

  try { sessionStorage.removeItem(OLD_KEY); } catch (e) { /* storage off */ }
  wire();
  signOut(refuseKeyInLink());
})();
