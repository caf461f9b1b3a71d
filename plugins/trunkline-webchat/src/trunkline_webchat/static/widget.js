// Trunkline web chat: <script src="https://…/chat/<channel>/widget.js" async></script>
//
// Adds a chat button to the page; it opens a panel framing the chat page served beside this
// script. The chat itself (the socket, the visitor id) lives in that frame, on Trunkline's
// origin. Everything here is built with DOM calls and textContent, never HTML strings, and
// styled through element.style, so a strict Content-Security-Policy on the site is no obstacle.
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
    "border-radius": "50%",
    border: "0",
    background: "#1f4e8c",
    color: "#fff",
    "font-size": "26px",
    "line-height": "56px",
    cursor: "pointer",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)",
    "z-index": "2147483646",
  });
  button.type = "button";
  button.setAttribute("aria-label", CONFIG.title);
  button.setAttribute("aria-expanded", "false");
  button.title = CONFIG.title;
  button.textContent = "\u{1F4AC}";

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
    position: "fixed",
    right: "20px",
    bottom: "88px",
    width: "min(380px, calc(100vw - 40px))",
    height: "min(560px, calc(100vh - 120px))",
    "border-radius": "12px",
    overflow: "hidden",
    "box-shadow": "0 8px 30px rgba(0,0,0,.3)",
    background: "#fff",
    display: "none",
    "z-index": "2147483647",
  });
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", CONFIG.title);

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
    frame.src = base.href;
    panel.appendChild(frame);
  }

  var state = remembered();
  function setOpen(open) {
    if (open) ensureFrame();
    panel.style.setProperty("display", open ? "block" : "none");
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) dot.style.setProperty("display", "none");
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
    if (data && data.source === "trunkline-webchat" && data.type === "message") {
      if (panel.style.getPropertyValue("display") === "none") {
        dot.style.setProperty("display", "block");
      }
    }
  });

  root.appendChild(panel);
  root.appendChild(button);

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
