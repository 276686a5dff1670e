/* gitmodelver registry site: the little the pages need a script for. Everything else works without it.
   Sorting and filtering the versions table, picking two versions to compare, and `asof` on an
   environment's page. Only textContent and DOM properties are written: nothing from the data is parsed
   as markup. */
(function () {
  "use strict";

  function showControls() {
    document.querySelectorAll(".needs-js").forEach(function (el) { el.hidden = false; });
  }

  function versionsTable() {
    var table = document.querySelector("table.versions");
    if (!table) { return; }
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var status = document.getElementById("shown");
    var text = document.getElementById("f-text");
    var selects = { system: "f-system", level: "f-level", signer: "f-signer", env: "f-env" };
    var haystack = rows.map(function (row) { return row.textContent.toLowerCase(); });

    function matches(row, i) {
      var wanted = text.value.trim().toLowerCase();
      if (wanted && haystack[i].indexOf(wanted) < 0) { return false; }
      for (var key in selects) {
        var value = document.getElementById(selects[key]).value;
        if (!value) { continue; }
        if (key === "env") {
          if ((" " + row.dataset.envs + " ").indexOf(" " + value + " ") < 0) { return false; }
        } else if (row.dataset[key] !== value) { return false; }
      }
      return true;
    }
    function filter() {
      var shown = 0;
      rows.forEach(function (row, i) {
        var keep = matches(row, i);
        row.hidden = !keep;
        if (keep) { shown += 1; }
      });
      status.textContent = shown + " of " + rows.length + " version(s)";
    }
    text.addEventListener("input", filter);
    Object.keys(selects).forEach(function (key) {
      document.getElementById(selects[key]).addEventListener("change", filter);
    });
    var params = new URLSearchParams(location.hash.slice(1));
    Object.keys(selects).forEach(function (key) {
      if (params.get(key)) { document.getElementById(selects[key]).value = params.get(key); }
    });
    if (params.get("q")) { text.value = params.get("q"); }
    filter();

    var keys = {
      version: function (row) { return -Number(row.dataset.order); },
      date: function (row) { return Number(row.dataset.time); },
      level: function (row) { return row.dataset.level; },
      signer: function (row) { return row.dataset.signer; }
    };
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th) {
      var name = th.textContent.trim();
      var key = keys[name] || function (row) { return row.cells[th.cellIndex].textContent.trim().toLowerCase(); };
      if (name === "compare") { return; }  // the column of checkboxes is not sorted
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = name;
      var arrow = document.createElement("span");  // drawn by CSS; the state is aria-sort's to say
      arrow.className = "arrow";
      arrow.setAttribute("aria-hidden", "true");
      button.appendChild(arrow);
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var sorted = rows.slice().sort(function (a, b) {
          var x = key(a), y = key(b);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return up ? order : -order;
        });
        sorted.forEach(function (row) { body.appendChild(row); });
      });
    });

    var go = document.getElementById("compare-picked");
    function picked() {
      return Array.prototype.slice.call(body.querySelectorAll("input.pick:checked"));
    }
    body.addEventListener("change", function () {
      var two = picked();
      go.disabled = two.length !== 2 || two[0].closest("tr").dataset.system !== two[1].closest("tr").dataset.system;
      go.textContent = two.length === 2 && go.disabled ? "Pick two versions of one system" : "Compare the two picked";
    });
    go.addEventListener("click", function () {
      var two = picked().map(function (box) { return box.closest("tr"); });
      if (two.length !== 2) { return; }
      two.sort(function (a, b) { return Number(b.dataset.order) - Number(a.dataset.order); });  // older first
      var a = two[0].querySelector("input.pick").value, b = two[1].querySelector("input.pick").value;
      location.href = "compare.html?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b);
    });
  }

  function ledgerTime(date) {
    // The ledger's fixed-width UTC form, which sorts as the times do: 2026-11-01T12:00:00.000000Z
    return date.toISOString().replace(/Z$/, "000Z");
  }

  function asof() {
    var form = document.getElementById("asof");
    var data = document.getElementById("asof-data");
    if (!form || !data) { return; }
    var events = JSON.parse(data.textContent);
    var answer = document.getElementById("asof-answer");
    var input = document.getElementById("asof-when");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var moment = new Date(input.value);
      answer.textContent = "";
      if (isNaN(moment.getTime())) { answer.textContent = "Pick a moment first."; return; }
      var when = ledgerTime(moment);
      var lo = 0, hi = events.length;  // the last event at or before the moment: a binary search, no replay
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (events[mid][0] <= when) { lo = mid + 1; } else { hi = mid; }
      }
      var p = document.createElement("p");
      if (lo === 0) {
        p.textContent = "At " + when + " nothing was deployed here yet.";
        answer.appendChild(p);
        return;
      }
      var ev = events[lo - 1];
      var split = Object.keys(ev[4]).map(function (tag) { return tag + " " + ev[4][tag] + "%"; }).join(", ");
      p.textContent = "At " + when + " (UTC): " + (split || "nothing") + ", set by event " + ev[1] + " (" +
        ev[2] + (ev[3] ? " " + ev[3] : "") + ") at " + ev[0] + ".";
      p.className = "asof-result";
      answer.appendChild(p);
    });
  }

  showControls();
  versionsTable();
  asof();
})();
