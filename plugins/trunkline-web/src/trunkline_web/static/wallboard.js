// The supervisor wallboard: live queue figures and charts, the agents (whose status the
// supervisor may change), the open contacts, and silent monitoring of one conversation.
//
// The board comes from the supervisor WebSocket (/ws/supervisor) at most once a second while
// anything changes, with the figures since start (service level, ASA, AHT, abandonment rate,
// occupancy), the queues' alerts and service level per interval (kept by the server, so a
// reload shows the same), and each agent's time in state; the open contacts are read from the
// REST API when a board arrives. Between boards the page counts waits and times in state on
// from the board's. Charts are SVG drawn here and updated in place. Content is shown as text
// only.

import {
  LiveSocket,
  Thread,
  api,
  clock,
  connectionIndicator,
  customerName,
  duration,
  el,
  label,
  messageItem,
  notify,
  percent,
  setAttrs,
  setText,
  svg,
} from "./common.js";

const TREND_WINDOW = 600; // seconds of waiting history in the line chart
const SAMPLE_EVERY = 2000; // ms between two points of that history
const REFRESH_EVERY = 1000; // ms between two reads of the open contacts
const TICK_EVERY = 1000; // ms between two updates of the running times (waits, time in state)
const SERIES = 8; // colours of the chart series, .series-0 … .series-7 in app.css
const AGENT_STATES = ["idle", "offered", "busy", "wrap_up", "break", "offline"];

const $ = (id) => document.getElementById(id);

const wall = {
  me: null,
  base: "",
  live: null,
  board: null, // the last board
  boardAt: 0, // Date.now() when it arrived: running times count on from there
  slSeries: new Map(), // queue id -> the SVG parts of its service-level line
  samples: [], // {t: ms, waiting: {queue id: n}}
  queueRows: new Map(),
  agentRows: new Map(),
  contacts: new Map(), // contact id -> contact (from the REST API)
  contactRows: new Map(),
  monitoring: null, // {id, contact, thread, loaded}
  refreshing: false,
  refreshAgain: false,
};

// Queues -------------------------------------------------------------------------------------

function queueRow(queue) {
  let row = wall.queueRows.get(queue.id);
  if (row) return row;
  const cell = (cls) => el("td", { class: cls });
  const meter = el("meter", { min: 0, max: 1, value: 0 });
  const sl = el("span", { class: "sl-value" });
  const target = el("span", { class: "muted sl-target" });
  row = {
    node: el(
      "tr",
      { dataset: { queueId: queue.id } },
      el("th", { scope: "row", class: "queue-name" }),
      cell("num waiting"),
      cell("num ringing"),
      cell("num longest"),
      el("td", { class: "sl" }, sl, " ", meter, " ", target),
      cell("num answered"),
      cell("num abandoned"),
      cell("num abandonment-rate"),
      cell("num asa"),
      cell("num aht"),
      cell("agents"),
    ),
    meter,
    sl,
    target,
  };
  wall.queueRows.set(queue.id, row);
  $("queues").tBodies[0].append(row.node);
  return row;
}

