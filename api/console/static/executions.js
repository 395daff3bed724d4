// BizOS console: one execution's page keeps its live part (status, cost, DAG, steps) current
// while the run is open, by re-fetching /admin/executions/<id>/fragment every few seconds and
// swapping it in. The agent activity list (live.js) is outside the swapped part, so it keeps
// its events. When the run ends the page reloads once, to show outputs, errors and decisions
// (the activity list then replays every event from the start: nothing is lost).
// The fragment is our own server-rendered, escaped HTML. No inline script (CSP).
"use strict";
(function () {
  var EVERY_MS = 3000;

  function start() {
    var live = document.getElementById("exec-live");
    if (!live || live.getAttribute("data-finished") !== "0") { return; }
    var src = live.getAttribute("data-fragment-src");
    if (!src || typeof window.fetch !== "function") { return; }
    var busy = false;
    var timer = setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("#exec-live");
          var current = document.getElementById("exec-live");
          if (!fresh || !current) { return; }
          current.replaceWith(fresh);
          if (fresh.getAttribute("data-finished") === "1") {
            clearInterval(timer);
            window.location.reload();
          }
        })
        .catch(function () { /* offline for a moment: try again next tick */ })
        .then(function () { busy = false; });
    }, EVERY_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
