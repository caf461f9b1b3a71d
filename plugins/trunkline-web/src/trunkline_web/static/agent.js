// The agent desktop: status with its timer, offers with a countdown (and a sound and a
// desktop notification), several conversations at once with the customer's profile and
// history, replies with canned responses, private notes, transfers, attachments, a search of
// contacts and customers, and wrap-up with a disposition.
//
// It reads the REST API for details (the workspace's dispositions, a contact's messages,
// notes and history) and lives on the agent WebSocket (/ws/agent) for everything that changes.
// Customer content is shown as text only, each piece isolated (see common.js).

import {
  LiveSocket,
  Thread,
  api,
  clock,
  connectionIndicator,
  customerName,
  duration,
  el,
  firstWords,
  label,
  messageItem,
  notify,
  setText,
  visibleControls,
  when,
} from "./common.js";

const TYPING_SHOWN = 4000; // ms a "customer is typing" hint stays after the last signal
const TYPING_EVERY = 2500; // ms between two typing signals we send while the agent types
const TICK = 250; // ms between two countdown updates

const $ = (id) => document.getElementById(id);
const fromTemplate = (id) => $(id).content.firstElementChild.cloneNode(true);

const desk = {
  me: null, // {workspace, username, role, agent}
  base: "", // /api/v1/workspaces/{w}
  dispositions: [],
  agent: null, // the agent as the API shows it
  agentPushes: 0, // "agent" messages received, to tell a stale read from a fresh one
  offers: new Map(), // offer id -> {offer, contact, length, deadline, node}
  contacts: new Map(), // contact id -> Conversation
  selected: null, // contact id shown
  selectNext: null, // contact id to show as soon as it arrives (just accepted)
  live: null,
  skew: 0, // seconds to add to the browser's clock to read the server's (from the hello)
  directory: { queues: [], agents: [] }, // where a contact can be transferred
  viewer: null, // a read-only Conversation opened from the search, or null
};

/** The server's time now, in seconds since the epoch (the browser's clock, corrected). */
const serverNow = () => Date.now() / 1000 + desk.skew;

// Status -------------------------------------------------------------------------------------

function showAgent(agent) {
  desk.agent = agent;
  const status = $("my-status");
  status.dataset.value = agent.status;
  status.textContent = agent.status === "break" && agent.reason ? `break: ${agent.reason}` : agent.status;
  const state = $("my-state");
  state.dataset.value = agent.state;
  state.textContent = label(agent.state);
  const kinds = Object.keys(agent.capacity || {});
  $("my-load").textContent = kinds
    .map((kind) => `${kind} ${(agent.held || {})[kind] || 0}/${agent.capacity[kind]}`)
    .join(" · ");
  for (const button of document.querySelectorAll("[data-status]")) {
    button.setAttribute("aria-pressed", String(button.dataset.status === agent.status));
  }
  $("me-name").textContent = agent.name;
  tickTimers();
}

/**
 * Read our agent again: the socket says when an offer closes, not when one opens, and the
 * state ("offered") changes then. A push that arrives meanwhile is newer and wins.
 */
async function rereadAgent() {
  const pushes = desk.agentPushes;
  try {
    const [agent] = await api(`${desk.base}/agents`);
    if (agent && desk.agentPushes === pushes) showAgent(agent);
  } catch (_) {
    // The next push brings it.
  }
}

async function setStatus(status, reason) {
  const message = { type: "status", status };
  if (reason) message.reason = reason;
  try {
    await desk.live.request(message);
  } catch (error) {
    notify(`Could not change your status: ${error.message}`);
  }
}

