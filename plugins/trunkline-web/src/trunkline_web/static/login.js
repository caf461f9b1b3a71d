// The login page: says when the last attempt failed or how long to wait after too many
// failures, and remembers the workspace.
"use strict";
(function () {
  const params = new URLSearchParams(window.location.search);
  if (params.has("failed")) document.getElementById("failed").hidden = false;
  const wait = Number.parseInt(params.get("wait") || "", 10);
  if (wait > 0) holdBack(Date.now() + wait * 1000);
  const workspace = document.getElementById("workspace");
  workspace.value = localStorage.getItem("trunkline.workspace") || "";
  (workspace.value ? document.getElementById("username") : workspace).focus();
  document.querySelector("form").addEventListener("submit", function () {
    localStorage.setItem("trunkline.workspace", workspace.value);
  });
})();

// Too many failed sign-ins: count the wait down, the sign-in button off until it is over.
function holdBack(until) {
  const notice = document.getElementById("wait");
  const button = document.getElementById("sign-in");
  notice.hidden = false;
  button.disabled = true;
  const tick = function () {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      notice.textContent = "You may try again now.";
      button.disabled = false;
      return;
    }
    const unit = left === 1 ? "second" : "seconds";
    notice.textContent = `Too many failed sign-ins. Wait ${left} ${unit}, then try again.`;
    setTimeout(tick, 250);
  };
  tick();
}
