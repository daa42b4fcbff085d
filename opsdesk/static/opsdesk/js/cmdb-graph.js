/* The impact graph on the CI page, drawn with the vendored cytoscape.js.
   Loaded as a file (the Content-Security-Policy forbids inline scripts); the page passes the
   JSON address and the CI-page address pattern in data-attributes of #impact-graph.

   Above the failing CI: what it can take down (upstream), up to the business services,
   coloured by criticality. Below: what it rests on (downstream). Click a node to open it. */
(function () {
  "use strict";

  var T = window.OpsdeskTopology;
  var STYLE = T.style({
    roles: [
      { selector: "node.up", style: { "background-color": "#fee4e2", "border-color": "#f04438" } },
      { selector: "node.down", style: { "background-color": "#eef4ff", "border-color": "#6172f3" } },
    ],
    focus: {
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
  });

  function elementsFrom(data) {
    var seen = {};
    var nodes = [];
    function add(row, role) {
      if (seen[row.id]) {
        return;
      }
      seen[row.id] = true;
      nodes.push({
        group: "nodes",
        data: { id: String(row.id), label: row.name, kind: row.class_label, colour: T.serviceColour(row) },
        classes: row.is_service ? role + " service" : role,
      });
    }
    add(data.ci, "root");
    (data.upstream || []).forEach(function (row) {
      add(row, "up");
    });
    (data.downstream || []).forEach(function (row) {
      add(row, "down");
    });
    return nodes.concat(T.edgeElements(data.edges, seen));
  }

  function draw(container, status) {
    var depth = container.getAttribute("data-depth") || "6";
    var pattern = container.getAttribute("data-ci-url");
    var url = container.getAttribute("data-impact-url") + "?depth=" + encodeURIComponent(depth);
    status.textContent = "Loading the graph…";
    T.load(container, url, status, function (data) {
      var cy = T.mount(container, elementsFrom(data), STYLE, 1.15, function (node) {
        if (node.id() !== String(data.ci.id)) {
          window.location.href = pattern.replace(/\/0\/$/, "/" + node.id() + "/");
        }
      });
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
    });
  }

  function init() {
    var container = document.getElementById("impact-graph");
    if (!container || !window.cytoscape || !window.OpsdeskTopology) {
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
