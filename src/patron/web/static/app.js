// Patron's own script: CSRF for htmx, auto-submitting selects, and Chart.js charts fed by
// JSON routes (no inline scripts: the Content-Security-Policy forbids them).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) {
      el.form.requestSubmit();
    }
  });

  var PALETTE = ["#1f5fbf", "#e07b00", "#1a7f37", "#b42318", "#6e40c9", "#0a7d8c", "#8a5a00"];
  var charts = new WeakMap();

  function draw(canvas, spec) {
    if (charts.has(canvas)) { charts.get(canvas).destroy(); }
    (spec.data.datasets || []).forEach(function (ds, i) {
      var colour = ds.color || PALETTE[i % PALETTE.length];
      if (!ds.borderColor) { ds.borderColor = colour; }
      if (!ds.backgroundColor) { ds.backgroundColor = spec.type === "line" ? colour + "33" : colour; }
    });
    spec.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, spec.options || {});
    charts.set(canvas, new window.Chart(canvas, spec));
  }

  function sparkline(canvas) {
    var values = (canvas.dataset.spark || "").split(",").filter(function (v) { return v !== ""; }).map(Number);
    if (values.length < 2) { return; }
    draw(canvas, {
      type: "line",
      data: { labels: values.map(function (_, i) { return i; }), datasets: [{ data: values, pointRadius: 0, borderWidth: 1.5, fill: false }] },
      options: { responsive: false, plugins: { legend: { display: false }, tooltip: { enabled: false } }, scales: { x: { display: false }, y: { display: false } } }
    });
  }

  // A chart's JSON says whether its report is ready (ADR 18): "pending" (nothing to draw
  // yet) and "stale" (an older copy) are fetched again a few seconds later, up to 10 min.
  var RETRY_MS = 3000, MAX_TRIES = 200;

  function chart(canvas, tries) {
    var src = canvas.dataset.chart;
    tries = tries || 0;
    fetch(src, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (spec) {
        var state = (spec.patron || {}).state || "ready";
        delete spec.patron;
        if (state !== "pending") { draw(canvas, spec); }
        canvas.dataset.ready = state === "ready" ? "1" : state;
        if (state !== "ready" && tries < MAX_TRIES && document.body.contains(canvas)) {
          window.setTimeout(function () { chart(canvas, tries + 1); }, RETRY_MS);
        }
      })
      .catch(function () { canvas.dataset.ready = "error"; });
  }

  function init(root) {
    if (!window.Chart) { return; }
    root.querySelectorAll("canvas[data-spark]").forEach(sparkline);
    root.querySelectorAll("canvas[data-chart]").forEach(function (c) { chart(c, 0); });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
})();

// segments: the builder's help panel puts an example or a field into the query editor
// (and fires "input", so the live preview follows).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-insert]") : null;
    var editor = document.getElementById("query");
    if (!button || !editor) { return; }
    var text = button.dataset.insert;
    if (button.dataset.replace) {
      editor.value = text;
      editor.setSelectionRange(text.length, text.length);
    } else {
      var start = editor.selectionStart, end = editor.selectionEnd, before = editor.value.slice(0, start);
      var spaced = (before && !/\s$/.test(before) ? " " : "") + text + " ";
      editor.setRangeText(spaced, start, end, "end");
    }
    editor.focus();
    editor.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