function showQueue(queue) {
  const row = queueRow(queue);
  const part = (cls) => row.node.querySelector(`.${cls}`);
  setText(part("queue-name"), queue.name);
  setText(part("waiting"), queue.waiting);
  setText(part("ringing"), queue.ringing);
  row.longest = queue.waiting + queue.ringing > 0 ? queue.longest_wait : null;
  setText(part("longest"), duration(queue.longest_wait));
  setText(part("answered"), queue.answered);
  setText(part("abandoned"), queue.abandoned);
  setText(part("abandonment-rate"), percent(queue.abandonment_rate));
  setText(part("asa"), seconds(queue.asa));
  setText(part("aht"), seconds(queue.aht));
  const sl = queue.service_level;
  setText(row.sl, percent(sl));
  row.sl.dataset.verdict = sl === null ? "none" : sl >= queue.service_level_target ? "good" : "bad";
  setAttrs(row.meter, { value: sl === null ? 0 : sl, low: queue.service_level_target, optimum: 1 });
  setText(
    row.target,
    `target ${percent(queue.service_level_target)} in ${queue.service_level_threshold} s`,
  );
  const counts = queue.agents;
  // Idle agents are those available with nothing offered, held or in wrap-up: the ones a new
  // contact goes to at once. "Available" counts every agent whose status is available.
  const chips = [
    el("span", {
      class: "chip idle-available",
      dataset: { value: "available" },
      text: `${counts.idle} idle / ${counts.available} available`,
    }),
  ];
  for (const key of AGENT_STATES) {
    if (key === "idle" || !counts[key]) continue;
    chips.push(el("span", { class: "chip", dataset: { value: label(key) }, text: `${counts[key]} ${label(key)}` }));
  }
  const agents = part("agents");
  const summary = chips.map((c) => c.textContent).join("|");
  if (agents.dataset.summary !== summary) {
    agents.dataset.summary = summary;
    agents.replaceChildren(...chips);
  }
}

/** Seconds as m:ss, or "–" for a figure not defined yet (an average of nothing). */
function seconds(value) {
  return value === null || value === undefined ? "–" : duration(value);
}

function showTotals(queues, totals) {
  const sum = (key) => queues.reduce((n, q) => n + q[key], 0);
  setText($("total-waiting"), sum("waiting"));
  setText($("total-longest"), duration(Math.max(0, ...queues.map((q) => q.longest_wait))));
  setText($("total-sl"), percent(totals.service_level));
  setText($("total-answered"), sum("answered"));
  setText($("total-abandoned"), sum("abandoned"));
  const available = wall.board.agents.filter((a) => a.status === "available");
  setText($("total-idle"), available.filter((a) => a.state === "idle").length);
  setText($("total-available"), available.length);
  setText($("total-asa"), seconds(totals.asa));
  setText($("total-aht"), seconds(totals.aht));
  setText($("total-abandonment-rate"), percent(totals.abandonment_rate));
  setText($("total-occupancy"), percent(totals.occupancy));
}

// Charts -------------------------------------------------------------------------------------

