// BizOS console: live agent activity. Every element with `data-live-events` and a
// `data-src` (an event-stream URL, e.g. /admin/executions/<id>/events) gets one list item
// per event as it happens: time, step, kind, a short preview.
// The stream is server-sent events (api/console/live.py); EventSource reconnects by itself
// and sends Last-Event-ID, so the server resumes after the last event shown: nothing missed,
// nothing twice. Agent output is untrusted: text goes in through textContent only.
// No inline script anywhere: the CSP allows scripts from this origin only.
"use strict";
(function () {
  var KINDS = [
    "step_started", "step_waiting", "step_finished", "step_failed",
    "tool_started", "tool_finished", "tool_failed",
    "llm_message", "llm_call", "llm_failed"
  ];
  var MAX_ITEMS = 1000;
  var PREVIEW = 240;

  function short(value) {
    var text = typeof value === "string" ? value : JSON.stringify(value);
    if (text === undefined || text === null) { return ""; }
    text = String(text).replace(/\s+/g, " ").trim();
    return text.length > PREVIEW ? text.slice(0, PREVIEW - 1) + "\u2026" : text;
  }

  function preview(kind, p) {
    p = p || {};
    switch (kind) {
      case "step_started": return [p.agent, p.mode].filter(Boolean).join(" / ");
      case "step_waiting": return short("waiting for " + (p.dependency || "a dependency") + ": " + (p.reason || ""));
      case "step_finished": return short(p.summary || "");
      case "step_failed": return short((p.error || "") + (p.message ? ": " + p.message : ""));
      case "tool_started": return short((p.tool || "") + " " + short(p.args === undefined ? "" : p.args));
      case "tool_finished":
        return short((p.tool || "") + (p.ms !== undefined ? " (" + p.ms + " ms)" : "") + " \u2192 " + short(p.result || ""));
      case "tool_failed": return short((p.tool || "") + ": " + (p.error || ""));
      case "llm_message":
        if (p.final_answer !== undefined) { return short("answer: " + p.final_answer); }
        if (p.action) { return short((p.thought ? p.thought + " \u2192 " : "") + p.action + " " + (p.action_input || "")); }
        return short(p.thought || p.text || "");
      case "llm_call": return short((p.model ? p.model + ": " : "") + (p.response || ""));
      case "llm_failed": return short((p.model ? p.model + ": " : "") + (p.error || ""));
      default: return short(p);
    }
  }

  function span(cls, text) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toLocaleTimeString();
  }

  function follow(list) {
    var src = list.getAttribute("data-src");
    if (!src || typeof window.EventSource !== "function") { return; }
    var lastId = 0;
    var source = new EventSource(src);
    list.setAttribute("data-state", "connecting");

    function add(message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      var id = Number(message.lastEventId || data.id || 0);
      if (id && id <= lastId) { return; } // defensive: never show one twice
      if (id) { lastId = id; }
      var nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      var item = document.createElement("li");
      item.className = "ev ev-" + String(data.kind || message.type).replace(/[^a-z_]/g, "");
      item.appendChild(span("ev-time", clock(data.at)));
      item.appendChild(span("ev-step", String(data.step || "") + (data.attempt > 1 ? " #" + data.attempt : "")));
      item.appendChild(span("ev-kind", String(data.kind || message.type)));
      var text = preview(data.kind, data.payload);
      if (data.truncated) { text += " [truncated]"; }
      item.appendChild(span("ev-text", text));
      item.title = short(data.payload);
      list.appendChild(item);
      while (list.children.length > MAX_ITEMS) { list.removeChild(list.firstElementChild); }
      if (nearBottom) { list.scrollTop = list.scrollHeight; }
    }

    KINDS.forEach(function (kind) { source.addEventListener(kind, add); });
    source.onmessage = add; // events without a named kind
    source.onopen = function () { list.setAttribute("data-state", "live"); };
    source.onerror = function () {
      // EventSource retries by itself; CLOSED means the server refused (signed out, gone)
      list.setAttribute("data-state", source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    };
    source.addEventListener("end", function () {
      source.close(); // the run is over: do not reconnect
      list.setAttribute("data-state", "ended");
    });
  }

  function start() {
    var lists = document.querySelectorAll("[data-live-events][data-src]");
    for (var i = 0; i < lists.length; i++) { follow(lists[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
