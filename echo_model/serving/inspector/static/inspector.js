// The inspector page: polls /ui/api (see echo_model/serving/inspector), draws
// the list, the detail view, SVG charts and the fixtures panel. Every value
// from the server is written as text (textContent), never parsed as HTML.
"use strict";
(() => {
  const KEY_STORE = "echo-inspector-key";
  const LIST_EVERY_MS = 1500;
  const CHARTS_EVERY_MS = 3000;
  const FIXTURES_EVERY_MS = 6000;
  const SVG = "http://www.w3.org/2000/svg";
  const needsKey = document.body.dataset.keyRequired === "true";
  const $ = (id) => document.getElementById(id);

  let key = needsKey ? sessionStorage.getItem(KEY_STORE) : null;
  let epoch = 0; // bumped when the page locks: older polling loops stop
  let lastList = "";
  let selected = null;
  let paused = false; // a person reading the list may hold it still
  const summaries = new Map();

  class Locked extends Error {}

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if (key) headers["X-API-Key"] = key;
    const response = await fetch(path, {
      ...options,
      headers,
      credentials: "omit", // never the browser's own login: the key is ours
      cache: "no-store",
    });
    if (response.status === 401) {
      lock("That key was refused: enter the server's API key.");
      throw new Locked();
    }
    return response;
  }

  function lock(message) {
    epoch += 1;
    key = null;
    sessionStorage.removeItem(KEY_STORE);
    $("inspector").hidden = true;
    $("pause").hidden = true;
    $("requests").tBodies[0].replaceChildren();
    $("detail").hidden = true;
    summaries.clear();
    lastList = "";
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("state").textContent = "locked";
    $("key").focus();
  }

  function every(ms, task) {
    const mine = epoch;
    const run = async () => {
      if (mine !== epoch) return;
      if (!document.hidden && !paused) {
        try {
          await task();
          if (mine === epoch) $("state").textContent = "live · " + clock(Date.now() / 1000);
        } catch (error) {
          if (error instanceof Locked) return;
          $("state").textContent = "server unreachable, retrying…";
        }
      }
      if (mine === epoch) setTimeout(run, ms);
    };
    run();
  }

  function start() {
    $("login").hidden = true;
    $("inspector").hidden = false;
    $("pause").hidden = false;
    every(LIST_EVERY_MS, refreshList);
    every(CHARTS_EVERY_MS, refreshCharts);
    every(FIXTURES_EVERY_MS, refreshFixtures);
  }

  // --- the list -------------------------------------------------------------

  function clock(seconds) {
    if (seconds == null) return "";
    const d = new Date(seconds * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function ms(seconds) {
    if (seconds == null) return "—";
    return seconds < 1 ? `${(seconds * 1000).toFixed(1)} ms` : `${seconds.toFixed(2)} s`;
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text == null ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  async function refreshList() {
    const query = new URLSearchParams();
    if ($("filter-protocol").value) query.set("protocol", $("filter-protocol").value);
    if ($("filter-status").value) query.set("status", $("filter-status").value);
    const response = await api(`/ui/api/requests?${query}`);
    const text = await response.text();
    if (text === lastList) return;
    lastList = text;
    const lines = JSON.parse(text);
    const body = $("requests").tBodies[0];
    const rows = [];
    summaries.clear();
    for (const line of lines) {
      summaries.set(line.id, line);
      const row = document.createElement("tr");
      row.dataset.id = line.id;
      row.tabIndex = 0;
      if (line.id === selected) row.classList.add("selected");
      cell(row, clock(line.arrival), "time");
      cell(row, line.status, line.status >= 400 || !line.status ? "status bad" : "status good");
      cell(row, line.protocol);
      cell(row, `${line.method} ${line.path}`, "route");
      cell(row, line.prompt, "prompt");
      cell(row, line.model);
      cell(row, ms(line.duration), "num");
      cell(row, ms(line.ttft), "num");
      cell(row, line.fixture, line.fixture === "echo" ? "muted" : "fixture");
      cell(row, line.fault || "", "fault");
      rows.push(row);
    }
    body.replaceChildren(...rows);
    $("empty").hidden = lines.length > 0;
    $("count").textContent = `${lines.length} shown`;
  }

  function rowOf(event) {
    const row = event.target.closest("tr");
    return row && row.dataset.id ? row : null;
  }

  async function showDetail(id) {
    selected = id;
    for (const row of $("requests").tBodies[0].rows) {
      row.classList.toggle("selected", row.dataset.id === id);
    }
    const response = await api(`/ui/api/requests/${encodeURIComponent(id)}`);
    if (!response.ok) {
      $("detail-title").textContent = "That request has left the journal.";
      return;
    }
    const entry = await response.json();
    const line = summaries.get(id) || {};
    $("detail").hidden = false;
    $("detail-title").textContent = `${entry.method} ${entry.path} → ${entry.status}`;
    const timings = entry.timings || {};
    const facts = [
      ["request id", entry.request_id],
      ["protocol", entry.protocol],
      ["model", line.model],
      ["arrived", clock(timings.arrival)],
      ["duration", ms(timings.end)],
      ["time to first token", ms(timings.first_token)],
      ["fixture", entry.fixture || "echo"],
      ["context", entry.context || "—"],
      ["fault asked", line.fault || "—"],
    ];
    const dl = $("detail-facts");
    dl.replaceChildren();
    for (const [name, value] of facts) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value == null ? "" : String(value);
      dl.append(dt, dd);
    }
    $("detail-prompt").textContent = line.prompt == null ? "(no prompt found: see the body)" : line.prompt;
    $("detail-reply").textContent = replyText(entry.reply || {});
    $("detail-body").textContent =
      typeof entry.body === "string" ? entry.body : JSON.stringify(entry.body, null, 2);
    $("detail-headers").textContent = JSON.stringify(entry.headers || {}, null, 2);
  }

  function replyText(reply) {
    const parts = [];
    if (reply.text) parts.push(reply.text);
    if (reply.tool_calls && reply.tool_calls.length) {
      parts.push("tool calls:\n" + JSON.stringify(reply.tool_calls, null, 2));
    }
    if (reply.error != null) {
      parts.push("error:\n" + (typeof reply.error === "string" ? reply.error : JSON.stringify(reply.error, null, 2)));
    }
    return parts.length ? parts.join("\n\n") : "(no reply recorded)";
  }

  // --- the charts (hand-drawn SVG) -------------------------------------------

  const W = 320, H = 130, LEFT = 34, RIGHT = 6, TOP = 8, BOTTOM = 22;

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text != null) node.textContent = text;
    return node;
  }

  function frame(svg, top) {
    svg.replaceChildren(
      el("line", { x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM, class: "axis" }),
      el("line", { x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM, class: "axis" }),
      el("text", { x: LEFT - 4, y: TOP + 8, class: "tick end" }, top),
      el("text", { x: LEFT - 4, y: H - BOTTOM, class: "tick end" }, "0"),
    );
  }

  function nothing(svg, message) {
    frame(svg, "");
    svg.append(el("text", { x: (LEFT + W) / 2, y: H / 2, class: "note middle" }, message));
  }

  function bound(b) {
    if (b == null) return "+∞";
    return b < 1 ? `${+(b * 1000).toFixed(1)}ms` : `${b}s`;
  }

  function histogram(svg, data) {
    if (!data || !data.count) return nothing(svg, "no observations yet");
    const counts = data.counts;
    let last = 0;
    counts.forEach((c, i) => { if (c > 0) last = i; });
    const n = Math.min(counts.length, Math.max(last + 2, 8));
    const top = Math.max(...counts.slice(0, n));
    frame(svg, String(top));
    const width = (W - LEFT - RIGHT) / n;
    const plot = H - TOP - BOTTOM;
    for (let i = 0; i < n; i++) {
      const h = (counts[i] / top) * plot;
      const rect = el("rect", {
        x: LEFT + i * width + 1, y: H - BOTTOM - h, width: Math.max(width - 2, 1), height: h, class: "bar",
      });
      rect.append(el("title", {}, `≤ ${bound(data.bounds[i])}: ${counts[i]}`));
      svg.append(rect);
      if (i % Math.ceil(n / 5) === 0) {
        svg.append(el("text", { x: LEFT + i * width + width / 2, y: H - 6, class: "tick middle" }, `≤${bound(data.bounds[i])}`));
      }
    }
  }

  function rate(svg, rates, field, unit) {
    const points = (rates && rates.points) || [];
    if (points.length < 2) return nothing(svg, "collecting samples…");
    // The span shown grows with the samples kept: at least a minute, at most the ring.
    const span = Math.min(rates.window || Infinity, Math.max(60, points[0].ago + rates.interval));
    const top = Math.max(...points.map((p) => p[field]), 1e-9);
    frame(svg, `${top < 10 ? top.toFixed(2) : Math.round(top)}${unit}`);
    const plot = H - TOP - BOTTOM;
    const x = (p) => W - RIGHT - (p.ago / span) * (W - LEFT - RIGHT);
    const y = (p) => H - BOTTOM - (p[field] / top) * plot;
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p).toFixed(1)},${y(p).toFixed(1)}`).join(" ");
    const area = `${d} L${x(points[points.length - 1]).toFixed(1)},${H - BOTTOM} L${x(points[0]).toFixed(1)},${H - BOTTOM} Z`;
    svg.append(el("path", { d: area, class: "area" }), el("path", { d, class: "line" }));
    svg.append(
      el("text", { x: LEFT, y: H - 6, class: "tick" }, span < 90 ? `-${Math.round(span)} s` : `-${Math.round(span / 60)} min`),
      el("text", { x: W - RIGHT, y: H - 6, class: "tick end" }, "now"),
    );
  }

  function sum(values) {
    return Object.values(values || {}).reduce((a, b) => a + b, 0);
  }

  function listing(values) {
    return Object.entries(values || {}).map(([k, v]) => `${k} ${v}`).join(", ");
  }

  async function refreshCharts() {
    const view = await (await api("/ui/api/metrics")).json();
    histogram($("chart-ttft"), view.histograms.ttft);
    histogram($("chart-itl"), view.histograms.itl);
    rate($("chart-requests"), view.rates, "requests", "/s");
    rate($("chart-tokens"), view.rates, "tokens", "/s");
    const c = view.counters;
    $("totals").textContent =
      `requests ${sum(c.requests)} (${listing(c.requests)}) · errors ${sum(c.errors)} · ` +
      `tokens ${c.generation_tokens} generated, ${c.prompt_tokens} prompt · ` +
      `injected faults ${sum(c.injected_faults)} · running ${c.running}, waiting ${c.waiting}`;
  }

  // --- the fixtures panel (the /admin API) -----------------------------------

  async function refreshFixtures() {
    const data = await (await api("/admin/fixtures")).json();
    $("fixture-files").textContent = data.files.length
      ? `From files (--fixtures): ${data.files.join(", ")}`
      : "No fixture files loaded (--fixtures).";
    const items = data.fixtures.map((fixture, i) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = `<admin>#${i} ${JSON.stringify(fixture)}`;
      li.append(code);
      return li;
    });
    $("fixture-list").replaceChildren(...items);
    $("fixture-none").hidden = items.length > 0;
  }

  async function admin(method, path, body) {
    const options = { method };
    if (body != null) {
      options.body = body;
      options.headers = { "Content-Type": "application/json" };
    }
    const response = await api(path, options);
    const data = await response.json().catch(() => ({}));
    $("fixture-message").textContent = response.ok
      ? ""
      : `Refused: ${typeof data.detail === "string" ? data.detail : JSON.stringify(data)}`;
    return response.ok ? data : null;
  }

  function quietly(task) {
    return () => task().catch((error) => {
      if (!(error instanceof Locked)) $("fixture-message").textContent = String(error);
    });
  }

  // --- wiring ------------------------------------------------------------------

  $("requests").addEventListener("click", (event) => {
    const row = rowOf(event);
    if (row) showDetail(row.dataset.id).catch(() => {});
  });
  $("requests").addEventListener("keydown", (event) => {
    const row = rowOf(event);
    if (row && event.key === "Enter") showDetail(row.dataset.id).catch(() => {});
  });
  for (const id of ["filter-protocol", "filter-status"]) {
    $(id).addEventListener("change", () => { lastList = ""; refreshList().catch(() => {}); });
  }
  $("fixtures-add").addEventListener("click", quietly(async () => {
    const data = await admin("POST", "/admin/fixtures", $("fixture-json").value);
    if (data) $("fixture-message").textContent = `Added ${data.added.join(", ")}.`;
    await refreshFixtures();
  }));
  $("fixtures-clear").addEventListener("click", quietly(async () => {
    if (await admin("DELETE", "/admin/fixtures")) $("fixture-message").textContent = "Added fixtures forgotten.";
    await refreshFixtures();
  }));
  $("reset").addEventListener("click", quietly(async () => {
    if (await admin("POST", "/admin/reset")) $("fixture-message").textContent = "Journal emptied, sequence counts reset.";
    lastList = "";
    $("detail").hidden = true;
    await refreshList();
  }));
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    if (paused) $("state").textContent = "paused";
  });
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    key = $("key").value;
    $("key").value = "";
    sessionStorage.setItem(KEY_STORE, key);
    $("login-error").textContent = "";
    start();
  });

  if (needsKey && !key) lock("");
  else start();
})();
