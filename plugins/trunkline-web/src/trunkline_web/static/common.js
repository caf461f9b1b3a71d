// What the agent desktop and the wallboard share: building elements (text only), the API,
// a WebSocket that reconnects with backoff, and formatting.
//
// Safety: anything that comes from a customer, an agent or a queue reaches the page as text
// (text nodes and textContent), never parsed as markup. `el` refuses event-handler
// attributes so no caller can slip one in. Text a customer wrote (names, subjects, bodies)
// sits in an element of its own with dir="auto", which isolates its bidirectional controls
// (U+202E and the like) so they cannot reorder the text around it; a file name also shows
// its controls as visible markers (see `fileName`).

const SVG_NS = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (/^on/i.test(name)) throw new Error(`el: event attribute ${name} is not allowed`);
    if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element with attributes and children; strings become text nodes. */
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element (charts); same rules as `el`. */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Set an element's text, touching the DOM only when it changes (charts update in place). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Set SVG/HTML attributes in place, only those that changed. */
export function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    const text = String(value);
    if (node.getAttribute(name) !== text) node.setAttribute(name, text);
  }
}

// Bidirectional text -------------------------------------------------------------------------

// Unicode's Bidi_Control characters: ALM, LRM, RLM, the embeddings and overrides
// (LRE RLE PDF LRO RLO) and the isolates (LRI RLI FSI PDI).
const BIDI_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** `text` with each bidirectional control replaced by a visible marker such as ⟨U+202E⟩. */
export function visibleControls(text) {
  return String(text).replace(
    BIDI_CONTROL,
    (c) => `⟨U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}⟩`,
  );
}

/**
 * A file name as an element: its controls made visible and the rest laid out left to right
 * in an isolate of its own, so the end one reads is the name's real end (its extension):
 * "invoice\u202Efdp.exe" shows as "invoice⟨U+202E⟩fdp.exe", never as "invoiceexe.pdf".
 */
export function fileName(name) {
  return el("bdi", { class: "filename", dir: "ltr" }, visibleControls(name));
}

// The REST API -------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Call the REST API with the session cookie; JSON in and out. 401 goes back to sign-in. */
export async function api(path, options = {}) {
  const init = { method: options.method || "GET", credentials: "same-origin", headers: {} };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const answer = await fetch(path, init);
  if (answer.status === 401) {
    window.location.assign("/login");
    throw new ApiError(401, "signed out");
  }
  let data = null;
  try {
    data = await answer.json();
  } catch (_) {
    data = null;
  }
  if (!answer.ok) {
    throw new ApiError(answer.status, (data && data.error) || `HTTP ${answer.status}`);
  }
  return data;
}

// The live connection ------------------------------------------------------------------------

const BACKOFF_FIRST = 500; // ms before the first reconnection attempt
const BACKOFF_MAX = 15000; // ms between attempts at most

/**
 * A WebSocket to `path` that reconnects with exponential backoff (and some jitter) when it
 * drops, and answers requests: `request({type, …})` resolves with the server's `ack` for
 * the request's `ref`, or rejects with its `error`.
 *
 * `onMessage(message)` gets every other message; `onState(state, detail)` is told
 * "connecting", "open", or "closed" with `{retryAt}` (ms since epoch of the next attempt).
 */
