// The agent desktop: status, offers with a countdown, several conversations at once with the
// customer's history, replies, typing hints, and wrap-up with a disposition.
//
// It reads the REST API for details (the workspace's dispositions, a contact's messages and
// history) and lives on the agent WebSocket (/ws/agent) for everything that changes.
// Customer content is shown as text only, each piece isolated (see common.js).

import {
  LiveSocket,
  Thread,
  api,
  connectionIndicator,
  customerName,
  el,
  firstWords,
  label,
  messageItem,
  notify,
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
};

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
  $("no-conversation").hidden = desk.contacts.size > 0;
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

/** One contact the agent handles: its tab, its panel, its messages. */
class Conversation {
  constructor(id) {
    this.id = id;
    this.contact = null;
    this.thread = new Thread();
    this.loaded = false;
    this.typingTimer = null;
    this.lastTypingSent = 0;
    this.tab = fromTemplate("tab-template");
    this.tab.dataset.contactId = id;
    this.tab.id = `tab-${id}`;
    this.panel = fromTemplate("conversation-template");
    this.panel.dataset.contactId = id;
    this.panel.id = `conversation-${id}`;
    this.tab.setAttribute("aria-controls", this.panel.id);
    this.panel.setAttribute("aria-labelledby", this.tab.id);
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
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    text.addEventListener("input", () => {
      const now = Date.now();
      if (text.value && now - this.lastTypingSent > TYPING_EVERY) {
        this.lastTypingSent = now;
        desk.live.send({ type: "typing", contact_id: this.id });
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.reply(text);
    });
    this.part(".end").addEventListener("click", () => this.end());
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
    } catch (error) {
      notify(`Your reply was not sent: ${error.message}`);
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
    this.contact = { ...(this.contact || {}), ...contact };
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
    const wrapping = c.state === "wrap-up";
    this.part(".wrap-up").hidden = !wrapping;
    this.part(".reply").hidden = wrapping;
    this.part(".end").hidden = wrapping;
    this.panel.classList.toggle("wrapping-up", wrapping);
  }

  async load() {
    try {
      const detail = await api(`${desk.base}/contacts/${encodeURIComponent(this.id)}`);
      const { messages, history, ...contact } = detail;
      this.show(contact);
      this.thread.load(messages);
      this.loaded = true;
      this.renderMessages();
      this.renderHistory(history);
    } catch (error) {
      if (error.status === 404) remove(this.id);
      else notify(`Could not load the conversation: ${error.message}`);
    }
  }

  renderMessages() {
    const list = this.part(".messages");
    list.replaceChildren(...this.thread.messages.map(messageItem));
    list.scrollTop = list.scrollHeight;
  }

  renderHistory(history) {
    const list = this.part(".history-list");
    list.replaceChildren();
    history.forEach((other, index) => {
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
        el("ol", { class: "messages compact" }, ...other.messages.map(messageItem)),
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
    const list = this.part(".messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(messageItem(message));
    if (atBottom || message.direction !== "inbound") list.scrollTop = list.scrollHeight;
    if (desk.selected !== this.id) this.tab.querySelector(".unread").hidden = false;
  }

  typing(on) {
    clearTimeout(this.typingTimer);
    this.part(".typing").hidden = !on;
    this.tab.classList.toggle("typing", on);
    if (on) this.typingTimer = setTimeout(() => this.typing(false), TYPING_SHOWN);
  }
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
    if (desk.contacts.has(contact.id) && contact.state !== "closed") {
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
  refreshEmptyNotes();
  desk.live = new LiveSocket("/ws/agent", { onMessage });
  desk.live.onState = connectionIndicator($("connection"), desk.live);
  document.body.dataset.ready = "true";
  desk.live.connect();
  setInterval(tick, TICK);
}

start().catch((error) => notify(`The desktop could not start: ${error.message}`));
