// Trunkline web chat: <script src="https://…/chat/<channel>/widget.js" async></script>
//
// Adds a chat button to the page; it opens a panel framing the chat page served beside this
// script. The chat itself (the socket, the visitor id) lives in that frame, on Trunkline's
// origin. Everything here is built with DOM calls and textContent, never HTML strings, and
// styled through element.style, so a strict Content-Security-Policy on the site is no obstacle.
// The button's icons are inline SVG (no emoji font needed); on a narrow screen the open panel
// takes the whole screen, and the chat page's own close button (or Escape) closes it.
//
// A site whose visitor is signed in may say who they are, signed with the channel's
// identity_secret on the site's server: window.TrunklineChat = {identity: {id, hash, name?,
// email?}} before this script, or TrunklineChat.identify({…}) (identify(null) on signing out)
// after it. The identity goes to the framed chat page only, by postMessage to its origin, when
// the page asks for it; never in its address, where server logs and Referer headers would keep
// it.
(function () {
  "use strict";
  var CONFIG = __CONFIG__;

  var script = document.currentScript;
  if (!script) {
    var all = document.getElementsByTagName("script");
    for (var i = 0; i < all.length; i++) {
      if (/\/widget\.js(\?|$)/.test(all[i].src)) script = all[i];
    }
  }
  if (!script || !script.src) return;
  var base = new URL("./", script.src);
  var registry = (window.__trunklineWebchat = window.__trunklineWebchat || {});
  if (registry[base.href]) return; // the script is on the page twice
  registry[base.href] = true;

  // The signed-in visitor, if the site says; every widget on the page hears identify().
  var api = (window.TrunklineChat = window.TrunklineChat || {});
  var listeners = (api.__listeners = api.__listeners || []);
  var identity = api.identity || null;
  var frameReady = false; // the chat page asked for the identity
  function tellIdentity() {
    if (!frame || !frameReady) return; // sent when it asks
    frame.contentWindow.postMessage(
      { source: "trunkline-webchat", type: "identity", identity: identity },
      base.origin // to the chat page's origin alone: the hash is the visitor's key
    );
  }
  listeners.push(function (next) {
    identity = next || null;
    tellIdentity();
  });
  api.identify = function (next) {
    api.identity = next || null;
    for (var n = 0; n < listeners.length; n++) listeners[n](api.identity);
  };

  var storeKey = "trunkline-webchat:" + base.href;
  function remembered() {
    try {
      return JSON.parse(window.localStorage.getItem(storeKey) || "{}") || {};
    } catch (e) {
      return {};
    }
  }
  function remember(state) {
    try {
      window.localStorage.setItem(storeKey, JSON.stringify(state));
    } catch (e) {
      /* storage may be blocked; the widget still works for this page */
    }
  }

  function css(el, styles) {
    for (var key in styles) el.style.setProperty(key, styles[key]);
    return el;
  }

  var host = document.createElement("div");
  host.setAttribute("data-trunkline-webchat", "");
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var button = css(document.createElement("button"), {
    position: "fixed",
    right: "20px",
    bottom: "20px",
    width: "56px",
    height: "56px",
    padding: "0",
    "border-radius": "50%",
    border: "0",
    background: "#1f4e8c",
    color: "#fff",
    display: "flex",
    "align-items": "center",
    "justify-content": "center",
    cursor: "pointer",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)",
    "z-index": "2147483646",
  });
  button.type = "button";
  button.setAttribute("aria-label", CONFIG.title);
  button.setAttribute("aria-expanded", "false");
  button.title = CONFIG.title;

  var SVG = "http://www.w3.org/2000/svg";
  // An icon drawn with one path, in the button's colour; hidden from screen readers (the
  // button has its label).
  function icon(d, filled) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    if (filled) {
      path.setAttribute("fill", "currentColor");
    } else {
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", "currentColor");
      path.setAttribute("stroke-width", "2.4");
      path.setAttribute("stroke-linecap", "round");
    }
    svg.appendChild(path);
    return svg;
  }
  // A speech bubble, and a cross while the panel is open.
  var bubble = icon("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z", true);
  var cross = icon("M6 6l12 12M18 6L6 18", false);
  cross.style.setProperty("display", "none");
  button.appendChild(bubble);
  button.appendChild(cross);

  var dot = css(document.createElement("span"), {
    position: "absolute",
    top: "6px",
    right: "6px",
    width: "12px",
    height: "12px",
    "border-radius": "50%",
    background: "#e0453a",
    display: "none",
  });
  button.appendChild(dot);

  var panel = css(document.createElement("div"), {
    position: "fixed", // where and how large: layout(), below
    overflow: "hidden",
    "box-shadow": "0 8px 30px rgba(0,0,0,.3)",
    background: "#fff",
    display: "none",
    "z-index": "2147483647",
  });
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", CONFIG.title);

  // At most this wide, the open panel is the whole screen (a phone), and the button, which
  // would cover the chat's Send button, steps aside while it is open.
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 480px)") : { matches: false };
  var FLOATING = {
    right: "20px",
    bottom: "88px",
    top: "auto",
    left: "auto",
    width: "min(380px, calc(100vw - 40px))",
    height: "min(560px, calc(100vh - 120px))",
    "border-radius": "12px",
  };
  var FULL = {
    right: "0",
    bottom: "0",
    top: "0",
    left: "0",
    width: "100%",
    height: "100%",
    "border-radius": "0",
  };
  function isOpen() {
    return panel.style.getPropertyValue("display") !== "none";
  }
  function layout() {
    css(panel, narrow.matches ? FULL : FLOATING);
    button.style.setProperty("display", narrow.matches && isOpen() ? "none" : "flex");
    bubble.style.setProperty("display", isOpen() ? "none" : "block");
    cross.style.setProperty("display", isOpen() ? "block" : "none");
  }
  if (narrow.addEventListener) narrow.addEventListener("change", layout);

  var frame = null;
  function ensureFrame() {
    if (frame) return;
    frame = css(document.createElement("iframe"), {
      width: "100%",
      height: "100%",
      border: "0",
      display: "block",
    });
    frame.title = CONFIG.title;
    frame.src = base.href + "#widget"; // the page asks for the identity before it connects
    panel.appendChild(frame);
  }

  var state = remembered();
  function setOpen(open) {
    if (open) ensureFrame();
    panel.style.setProperty("display", open ? "block" : "none");
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) dot.style.setProperty("display", "none");
    layout();
    state = { started: state.started || open, open: open };
    remember(state);
  }

  button.addEventListener("click", function () {
    setOpen(panel.style.getPropertyValue("display") === "none");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && panel.style.getPropertyValue("display") !== "none") {
      setOpen(false);
    }
  });
  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== base.origin) return;
    var data = event.data;
    if (data && data.source === "trunkline-webchat" && data.type === "ready") {
      frameReady = true;
      tellIdentity();
    }
    if (data && data.source === "trunkline-webchat" && data.type === "message") {
      if (panel.style.getPropertyValue("display") === "none") {
        dot.style.setProperty("display", "block");
      }
    }
    if (data && data.source === "trunkline-webchat" && data.type === "close") {
      setOpen(false);
      button.focus();
    }
  });

  root.appendChild(panel);
  root.appendChild(button);
  layout();

  function mount() {
    document.body.appendChild(host);
    // A visitor who chatted before keeps the conversation connected (for replies), and
    // finds the panel as they left it on the previous page.
    if (state.started) ensureFrame();
    if (state.open) setOpen(true);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
