/* Event pages: the live alert-group list pauses while the tab is hidden, the group's
   topology graph (vendored cytoscape.js), and "add a matcher row" on the silence form.
   Loaded as a file: the Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";

  // --- the live list -----------------------------------------------------------------------
  // The table polls with hx-trigger="every Ns"; while the tab is hidden each poll is
  // cancelled, and coming back refreshes at once.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-live") && document.hidden) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    var live = document.querySelector("[data-live]");
    var badge = document.getElementById("ev-live-state");
    if (badge) {
      badge.classList.toggle("is-paused", document.hidden);
      badge.textContent = document.hidden ? "Paused while hidden" : badge.getAttribute("data-live-text");
    }
    if (live && !document.hidden && window.htmx) {
      window.htmx.trigger(live, "ev:refresh");
    }
  });

  // --- the topology graph (drawn with opsdesk/js/topology.js) --------------------------------
  // Only the group page loads topology.js (and cytoscape): look it up when drawing.
  function graphStyle(T) {
    return T.style({
      node: { "text-max-width": 170, "background-color": "#f2f4f7" },
      roles: [
        { selector: "node.alerting", style: { "background-color": "#fee4e2", "border-color": "#f04438", "border-width": 2 } },
        { selector: "node.candidate", style: { "background-color": "#fec84b", "border-color": "#b54708", "border-width": 2 } },
      ],
      focus: {
        selector: "node.cause",
        style: {
          "background-color": "#d92d20",
          "border-color": "#7a271a",
          "border-width": 4,
          width: 34,
          height: 34,
          "font-weight": 700,
          "font-size": 12,
        },
      },
    });
  }

  function elements(T, data) {
    var seen = {};
    var out = [];
    (data.nodes || []).forEach(function (n) {
      seen[n.id] = true;
      var label = n.name;
      if (n.rank) {
        label = "#" + n.rank + " " + label;
      }
      if (n.alerts && n.alerts.firing) {
        label += " (" + n.alerts.firing + " firing)";
      }
      out.push({
        group: "nodes",
        data: { id: String(n.id), label: label, url: n.url, colour: T.serviceColour(n) },
        classes: n.is_service ? n.role + " service" : n.role,
      });
    });
    return out.concat(T.edgeElements(data.edges, seen));
  }

  function drawGraph(container) {
    var T = window.OpsdeskTopology;
    var status = document.getElementById("ev-graph-status");
    T.load(container, container.getAttribute("data-graph-url"), status, function (data) {
      container.setAttribute("data-node-count", String(data.nodes.length));
      if (!data.nodes.length) {
        status.textContent = "None of this group's alerts is bound to a CI, so there is no topology to draw.";
        return;
      }
      var cy = T.mount(container, elements(T, data), graphStyle(T), 1.2, function (node) {
        if (node.data("url")) {
          window.location.href = node.data("url");
        }
      });
      var cause = data.nodes.filter(function (n) {
        return n.role === "cause";
      })[0];
      status.textContent =
        data.nodes.length + " CIs and " + cy.edges().length + " relationships" +
        (cause ? "; suspected cause: " + cause.name + "." : "; no root cause ranked yet.") +
        (data.hidden_neighbours ? " " + data.hidden_neighbours + " more neighbouring CIs are not drawn." : "") +
        (data.truncated ? " The graph was cut at its size limit." : "");
    });
  }

  // --- silence form: another matcher row ---------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-add-matcher]");
    if (!button) {
      return;
    }
    var body = document.getElementById("ev-matcher-rows");
    var last = body && body.querySelector("tr:last-child");
    if (!last) {
      return;
    }
    var row = last.cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
    });
    row.querySelectorAll("select").forEach(function (select) {
      select.selectedIndex = 0;
    });
    body.appendChild(row);
    var first = row.querySelector("input");
    if (first) {
      first.focus();
    }
  });

  function init() {
    var graph = document.getElementById("ev-graph");
    if (graph && window.cytoscape && window.OpsdeskTopology) {
      drawGraph(graph);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
