/* The impact graph on the CI page, drawn with the vendored cytoscape.js.
   Loaded as a file (the Content-Security-Policy forbids inline scripts); the page passes the
   JSON address and the CI-page address pattern in data-attributes of #impact-graph.

   Above the failing CI: what it can take down (upstream), up to the business services,
   coloured by criticality. Below: what it rests on (downstream). Click a node to open it. */
(function () {
  "use strict";

  var TIER_COLOURS = { 1: "#b42318", 2: "#dc6803", 3: "#2e90fa", 4: "#667085" };

  function nodeData(row, role) {
    var classes = [role];
    if (row.is_service) {
      classes.push("service");
      classes.push("tier-" + (row.criticality || "none"));
    }
    return {
      group: "nodes",
      data: {
        id: String(row.id),
        label: row.name,
        kind: row.class_label,
        tier: row.criticality || 0,
        colour: row.is_service ? TIER_COLOURS[row.criticality] || "#98a2b3" : null,
      },
      classes: classes.join(" "),
    };
  }

  function elementsFrom(data) {
    var seen = {};
    var nodes = [];
    function add(row, role) {
      if (seen[row.id]) {
        return;
      }
      seen[row.id] = true;
      nodes.push(nodeData(row, role));
    }
    add(data.ci, "root");
    (data.upstream || []).forEach(function (row) {
      add(row, "up");
    });
    (data.downstream || []).forEach(function (row) {
      add(row, "down");
    });
    var edges = [];
    var edgeSeen = {};
    (data.edges || []).forEach(function (e) {
      var id = e.source + "-" + e.type + "-" + e.target;
      if (edgeSeen[id] || !seen[e.source] || !seen[e.target]) {
        return;
      }
      edgeSeen[id] = true;
      edges.push({
        group: "edges",
        data: { id: id, source: String(e.source), target: String(e.target), label: e.type.replace(/_/g, " ") },
      });
    });
    return nodes.concat(edges);
  }

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
        "text-max-width": 110,
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.85,
        "text-background-padding": 1,
        width: 18,
        height: 18,
        "background-color": "#d0d5dd",
        "border-width": 1,
        "border-color": "#98a2b3",
      },
    },
    { selector: "node.up", style: { "background-color": "#fee4e2", "border-color": "#f04438" } },
    { selector: "node.down", style: { "background-color": "#eef4ff", "border-color": "#6172f3" } },
    {
      selector: "node.service",
      style: {
        shape: "round-rectangle",
        width: 30,
        height: 22,
        "background-color": "data(colour)",
        "border-color": "#1b1f26",
        "border-width": 1,
        "font-weight": 600,
      },
    },
    {
      selector: "node.root",
      style: {
        "background-color": "#d92d20",
        "border-color": "#7a271a",
        "border-width": 3,
        width: 30,
        height: 30,
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
    { selector: "node:active, node.hover", style: { "overlay-opacity": 0.12, "overlay-color": "#2557d6" } },
  ];

  function draw(container, status) {
    var url = container.getAttribute("data-impact-url");
    var depth = container.getAttribute("data-depth") || "6";
    var pattern = container.getAttribute("data-ci-url");
    status.textContent = "Loading the graph…";
    container.setAttribute("aria-busy", "true");
    fetch(url + "?depth=" + encodeURIComponent(depth), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (container._cy) {
          container._cy.destroy();
        }
        var elements = elementsFrom(data);
        var cy = window.cytoscape({
          container: container,
          elements: elements,
          style: STYLE,
          layout: {
            name: "breadthfirst",
            directed: true,
            spacingFactor: 1.15,
            padding: 24,
            avoidOverlap: true,
            animate: false,
          },
          minZoom: 0.2,
          maxZoom: 2.5,
          wheelSensitivity: 0.3,
          boxSelectionEnabled: false,
          autoungrabify: false,
        });
        if (cy.zoom() > 1.4) {
          cy.zoom(1.4);
          cy.center();
        }
        cy.on("tap", "node", function (event) {
          var id = event.target.id();
          if (id !== String(data.ci.id)) {
            window.location.href = pattern.replace(/\/0\/$/, "/" + id + "/");
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
        container.setAttribute("data-node-count", String(cy.nodes().length));
        container.setAttribute("aria-busy", "false");
        var services = data.services ? data.services.length : 0;
        status.textContent =
          cy.nodes().length +
          " CIs and " +
          cy.edges().length +
          " relationships within " +
          data.depth +
          " steps; " +
          services +
          " business service" +
          (services === 1 ? "" : "s") +
          " affected." +
          (data.truncated ? " The graph was cut at its size limit." : "");
      })
      .catch(function (error) {
        container.setAttribute("aria-busy", "false");
        status.textContent = "The graph could not be loaded (" + error.message + ").";
      });
  }

  function init() {
    var container = document.getElementById("impact-graph");
    if (!container || !window.cytoscape) {
      return;
    }
    var status = document.getElementById("impact-graph-status");
    draw(container, status);
    document.addEventListener("change", function (event) {
      if (event.target.matches && event.target.matches("[data-graph-depth]")) {
        container.setAttribute("data-depth", event.target.value);
        draw(container, status);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
