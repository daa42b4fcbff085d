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

  // --- the topology graph ------------------------------------------------------------------
  var TIER_COLOURS = { 1: "#b42318", 2: "#dc6803", 3: "#2e90fa", 4: "#667085" };
  var STYLE = [
    {
      selector: "node",
      style: {
        label: "data(label)",
        "font-size": 10,
        "font-family": "system-ui, sans-serif",
        color: "#1b1f26",
        "text-valign": "bottom",
        "text-margin-y": 4,
        "text-wrap": "ellipsis",
        "text-max-width": 170,
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.85,
        "text-background-padding": 1,
        width: 18,
        height: 18,
        "background-color": "#f2f4f7",
        "border-width": 1,
        "border-color": "#98a2b3",
      },
    },
    { selector: "node.alerting", style: { "background-color": "#fee4e2", "border-color": "#f04438", "border-width": 2 } },
    { selector: "node.candidate", style: { "background-color": "#fec84b", "border-color": "#b54708", "border-width": 2 } },
    {
      selector: "node.service",
      style: { shape: "round-rectangle", width: 30, height: 22, "background-color": "data(colour)", "border-color": "#1b1f26", "font-weight": 600 },
    },
    {
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
    {
      selector: "edge",
      style: {
        width: 1.2,
        "line-color": "#98a2b3",
        "target-arrow-color": "#98a2b3",
        "target-arrow-shape": "triangle",
        "arrow-scale": 0.8,
        "curve-style": "bezier",
        label: "data(label)",
        "font-size": 8,
        color: "#667085",
        "text-rotation": "autorotate",
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.8,
      },
    },
    { selector: "node.hover", style: { "overlay-opacity": 0.12, "overlay-color": "#2557d6" } },
  ];

  function elements(data) {
    var seen = {};
    var out = [];
    (data.nodes || []).forEach(function (n) {
      seen[n.id] = true;
      var classes = [n.role];
      if (n.is_service) {
        classes.push("service");
      }
      var label = n.name;
      if (n.rank) {
        label = "#" + n.rank + " " + label;
      }
      if (n.alerts && n.alerts.firing) {
        label += " (" + n.alerts.firing + " firing)";
      }
      out.push({
        group: "nodes",
        data: {
          id: String(n.id),
          label: label,
          url: n.url,
          colour: n.is_service ? TIER_COLOURS[n.criticality] || "#98a2b3" : "#f2f4f7",
        },
        classes: classes.join(" "),
      });
    });
    var edgeSeen = {};
    (data.edges || []).forEach(function (e) {
      var id = e.source + "-" + e.type + "-" + e.target;
      if (edgeSeen[id] || !seen[e.source] || !seen[e.target]) {
        return;
      }
      edgeSeen[id] = true;
      out.push({
        group: "edges",
        data: { id: id, source: String(e.source), target: String(e.target), label: e.type.replace(/_/g, " ") },
      });
    });
    return out;
  }

  function drawGraph(container) {
    var status = document.getElementById("ev-graph-status");
    container.setAttribute("aria-busy", "true");
    fetch(container.getAttribute("data-graph-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        var els = elements(data);
        container.setAttribute("aria-busy", "false");
        container.setAttribute("data-node-count", String(data.nodes.length));
        if (!data.nodes.length) {
          status.textContent = "None of this group's alerts is bound to a CI, so there is no topology to draw.";
          return;
        }
        var cy = window.cytoscape({
          container: container,
          elements: els,
          style: STYLE,
          layout: { name: "breadthfirst", directed: true, spacingFactor: 1.2, padding: 28, avoidOverlap: true, animate: false },
          minZoom: 0.2,
          maxZoom: 2.5,
          wheelSensitivity: 0.3,
          boxSelectionEnabled: false,
        });
        if (cy.zoom() > 1.4) {
          cy.zoom(1.4);
          cy.center();
        }
        cy.on("tap", "node", function (event) {
          var url = event.target.data("url");
          if (url) {
            window.location.href = url;
          }
        });
        cy.on("mouseover", "node", function (event) {
          event.target.addClass("hover");
          container.classList.add("is-pointing");
        });
        cy.on("mouseout", "node", function (event) {
          event.target.removeClass("hover");
          container.classList.remove("is-pointing");
        });
        container._cy = cy;
        var cause = data.nodes.filter(function (n) {
          return n.role === "cause";
        })[0];
        status.textContent =
          data.nodes.length + " CIs and " + cy.edges().length + " relationships" +
          (cause ? "; suspected cause: " + cause.name + "." : "; no root cause ranked yet.") +
          (data.truncated ? " The graph was cut at its size limit." : "");
      })
      .catch(function (error) {
        container.setAttribute("aria-busy", "false");
        status.textContent = "The graph could not be loaded (" + error.message + ").";
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
    if (graph && window.cytoscape) {
      drawGraph(graph);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
