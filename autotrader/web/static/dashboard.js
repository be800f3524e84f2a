/* Live updates: every 3 s the page asks /api/status whether its run has a new cycle; if so it
   tells the page ("autotrader:update"), which redraws what it shows. A page of the newest run
   reloads when a newer run starts; an empty page reloads when the first run appears. */
(function () {
  "use strict";
  var POLL_MS = 3000;
  var body = document.body.dataset;
  var run = body.run || "";
  var pinned = body.pinned === "yes";
  var last = body.lastCycle || "";
  function api(path) {
    var sep = path.indexOf("?") < 0 ? "?" : "&";
    var url = run ? path + sep + "run=" + encodeURIComponent(run) : path;
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  }
  function tick() {
    fetch(pinned ? "/api/status?run=" + encodeURIComponent(run) : "/api/status",
      { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        if ((s.run_id || "") !== run) { window.location.reload(); return; }
        document.querySelectorAll('[data-live="state"]').forEach(function (e) { e.textContent = s.state; });
        var now = s.last_cycle_id === null ? "" : String(s.last_cycle_id);
        if (now !== last) {
          last = now;
          document.dispatchEvent(new CustomEvent("autotrader:update", { detail: s }));
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.AutotraderLive = { api: api };
  setInterval(tick, POLL_MS);
})();
