// The customer's chat page: one WebSocket to Trunkline, messages kept until acknowledged.
//
// The visitor's token (the credential the server issued in its first welcome) and the messages
// not yet acknowledged live in localStorage, so a reload or a lost connection loses nothing: on
// every (re)connection the page says hello with the token and the id of the last message it has
// in order, shows what it missed, and sends again what was never acknowledged, under the same
// ids (the server recognises repeats). Framed by widget.js (the page's address ends in
// #widget), it first asks the site for a signed-in visitor's identity, by postMessage, and says
// hello with that instead of the token; the identity is kept in memory only.
// Every text from the customer or an agent is inserted with textContent, never as HTML.
//
// Around the conversation (the channel's settings, in data-features): the greeting; while the
// contact waits, the place in line the server pushes, then the name of the agent who took it;
// a pre-chat form (name, email) before a first message; and, while nobody can answer, an
// offline form whose message is sent, kept and acknowledged like any other. Files can be
// attached once the visitor has an open chat (the server takes uploads only then).
"use strict";

(function () {
  const config = JSON.parse(document.body.dataset.config);
  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const text = $("text");
  const fileInput = $("file");
  const staged = $("staged");
  const status = $("status");
  const notice = $("notice");
  const typingNote = $("typing");
  const SHA256 = /^[0-9a-f]{64}$/;
  const prefix = "trunkline-webchat:" + config.channel + ":";
  const features = JSON.parse(document.body.dataset.features || "{}");

  // Storage that survives reloads when the browser allows it, and memory when it does not.
  const memory = {};
  const storage = {
    get(key) {
      try {
        return window.localStorage.getItem(prefix + key);
      } catch (e) {
        return memory[key] === undefined ? null : memory[key];
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(prefix + key, value);
      } catch (e) {
        memory[key] = value;
      }
    },
  };

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    const b = window.crypto.getRandomValues(new Uint8Array(16)); // pages on plain http
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  const TOKEN = /^[A-Za-z0-9_-]{43}$/; // as the server issues them
  let token = storage.get("token"); // null until the first welcome gives one
  if (token !== null && !TOKEN.test(token)) token = null;
  try {
    window.localStorage.removeItem(prefix + "visitor"); // an older page's id: no longer a key
  } catch (e) {
    /* storage may be blocked */
  }

  // A signed-in visitor's identity, from the site that frames the page: {id, hash, name?, email?}.
  const byWidget = window.parent !== window && window.location.hash === "#widget";
  let identity = null;

  // Messages not yet acknowledged: [{id, text, attachments: [{sha256, filename, …}]}], kept
  // apart for each signed-in visitor, so another one on the same browser never sends them.
  let pending = [];
  const pendingKey = () => (identity ? "pending:" + identity.id : "pending");
  function loadPending() {
    try {
      pending = JSON.parse(storage.get(pendingKey()) || "[]");
      if (!Array.isArray(pending)) pending = [];
    } catch (e) {
      pending = [];
    }
  }
  loadPending();
  const savePending = () => storage.set(pendingKey(), JSON.stringify(pending));

  const shown = new Map(); // message id (server's) -> its element
  const pendingItems = new Map(); // client id -> its element
  let resumeAfter = null; // the last message id the server sent in order (from a welcome)
  let socket = null;
  let ready = false; // welcomed on the current socket
  let sentHere = new Set(); // client ids sent on the current socket
  let backoff = 1000;
  let typedAt = 0;
  let typingTimer = null;
  let attachments = []; // uploaded, to go with the next message
  let waitNoticed = false; // the notice says a message waits for the server to take it
  const attach = fileInput.closest(".attach");
  const attachTitle = attach.title;

  if (config.attachment_types && config.attachment_types.length) {
    fileInput.setAttribute("accept", config.attachment_types.join(","));
  }

  // Showing messages -------------------------------------------------------------------------

  function fileURL(sha) {
    return "files/" + sha;
  }

  function element(direction, body, files) {
    const item = document.createElement("li");
    item.className = "message " + direction;
    const p = document.createElement("p");
    p.className = "body";
    p.textContent = body;
    item.appendChild(p);
    const valid = (files || []).filter((a) => a && SHA256.test(a.sha256));
    if (valid.length) {
      const box = document.createElement("div");
      box.className = "files";
      for (const a of valid) {
        const name = String(a.filename || "file");
        if (/^image\//.test(String(a.content_type))) {
          const img = document.createElement("img");
          img.src = fileURL(a.sha256);
          img.alt = name;
          box.appendChild(img);
        }
        const link = document.createElement("a");
        link.href = fileURL(a.sha256);
        link.textContent = name;
        link.setAttribute("download", name);
        link.rel = "noopener";
        box.appendChild(link);
      }
      item.appendChild(box);
    }
    const state = document.createElement("span");
    state.className = "state";
    item.appendChild(state);
    return item;
  }

  function setState(item, words, failed) {
    item.querySelector(".state").textContent = words;
    item.classList.toggle("failed", Boolean(failed));
  }

  function firstPending() {
    for (const item of list.children) if (item.dataset.pending) return item;
    return null;
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
  }

  // A message from the server (history or live); returns true when it was new here.
  function show(m) {
    if (!m || typeof m.id !== "string" || shown.has(m.id)) return false;
    if (m.client_id && pendingItems.has(m.client_id)) {
      acknowledged(m.client_id, m.id); // the ack was lost, the message was not
      return false;
    }
    const direction = m.direction === "outbound" ? "outbound" : "inbound";
    const item = element(direction, String(m.body || ""), m.attachments);
    item.dataset.id = m.id;
    list.insertBefore(item, firstPending());
    shown.set(m.id, item);
    scrollDown();
    return true;
  }

  function showPending(p) {
    const item = element("inbound", p.text, p.attachments);
    item.dataset.pending = p.id;
    setState(item, "sending…");
    list.appendChild(item);
    pendingItems.set(p.id, item);
    scrollDown();
  }

  function acknowledged(clientId, messageId) {
    pending = pending.filter((p) => p.id !== clientId);
    savePending();
    const item = pendingItems.get(clientId);
    pendingItems.delete(clientId);
    if (!item) return;
    if (shown.has(messageId)) {
      item.remove(); // already shown from the history
      return;
    }
    delete item.dataset.pending;
    item.dataset.id = messageId;
    setState(item, "");
    shown.set(messageId, item);
  }

  function failed(clientId, why) {
    pending = pending.filter((p) => p.id !== clientId);
    savePending();
    const item = pendingItems.get(clientId);
    pendingItems.delete(clientId);
    if (item) {
      delete item.dataset.pending;
      setState(item, "Not sent: " + why, true);
    }
  }

  function say(words) {
    notice.textContent = words;
    notice.hidden = !words;
  }

  // Files may be uploaded while the visitor has an open contact (welcome's "open", an ack).
  function setChatOpen(open) {
    fileInput.disabled = !open;
    attach.classList.toggle("disabled", !open);
    attach.title = open ? attachTitle : "Send a message first, then attach files";
  }
  setChatOpen(false);

  function tellParent(type) {
    if (window.parent !== window) {
      // No content, only a nudge for the widget's unread dot; any embedding site may see it.
      window.parent.postMessage({ source: "trunkline-webchat", type: type }, "*");
    }
  }

  // The socket -------------------------------------------------------------------------------

  function socketURL() {
    const url = new URL("ws", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  function transmit(p) {
    if (!ready || sentHere.has(p.id)) return;
    sentHere.add(p.id);
    socket.send(
      JSON.stringify({
        type: "message",
        id: p.id,
        text: p.text,
        attachments: p.attachments.map((a) => a.sha256),
        offline: p.offline ? true : undefined,
      })
    );
  }

  function later(clientId, seconds) {
    window.setTimeout(() => {
      const p = pending.find((x) => x.id === clientId);
      if (p) {
        sentHere.delete(clientId);
        transmit(p);
      }
    }, Math.max(0.2, Number(seconds) || 1) * 1000);
  }

  function connect() {
    status.textContent = "Connecting…";
    const ws = new WebSocket(socketURL());
    socket = ws;
    ready = false;
    sentHere = new Set();
    ws.addEventListener("open", () => {
      const hello = { type: "hello", resume_after: resumeAfter };
      if (identity) hello.identity = identity;
      else if (token) hello.token = token;
      ws.send(JSON.stringify(hello));
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      receive(frame);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      ready = false;
      socket = null;
      let wait = backoff * (0.75 + Math.random() / 2);
      backoff = Math.min(backoff * 2, 30000);
      if (event.code === 1008) {
        say("The chat is not available here: " + (event.reason || "refused"));
        wait = Math.max(wait, 30000);
      }
      status.textContent = "Reconnecting…";
      window.setTimeout(connect, wait);
    });
  }

  function receive(frame) {
    switch (frame.type) {
      case "welcome": {
        if (typeof frame.token === "string" && TOKEN.test(frame.token) && !identity) {
          token = frame.token; // issued now: the key to this conversation from here on
          storage.set("token", token);
        }
        ready = true;
        backoff = 1000;
        status.textContent = "Connected";
        say("");
        const messages = Array.isArray(frame.messages) ? frame.messages : [];
        for (const m of messages) show(m);
        if (messages.length) resumeAfter = messages[messages.length - 1].id;
        setChatOpen(frame.open === true);
        sendDetails(); // before any message, so a new contact carries them
        for (const p of pending.slice()) transmit(p);
        welcomed(frame);
        break;
      }
      case "position":
        showPlace(frame.position);
        break;
      case "agent":
        agentJoined(String(frame.name || ""));
        break;
      case "availability":
        availabilityChanged(frame.available === true);
        break;
      case "ack":
        acknowledged(frame.id, frame.message_id);
        setChatOpen(true);
        if (waitNoticed) say("");
        waitNoticed = false;
        break;
      case "retry":
        later(frame.id, frame.retry_after);
        break;
      case "error":
        if (frame.id && typeof frame.retry_after === "number") {
          // "slow down", or too many new chats at once: kept, and sent again after the wait.
          if (frame.error !== "slow down") {
            say(String(frame.error));
            waitNoticed = true;
          }
          later(frame.id, frame.retry_after);
        } else if (frame.id && pendingItems.has(frame.id)) {
          failed(frame.id, String(frame.error));
        } else {
          say(String(frame.error));
        }
        break;
      case "message":
        if (show(frame.message) && frame.message.direction === "outbound") {
          typingNote.hidden = true;
          tellParent("message");
        }
        break;
      case "typing":
        typingNote.hidden = false;
        window.clearTimeout(typingTimer);
        typingTimer = window.setTimeout(() => {
          typingNote.hidden = true;
        }, 5000);
        break;
      default:
        break;
    }
  }

  // Writing ----------------------------------------------------------------------------------

  function showStaged() {
    staged.replaceChildren();
    for (const a of attachments) {
      const chip = document.createElement("span");
      chip.className = "chip";
      const name = document.createElement("span");
      name.textContent = a.filename;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + a.filename);
      remove.addEventListener("click", () => {
        attachments = attachments.filter((x) => x !== a);
        showStaged();
      });
      chip.append(name, remove);
      staged.appendChild(chip);
    }
    staged.hidden = attachments.length === 0;
  }

  function submit() {
    const body = text.value;
    if (!body.trim() && !attachments.length) return;
    if (body.length > config.max_text_length) {
      say("Your message is too long: at most " + config.max_text_length + " characters.");
      return;
    }
    const p = { id: uuid(), text: body, attachments: attachments };
    pending.push(p);
    savePending();
    showPending(p);
    text.value = "";
    attachments = [];
    showStaged();
    say("");
    transmit(p);
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });

  text.addEventListener("input", () => {
    const now = Date.now();
    if (ready && now - typedAt > 3000) {
      typedAt = now;
      socket.send(JSON.stringify({ type: "typing" }));
    }
  });

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.size > config.max_attachment_bytes) {
      say("That file is too large: at most " + config.max_attachment_bytes + " bytes.");
      return;
    }
    const form = new FormData();
    if (identity) form.append("identity", JSON.stringify({ id: identity.id, hash: identity.hash }));
    else form.append("token", token || "");
    form.append("file", file, file.name);
    say("Uploading " + file.name + "…");
    try {
      const answer = await fetch("files", { method: "POST", body: form });
      const data = await answer.json();
      if (!answer.ok) {
        if (answer.status === 409) setChatOpen(false); // the chat was closed meanwhile
        say("The file was not accepted: " + String(data.error || answer.status));
        return;
      }
      attachments.push(data);
      showStaged();
      say("");
    } catch (e) {
      say("The file could not be uploaded; try again.");
    }
  });

  // Around the conversation -----------------------------------------------------------------

  const progress = $("progress");
  const views = { chat: $("composer"), prechat: $("prechat"), offline: $("offline") };
  const EMAIL = /^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$/; // as the server checks
  let view = null; // the form shown: "chat", "prechat" or "offline", once the server said hello

  function storedDetails() {
    try {
      const details = JSON.parse(storage.get("details") || "null");
      return details && typeof details === "object" ? details : null;
    } catch (e) {
      return null;
    }
  }

  function sendDetails() {
    const details = storedDetails();
    if (!ready || !details) return;
    const frame = { type: "details" };
    if (details.name) frame.name = details.name;
    if (details.email) frame.email = details.email;
    socket.send(JSON.stringify(frame));
  }

  function keepDetails(name, email) {
    const details = storedDetails() || {};
    if (name) details.name = name;
    if (email) details.email = email;
    storage.set("details", JSON.stringify(details));
    sendDetails();
  }

  const prechat = features.prechat || {};
  const asks = (field) => prechat[field] === "optional" || prechat[field] === "required";

  function note(kind, words) {
    const item = document.createElement("li");
    item.className = "note " + kind;
    const p = document.createElement("p");
    p.className = "note-text";
    p.textContent = words;
    item.appendChild(p);
    list.insertBefore(item, firstPending());
    scrollDown();
    return item;
  }

  function showView(name) {
    view = name;
    for (const [key, form] of Object.entries(views)) form.hidden = key !== name;
    const first = views[name].querySelector("input, textarea");
    if (first && document.hasFocus()) first.focus();
  }

  function offlineUntouched() {
    return ["offline-name", "offline-email", "offline-message"].every((id) => !$(id).value.trim());
  }

  /** Which form the visitor needs: the chat once they have a conversation or gave details. */
  function choose(available) {
    const talking = shown.size > 0 || pending.length > 0;
    if (!talking && features.offline_form && available === false) return "offline";
    if (!talking && (asks("name") || asks("email")) && !storedDetails()) return "prechat";
    return "chat";
  }

  function welcomed(frame) {
    if (typeof frame.position === "number") showPlace(frame.position);
    else showAgent(typeof frame.agent === "string" ? frame.agent : "");
    if (view === "chat" || (view !== null && view !== "offline")) return;
    if (view === "offline" && !offlineUntouched()) return;
    showView(choose(frame.available));
  }

  function availabilityChanged(available) {
    if (available && view === "offline" && offlineUntouched()) showView(choose(true));
  }

  function setProgress(words) {
    progress.textContent = words;
    progress.hidden = !words;
  }

  function showPlace(place) {
    const n = Number(place);
    if (!Number.isInteger(n) || n < 0) return;
    if (n === 0) setProgress("Connecting you to an agent…");
    else if (n === 1) setProgress("You are next in line.");
    else setProgress("You are number " + n + " in line.");
  }

  function showAgent(name) {
    setProgress(name ? "You are chatting with " + name + "." : "");
  }

  function agentJoined(name) {
    showAgent(name);
    if (name) note("joined", name + " joined the chat.");
  }

  function fieldError(id, words) {
    const box = $(id);
    box.textContent = words;
    box.hidden = !words;
  }

  function fieldSetUp(form, field, mode) {
    const label = $(form + "-" + field + "-field");
    if (!label) return;
    label.hidden = mode === "off" || mode === undefined;
    label.querySelector(".optional").hidden = mode === "required";
    label.querySelector("input").required = mode === "required";
  }

  fieldSetUp("prechat", "name", prechat.name);
  fieldSetUp("prechat", "email", prechat.email);
  fieldSetUp("offline", "name", asks("name") ? prechat.name : "optional");
  $("offline-text").textContent = String(features.offline_message || "");

  $("prechat").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("prechat-name").value.trim();
    const email = $("prechat-email").value.trim();
    if (prechat.name === "required" && !name) return fieldError("prechat-error", "Please tell us your name.");
    if (prechat.email === "required" && !email) return fieldError("prechat-error", "Please give your email address.");
    if (email && !EMAIL.test(email)) return fieldError("prechat-error", "That email address does not look right: write it as name@example.com.");
    fieldError("prechat-error", "");
    keepDetails(name, email);
    showView("chat");
    text.focus();
  });

  $("offline").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("offline-name").value.trim();
    const email = $("offline-email").value.trim();
    const body = $("offline-message").value;
    if (prechat.name === "required" && !name) return fieldError("offline-error", "Please tell us your name.");
    if (!EMAIL.test(email)) return fieldError("offline-error", "Please give your email address, such as name@example.com, so we can answer you.");
    if (!body.trim()) return fieldError("offline-error", "Please write your message.");
    if (body.length > config.max_text_length) {
      return fieldError("offline-error", "Your message is too long: at most " + config.max_text_length + " characters.");
    }
    fieldError("offline-error", "");
    keepDetails(name, email);
    const p = { id: uuid(), text: body, attachments: [], offline: true };
    pending.push(p);
    savePending();
    showPending(p);
    transmit(p);
    note("left", "Thank you. We will answer you at " + email + ".");
    showView("chat");
  });

  if (window.parent !== window) {
    $("close").hidden = false;
    $("close").addEventListener("click", () => tellParent("close"));
  }

  if (features.greeting) note("greeting", String(features.greeting));
  // With a form to show, the composer waits for the server's hello to choose; a visitor with
  // messages not yet sent is in a conversation already.
  if ((asks("name") || asks("email") || features.offline_form) && !pending.length) {
    views.chat.hidden = true;
  }

  // The identity from the site ----------------------------------------------------------------

  const origins = config.embed_origins || [];
  const trusted = (origin) => origin === window.location.origin || origins.includes("*") || origins.includes(origin);

  function validIdentity(value) {
    if (!value || typeof value !== "object") return null;
    if (typeof value.id !== "string" || !value.id || typeof value.hash !== "string") return null;
    const checked = { id: value.id, hash: value.hash };
    if (typeof value.name === "string" && value.name.trim()) checked.name = value.name;
    if (typeof value.email === "string" && value.email.trim()) checked.email = value.email;
    return checked;
  }

  let started = false;
  function start() {
    if (started) return;
    started = true;
    loadPending(); // the signed-in visitor's own, if there is one
    for (const p of pending) showPending(p);
    connect();
  }

  if (byWidget) {
    window.addEventListener("message", (event) => {
      // Only the page that frames this one, of an origin allowed to embed the chat.
      if (event.source !== window.parent || !trusted(event.origin)) return;
      const data = event.data;
      if (!data || data.source !== "trunkline-webchat" || data.type !== "identity") return;
      const next = validIdentity(data.identity);
      if (!started) {
        identity = next;
        start();
      } else if (JSON.stringify(next) !== JSON.stringify(identity)) {
        window.location.reload(); // another visitor now: start again, asking the site anew
      }
    });
    // Ask the site; a site that does not answer within 3 seconds has no identity to give.
    window.parent.postMessage({ source: "trunkline-webchat", type: "ready" }, "*");
    window.setTimeout(start, 3000);
  } else {
    start();
  }
})();
