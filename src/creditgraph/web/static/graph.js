// The applicant's ego credit graph, drawn with cytoscape from /applicants/{id}/graph.json.
// Without JavaScript the page keeps its table of first-hop contacts; this replaces it.
(function () {
  "use strict";

  var COLOURS = { current: "#1a7f37", late: "#b35900", defaulted: "#c62828", unknown: "#6b7280" };
  var SHAPES = { current: "ellipse", late: "triangle", defaulted: "diamond", unknown: "ellipse" };

  function elementsOf(graph) {
    var elements = [];
    graph.nodes.forEach(function (n) {
      var label = n.kind === "folded" ? n.label : n.kind === "device" ? "" : n.id.slice(0, 6);
      elements.push({
        group: "nodes",
        data: {
          id: n.id, label: label, kind: n.kind, status: n.status, hop: n.hop,
          center: n.is_center ? 1 : 0, inBook: n.in_book ? 1 : 0, parent_id: n.parent || ""
        }
      });
    });
    graph.edges.forEach(function (e, i) {
      elements.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target, kind: e.kind } });
    });
    return elements;
  }

  function style() {
    var rules = [
      { selector: "node", style: { "label": "data(label)", "font-size": 9, "width": 14, "height": 14,
        "background-color": COLOURS.unknown, "color": "#1f2937", "text-valign": "bottom", "text-margin-y": 2 } },
      { selector: "node[center = 1]", style: { "width": 26, "height": 26, "border-width": 3, "border-color": "#111827" } },
      { selector: "node[kind = 'device']", style: { "shape": "rectangle", "width": 8, "height": 8, "background-color": "#4b5563" } },
      { selector: "node[kind = 'folded']", style: { "shape": "round-rectangle", "width": 28, "height": 16,
        "background-color": "#e5e7eb", "border-width": 1, "border-color": "#6b7280", "text-valign": "center", "text-margin-y": 0 } },
      { selector: "edge", style: { "width": 1, "line-color": "#cbd5e1", "curve-style": "haystack" } },
      { selector: "edge[kind = 'device']", style: { "line-style": "dashed", "line-color": "#9ca3af" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#2563eb" } }
    ];
    Object.keys(COLOURS).forEach(function (status) {
      rules.push({ selector: "node[kind = 'person'][status = '" + status + "']",
        style: { "background-color": COLOURS[status], "shape": SHAPES[status] } });
    });
    return rules;
  }

  function draw(box, graph, expanded) {
    var started = performance.now();
    box.textContent = "";
    var cy = window.cytoscape({
      container: box,
      elements: elementsOf(graph),
      style: style(),
      layout: { name: "concentric", concentric: function (n) { return 3 - n.data("hop"); },
                levelWidth: function () { return 1; }, minNodeSpacing: 6, animate: false }
    });
    cy.on("tap", "node", function (event) {
      var node = event.target;
      if (node.data("kind") === "folded") {
        expanded.push(node.data("parent_id"));
        load(box, expanded);
      } else if (node.data("kind") === "person" && node.data("inBook") === 1 && node.data("center") !== 1) {
        window.location.href = "/applicants/" + encodeURIComponent(node.id());
      }
    });
    cy.ready(function () {
      box.dataset.nodes = String(graph.nodes.length);
      box.dataset.ms = String(Math.round(performance.now() - started));
      box.dataset.ready = "true";
    });
  }

  function load(box, expanded) {
    box.dataset.ready = "false";
    var url = box.dataset.src;
    if (expanded.length) {
      url += "?expand=" + expanded.map(encodeURIComponent).join(",");
    }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) {
        if (!answer.ok) { throw new Error("graph " + answer.status); }
        return answer.json();
      })
      .then(function (graph) { draw(box, graph, expanded); })
      .catch(function () { box.dataset.ready = "error"; });
  }

  function start() {
    var box = document.getElementById("graph");
    if (!box || !window.cytoscape || !box.dataset.src) { return; }
    load(box, []);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
