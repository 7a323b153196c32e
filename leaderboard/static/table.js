/* Sortable columns and row filters for the leaderboard table (no dependencies, works from file://). */
(function () {
  "use strict";

  function cellValue(row, col, numeric) {
    var cell = row.cells[col];
    var raw = cell ? cell.getAttribute("data-v") : null;
    if (raw === null || raw === "") { return null; }
    if (!numeric) { return raw.toLowerCase(); }
    var v = parseFloat(raw);
    return isNaN(v) ? null : v;
  }

  function sortBy(table, th) {
    var col = parseInt(th.getAttribute("data-col"), 10);
    var numeric = th.getAttribute("data-sort") === "num";
    var current = th.getAttribute("aria-sort");
    var firstDir = numeric && th.getAttribute("data-better") !== "low" ? "descending" : "ascending";
    var dir = current ? (current === "ascending" ? "descending" : "ascending") : firstDir;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var order = rows.map(function (row, i) { return { row: row, i: i, v: cellValue(row, col, numeric) }; });
    order.sort(function (a, b) {
      if (a.v === null && b.v === null) { return a.i - b.i; }
      if (a.v === null) { return 1; }   /* missing and partial values always last */
      if (b.v === null) { return -1; }
      if (a.v < b.v) { return dir === "ascending" ? -1 : 1; }
      if (a.v > b.v) { return dir === "ascending" ? 1 : -1; }
      return a.i - b.i;
    });
    order.forEach(function (o) { body.appendChild(o.row); });
    table.querySelectorAll("thead th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
  }

  function applyFilters(table) {
    var filters = document.querySelectorAll("select[data-filter]");
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var ok = true;
      filters.forEach(function (sel) {
        if (sel.value && row.getAttribute("data-" + sel.getAttribute("data-filter")) !== sel.value) { ok = false; }
      });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var count = document.getElementById("row-count");
    if (count) { count.textContent = shown + " of " + table.tBodies[0].rows.length + " rows"; }
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
      });
    });
    document.querySelectorAll("select[data-filter]").forEach(function (sel) {
      sel.addEventListener("change", function () { applyFilters(table); });
    });
  });
}());
