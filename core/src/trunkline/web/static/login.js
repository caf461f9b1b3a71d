// The login page: says when the last attempt failed, and remembers the workspace.
"use strict";
(function () {
  const params = new URLSearchParams(window.location.search);
  if (params.has("failed")) document.getElementById("failed").hidden = false;
  const workspace = document.getElementById("workspace");
  workspace.value = localStorage.getItem("trunkline.workspace") || "";
  (workspace.value ? document.getElementById("username") : workspace).focus();
  document.querySelector("form").addEventListener("submit", function () {
    localStorage.setItem("trunkline.workspace", workspace.value);
  });
})();