/** A round maximum for an axis: 4, 5, 10, 20, 50… at least `value`. */
function niceMax(value) {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const CHART = { width: 480, height: 220, left: 34, right: 10, top: 16, bottom: 34 };
const plotHeight = CHART.height - CHART.top - CHART.bottom;
const plotWidth = CHART.width - CHART.left - CHART.right;

/** Horizontal grid lines and their labels at 0, max/2 and max; made once, updated in place. */
function grid(chart, max) {
  let lines = chart.querySelector(".grid-lines");
  if (!lines) {
    lines = svg("g", { class: "grid-lines" });
    for (let i = 0; i <= 2; i++) {
      const y = CHART.top + plotHeight - (plotHeight * i) / 2;
      lines.append(
        svg("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: y, y2: y }),
        svg("text", { x: CHART.left - 6, y: y + 4, class: "axis-label", "text-anchor": "end" }),
      );
    }
    chart.prepend(lines);
  }
  lines.querySelectorAll("text").forEach((text, i) => setText(text, (max * i) / 2));
}

function drawBars(queues) {
  const chart = $("bars");
  const key = queues.map((q) => q.id).join("\n");
  if (chart.dataset.queues !== key) {
    chart.replaceChildren();
    chart.dataset.queues = key;
  }
  const max = niceMax(Math.max(0, ...queues.map((q) => q.waiting + q.ringing)));
  grid(chart, max);
  const slot = plotWidth / Math.max(1, queues.length);
  const width = Math.min(56, slot * 0.6);
  const scale = (n) => (plotHeight * n) / max;
  const base = CHART.top + plotHeight;
  queues.forEach((queue, i) => {
    let group = chart.querySelector(`g.bar[data-index="${i}"]`);
    if (!group) {
      group = svg(
        "g",
        { class: `bar series-${i % SERIES}`, dataset: { index: String(i), queueId: queue.id } },
        svg("title"),
        svg("rect", { class: "waiting" }),
        svg("rect", { class: "offered" }),
        svg("text", { class: "bar-value", "text-anchor": "middle" }),
        svg("text", { class: "bar-label", "text-anchor": "middle" }),
      );
      chart.append(group);
    }
    const x = CHART.left + slot * i + (slot - width) / 2;
    const waiting = scale(queue.waiting);
    const offered = scale(queue.ringing);
    const [title, rectWaiting, rectOffered, value, name] = group.children;
    setText(title, `${queue.name}: ${queue.waiting} waiting, ${queue.ringing} offered to an agent`);
    setAttrs(rectWaiting, { x, width, y: base - waiting, height: waiting });
    setAttrs(rectOffered, { x, width, y: base - waiting - offered, height: offered });
    setAttrs(value, { x: x + width / 2, y: base - waiting - offered - 5 });
    setText(value, queue.waiting);
    setAttrs(name, { x: x + width / 2, y: base + 18 });
    setText(name, queue.name);
  });
}

function sample() {
  if (!wall.board) return;
  const waiting = {};
  for (const q of wall.board.queues) waiting[q.id] = q.waiting;
  const now = Date.now();
  wall.samples.push({ t: now, waiting });
  while (wall.samples.length && wall.samples[0].t < now - TREND_WINDOW * 1000) wall.samples.shift();
  drawTrend();
}

/** "45 s" or "6 min": how far back a point of the line chart is. */
function ago(seconds) {
  return seconds < 120 ? `−${Math.round(seconds)} s` : `−${Math.round(seconds / 60)} min`;
}

/**
 * The line chart of waiting contacts per queue. Its time axis spans the history kept, from
 * one minute (just opened) up to TREND_WINDOW, ending now.
 */
function drawTrend() {
  const chart = $("trend");
  const queues = wall.board.queues;
  const key = queues.map((q) => q.id).join("\n");
  const base = CHART.top + plotHeight;
  if (chart.dataset.queues !== key) {
    chart.replaceChildren();
    chart.dataset.queues = key;
    const legend = $("trend-legend");
    legend.replaceChildren(
      ...queues.map((q, i) =>
        el("li", {}, el("span", { class: `swatch line series-${i % SERIES}` }), q.name),
      ),
    );
    chart.append(
      svg("text", { x: CHART.left, y: base + 18, class: "axis-label from" }),
      svg("text", { x: CHART.left + plotWidth / 2, y: base + 18, class: "axis-label middle", "text-anchor": "middle" }),
      svg("text", { x: CHART.width - CHART.right, y: base + 18, class: "axis-label", "text-anchor": "end", text: "now" }),
    );
    queues.forEach((q, i) =>
      chart.append(
        svg("polyline", { class: `trend-line series-${i % SERIES}`, dataset: { queueId: q.id } }),
        svg("circle", { class: `trend-now series-${i % SERIES}`, r: 3.5, dataset: { queueId: q.id } }),
      ),
    );
  }
  const now = Date.now();
  const first = wall.samples.length ? wall.samples[0].t : now;
  const span = Math.min(TREND_WINDOW, Math.max(60, Math.ceil((now - first) / 60000) * 60)) * 1000;
  setText(chart.querySelector(".from"), ago(span / 1000));
  setText(chart.querySelector(".middle"), ago(span / 2000));
  const values = wall.samples.flatMap((s) => Object.values(s.waiting));
  const max = niceMax(Math.max(0, ...values, ...queues.map((q) => q.waiting)));
  grid(chart, max);
  const x = (t) => CHART.left + plotWidth * (1 - (now - t) / span);
  const y = (n) => CHART.top + plotHeight - (plotHeight * n) / max;
  // Each line ends now, at the queue's current figure (which holds since the last board).
  const current = Object.fromEntries(queues.map((q) => [q.id, q.waiting]));
  for (const line of chart.querySelectorAll("polyline")) {
    const id = line.dataset.queueId;
    const points = wall.samples
      .filter((s) => id in s.waiting)
      .map((s) => `${x(s.t).toFixed(1)},${y(s.waiting[id]).toFixed(1)}`);
    points.push(`${x(now).toFixed(1)},${y(current[id]).toFixed(1)}`);
    setAttrs(line, { points: points.join(" ") });
  }
  for (const dot of chart.querySelectorAll("circle")) {
    setAttrs(dot, { cx: x(now).toFixed(1), cy: y(current[dot.dataset.queueId]).toFixed(1) });
  }
}

// Service level per interval -----------------------------------------------------------------

const SL_CHART = { width: 960, height: 220, left: 44, right: 14, top: 14, bottom: 34 };
const slWidth = SL_CHART.width - SL_CHART.left - SL_CHART.right;
const slHeight = SL_CHART.height - SL_CHART.top - SL_CHART.bottom;

/**
 * One line per queue of its service level in each of the last intervals (from the server's
 * figures, `service_level_trend`), with its target dashed. An interval in which nothing
 * counted has no point, and the line breaks there.
 */
function drawServiceLevel(queues) {
  const chart = $("sl-trend");
  const trends = queues.map((q) => q.service_level_trend || []);
  const n = Math.max(0, ...trends.map((t) => t.length));
  const key = `${queues.map((q) => q.id).join("\n")}\n${n}`;
  const x = (i) => SL_CHART.left + (n <= 1 ? slWidth / 2 : (slWidth * i) / (n - 1));
  const y = (share) => SL_CHART.top + slHeight * (1 - share);
  if (chart.dataset.queues !== key) {
    chart.replaceChildren();
    chart.dataset.queues = key;
    wall.slSeries.clear();
    const lines = svg("g", { class: "grid-lines" });
    for (const share of [0, 0.5, 1]) {
      lines.append(
        svg("line", { x1: SL_CHART.left, x2: SL_CHART.width - SL_CHART.right, y1: y(share), y2: y(share) }),
        svg("text", { x: SL_CHART.left - 6, y: y(share) + 4, class: "axis-label", "text-anchor": "end", text: percent(share) }),
      );
    }
    chart.append(lines);
    for (let i = 0; i < n; i++) {
      const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle"; // the edges stay inside
      chart.append(svg("text", { x: x(i), y: SL_CHART.top + slHeight + 20, class: "axis-label x-label", "text-anchor": anchor }));
    }
    queues.forEach((q, index) => {
      const series = `series-${index % SERIES}`;
      const target = svg("line", { class: `sl-target ${series}` });
      const path = svg("path", { class: `trend-line ${series}` });
      const dots = [];
      const group = svg("g", { class: "sl-series", dataset: { queueId: q.id } }, target, path);
      for (let i = 0; i < n; i++) {
        const dot = svg("circle", { class: `trend-now ${series}`, r: 3.5 }, svg("title"));
        dots.push(dot);
        group.append(dot);
      }
      chart.append(group);
      wall.slSeries.set(q.id, { group, target, path, dots });
    });
    $("sl-trend-legend").replaceChildren(
      ...queues.map((q, i) => el("li", {}, el("span", { class: `swatch line series-${i % SERIES}` }), q.name)),
    );
  }
  chart.querySelectorAll(".x-label").forEach((label, i) => {
    const point = trends[0] && trends[0][i];
    setText(label, point ? clock(point.start) : "");
  });
  queues.forEach((q, index) => {
    const parts = wall.slSeries.get(q.id);
    const trend = trends[index];
    let d = "";
    let pen = false;
    trend.forEach((point, i) => {
      const dot = parts.dots[i];
      if (point.service_level === null) {
        pen = false;
        dot.setAttribute("visibility", "hidden");
        return;
      }
      const px = x(i).toFixed(1);
      const py = y(point.service_level).toFixed(1);
      d += `${pen ? "L" : "M"}${px},${py} `;
      pen = true;
      setAttrs(dot, { cx: px, cy: py, visibility: "visible" });
      setText(
        dot.firstChild,
        `${q.name}, ${clock(point.start)}–${clock(point.end)}: ${percent(point.service_level)} ` +
          `(${point.within_service_level} of ${point.counted_for_service_level} within ${q.service_level_threshold} s)`,
      );
    });
    setAttrs(parts.path, { d: d.trim() || "M0,0" });
    setAttrs(parts.target, {
      x1: SL_CHART.left,
      x2: SL_CHART.width - SL_CHART.right,
      y1: y(q.service_level_target),
      y2: y(q.service_level_target),
    });
    // The figures as text too, for reading and for tests: one percentage per interval, empty
    // where nothing counted.
    parts.group.dataset.values = trend
      .map((p) => (p.service_level === null ? "" : String(Math.round(p.service_level * 100))))
      .join(",");
  });
}

// Alerts -------------------------------------------------------------------------------------

/** What an alert says, in words: the queue, the figure and the threshold it passed. */
function alertText(alert, name) {
  switch (alert.kind) {
    case "service_level":
      return `${name}: service level ${percent(alert.value)} is under ${percent(alert.threshold)}`;
    case "longest_wait":
      return `${name}: a contact has waited ${duration(alert.value)}, over ${duration(alert.threshold)}`;
    case "abandonment":
      return `${name}: ${percent(alert.value)} of contacts abandoned, over ${percent(alert.threshold)}`;
    default:
      return `${name}: ${alert.kind}`;
  }
}

function showAlerts(board) {
  const alerts = board.alerts || [];
  const names = new Map(board.queues.map((q) => [q.id, q.name]));
  const items = alerts.map((alert) =>
    el("li", {
      class: "alert",
      dataset: { queueId: alert.queue, kind: alert.kind },
      text: alertText(alert, names.get(alert.queue) || alert.queue),
    }),
  );
  const list = $("alert-list");
  const summary = items.map((item) => `${item.dataset.kind}|${item.textContent}`).join("\n");
  if (list.dataset.summary !== summary) {
    list.dataset.summary = summary;
    list.replaceChildren(...items);
  }
  $("alerts").hidden = items.length === 0;
  const alerted = new Set(alerts.map((a) => a.queue));
  for (const [id, row] of wall.queueRows) row.node.dataset.alert = alerted.has(id) ? "true" : "false";
}

// Running times ------------------------------------------------------------------------------

/** Count the waits and the times in state on from the last board, every second. */
function tick() {
  if (!wall.board) return;
  const passed = Math.max(0, (Date.now() - wall.boardAt) / 1000);
  let longest = 0;
  for (const row of wall.queueRows.values()) {
    if (row.longest === null || row.longest === undefined) continue;
    longest = Math.max(longest, row.longest + passed);
    setText(row.node.querySelector(".longest"), duration(row.longest + passed));
  }
  if (longest) setText($("total-longest"), duration(longest));
  for (const row of wall.agentRows.values()) {
    if (row.inState === null || row.inState === undefined) continue;
    setText(row.node.querySelector(".in-state"), duration(row.inState + passed));
  }
}

// Agents -------------------------------------------------------------------------------------

function agentRow(agent) {
  let row = wall.agentRows.get(agent.id);
  if (row) return row;
  const node = $("agent-row-template").content.firstElementChild.cloneNode(true);
  node.dataset.agentId = agent.id;
  const form = node.querySelector("form");
  const select = form.querySelector("select");
  const reason = form.querySelector("input");
  row = { node, form, select, reason, dirty: false };
  select.addEventListener("change", () => {
    row.dirty = true;
    reason.hidden = select.value !== "break";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = { type: "status", agent_id: agent.id, status: select.value };
    if (select.value === "break" && reason.value.trim()) message.reason = reason.value.trim();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await wall.live.request(message);
      row.dirty = false;
      notify(`${row.name}: status set to ${select.value}.`, "info");
    } catch (error) {
      notify(`Could not change ${row.name}'s status: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  wall.agentRows.set(agent.id, row);
  $("agents").tBodies[0].append(node);
  return row;
}

/** Whether an agent's id only repeats its name ("Ada" and "ada"): then it is not shown twice. */
function sameName(name, id) {
  const plain = (text) => String(text).toLowerCase().replace(/[\s._-]+/g, "");
  return plain(name) === plain(id);
}

function showAgent(agent) {
  const row = agentRow(agent);
  row.name = agent.name;
  const part = (cls) => row.node.querySelector(`.${cls}`);
  setText(part("name"), agent.name);
  setText(part("agent-id"), sameName(agent.name, agent.id) ? "" : agent.id);
  const status = part("status");
  status.dataset.value = agent.status;
  setText(status, agent.status);
  setText(part("reason"), agent.status === "break" && agent.reason ? agent.reason : "");
  const state = part("state");
  state.dataset.value = agent.status === "available" ? agent.state : "none";
  setText(state, agent.status === "available" ? label(agent.state) : "–");
  const load = Object.keys(agent.capacity || {})
    .map((kind) => `${kind} ${(agent.held || {})[kind] || 0}/${agent.capacity[kind]}`)
    .join(" · ");
  setText(part("load"), load);
  row.inState = agent.time_in_state === undefined ? null : agent.time_in_state;
  setText(part("in-state"), seconds(row.inState));
  setText(part("handled"), agent.handled === null || agent.handled === undefined ? "–" : agent.handled);
  setText(part("aht"), seconds(agent.aht));
  setText(part("occupancy"), percent(agent.occupancy));
  if (!row.dirty && document.activeElement !== row.select) {
    row.select.value = agent.status;
    row.reason.value = agent.reason || "";
    row.reason.hidden = agent.status !== "break";
  }
}

// Open contacts ------------------------------------------------------------------------------

function agentName(agentId) {
  if (!agentId || !wall.board) return agentId || "–";
  const agent = wall.board.agents.find((a) => a.id === agentId);
  return agent ? agent.name : agentId;
}

function showContacts(contacts) {
  const seen = new Set();
  const body = $("contacts").tBodies[0];
  contacts.forEach((contact, index) => {
    seen.add(contact.id);
    wall.contacts.set(contact.id, contact);
    let row = wall.contactRows.get(contact.id);
    if (!row) {
      const monitor = el("button", { type: "button", class: "secondary monitor-button", text: "Monitor" });
      monitor.addEventListener("click", () => startMonitoring(contact.id));
      row = el(
        "tr",
        { dataset: { contactId: contact.id } },
        el("th", { scope: "row", class: "customer", dir: "auto" }),
        el("td", {}, el("span", { class: "badge kind" })),
        el("td", { class: "subject", dir: "auto" }),
        el("td", { class: "queue" }),
        el("td", {}, el("span", { class: "badge state" })),
        el("td", { class: "agent" }),
        el("td", { class: "num age" }),
        el("td", {}, monitor),
      );
      wall.contactRows.set(contact.id, row);
    }
    // In the server's order; rows already in place are not moved (a focused button keeps focus).
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    const part = (cls) => row.querySelector(`.${cls}`);
    setText(part("customer"), customerName(contact));
    setText(part("kind"), contact.kind || contact.channel);
    setText(part("subject"), contact.subject || "(no subject)");
    setText(part("queue"), contact.queue || "");
    part("state").dataset.value = contact.state;
    setText(part("state"), label(contact.state));
    setText(part("agent"), agentName(contact.agent_id));
    row.querySelector(".monitor-button").setAttribute("aria-label", `Monitor ${customerName(contact)}`);
  });
  for (const [id, row] of wall.contactRows) {
    if (seen.has(id)) continue;
    row.remove();
    wall.contactRows.delete(id);
    wall.contacts.delete(id);
  }
  $("no-contacts").hidden = seen.size > 0;
  applyFilters();
  showAges();
  if (wall.monitoring) {
    const contact = wall.contacts.get(wall.monitoring.id);
    showMonitored(contact || { ...wall.monitoring.contact, state: "closed" });
  }
}

function showAges() {
  if (!wall.board) return;
  for (const [id, row] of wall.contactRows) {
    const contact = wall.contacts.get(id);
    setText(row.querySelector(".age"), duration(wall.board.at - contact.created_at));
  }
}

/** Read the open contacts; at most one read at a time, and again if asked. */
async function refresh() {
  if (wall.refreshing) {
    wall.refreshAgain = true;
    return;
  }
  wall.refreshing = true;
  try {
    showContacts(await api(`${wall.base}/contacts`));
  } catch (error) {
    if (error.status !== 401) notify(`Could not read the open contacts: ${error.message}`);
  } finally {
    setTimeout(() => {
      wall.refreshing = false;
      if (wall.refreshAgain) {
        wall.refreshAgain = false;
        refresh();
      }
    }, REFRESH_EVERY);
  }
}

// Filters of the open contacts: state, queue, channel kind, agent, and a text ----------------

/** Keep a select's options in step with `options` ([value, text]), keeping the choice. */
function syncOptions(select, options) {
  const fixed = [...select.options].filter((o) => !o.dataset.dynamic);
  const wanted = options.map(([value, text]) => `${value}\u0000${text}`).join("\u0001");
  if (select.dataset.options === wanted) return;
  const chosen = select.value;
  select.replaceChildren(
    ...fixed,
    ...options.map(([value, text]) => el("option", { value, text, dataset: { dynamic: "1" } })),
  );
  select.dataset.options = wanted;
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
}

function contactMatches(contact, filters) {
  if (filters.state && contact.state !== filters.state) return false;
  if (filters.queue && contact.queue !== filters.queue) return false;
  if (filters.kind && (contact.kind || contact.channel) !== filters.kind) return false;
  if (filters.agent === "-" && contact.agent_id) return false;
  if (filters.agent && filters.agent !== "-" && contact.agent_id !== filters.agent) return false;
  if (!filters.text) return true;
  const customer = contact.customer || {};
  return [contact.id, contact.subject, customer.name, customer.address, customerName(contact)].some((field) =>
    String(field || "").toLowerCase().includes(filters.text),
  );
}

/** Hide the rows the filters leave out, and say how many are shown. */
function applyFilters() {
  const board = wall.board || { queues: [], agents: [] };
  syncOptions($("filter-queue"), board.queues.map((q) => [q.id, q.name]));
  const kinds = [...new Set([...wall.contacts.values()].map((c) => c.kind || c.channel))].sort();
  syncOptions($("filter-kind"), kinds.map((kind) => [kind, kind]));
  syncOptions($("filter-agent"), board.agents.map((a) => [a.id, a.name]));
  const filters = {
    text: $("filter-text").value.trim().toLowerCase(),
    state: $("filter-state").value,
    queue: $("filter-queue").value,
    kind: $("filter-kind").value,
    agent: $("filter-agent").value,
  };
  let shown = 0;
  for (const [id, row] of wall.contactRows) {
    const match = contactMatches(wall.contacts.get(id), filters);
    row.hidden = !match;
    if (match) shown += 1;
  }
  const total = wall.contactRows.size;
  const filtering = Object.values(filters).some(Boolean);
  setText($("contacts-count"), filtering ? `${shown} of ${total} shown` : `${total} open`);
  $("no-match").hidden = !(filtering && total > 0 && shown === 0);
}

function wireFilters() {
  const form = $("contact-filters");
  form.addEventListener("input", applyFilters);
  form.addEventListener("change", applyFilters);
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => setTimeout(applyFilters, 0));
}

// Monitoring ---------------------------------------------------------------------------------

function showMonitored(contact) {
  wall.monitoring.contact = contact;
  setText($("monitor-subject"), contact.subject || "(no subject)");
  setText($("monitor-kind"), contact.kind || contact.channel || "");
  setText($("monitor-customer"), customerName(contact));
  setText($("monitor-agent"), agentName(contact.agent_id));
  $("monitor-state").dataset.value = contact.state;
  setText($("monitor-state"), label(contact.state));
}

/** The monitored customer's name, for their messages; empty when they gave none. */
function monitoredName() {
  const contact = (wall.monitoring && wall.monitoring.contact) || {};
  return (contact.customer || {}).name || "";
}

async function startMonitoring(contactId) {
  const before = wall.monitoring;
  if (before && before.id !== contactId) wall.live.send({ type: "unmonitor", contact_id: before.id });
  const contact = wall.contacts.get(contactId) || (before && before.id === contactId && before.contact);
  wall.monitoring = { id: contactId, contact, thread: new Thread(), loaded: false };
  const panel = $("monitor");
  panel.hidden = false;
  panel.dataset.contactId = contactId;
  showMonitored(contact);
  $("monitor-messages").replaceChildren();
  try {
    // Ask for live messages first, then read those before: nothing falls in between.
    await wall.live.request({ type: "monitor", contact_id: contactId });
    const detail = await api(`${wall.base}/contacts/${encodeURIComponent(contactId)}`);
    if (!wall.monitoring || wall.monitoring.id !== contactId) return;
    wall.monitoring.thread.load(detail.messages);
    wall.monitoring.loaded = true;
    const list = $("monitor-messages");
    list.replaceChildren(...wall.monitoring.thread.messages.map((m) => messageItem(m, monitoredName())));
    list.scrollTop = list.scrollHeight;
    panel.scrollIntoView({ block: "nearest" });
  } catch (error) {
    notify(`Could not monitor this contact: ${error.message}`);
    if (wall.monitoring && wall.monitoring.id === contactId) {
      wall.monitoring = null;
      panel.hidden = true;
    }
  }
}

function stopMonitoring() {
  if (!wall.monitoring) return;
  wall.live.send({ type: "unmonitor", contact_id: wall.monitoring.id });
  wall.monitoring = null;
  $("monitor").hidden = true;
}

function monitored(contactId, message) {
  const watch = wall.monitoring;
  if (!watch || watch.id !== contactId || !watch.thread.add(message) || !watch.loaded) return;
  const list = $("monitor-messages");
  list.append(messageItem(message, monitoredName()));
  list.scrollTop = list.scrollHeight;
}

// The socket ---------------------------------------------------------------------------------

function showBoard(board) {
  wall.board = board;
  wall.boardAt = Date.now();
  for (const queue of board.queues) showQueue(queue);
  for (const agent of board.agents) showAgent(agent);
  showTotals(board.queues, board.totals);
  showAlerts(board);
  drawBars(board.queues);
  drawServiceLevel(board.queues);
  if (!wall.samples.length) sample();
  else drawTrend();
  showAges();
  setText($("updated"), `updated ${new Date().toLocaleTimeString()}`);
  document.body.dataset.ready = "true";
  refresh();
}

function onMessage(message) {
  switch (message.type) {
    case "board":
      showBoard(message);
      break;
    case "hello":
      // A new connection monitors nothing yet: pick up where the last one was.
      if (wall.monitoring) startMonitoring(wall.monitoring.id);
      break;
    case "message":
      monitored(message.contact_id, message.message);
      break;
    case "error":
      notify(message.error);
      break;
    default:
      break;
  }
}

async function start() {
  wall.me = await api("/api/v1/me");
  wall.base = `/api/v1/workspaces/${encodeURIComponent(wall.me.workspace)}`;
  const workspace = await api(wall.base);
  setText($("workspace-name"), workspace.name);
  $("monitor-stop").addEventListener("click", stopMonitoring);
  wireFilters();
  wall.live = new LiveSocket("/ws/supervisor", { onMessage });
  wall.live.onState = connectionIndicator($("connection"), wall.live);
  wall.live.connect();
  setInterval(sample, SAMPLE_EVERY);
  setInterval(tick, TICK_EVERY);
}

start().catch((error) => notify(`The wallboard could not start: ${error.message}`));