function wireStatus() {
  const form = $("break-form");
  for (const button of document.querySelectorAll("[data-status]")) {
    button.addEventListener("click", () => {
      if (button.dataset.status === "break") {
        form.hidden = false;
        $("break-reason").focus();
        return;
      }
      form.hidden = true;
      if (button.dataset.status === "available") prepareAlerts(); // a user gesture: ask now
      setStatus(button.dataset.status);
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.hidden = true;
    setStatus("break", $("break-reason").value.trim());
  });
  $("break-cancel").addEventListener("click", () => {
    form.hidden = true;
  });
}

// Offers -------------------------------------------------------------------------------------

function refreshEmptyNotes() {
  $("no-offers").hidden = desk.offers.size > 0;
  $("no-contacts").hidden = desk.contacts.size > 0;
  $("no-conversation").hidden = desk.contacts.size > 0 || desk.viewer !== null;
}

/**
 * Show an offer. The countdown runs on the browser's clock for the offer's length in the
 * server's clock (`expires_at - created_at`): the two clocks need not agree. An offer
 * already open when we connect has less left: `expires_at - now`, with the server's `now`
 * when the hello gives it (`at`).
 */
function addOffer(offer, contact, serverNow) {
  if (desk.offers.has(offer.id)) return;
  const length = Math.max(0, offer.expires_at - offer.created_at);
  const left = serverNow === undefined ? length : Math.max(0, Math.min(length, offer.expires_at - serverNow));
  const node = fromTemplate("offer-template");
  node.dataset.offerId = offer.id;
  node.dataset.contactId = contact.id;
  node.querySelector(".kind").textContent = contact.kind || contact.channel;
  node.querySelector(".queue").textContent = `queue ${offer.queue}`;
  node.querySelector(".subject").textContent = contact.subject || "(no subject)";
  node.querySelector(".customer").textContent = customerName(contact);
  node.querySelector(".preview").textContent = "…";
  const entry = { offer, contact, length, deadline: performance.now() + left * 1000, node };
  desk.offers.set(offer.id, entry);
  const accept = node.querySelector(".accept");
  const reject = node.querySelector(".reject");
  accept.addEventListener("click", () => answerOffer(entry, "accept"));
  reject.addEventListener("click", () => answerOffer(entry, "reject"));
  $("offers").append(node);
  tickOffer(entry, performance.now());
  refreshEmptyNotes();
  // The offer names the contact; its first words come with the contact's messages.
  api(`${desk.base}/contacts/${encodeURIComponent(contact.id)}`)
    .then((detail) => {
      const first = detail.messages.find((m) => m.direction === "inbound") || detail.messages[0];
      node.querySelector(".preview").textContent = first ? firstWords(first.body) : "";
      node.querySelector(".customer").textContent = customerName(detail);
    })
    .catch(() => {
      node.querySelector(".preview").textContent = "";
    });
}

function tickOffer(entry, now) {
  const left = Math.max(0, (entry.deadline - now) / 1000);
  const text = left > 0 ? `${Math.ceil(left)} s` : "time is up";
  const countdown = entry.node.querySelector(".countdown");
  if (countdown.textContent !== text) countdown.textContent = text;
  entry.node.querySelector(".countdown-bar").value = entry.length ? left / entry.length : 0;
  entry.node.classList.toggle("urgent", left <= 5);
}

async function answerOffer(entry, how) {
  for (const button of entry.node.querySelectorAll("button")) button.disabled = true;
  if (how === "accept") desk.selectNext = entry.contact.id;
  try {
    await desk.live.request({ type: how, offer_id: entry.offer.id });
  } catch (error) {
    notify(`Could not ${how} the offer: ${error.message}`);
    if (/not open/.test(error.message)) removeOffer(entry.offer.id);
    else for (const button of entry.node.querySelectorAll("button")) button.disabled = false;
  }
}

function removeOffer(offerId) {
  const entry = desk.offers.get(offerId);
  if (!entry) return;
  entry.node.remove();
  desk.offers.delete(offerId);
  refreshEmptyNotes();
}

const OUTCOMES = {
  timed_out: "An offer timed out and went back to the queue.",
  rescinded: "An offer was withdrawn (the customer left or it went elsewhere).",
};

// Conversations ------------------------------------------------------------------------------

/** One contact the agent handles: its tab, its panel, its messages and notes. A read-only
 * one (opened from the search) has a panel only, without the reply box or the actions. */
class Conversation {
  constructor(id, { readOnly = false } = {}) {
    this.id = id;
    this.readOnly = readOnly;
    this.contact = null;
    this.thread = new Thread();
    this.notes = new Map(); // note id -> note
    this.acceptedAt = null; // server time the agent accepted it: the handle time's start
    this.canned = null; // the canned responses for this contact, read on first use
    this.picker = { items: [], active: 0 };
    this.mode = "reply"; // or "note"
    this.transferring = false;
    this.loaded = false;
    this.typingTimer = null;
    this.lastTypingSent = 0;
    this.tab = fromTemplate("tab-template");
    this.tab.dataset.contactId = id;
    this.tab.id = `tab-${id}`;
    this.panel = fromTemplate("conversation-template");
    this.panel.dataset.contactId = id;
    this.panel.id = readOnly ? `viewer-${id}` : `conversation-${id}`;
    this.tab.setAttribute("aria-controls", this.panel.id);
    if (readOnly) {
      this.panel.setAttribute("role", "region");
      this.panel.setAttribute("aria-label", "Contact (read only)");
    } else {
      this.panel.setAttribute("aria-labelledby", this.tab.id);
    }
    this.tab.addEventListener("click", () => select(id));
    this.wire();
  }

  part(selector) {
    return this.panel.querySelector(selector);
  }

  wire() {
    const form = this.part(".reply");
    const text = form.querySelector("textarea");
    text.addEventListener("keydown", (event) => {
      if (this.pickerKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    text.addEventListener("input", () => {
      const now = Date.now();
      if (this.mode === "reply" && text.value && now - this.lastTypingSent > TYPING_EVERY) {
        this.lastTypingSent = now;
        desk.live.send({ type: "typing", contact_id: this.id });
      }
      this.pickerFollow();
      this.placeholdersLeft();
    });
    text.addEventListener("blur", () => setTimeout(() => this.closePicker(), 150));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.mode === "note") this.addNote(text);
      else this.reply(text);
    });
    this.part(".mode-reply").addEventListener("click", () => this.setMode("reply"));
    this.part(".mode-note").addEventListener("click", () => this.setMode("note"));
    this.part(".end").addEventListener("click", () => this.end());
    this.wireTransfer();
    this.part(".viewer-close").addEventListener("click", () => closeViewer());
    const wrapUp = this.part(".wrap-up");
    wrapUp.addEventListener("submit", (event) => {
      event.preventDefault();
      this.close(wrapUp.querySelector("select").value);
    });
    const select = wrapUp.querySelector("select");
    if (desk.dispositions.length) {
      select.required = true;
      select.append(el("option", { value: "", disabled: true, selected: true, text: "Choose…" }));
    } else {
      select.append(el("option", { value: "", text: "No codes in this workspace" }));
    }
    for (const code of desk.dispositions) select.append(el("option", { value: code, text: code }));
    if (this.readOnly) {
      for (const part of [".reply", ".wrap-up", ".end", ".transfer-open"]) this.part(part).hidden = true;
      this.part(".viewer-close").hidden = false;
      this.part(".read-only").hidden = false;
    }
  }

  /** Reply to the customer, or write a private note that only colleagues read. */
  setMode(mode) {
    this.mode = mode;
    const form = this.part(".reply");
    const note = mode === "note";
    form.classList.toggle("note-mode", note);
    this.part(".mode-reply").setAttribute("aria-pressed", String(!note));
    this.part(".mode-note").setAttribute("aria-pressed", String(note));
    const text = form.querySelector("textarea");
    text.setAttribute("aria-label", note ? "Private note" : "Reply");
    text.placeholder = note
      ? "A private note for your colleagues: the customer never sees it."
      : "Write a reply. Enter sends, Shift+Enter starts a new line, / picks a canned response.";
    this.part(".send").textContent = note ? "Add note" : "Send";
    this.closePicker();
  }

  async reply(text) {
    const body = text.value;
    if (!body.trim()) return;
    const send = this.part(".send");
    send.disabled = true;
    try {
      await desk.live.request({ type: "reply", contact_id: this.id, text: body });
      if (text.value === body) text.value = "";
      this.lastTypingSent = 0;
      this.placeholdersLeft();
    } catch (error) {
      notify(`Your reply was not sent: ${error.message}`);
    } finally {
      send.disabled = false;
      text.focus();
    }
  }

  async addNote(text) {
    const body = text.value;
    if (!body.trim()) return;
    const send = this.part(".send");
    send.disabled = true;
    try {
      const note = await api(`${desk.base}/contacts/${encodeURIComponent(this.id)}/notes`, {
        method: "POST",
        body: { text: body },
      });
      if (text.value === body) text.value = "";
      this.receiveNote(note);
    } catch (error) {
      notify(`Your note was not added: ${error.message}`);
    } finally {
      send.disabled = false;
      text.focus();
    }
  }

  async end() {
    this.part(".end").disabled = true;
    try {
      await desk.live.request({ type: "end", contact_id: this.id });
    } catch (error) {
      notify(`Could not end the conversation: ${error.message}`);
      this.part(".end").disabled = false;
    }
  }

  async close(disposition) {
    const button = this.part(".close-contact");
    button.disabled = true;
    const message = { type: "close", contact_id: this.id };
    if (disposition) message.disposition = disposition;
    try {
      await desk.live.request(message);
      remove(this.id); // closed: the server forgets it too
    } catch (error) {
      notify(`Could not close the contact: ${error.message}`);
      button.disabled = false;
    }
  }

  /** The contact's summary changed (accepted, ended, transferred…). */
  show(contact) {
    // A push carries the contact's summary; the name read with its details stays.
    const before = (this.contact && this.contact.customer) || {};
    this.contact = { ...(this.contact || {}), ...contact };
    if (contact.customer) {
      this.contact.customer = { ...before, ...contact.customer, name: contact.customer.name || before.name || "" };
    }
    const c = this.contact;
    for (const node of [this.tab, this.panel]) {
      node.querySelector(".kind").textContent = c.kind || c.channel || "";
      node.querySelector(".customer").textContent = customerName(c);
      node.querySelector(".subject").textContent = c.subject || "(no subject)";
      const state = node.querySelector(".state");
      state.dataset.value = c.state;
      state.textContent = label(c.state);
    }
    this.part(".queue").textContent = c.queue || "";
    if (this.readOnly) return;
    const wrapping = c.state === "wrap-up";
    this.part(".wrap-up").hidden = !wrapping;
    this.part(".end").hidden = wrapping;
    this.part(".transfer-open").hidden = wrapping;
    this.part(".mode-reply").disabled = wrapping; // after the end: notes only
    if (wrapping && this.mode !== "note") this.setMode("note");
    this.panel.classList.toggle("wrapping-up", wrapping);
    if (contact.state !== "active" && contact.state !== "wrap-up") this.acceptedAt = null;
    this.tickTime();
  }

  async load() {
    try {
      const detail = await api(`${desk.base}/contacts/${encodeURIComponent(this.id)}`);
      const { messages, history, notes, accepted_at: acceptedAt, ...contact } = detail;
      this.acceptedAt = acceptedAt;
      this.show(contact);
      this.thread.load(messages);
      for (const note of notes || []) this.notes.set(note.id, note);
      this.loaded = true;
      this.renderMessages();
      this.renderProfile(contact);
      this.renderHistory(history);
    } catch (error) {
      if (error.status === 404 && !this.readOnly) remove(this.id);
      else notify(`Could not load the conversation: ${error.message}`);
    }
  }

  /** Messages and notes in the order they were written. */
  renderMessages() {
    const list = this.part(".messages");
    const items = [
      ...this.thread.messages.map((m) => ({ at: m.created_at, node: () => deskMessage(m, this.customerLabel) })),
      ...[...this.notes.values()].map((n) => ({ at: n.created_at, node: () => noteItem(n) })),
    ];
    items.sort((a, b) => a.at - b.at); // stable: a message and a note at one instant keep order
    list.replaceChildren(...items.map((item) => item.node()));
    list.scrollTop = list.scrollHeight;
  }

  /** The customer's name, for their messages; empty when they gave none. */
  get customerLabel() {
    return ((this.contact && this.contact.customer) || {}).name || "";
  }

  renderProfile(contact) {
    const customer = contact.customer || {};
    const name = this.part(".profile-name");
    name.textContent = customer.name || "";
    name.hidden = !customer.name; // no name given: the addresses say who it is
    const addresses = this.part(".addresses");
    addresses.replaceChildren(
      ...(customer.addresses || []).map((a) =>
        el("li", {}, el("span", { class: "badge kind", text: a.kind }), " ", el("span", { class: "value", dir: "auto", text: a.value })),
      ),
    );
    const attributes = this.part(".attributes");
    attributes.replaceChildren();
    for (const [key, value] of Object.entries(contact.attributes || {})) {
      const shown = typeof value === "string" ? value : JSON.stringify(value);
      attributes.append(el("dt", { dir: "auto", text: key }), el("dd", { dir: "auto", text: shown }));
    }
  }

  renderHistory(history) {
    const list = this.part(".history-list");
    list.replaceChildren();
    history.forEach((other, index) => {
      const items = [...other.messages.map((m) => deskMessage(m, this.customerLabel)), ...(other.notes || []).map(noteItem)];
      const details = el(
        "details",
        { open: index === 0 },
        el(
          "summary",
          {},
          el("span", { class: "badge kind", text: other.kind || other.channel }),
          " ",
          el("span", { class: "subject", dir: "auto", text: other.subject || "(no subject)" }),
          el("span", { class: "muted", text: ` · ${when(other.created_at)} · ${label(other.state)}` }),
        ),
        el("ol", { class: "messages compact" }, ...items),
      );
      list.append(el("li", { dataset: { contactId: other.id } }, details));
    });
    this.part(".no-history").hidden = history.length > 0;
  }

  /** A message pushed live. */
  receive(message) {
    if (!this.thread.add(message)) return;
    if (message.direction === "inbound") this.typing(false);
    if (!this.loaded) return; // shown when the contact's details arrive
    this.append(deskMessage(message, this.customerLabel), message.direction !== "inbound");
    if (desk.selected !== this.id) this.tab.querySelector(".unread").hidden = false;
  }

  /** A note, pushed live or just added here (each shown once). */
  receiveNote(note) {
    if (this.notes.has(note.id)) return;
    this.notes.set(note.id, note);
    if (this.loaded) this.append(noteItem(note), true);
  }

  append(node, scroll) {
    const list = this.part(".messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(node);
    if (atBottom || scroll) list.scrollTop = list.scrollHeight;
  }

  typing(on) {
    clearTimeout(this.typingTimer);
    this.part(".typing").hidden = !on;
    this.tab.classList.toggle("typing", on);
    if (on) this.typingTimer = setTimeout(() => this.typing(false), TYPING_SHOWN);
  }

  /** The handle time: from the accept, while the agent holds the contact. */
  tickTime() {
    const node = this.part(".handle-time");
    const holding = this.acceptedAt !== null && this.contact && ["active", "wrap-up"].includes(this.contact.state);
    node.hidden = !holding || this.readOnly;
    if (!node.hidden) setText(node, `handle time ${duration(serverNow() - this.acceptedAt)}`);
  }

  // Canned responses: "/" at the start of the reply opens the list, what follows filters it.

  async pickerFollow() {
    const text = this.part(".reply textarea");
    const typed = this.mode === "reply" ? /^\/(\S*)$/.exec(text.value) : null;
    if (!typed) {
      this.closePicker();
      return;
    }
    if (this.canned === null) {
      this.canned = []; // one read at a time
      try {
        this.canned = await api(`${desk.base}/contacts/${encodeURIComponent(this.id)}/canned`);
      } catch (error) {
        this.canned = null;
        notify(`Could not read the canned responses: ${error.message}`);
        return;
      }
    }
    const query = typed[1].toLowerCase();
    const items = this.canned.filter((c) =>
      [c.shortcut, c.title, c.text].some((field) => field.toLowerCase().includes(query)),
    );
    this.picker = { items, active: 0 };
    this.drawPicker();
  }

  drawPicker() {
    const list = this.part(".canned-list");
    const { items, active } = this.picker;
    list.replaceChildren(
      ...items.map((item, index) => {
        const option = el(
          "li",
          { role: "option", class: "canned-item", "aria-selected": String(index === active), dataset: { shortcut: item.shortcut } },
          el("span", { class: "canned-title", dir: "auto", text: item.title }),
          " ",
          el("span", { class: "canned-shortcut muted", text: `/${item.shortcut}` }),
          el("span", { class: "canned-text muted", dir: "auto", text: firstWords(item.text, 120) }),
        );
        option.addEventListener("mousedown", (event) => {
          event.preventDefault(); // keep the focus in the reply box
          this.choose(item);
        });
        return option;
      }),
    );
    if (!items.length) list.append(el("li", { class: "canned-none muted", text: "No canned response matches." }));
    list.hidden = false;
  }

  closePicker() {
    this.picker = { items: [], active: 0 };
    this.part(".canned-list").hidden = true;
  }

  /** Keys while the list is open: arrows move, Enter or Tab chooses, Escape closes. */
  pickerKey(event) {
    if (this.part(".canned-list").hidden) return false;
    const { items } = this.picker;
    if (event.key === "Escape") {
      this.closePicker();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!items.length) return true;
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.picker.active = (this.picker.active + step + items.length) % items.length;
      this.drawPicker();
    } else if ((event.key === "Enter" || event.key === "Tab") && items.length) {
      this.choose(items[this.picker.active]);
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  choose(item) {
    const text = this.part(".reply textarea");
    text.value = item.text;
    this.closePicker();
    text.focus();
    this.placeholdersLeft();
  }

  /** Placeholders still in the reply (no value for this contact) are named, to fill in. */
  placeholdersLeft() {
    const hint = this.part(".placeholders");
    const text = this.part(".reply textarea").value;
    const left = [...new Set(text.match(/\{\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}\}/g) || [])];
    hint.hidden = left.length === 0 || this.mode !== "reply";
    hint.textContent = left.length ? `Fill in before sending: ${left.join(", ")}` : "";
  }

  // Transfers ---------------------------------------------------------------------------------

  wireTransfer() {
    const form = this.part(".transfer");
    this.part(".transfer-open").addEventListener("click", async () => {
      await readDirectory();
      this.fillTransfer();
      form.hidden = false;
      form.querySelector("select").focus();
    });
    this.part(".transfer-cancel").addEventListener("click", () => {
      form.hidden = true;
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.transfer(form.querySelector(".transfer-queue").value, form.querySelector(".transfer-agent").value);
    });
  }

  fillTransfer() {
    const queues = this.part(".transfer-queue");
    const current = (this.contact && this.contact.queue) || "";
    queues.replaceChildren(
      ...desk.directory.queues.map((q) => el("option", { value: q.id, selected: q.id === current, text: q.name })),
    );
    const agents = this.part(".transfer-agent");
    agents.replaceChildren(
      el("option", { value: "", text: "Anyone in the queue" }),
      ...desk.directory.agents
        .filter((a) => a.id !== desk.me.agent)
        .map((a) => el("option", { value: a.id, text: `${a.name} (${a.status}, ${label(a.state)})` })),
    );
  }

  async transfer(queue, agent) {
    const button = this.part(".transfer-send");
    button.disabled = true;
    const body = {};
    if (queue) body.queue = queue;
    if (agent) body.agent = agent;
    const to = agent
      ? (desk.directory.agents.find((a) => a.id === agent) || { name: agent }).name
      : (desk.directory.queues.find((q) => q.id === queue) || { name: queue }).name;
    this.transferring = true;
    try {
      await api(`${desk.base}/contacts/${encodeURIComponent(this.id)}/transfer`, { method: "POST", body });
      notify(`Transferred to ${to}.`, "info");
      this.part(".transfer").hidden = true;
    } catch (error) {
      this.transferring = false;
      notify(`Could not transfer: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }
}

/** A message as the desk shows it: its attachments can be opened, images are previewed. */
function deskMessage(message, customer) {
  const item = messageItem(message, customer);
  const files = message.attachments || [];
  item.querySelectorAll(".attachment").forEach((node, index) => {
    const file = files[index];
    if (!file || !file.url) return;
    const link = el("a", { href: file.url, target: "_blank", rel: "noopener", class: "open-file", text: "Open" });
    link.setAttribute("aria-label", `Open ${visibleControls(file.filename)}`);
    node.append(" ", link);
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.content_type)) {
      const preview = el("img", { src: file.url, class: "preview-image", loading: "lazy", alt: `Preview of ${visibleControls(file.filename)}` });
      preview.addEventListener("error", () => preview.replaceWith(el("span", { class: "muted", text: "(no preview)" })));
      node.append(el("a", { href: file.url, target: "_blank", rel: "noopener", class: "preview" }, preview));
    }
  });
  return item;
}

/** A private note among the messages: marked as such, never sent. */
function noteItem(note) {
  return el(
    "li",
    { class: "message note", dataset: { noteId: note.id } },
    el(
      "div",
      { class: "message-meta" },
      el("span", { class: "note-label", text: "Private note" }),
      " · ",
      el("span", { class: "who", dir: "auto", text: note.author_name || note.author }),
      " · ",
      clock(note.created_at),
    ),
    el("div", { class: "body", dir: "auto", text: note.text }),
  );
}

function add(id) {
  let conversation = desk.contacts.get(id);
  if (conversation) return conversation;
  conversation = new Conversation(id);
  desk.contacts.set(id, conversation);
  $("contact-tabs").append(conversation.tab);
  $("conversations").append(conversation.panel);
  refreshEmptyNotes();
  if (desk.selected === null || desk.selectNext === id) {
    desk.selectNext = null;
    select(id);
  }
  return conversation;
}

function remove(id) {
  const conversation = desk.contacts.get(id);
  if (!conversation) return;
  conversation.tab.remove();
  conversation.panel.remove();
  desk.contacts.delete(id);
  if (desk.selected === id) {
    desk.selected = null;
    const next = desk.contacts.keys().next();
    if (!next.done) select(next.value);
  }
  refreshEmptyNotes();
}

function select(id) {
  desk.selected = id;
  if (desk.viewer) closeViewer({ back: false });
  for (const [cid, conversation] of desk.contacts) {
    const chosen = cid === id;
    conversation.tab.setAttribute("aria-selected", String(chosen));
    conversation.tab.tabIndex = chosen ? 0 : -1;
    conversation.panel.hidden = !chosen;
    if (chosen) conversation.tab.querySelector(".unread").hidden = true;
  }
}

/** Arrow keys move between the tabs (only the chosen one is in the Tab order). */
function wireTabs() {
  $("contact-tabs").addEventListener("keydown", (event) => {
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
    if (!step || desk.selected === null) return;
    const ids = [...desk.contacts.keys()];
    const next = ids[(ids.indexOf(desk.selected) + step + ids.length) % ids.length];
    event.preventDefault();
    select(next);
    desk.contacts.get(next).tab.focus();
  });
}

function contactChanged(contact) {
  const mine = contact.agent_id === desk.me.agent;
  if (contact.state === "closed" || !mine || !["active", "wrap-up"].includes(contact.state)) {
    const leaving = desk.contacts.get(contact.id);
    if (leaving && contact.state !== "closed" && !leaving.transferring) {
      notify("A contact was transferred away from you.", "info");
    }
    remove(contact.id);
    return;
  }
  const known = desk.contacts.has(contact.id);
  const conversation = add(contact.id);
  conversation.show(contact);
  if (!known) conversation.load();
}

// The socket ---------------------------------------------------------------------------------

function hello(message) {
  desk.skew = message.at - Date.now() / 1000;
  showAgent(message.agent);
  // Offers: exactly those the server says are open.
  const open = new Set(message.offers.map((o) => o.offer.id));
  for (const id of [...desk.offers.keys()]) if (!open.has(id)) removeOffer(id);
  for (const { offer, contact } of message.offers) addOffer(offer, contact, message.at);
  // Contacts: drop those closed while we were away, catch up on the others.
  const held = new Set(message.contacts);
  for (const id of [...desk.contacts.keys()]) if (!held.has(id)) remove(id);
  for (const id of message.contacts) add(id).load();
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      hello(message);
      break;
    case "agent":
      desk.agentPushes += 1;
      showAgent(message.agent);
      break;
    case "offer":
      addOffer(message.offer, message.contact);
      announceOffer(message.contact);
      rereadAgent();
      break;
    case "offer_closed":
      removeOffer(message.offer_id);
      if (OUTCOMES[message.outcome]) notify(OUTCOMES[message.outcome], "info");
      break;
    case "contact":
      contactChanged(message.contact);
      break;
    case "message": {
      const conversation = desk.contacts.get(message.contact_id);
      if (conversation) conversation.receive(message.message);
      break;
    }
    case "typing": {
      const conversation = desk.contacts.get(message.contact_id);
      if (conversation && message.who === "customer") conversation.typing(true);
      break;
    }
    case "note": {
      const conversation = desk.contacts.get(message.contact_id);
      if (conversation) conversation.receiveNote(message.note);
      break;
    }
    case "error":
      notify(message.error);
      break;
    default:
      break;
  }
}

function tick() {
  const now = performance.now();
  for (const entry of desk.offers.values()) tickOffer(entry, now);
  tickTimers();
}

/** The time in the agent's status, and each held contact's handle time. */
function tickTimers() {
  const node = $("status-time");
  const since = desk.agent && desk.agent.status_since;
  node.hidden = !since;
  if (since) setText(node, duration(serverNow() - since));
  for (const conversation of desk.contacts.values()) conversation.tickTime();
}

// Alerts: a sound and a desktop notification for each new offer ----------------------------

const ALERTS_KEY = "trunkline.desk.alerts";
const alerts = { on: localStorage.getItem(ALERTS_KEY) !== "off", audio: null };

/** Ask for what alerts need; only a user's click may (the browser's rule). */
function prepareAlerts() {
  if (!alerts.on) return;
  if ("Notification" in window && Notification.permission === "default") {
    Promise.resolve(Notification.requestPermission()).catch(() => {});
  }
  const Audio = window.AudioContext || window.webkitAudioContext;
  if (!alerts.audio && Audio) alerts.audio = new Audio();
  if (alerts.audio && alerts.audio.state === "suspended") alerts.audio.resume().catch(() => {});
}

function showAlertsToggle() {
  const button = $("alerts");
  button.setAttribute("aria-pressed", String(alerts.on));
  button.textContent = alerts.on ? "Alerts on" : "Alerts off";
}

function wireAlerts() {
  showAlertsToggle();
  $("alerts").addEventListener("click", () => {
    alerts.on = !alerts.on;
    localStorage.setItem(ALERTS_KEY, alerts.on ? "on" : "off");
    showAlertsToggle();
    prepareAlerts();
  });
}

/** A short two-tone beep, made by WebAudio: no sound file to load. */
function beep() {
  const audio = alerts.audio;
  if (!audio) return;
  const start = audio.currentTime;
  const gain = audio.createGain();
  gain.gain.setValueAtTime(0.15, start);
  gain.gain.exponentialRampToValueAtTime(0.001, start + 0.45);
  gain.connect(audio.destination);
  [880, 660].forEach((frequency, index) => {
    const tone = audio.createOscillator();
    tone.type = "sine";
    tone.frequency.value = frequency;
    tone.connect(gain);
    tone.start(start + index * 0.18);
    tone.stop(start + index * 0.18 + 0.2);
  });
}

function announceOffer(contact) {
  if (!alerts.on) return;
  beep();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const notice = new Notification(`New ${contact.kind || "contact"}: ${contact.subject || "(no subject)"}`, {
    body: `From ${customerName(contact)}`,
    tag: `offer-${contact.id}`,
  });
  notice.addEventListener("click", () => {
    window.focus();
    notice.close();
  });
}

// The transfer directory ---------------------------------------------------------------------

/** The queues and agents to transfer to, read again each time (agents' states change). */
async function readDirectory() {
  try {
    desk.directory = await api(`${desk.base}/directory`);
  } catch (error) {
    notify(`Could not read the queues and agents: ${error.message}`);
  }
}

// Search and the read-only viewer ------------------------------------------------------------

function wireSearch() {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("search-text").value.trim());
  });
  $("search-clear").addEventListener("click", () => {
    $("search-text").value = "";
    $("search-results").hidden = true;
  });
}

async function search(text) {
  if (text.length < 2) {
    notify("Type at least two characters to search.", "info");
    return;
  }
  let found;
  try {
    found = await api(`${desk.base}/search?q=${encodeURIComponent(text)}`);
  } catch (error) {
    notify(`The search failed: ${error.message}`);
    return;
  }
  const customers = found.customers.map((customer) => {
    const first = (customer.addresses[0] || {}).value || customer.id;
    const button = el(
      "button",
      { type: "button", class: "found-item link-like" },
      el("span", { class: "found-name", dir: "auto", text: customer.name || first }),
      el(
        "span",
        { class: "found-detail muted" },
        ...customer.addresses.flatMap((a, i) => [i ? ", " : "", el("span", { dir: "auto", text: a.value })]),
      ),
    );
    button.addEventListener("click", () => {
      $("search-text").value = customer.id;
      search(customer.id);
    });
    return el("li", { dataset: { customerId: customer.id } }, button);
  });
  const contacts = found.contacts.map((contact) => {
    const button = el(
      "button",
      { type: "button", class: "found-item link-like", disabled: !contact.readable },
      el("span", { class: "badge kind", text: contact.kind || contact.channel }),
      " ",
      el("span", { class: "found-name", dir: "auto", text: contact.subject || "(no subject)" }),
      el(
        "span",
        { class: "found-detail muted" },
        el("span", { dir: "auto", text: customerName(contact) }),
        ` · ${when(contact.created_at)} · ${label(contact.state)}`,
        contact.readable ? "" : " · a colleague's open conversation",
      ),
    );
    button.addEventListener("click", () => openContact(contact.id));
    return el("li", { dataset: { contactId: contact.id } }, button);
  });
  $("found-customers").replaceChildren(...customers);
  $("found-contacts").replaceChildren(...contacts);
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  $("search-summary").textContent =
    customers.length || contacts.length
      ? `${count(customers.length, "customer", "customers")}, ${count(contacts.length, "contact", "contacts")}`
      : "Nothing found.";
  $("search-results").hidden = false;
}

/** Show a contact found: its tab when it is one of ours, else a read-only panel. */
function openContact(id) {
  if (desk.contacts.has(id)) {
    select(id);
    return;
  }
  if (desk.viewer) closeViewer();
  const viewer = new Conversation(id, { readOnly: true });
  desk.viewer = viewer;
  for (const conversation of desk.contacts.values()) {
    conversation.panel.hidden = true;
    conversation.tab.setAttribute("aria-selected", "false");
  }
  $("conversations").append(viewer.panel);
  viewer.panel.hidden = false;
  refreshEmptyNotes();
  viewer.load();
}

/** Close the read-only panel; ``back``: show the tab chosen before it again. */
function closeViewer({ back = true } = {}) {
  const viewer = desk.viewer;
  if (!viewer) return;
  desk.viewer = null;
  viewer.panel.remove();
  const previous = desk.contacts.get(desk.selected) || desk.contacts.values().next().value;
  if (back && previous) select(previous.id);
  refreshEmptyNotes();
}

async function start() {
  desk.me = await api("/api/v1/me");
  desk.base = `/api/v1/workspaces/${encodeURIComponent(desk.me.workspace)}`;
  const workspace = await api(desk.base);
  desk.dispositions = workspace.dispositions || [];
  $("workspace-name").textContent = workspace.name;
  $("me-name").textContent = desk.me.username;
  wireStatus();
  wireTabs();
  wireAlerts();
  wireSearch();
  readDirectory();
  refreshEmptyNotes();
  desk.live = new LiveSocket("/ws/agent", { onMessage });
  desk.live.onState = connectionIndicator($("connection"), desk.live);
  document.body.dataset.ready = "true";
  desk.live.connect();
  setInterval(tick, TICK);
}

start().catch((error) => notify(`The desktop could not start: ${error.message}`));
