// Live countdowns of service-level clocks that run on a 24x7 calendar, where wall time is
// business time. Only badges the server marked with data-sla-due are counted here: clocks on
// business-hours calendars are re-counted by the server (the panel refreshes through htmx).
(function () {
  "use strict";
  if (window.opsdeskSlaCountdown) {
    return; // loaded again by an htmx swap of the panel
  }
  window.opsdeskSlaCountdown = true;

  function duration(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    if (minutes < 1) {
      return "under a minute";
    }
    if (minutes < 60) {
      return minutes + " min";
    }
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    if (hours < 10 && rest) {
      return hours + " h " + rest + " min";
    }
    if (hours >= 48 && seconds < 0) {
      return Math.floor(hours / 24) + " d";
    }
    return hours + " h";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-sla-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-sla-due"));
      if (isNaN(due)) {
        return;
      }
      var left = (due - now) / 1000;
      if (left > 0) {
        el.textContent = "due in " + duration(left);
      } else {
        el.textContent = "breached " + duration(-left) + " ago";
        el.className = el.className.replace(/\bsla-(ok|warning|danger)\b/, "sla-breached");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  window.setInterval(tick, 30000);
})();
