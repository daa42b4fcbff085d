/* Drawing a CMDB topology with the vendored cytoscape.js, shared by the CI page's impact graph
   (cmdb-graph.js) and the alert group's graph (events/events.js): the base style (CIs, business
   services coloured by criticality, edges labelled with the relationship type), the edge
   elements, and mounting (zoom limits, hover, click). Loaded before either, as a file: the
   Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";

  var TIER_COLOURS = { 1: "#b42318", 2: "#dc6803", 3: "#2e90fa", 4: "#667085" };

  function nodeStyle(overrides) {
    var style = {
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
    };
    Object.keys(overrides || {}).forEach(function (key) {
      style[key] = overrides[key];
    });
    return style;
  }

  var SERVICE = {
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
  };
  var EDGE = {
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
  };
  var HOVER = { selector: "node:active, node.hover", style: { "overlay-opacity": 0.12, "overlay-color": "#2557d6" } };

  /* The style: plain CIs (with `node` overrides), then the page's role rules (`roles`), business
     services, the highlighted CI (`focus`), edges and hover — later rules win. */
  function style(options) {
    return [{ selector: "node", style: nodeStyle(options.node) }]
      .concat(options.roles || [], [SERVICE], options.focus ? [options.focus] : [], [EDGE, HOVER]);
  }

  /* A business service's fill by criticality tier (tier 1 red ... tier 4 grey). */
  function serviceColour(row) {
    return row.is_service ? TIER_COLOURS[row.criticality] || "#98a2b3" : null;
  }

  /* Edge elements for relationships whose two ends are drawn (`seen` by id), once each. */
  function edgeElements(edges, seen) {
    var out = [];
    var done = {};
    (edges || []).forEach(function (e) {
      var id = e.source + "-" + e.type + "-" + e.target;
      if (done[id] || !seen[e.source] || !seen[e.target]) {
        return;
      }
      done[id] = true;
      out.push({
        group: "edges",
        data: { id: id, source: String(e.source), target: String(e.target), label: e.type.replace(/_/g, " ") },
      });
    });
    return out;
  }

  /* Draw into `container` (replacing a previous drawing) top-down; `onTap(node)` on a click. */
  function mount(container, elements, styleRules, spacing, onTap) {
    if (container._cy) {
      container._cy.destroy();
    }
    var cy = window.cytoscape({
      container: container,
      elements: elements,
      style: styleRules,
      layout: { name: "breadthfirst", directed: true, spacingFactor: spacing, padding: 26, avoidOverlap: true, animate: false },
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
      onTap(event.target);
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
    return cy;
  }

  /* Fetch the graph's JSON (same-origin), then `draw(data)`; a failure is told in `status`. */
  function load(container, url, status, draw) {
    container.setAttribute("aria-busy", "true");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        container.setAttribute("aria-busy", "false");
        draw(data);
      })
      .catch(function (error) {
        container.setAttribute("aria-busy", "false");
        status.textContent = "The graph could not be loaded (" + error.message + ").";
      });
  }

  window.OpsdeskTopology = {
    style: style,
    serviceColour: serviceColour,
    edgeElements: edgeElements,
    mount: mount,
    load: load,
  };
})();
