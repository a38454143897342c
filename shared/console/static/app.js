// CloudAct console: plain JavaScript, no dependencies, no network beyond the API on this origin.
// Every value that comes from the API is put on the page as text (textContent, setAttribute),
// never as HTML: names of services and accounts are the tenant's own data.
"use strict";

(function () {
  const KEY_SLOT = "cloudact.apiKey";
  const ACTIVE = new Set(["PENDING", "RUNNING"]);
  const SERIES_SHOWN = 8; // the rest of the stack is drawn as "Other"
  let timer = null; // the one polling loop of the current page
  let catalog = null;

  // -- small helpers ---------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  function clear(node) { node.replaceChildren(); return node; }

  function isoDay(date) { return date.toISOString().slice(0, 10); }

  function daysAgo(n) {
    const d = new Date();
    d.setUTCDate(d.getUTCDate() - n);
    return isoDay(d);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms < 1000) return ms + " ms";
    const s = ms / 1000;
    return s < 120 ? s.toFixed(1) + " s" : Math.round(s / 60) + " min";
  }

  // a time reads as one; a digest (an API source's watermark) is shown by its first characters
  function shortWatermark(value) {
    const text = String(value);
    return /^\d{4}-\d{2}-\d{2}T/.test(text) ? when(text) : text.length > 19 ? text.slice(0, 18) + "…" : text;
  }

  function when(value) { return value ? String(value).replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }

  // exact decimal strings (9 places) added with BigInt: amounts are never floats here
  function toUnits(text) {
    const negative = text.startsWith("-");
    const [whole, frac = ""] = (negative ? text.slice(1) : text).split(".");
    const units = BigInt(whole || "0") * 1000000000n + BigInt((frac + "000000000").slice(0, 9));
    return negative ? -units : units;
  }
  function fromUnits(units) {
    const negative = units < 0n;
    const abs = negative ? -units : units;
    const frac = (abs % 1000000000n).toString().padStart(9, "0");
    return (negative ? "-" : "") + (abs / 1000000000n).toString() + "." + frac;
  }
  function money(text, currency) {
    const [whole, frac = ""] = text.split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return grouped + "." + (frac + "00").slice(0, 2) + (currency ? " " + currency : "");
  }

  // -- the key ------------------------------------------------------------------------------------
  function apiKey() { return sessionStorage.getItem(KEY_SLOT); }

  function orgOf(key) {
    const at = key ? key.lastIndexOf("_api_") : -1;
    return at > 0 ? key.slice(0, at) : null;
  }

  // -- the API ------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      const error = body && body.error ? body.error : {};
      super(error.message || "HTTP " + status);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const headers = { "X-API-Key": apiKey() || "", Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let parsed = null;
    try { parsed = await response.json(); } catch (e) { parsed = null; }
    if (response.status === 401) {
      forgetKey("The API refused this key: " + ((parsed && parsed.error && parsed.error.message) || "401"));
      throw new ApiError(401, parsed);
    }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  // -- toasts -----------------------------------------------------------------------------------
  function toast(kind, text, link) {
    const node = el("div", { class: "toast " + kind, role: kind === "error" ? "alert" : "status" }, el("span", { class: "toast-text" }, text));
    if (link) node.append(" ", el("a", { href: link.href }, link.text));
    const close = el("button", { type: "button", class: "link", "aria-label": "dismiss" }, "×");
    close.addEventListener("click", () => node.remove());
    node.append(close);
    $("toasts").append(node);
    setTimeout(() => node.remove(), 15000);
  }

  function failure(error) {
    if (error instanceof ApiError) {
      if (error.status !== 401) toast("error", error.message + " (HTTP " + error.status + ")");
    } else {
      toast("error", "The API could not be reached: " + error.message);
    }
  }

  // -- pages ----------------------------------------------------------------------------------
  const PAGES = ["key-page", "pipelines-page", "runs-page", "run-page", "costs-page"];

  function show(page) {
    for (const id of PAGES) $(id).hidden = id !== page;
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("current", page.startsWith(link.dataset.page));
    }
  }

  function stopPolling() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  function forgetKey(message) {
    sessionStorage.removeItem(KEY_SLOT);
    catalog = null;
    $("key-error").textContent = message || "";
    route();
  }

  async function pipelines() {
    if (!catalog) catalog = (await api("GET", "/api/v1/pipelines")).pipelines;
    return catalog;
  }

  function defaultValue(parameter) {
    if (parameter.type === "date") {
      if (parameter.default === "yesterday") return daysAgo(1);
      if (parameter.default === "today") return daysAgo(0);
    }
    return parameter.default === null || parameter.default === undefined ? "" : parameter.default;
  }

  function parameterInput(pipeline, parameter) {
    const id = "p-" + pipeline.path.replace(/[^a-z0-9]/g, "-") + "-" + parameter.name;
    const value = defaultValue(parameter);
    let input;
    if (parameter.type === "boolean") {
      input = el("input", { id, type: "checkbox", name: parameter.name });
      input.checked = value === true;
    } else {
      const type = { date: "date", integer: "number" }[parameter.type] || "text";
      input = el("input", { id, type, name: parameter.name, "data-type": parameter.type });
      input.value = String(value);
      if (parameter.required) input.required = true;
    }
    const label = el("label", { for: id }, parameter.name + (parameter.required ? " *" : ""));
    const hint = parameter.description || (parameter.default !== null && parameter.default !== undefined ? "default: " + parameter.default : "");
    return el("div", { class: "field" }, label, input, hint ? el("small", { class: "muted" }, hint) : null);
  }

  async function runPipeline(pipeline, form, button) {
    const body = {};
    for (const input of form.querySelectorAll("input[name]")) {
      if (input.type === "checkbox") {
        if (input.checked || input.name !== "force_refresh") body[input.name] = input.checked;
      } else if (input.value !== "") {
        body[input.name] = input.dataset.type === "integer" && /^-?\d+$/.test(input.value) ? Number(input.value) : input.value;
      }
    }
    button.disabled = true;
    try {
      const accepted = await api("POST", pipeline.run_path, body);
      toast("ok", "Run " + accepted.pipeline_logging_id + " queued: " + accepted.message, {
        href: "#/runs/" + encodeURIComponent(accepted.pipeline_logging_id),
        text: "follow it",
      });
    } catch (error) {
      if (error instanceof ApiError && error.body && error.body.error && error.body.error.pipeline_logging_id) {
        toast("error", error.message + " (HTTP " + error.status + ")", {
          href: "#/runs/" + encodeURIComponent(error.body.error.pipeline_logging_id),
          text: "the active run",
        });
      } else {
        failure(error);
      }
    } finally {
      button.disabled = false;
    }
  }

  async function showPipelines() {
    show("pipelines-page");
    const list = clear($("pipeline-list"));
    for (const pipeline of await pipelines()) {
      const form = el("form", { class: "run-form", "data-path": pipeline.path });
      for (const parameter of pipeline.parameters) form.append(parameterInput(pipeline, parameter));
      form.append(parameterInput(pipeline, { name: "force_refresh", type: "boolean", required: false, default: false, description: "re-process even if the source has not changed" }));
      const button = el("button", { type: "submit" }, "Run");
      form.append(button);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        runPipeline(pipeline, form, button);
      });
      const integrations = pipeline.required_integrations.map((item) =>
        el("span", { class: "badge " + (item.configured ? "COMPLETE" : "FAILED") }, item.type + (item.configured ? " configured" : " missing")));
      list.append(el("article", { class: "card" },
        el("h2", {}, pipeline.name),
        el("p", { class: "mono" }, pipeline.path),
        el("p", {}, pipeline.description),
        el("p", {}, ...integrations, pipeline.schedule ? el("span", { class: "muted" }, " schedule: " + pipeline.schedule.cron + " " + pipeline.schedule.timezone) : null),
        pipeline.ready ? null : el("p", { class: "muted" }, "Runs are refused until the org's " + pipeline.provider + " integration is set up (PUT /api/v1/integrations/" + orgOf(apiKey()) + "/" + pipeline.provider + ")."),
        form));
    }
  }

  let runsToken = null;

  async function loadRuns(append) {
    const query = new URLSearchParams({ page_size: "25" });
    if ($("runs-pipeline").value) query.set("pipeline_id", $("runs-pipeline").value);
    if ($("runs-status").value) query.set("status", $("runs-status").value);
    if (append && runsToken) query.set("page_token", runsToken);
    const page = await api("GET", "/api/v1/pipelines/runs?" + query.toString());
    const body = $("runs-table").tBodies[0];
    if (!append) clear(body);
    for (const run of page.runs) {
      const link = el("a", { href: "#/runs/" + encodeURIComponent(run.pipeline_logging_id) }, when(run.requested_at));
      body.append(el("tr", { "data-run-id": run.pipeline_logging_id },
        el("td", {}, link),
        el("td", {}, run.pipeline_id),
        el("td", { class: "mono" }, JSON.stringify(run.parameters)),
        el("td", {}, el("span", { class: "badge " + run.status }, run.status)),
        el("td", {}, when(run.start_time)),
        el("td", {}, when(run.end_time)),
        el("td", { class: "num" }, duration(run.duration_ms)),
        el("td", { class: "num" }, run.rows_processed === null ? "" : run.rows_processed),
        el("td", { class: "error" }, run.error_message || run.skip_reason || "")));
    }
    runsToken = page.next_page_token;
    $("runs-more").hidden = !runsToken;
    return page.runs.some((run) => ACTIVE.has(run.status));
  }

  async function showRuns() {
    show("runs-page");
    const select = $("runs-pipeline");
    if (select.options.length === 1) {
      for (const pipeline of await pipelines()) select.append(el("option", { value: pipeline.pipeline_id }, pipeline.pipeline_id));
    }
    const tick = async () => {
      const active = await loadRuns(false);
      if (active && location.hash === "#/runs") timer = setTimeout(() => tick().catch(failure), 2000);
    };
    await tick();
  }

  async function showRun(runId) {
    show("run-page");
    $("run-id").textContent = runId;
    const tick = async () => {
      const run = await api("GET", "/api/v1/pipelines/runs/" + encodeURIComponent(runId));
      const status = $("run-status");
      status.textContent = run.status;
      status.className = "badge " + run.status;
      const fields = clear($("run-fields"));
      const shown = {
        Pipeline: run.pipeline_id, Parameters: JSON.stringify(run.parameters), Trigger: run.trigger,
        Requested: when(run.requested_at), Started: when(run.start_time), Ended: when(run.end_time),
        Duration: duration(run.duration_ms), Rows: run.rows_processed, Attempt: run.attempt,
        "Source watermark": run.source_watermark, Note: run.skip_reason, Error: run.error_message,
      };
      for (const [name, value] of Object.entries(shown)) {
        if (value === null || value === undefined || value === "") continue;
        fields.append(el("dt", {}, name), el("dd", { "data-field": name }, value));
      }
      const steps = clear($("run-steps").tBodies[0]);
      for (const step of run.steps) {
        steps.append(el("tr", {}, el("td", {}, step.name), el("td", {}, step.status), el("td", { class: "num" }, step.rows),
          el("td", { class: "num" }, step.bytes_processed), el("td", { class: "num" }, step.bytes_billed), el("td", { class: "num" }, duration(step.duration_ms))));
      }
      const live = ACTIVE.has(run.status) && location.hash === "#/runs/" + encodeURIComponent(runId);
      $("run-live").textContent = live ? "following live…" : "";
      if (live) timer = setTimeout(() => tick().catch(failure), 1000);
    };
    await tick();
  }

  // -- costs ------------------------------------------------------------------------------------
  function costQuery(groupBy, extra) {
    const query = new URLSearchParams({ start: $("costs-start").value, end: $("costs-end").value, cost: $("costs-kind").value });
    if (groupBy) query.set("group_by", groupBy);
    for (const [name, value] of Object.entries(extra || {})) query.set(name, value);
    return "/api/v1/costs/" + encodeURIComponent(orgOf(apiKey())) + "?" + query.toString();
  }

  // the axis top: the peak rounded up to 1, 2 or 5 times a power of ten, in four even steps
  function niceCeiling(peak) {
    if (peak <= 0) return 0;
    const rough = peak / 4;
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= rough);
    return step * 4;
  }

  function axisLabel(value) {
    return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(value >= 10 ? 1 : 2).replace(/\.?0+$/, "") || "0";
  }

  function eachDay(start, end) {
    const days = [];
    for (let d = new Date(start + "T00:00:00Z"); isoDay(d) <= end; d.setUTCDate(d.getUTCDate() + 1)) days.push(isoDay(d));
    return days;
  }

  function drawChart(currency, rawRows, by, start, end) {
    const rows = rawRows.map((row) => (row[by] === null ? { ...row, [by]: "(none)" } : row));
    // series: the largest keys over the range; the rest summed (exactly) into "Other"
    const totals = new Map();
    for (const row of rows) totals.set(row[by], (totals.get(row[by]) || 0n) + toUnits(row.amount));
    const ranked = [...totals.entries()].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).map(([key]) => key);
    const shown = ranked.slice(0, ranked.length > SERIES_SHOWN + 1 ? SERIES_SHOWN : ranked.length);
    const series = shown.length < ranked.length ? [...shown, null] : shown; // null: "Other"
    const days = eachDay(start, end);
    const cells = new Map(); // day -> series index -> units
    for (const row of rows) {
      const index = shown.includes(row[by]) ? shown.indexOf(row[by]) : series.length - 1;
      const perDay = cells.get(row.day) || new Map();
      perDay.set(index, (perDay.get(index) || 0n) + toUnits(row.amount));
      cells.set(row.day, perDay);
    }
    let peak = 0;
    for (const perDay of cells.values()) {
      let positive = 0;
      for (const units of perDay.values()) if (units > 0n) positive += Number(units) / 1e9;
      peak = Math.max(peak, positive);
    }
    peak = niceCeiling(peak);
    const width = 900, height = 300, left = 70, bottom = 40, top = 10;
    const plot = height - bottom - top;
    const slot = (width - left - 10) / Math.max(days.length, 1);
    const bar = Math.max(1, slot * 0.8);
    const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Daily costs in " + currency + " by " + by, "data-currency": currency });
    for (let i = 0; i <= 4; i++) {
      const y = top + plot - (plot * i) / 4;
      chart.append(svg("line", { x1: left, x2: width - 10, y1: y, y2: y, class: "grid-line" }));
      chart.append(svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, axisLabel(peak * i / 4)));
    }
    days.forEach((day, dayIndex) => {
      const x = left + dayIndex * slot + (slot - bar) / 2;
      let y = top + plot;
      const perDay = cells.get(day) || new Map();
      series.forEach((key, index) => {
        const units = perDay.get(index);
        if (units === undefined) return;
        const amount = fromUnits(units);
        const h = peak > 0 && units > 0n ? (Number(units) / 1e9 / peak) * plot : 0;
        y -= h;
        const name = key === null ? "Other" : key;
        const rect = svg("rect", { x: x.toFixed(2), y: y.toFixed(2), width: bar.toFixed(2), height: h.toFixed(2), class: "bar s" + (index % 10) + (key === null ? " other" : ""),
          "data-day": day, "data-key": name, "data-amount": amount });
        rect.append(svg("title", {}, day + " · " + name + ": " + money(amount, currency)));
        chart.append(rect);
      });
      if (dayIndex % Math.ceil(days.length / 15) === 0) { // at most 15 labels: they must not overlap
        chart.append(svg("text", { x: (x + bar / 2).toFixed(2), y: height - bottom + 16, class: "axis", "text-anchor": "middle" }, day.slice(5)));
      }
    });
    const legend = el("ul", { class: "legend" });
    series.forEach((key, index) => legend.append(el("li", {}, el("span", { class: "swatch s" + (index % 10) }), key === null ? "Other" : key)));
    return el("figure", { class: "card" }, el("figcaption", {}, "Daily " + $("costs-kind").value + " cost, " + currency + ", by " + by), chart, legend);
  }

  function topTable(tableId, rows, keys, top) {
    const body = clear($(tableId).tBodies[0]);
    for (const row of rows.slice(0, top)) {
      body.append(el("tr", {}, ...keys.map((key) => el("td", {}, row[key] === null ? "" : row[key])),
        el("td", {}, row.currency), el("td", { class: "num", title: row.amount, "data-amount": row.amount }, money(row.amount))));
    }
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: keys.length + 2, class: "muted" }, "No costs in this range")));
  }

  async function loadCosts() {
    const by = $("costs-by").value;
    const top = Math.max(1, Math.min(50, Number($("costs-top").value) || 10));
    const [daily, services, accounts] = await Promise.all([
      api("GET", costQuery("day," + by)),
      api("GET", costQuery("service,provider")),
      api("GET", costQuery("sub_account")),
    ]);
    const fresh = daily.freshness.map((item) => item.provider + ": data of " + (item.date || "?") + " loaded " + when(item.completed_at) +
      (item.source_watermark ? " (source watermark " + shortWatermark(item.source_watermark) + ")" : ""));
    $("freshness").textContent = fresh.length ? "Freshness — " + fresh.join("; ") : "No completed run yet.";
    const totals = clear($("totals"));
    for (const total of daily.totals) totals.append(el("div", { class: "total", "data-currency": total.currency, "data-amount": total.amount }, el("span", { class: "muted" }, "Total " + total.currency), el("strong", {}, money(total.amount, total.currency))));
    const charts = clear($("charts"));
    const currencies = daily.totals.map((total) => total.currency);
    for (const currency of currencies) {
      charts.append(drawChart(currency, daily.rows.filter((row) => row.currency === currency), by, daily.start, daily.end));
    }
    if (!currencies.length) charts.append(el("p", { class: "muted" }, "No costs between " + daily.start + " and " + daily.end + "."));
    topTable("top-services", services.rows, ["service", "provider"], top);
    topTable("top-accounts", accounts.rows, ["sub_account", "sub_account_name"], top);
  }

  async function showCosts() {
    show("costs-page");
    if (!$("costs-start").value) {
      $("costs-start").value = daysAgo(30);
      $("costs-end").value = daysAgo(1);
    }
    await loadCosts();
  }

  // -- routing ----------------------------------------------------------------------------------
  async function route() {
    stopPolling();
    const key = apiKey();
    $("nav").hidden = !key;
    $("sign-out").hidden = !key;
    $("who").textContent = key ? "org " + orgOf(key) : "";
    if (!key) {
      show("key-page");
      return;
    }
    const hash = location.hash || "#/pipelines";
    try {
      if (hash.startsWith("#/runs/")) await showRun(decodeURIComponent(hash.slice("#/runs/".length)));
      else if (hash === "#/runs") await showRuns();
      else if (hash === "#/costs") await showCosts();
      else await showPipelines();
    } catch (error) {
      failure(error);
    }
  }

  function start() {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      $("key-input").value = "";
      if (!orgOf(key)) {
        $("key-error").textContent = "That does not look like an org API key (ORG_api_…).";
        return;
      }
      $("key-error").textContent = "";
      sessionStorage.setItem(KEY_SLOT, key);
      route();
    });
    $("sign-out").addEventListener("click", () => forgetKey(""));
    $("runs-filter").addEventListener("submit", (event) => { event.preventDefault(); stopPolling(); showRuns().catch(failure); });
    $("runs-more").addEventListener("click", () => loadRuns(true).catch(failure));
    $("costs-form").addEventListener("submit", (event) => { event.preventDefault(); loadCosts().catch(failure); });
    window.addEventListener("hashchange", route);
    route();
  }

  start();
})();
