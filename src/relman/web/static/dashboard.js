// relman dashboard: the live deploy log (Server-Sent Events) and small conveniences.
// No build step, no dependency but the browser (htmx is loaded separately).
(function () {
  "use strict";

  function follow(pre) {
    if (pre.dataset.started) return;
    pre.dataset.started = "1";
    var panel = pre.closest(".log");
    var empty = panel ? panel.querySelector(".log-empty") : null;
    var source = new EventSource(pre.dataset.logUrl);
    source.onmessage = function (event) {
      var nearBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      var line = document.createElement("span");
      line.className = "line";
      if (event.data.indexOf("❌") !== -1 || event.data.indexOf("💥") !== -1) line.className += " err";
      else if (event.data.indexOf("✅") !== -1) line.className += " good";
      line.textContent = event.data + "\n";
      pre.appendChild(line);
      pre.dataset.lines = String(Number(pre.dataset.lines || "0") + 1);
      if (empty) empty.hidden = true;
      if (nearBottom) pre.scrollTop = pre.scrollHeight;
    };
    source.addEventListener("end", function () {
      source.close();
      pre.dataset.done = "1";
      if (panel) panel.classList.add("done");
    });
  }

  function start(root) {
    (root || document).querySelectorAll("pre[data-log-url]").forEach(follow);
  }

  document.addEventListener("DOMContentLoaded", function () { start(document); });
  document.addEventListener("htmx:load", function (event) { start(event.detail.elt); });
})();