export class LiveSocket {
  constructor(path, { onMessage, onState }) {
    this.url = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}${path}`;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.socket = null;
    this.pending = new Map();
    this.nextRef = 1;
    this.delay = BACKOFF_FIRST;
    this.timer = null;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.onState("connecting", {});
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => this.onState("open", {}));
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failPending("the connection was lost; try again");
      this.scheduleReconnect();
    });
  }

  async scheduleReconnect() {
    // A socket refused because the session ended looks like any drop: ask who we are.
    try {
      await api("/api/v1/me");
    } catch (error) {
      if (error.status === 401) return; // api() is taking us to the sign-in page
    }
    const wait = Math.min(this.delay, BACKOFF_MAX) * (0.8 + Math.random() * 0.4);
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX);
    this.onState("closed", { retryAt: Date.now() + wait });
    this.timer = setTimeout(() => this.connect(), wait);
  }

  /** Reconnect now rather than at the end of the backoff ("Retry now"). */
  retryNow() {
    if (this.socket === null) this.connect();
  }

  receive(raw) {
    // A server that talks is back: the next drop starts the backoff afresh. (Resetting on
    // "open" would reconnect in a tight loop to a server that accepts and hangs up.)
    this.delay = BACKOFF_FIRST;
    let message;
    try {
      message = JSON.parse(raw);
    } catch (_) {
      return;
    }
    if ((message.type === "ack" || message.type === "error") && this.pending.has(message.ref)) {
      const { resolve, reject } = this.pending.get(message.ref);
      this.pending.delete(message.ref);
      if (message.type === "ack") resolve(message);
      else reject(new ApiError(0, message.error));
      return;
    }
    this.onMessage(message);
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Send without expecting an answer (typing). Dropped silently while disconnected. */
  send(message) {
    if (this.open) this.socket.send(JSON.stringify(message));
  }

  request(message) {
    return new Promise((resolve, reject) => {
      if (!this.open) {
        reject(new ApiError(0, "not connected; wait for the connection to come back"));
        return;
      }
      const ref = this.nextRef++;
      this.pending.set(ref, { resolve, reject });
      this.socket.send(JSON.stringify({ ...message, ref }));
    });
  }

  failPending(reason) {
    for (const { reject } of this.pending.values()) reject(new ApiError(0, reason));
    this.pending.clear();
  }
}

/** Show the connection's state in `node` (and a "Retry now" button while it is down). */
export function connectionIndicator(node, live) {
  let tick = null;
  const retry = el("button", { type: "button", class: "link", text: "Retry now" });
  retry.addEventListener("click", () => live.retryNow());
  const label = el("span");
  node.replaceChildren(label);
  return (state, detail) => {
    clearInterval(tick);
    node.dataset.state = state;
    if (state === "open") {
      label.textContent = "Connected";
      retry.remove();
    } else if (state === "connecting") {
      label.textContent = "Connecting…";
      retry.remove();
    } else {
      const show = () => {
        const seconds = Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000));
        label.textContent = `Disconnected: reconnecting in ${seconds} s`;
      };
      show();
      tick = setInterval(show, 500);
      node.append(" ", retry);
    }
  };
}

// Notices ------------------------------------------------------------------------------------

/** A line at the top of the page for errors and news; each disappears after a while. */
export function notify(text, kind = "error") {
  const box = document.getElementById("notices");
  const item = el("li", { class: `notice ${kind}`, text });
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// Formatting ---------------------------------------------------------------------------------

/** Seconds as "0:07", "12:30" or "1:02:03". */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** A time of day for a server timestamp (seconds since the epoch). */
export function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A date and time for a server timestamp. */
export function when(seconds) {
  return new Date(seconds * 1000).toLocaleString([], {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)}%`;
}

/** The first words of a text, for previews. */
export function firstWords(text, length = 90) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

/** "wrap-up" → "wrap-up"; status and state values are shown as the API names them. */
export function label(value) {
  return String(value || "").replace(/_/g, "-");
}

/** The part of an address people read: "memory:carol" → "carol". */
export function addressName(address) {
  const text = String(address || "");
  const colon = text.indexOf(":");
  return colon >= 0 ? text.slice(colon + 1) : text;
}

/** The customer of a contact: their name when the API gives one, else the address they wrote from. */
export function customerName(contact) {
  const customer = contact.customer || {};
  return customer.name || addressName(customer.address) || "customer";
}

/**
 * A message as a list item: who, when, the body (as text), attachments by name. A customer's
 * message is shown as from ``customer``, their name, when they gave one; else from the address
 * it came by (a web-chat address is a hash, so say the name whenever there is one).
 */
export function messageItem(message, customer = "") {
  const inbound = message.direction === "inbound";
  const who = inbound ? customer || addressName(message.sender) || "Customer" : "Agent";
  const item = el(
    "li",
    { class: `message ${inbound ? "inbound" : "outbound"}`, dataset: { messageId: message.id } },
    el(
      "div",
      { class: "message-meta" },
      el("span", { class: "who", dir: "auto", text: who }),
      " · ",
      clock(message.created_at),
    ),
    el("div", { class: "body", dir: "auto", text: message.body }),
  );
  for (const file of message.attachments || []) {
    item.append(el("div", { class: "attachment" }, "📎 ", fileName(file.filename), ` (${file.size} bytes)`));
  }
  return item;
}

/**
 * The messages of one contact, in order and without duplicates: those read from the API
 * first, then those that arrived live and were not in that answer.
 */
export class Thread {
  constructor() {
    this.known = [];
    this.live = [];
    this.ids = new Set();
  }

  /** The messages from `GET …/contacts/{id}`; live ones already in it are dropped. */
  load(messages) {
    this.known = messages.slice();
    const loaded = new Set(messages.map((m) => m.id));
    this.live = this.live.filter((m) => !loaded.has(m.id));
    this.ids = new Set([...loaded, ...this.live.map((m) => m.id)]);
  }

  /** A message pushed live; false when it was already there. */
  add(message) {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    this.live.push(message);
    return true;
  }

  get messages() {
    return [...this.known, ...this.live];
  }
}
