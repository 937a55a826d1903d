/*
 * Sortable tables for the estbench leaderboard (self-contained; no CDN, no dependencies).
 *
 * Click a column header to sort by it; click again to reverse. Numbers sort numerically (the
 * first number in the cell, so "0.527 ± 0.012" sorts by 0.527); cells without a number
 * ("—", "n/a") always go last. Numeric columns sort high-to-low first, except "#" and
 * lower-is-better columns (header containing "↓", "BR@", "WR@", "s/arch" or "Group": rank
 * group 1 is the best). The header cells get role="columnheader" and aria-sort, which
 * Material for MkDocs styles with sort arrows.
 * A table that has been set up carries data-sortable="ready".
 */
(function () {
  "use strict";

  var NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/;

  function cellValue(cell) {
    var text = (cell ? cell.textContent : "").trim();
    var match = text.match(NUMBER);
    return { text: text, num: match ? parseFloat(match[0]) : null };
  }

  function lowerFirst(th) {
    var t = th.textContent;
    return /^\s*#/.test(t) || /↓|BR@|WR@|s\/arch|Group/.test(t);
  }

  function isNumeric(rows, index) {
    var seen = 0;
    for (var i = 0; i < rows.length; i++) {
      var v = cellValue(rows[i].cells[index]);
      if (v.num !== null) seen++;
      else if (v.text !== "" && v.text !== "—" && v.text !== "n/a") return false;
    }
    return seen > 0;
  }

  function sortBy(table, th, index) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = isNumeric(rows, index);
    var current = th.getAttribute("aria-sort");
    var first = numeric && !lowerFirst(th) ? "descending" : "ascending";
    var dir = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
    var sign = dir === "ascending" ? 1 : -1;
    var keyed = rows.map(function (row, i) {
      return { row: row, i: i, v: cellValue(row.cells[index]) };
    });
    keyed.sort(function (a, b) {
      var x = numeric ? a.v.num : a.v.text, y = numeric ? b.v.num : b.v.text;
      var xMissing = numeric ? x === null : (x === "" || x === "—");
      var yMissing = numeric ? y === null : (y === "" || y === "—");
      if (xMissing || yMissing) return xMissing === yMissing ? a.i - b.i : (xMissing ? 1 : -1);
      var c = numeric ? x - y : x.localeCompare(y);
      return c !== 0 ? sign * c : a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", dir);
  }

  function setup(table) {
    if (table.dataset.sortable === "ready" || !table.tHead || !table.tBodies.length) return;
    var headRow = table.tHead.rows[table.tHead.rows.length - 1];
    Array.prototype.forEach.call(headRow.cells, function (th, index) {
      if (!th.textContent.trim()) return;
      th.setAttribute("role", "columnheader");
      th.setAttribute("title", th.getAttribute("title") || "Click to sort");
      th.addEventListener("click", function (event) {
        if (event.target.closest && event.target.closest("a")) return;  // links navigate
        sortBy(table, th, index);
      });
    });
    table.dataset.sortable = "ready";
  }

  function setupAll() {
    document.querySelectorAll("article table:not([class])").forEach(setup);
  }

  if (typeof document$ !== "undefined" && document$.subscribe) {
    document$.subscribe(setupAll);  // Material for MkDocs: runs on every (instant) page load
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupAll);
  } else {
    setupAll();
  }
})();
