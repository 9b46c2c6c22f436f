// The report's only script: renders the per-clip table from the JSON in #clip-data.
// Untrusted text (clip ids, labels, rationales) is only ever inserted with textContent.
(function () {
  "use strict";
  var errorBox = document.getElementById("js-errors");
  function showError(message) {
    errorBox.hidden = false;
    errorBox.textContent += String(message) + "\n";
    document.body.setAttribute("data-js-error", "1");
  }
  window.addEventListener("error", function (event) { showError(event.message); });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function num(value, digits) {
    return value === null || value === undefined ? "\u2013" : Number(value).toFixed(digits);
  }

  var data = JSON.parse(document.getElementById("clip-data").textContent);
  var agents = data.agents;
  var rows = data.rows;  // [clip, truth, fused, p, correct, saboteurs, cells]
  var PAGE = 50;
  var state = { sort: null, desc: false, page: 0, open: {} };
  var haystack = rows.map(function (r) {
    var parts = [r[0], r[1], r[2]];
    r[6].forEach(function (c) { parts.push(c[0], c[4], c[5], c[6], (c[3] || []).join(" ")); });
    return parts.join(" \u0001 ").toLowerCase();
  });

  // Columns: [title, group, getter, cell class]
  var columns = [
    ["clip", null, function (r) { return r[0]; }],
    ["truth", null, function (r) { return r[1]; }],
    ["fused", null, function (r) { return r[2]; }],
    ["p", null, function (r) { return r[3]; }],
    ["right", null, function (r) { return r[4] === null ? null : (r[4] ? 1 : 0); }],
    ["saboteurs", null, function (r) { return r[5].join(", "); }]
  ];
  agents.forEach(function (agent, j) {
    columns.push(["label", agent, function (r) { return r[6][j][0] || (r[6][j][6] ? "error" : null); }]);
    columns.push(["conf.", agent, function (r) { return r[6][j][1]; }]);
    columns.push(["self", agent, function (r) { return r[6][j][2]; }]);
  });

  var table = document.getElementById("clip-table");
  var thead = table.tHead, tbody = table.tBodies[0];
  var headCells = [];
  function buildHead() {
    var top = document.createElement("tr"), bottom = document.createElement("tr");
    columns.forEach(function (col, i) {
      if (col[1] === null) {
        var th = el("th", col[0]);
        th.rowSpan = 2;
        top.appendChild(th);
        headCells[i] = th;
      } else {
        if (col[0] === "label") {
          var group = el("th", col[1], "group");
          group.colSpan = 3;
          top.appendChild(group);
        }
        headCells[i] = el("th", col[0]);
        bottom.appendChild(headCells[i]);
      }
      headCells[i].setAttribute("data-col", String(i));
      headCells[i].addEventListener("click", function () {
        if (state.sort === i) { state.desc = !state.desc; } else { state.sort = i; state.desc = false; }
        state.page = 0;
        render();
      });
    });
    thead.appendChild(top);
    if (agents.length) { thead.appendChild(bottom); }
  }

  var filter = document.getElementById("clip-filter");
  var outcome = document.getElementById("clip-outcome");
  var truth = document.getElementById("clip-truth");
  [filter, outcome, truth].forEach(function (control) {
    control.addEventListener("input", function () { state.page = 0; render(); });
  });
  document.getElementById("clip-prev").addEventListener("click", function () {
    if (state.page > 0) { state.page -= 1; render(); }
  });
  document.getElementById("clip-next").addEventListener("click", function () {
    state.page += 1; render();
  });

  function selected() {
    var needle = filter.value.trim().toLowerCase();
    var want = outcome.value, label = truth.value;
    var keep = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (label && r[1] !== label) { continue; }
      if (want === "right" && r[4] !== true) { continue; }
      if (want === "wrong" && r[4] !== false) { continue; }
      if (want === "sabotaged" && r[5].length === 0) { continue; }
      if (needle && haystack[i].indexOf(needle) < 0) { continue; }
      keep.push(i);
    }
    if (state.sort !== null) {
      var get = columns[state.sort][2], sign = state.desc ? -1 : 1;
      keep.sort(function (a, b) {
        var x = get(rows[a]), y = get(rows[b]);
        if (x === y) { return a - b; }
        if (x === null || x === undefined) { return 1; }
        if (y === null || y === undefined) { return -1; }
        return (x < y ? -1 : 1) * sign;
      });
    }
    return keep;
  }

  function detailRow(r) {
    var tr = el("tr", null, "detail"), td = el("td");
    td.colSpan = columns.length;
    agents.forEach(function (agent, j) {
      var c = r[6][j], box = el("div", null, "detail-agent");
      box.appendChild(el("b", agent));
      box.appendChild(document.createTextNode(c[6] ? " error: " + c[6]
        : " " + c[0] + " (confidence " + num(c[1], 2) + ", self-assessment " + num(c[2], 2) + ")"));
      if (c[5]) { box.appendChild(el("p", "rationale: " + c[5])); }
      if (c[4]) { box.appendChild(el("p", "self-assessment: " + c[4])); }
      if (c[3] && c[3].length) { box.appendChild(el("p", "issues: " + c[3].join("; "))); }
      td.appendChild(box);
    });
    tr.appendChild(td);
    return tr;
  }

  function render() {
    var keep = selected();
    var pages = Math.max(1, Math.ceil(keep.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    headCells.forEach(function (th, i) {
      var base = columns[i][0];
      th.textContent = state.sort === i ? base + (state.desc ? " \u25BC" : " \u25B2") : base;
      th.setAttribute("aria-sort", state.sort === i ? (state.desc ? "descending" : "ascending") : "none");
    });
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    keep.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (i) {
      var r = rows[i], tr = el("tr", null, "row");
      tr.appendChild(el("td", r[0]));
      tr.appendChild(el("td", r[1] === null ? "\u2013" : r[1]));
      tr.appendChild(el("td", r[2] === null ? "\u2013" : r[2]));
      tr.appendChild(el("td", num(r[3], 2)));
      tr.appendChild(el("td", r[4] === null ? "\u2013" : (r[4] ? "\u2713" : "\u2717"),
                        r[4] === null ? "" : (r[4] ? "ok" : "bad")));
      tr.appendChild(el("td", r[5].join(", "), "sab"));
      r[6].forEach(function (c) {
        var label = c[6] ? "error" : c[0];
        tr.appendChild(el("td", label, c[0] && r[1] ? (c[0] === r[1] ? "agent-ok" : "agent-bad") : ""));
        tr.appendChild(el("td", num(c[1], 2)));
        tr.appendChild(el("td", num(c[2], 2)));
      });
      tr.addEventListener("click", function () { state.open[i] = !state.open[i]; render(); });
      tbody.appendChild(tr);
      if (state.open[i]) { tbody.appendChild(detailRow(r)); }
    });
    document.getElementById("clip-count").textContent =
      keep.length + " of " + rows.length + " clips";
    document.getElementById("clip-page").textContent = "page " + (state.page + 1) + " of " + pages;
  }

  // Deep links: index.html#clip=ID filters on that clip and opens its rationales.
  function followHash() {
    if (location.hash.indexOf("#clip=") !== 0) { return; }
    var wanted;
    try { wanted = decodeURIComponent(location.hash.slice(6)); } catch (err) { return; }
    filter.value = wanted;
    outcome.value = "";
    truth.value = "";
    state.page = 0;
    rows.forEach(function (r, i) { if (r[0] === wanted) { state.open[i] = true; } });
    render();
    document.getElementById("clips").scrollIntoView();
  }
  window.addEventListener("hashchange", followHash);

  buildHead();
  render();
  followHash();
  document.body.setAttribute("data-rendered", "ok");
})();
