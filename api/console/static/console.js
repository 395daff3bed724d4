// BizOS console: progressive enhancements only (every page works without this file).
// No inline handlers anywhere: the CSP allows scripts from this origin only.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); return; }
  // one click, one request: a second click while the first is in flight does nothing
  if (form.dataset.sent === "1") { event.preventDefault(); return; }
  form.dataset.sent = "1";
  setTimeout(function () { form.dataset.sent = ""; }, 4000);
});
