/* gitmodelver registry site: compare any two versions in the browser.
   Each version page has a data file beside it (data/NAME/VERSION.js) holding its manifest, prompts and
   metrics; this loads the two picked and draws the change as the version pages do (the same markup and
   classes as gitmodelver/site/change.py and textdiff.py). The manifest diff and its levels follow
   gitmodelver/core/diff.py. Text goes into the page through textContent only, never as markup. */
(function () {
  "use strict";

  var LEVELS = ["none", "patch", "minor", "major"];
  var IGNORED = "ignored";
  var DEFAULT_RULES = [
    ["system.version", IGNORED], ["base_model", "major"], ["weights", "minor"], ["prompts", "minor"],
    ["retrieval", "minor"], ["serving.quantization", "minor"], ["parameters", "patch"], ["serving", "patch"],
    ["evaluation", "patch"], ["system", "none"], ["policy", "none"], ["rollout", "none"], ["*", "minor"]
  ];
  var PIN_FIELDS = ["sha256", "md5", "path", "dvc"];
  var CONTEXT = 3;
  var SIMILAR = 0.3;
  var TAG = /^([a-z0-9][a-z0-9._-]*)@v([0-9A-Za-z.-]+)$/;

  // ------------------------------------------------------------------ the manifest diff (core/diff.py)

  function globRegex(pattern) {  // fnmatch.fnmatchcase
    var out = "", i = 0;
    while (i < pattern.length) {
      var c = pattern[i++];
      if (c === "*") { out += ".*"; } else if (c === "?") { out += "."; } else if (c === "[") {
        var j = pattern.indexOf("]", i + (pattern[i] === "!" ? 2 : 1));
        if (j < 0) { out += "\\["; continue; }
        var body = pattern.slice(i, j).replace(/\\/g, "\\\\");
        out += "[" + (body[0] === "!" ? "^" + body.slice(1) : body) + "]";
        i = j + 1;
      } else { out += c.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&"); }
    }
    return new RegExp("^(?:" + out + ")$");
  }
  function matches(pattern, path) {
    if (pattern.slice(-2) === ".*" && path === pattern.slice(0, -2)) { return true; }
    return path === pattern || path.indexOf(pattern + ".") === 0 || globRegex(pattern).test(path);
  }
  function classify(path, overrides) {
    if (path === "system.version") { return IGNORED; }
    var rules = Object.keys(overrides || {}).map(function (k) { return [k, overrides[k]]; }).concat(DEFAULT_RULES);
    for (var i = 0; i < rules.length; i++) { if (matches(rules[i][0], path)) { return rules[i][1]; } }
    return "minor";
  }
  function overridesOf(data) {
    var policy = data && data.policy, bump = policy && policy.bump;
    return isTable(bump) ? bump : {};
  }
  function isTable(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function keyOf(name) { return name.indexOf(".") >= 0 || !name ? "\"" + name + "\"" : name; }
  function join(prefix, name) { return prefix ? prefix + "." + keyOf(name) : keyOf(name); }
  function canonical(v) {
    if (Array.isArray(v)) { return "[" + v.map(canonical).join(",") + "]"; }
    if (isTable(v)) { return "{" + Object.keys(v).sort().map(function (k) { return JSON.stringify(k) + ":" + canonical(v[k]); }).join(",") + "}"; }
    return JSON.stringify(v);
  }
  function walk(old, now, path, out) {
    if (isTable(old) && isTable(now)) {
      Object.keys(now).forEach(function (name) {
        var sub = join(path, name);
        if (Object.prototype.hasOwnProperty.call(old, name)) { walk(old[name], now[name], sub, out); } else { out.push([sub, null, now[name]]); }
      });
      Object.keys(old).forEach(function (name) {
        if (!Object.prototype.hasOwnProperty.call(now, name)) { out.push([join(path, name), old[name], null]); }
      });
    } else if (canonical(old) !== canonical(now)) { out.push([path, old, now]); }
    return out;
  }
  function rank(level) { return LEVELS.indexOf(level); }
  function manifestDiff(old, now) {
    var mine = overridesOf(now), theirs = overridesOf(old);
    return walk(old || {}, now, "", []).map(function (c) {
      var level = classify(c[0], mine);
      if (level !== IGNORED) {
        var other = classify(c[0], theirs);
        if (other !== IGNORED && rank(other) > rank(level)) { level = other; }
      }
      return { path: c[0], old: c[1], "new": c[2], level: level };
    }).filter(function (c) { return c.level !== IGNORED; });
  }
  function bumpLevel(changes) {
    var best = 0;
    changes.forEach(function (c) { best = Math.max(best, rank(c.level)); });
    return best > 0 ? LEVELS[best] : null;
  }

  function group(a, b) {
    var changes = manifestDiff(a.manifest, b.manifest);
    var found = { changes: changes, prompts: [], artifacts: [], files: [], values: [] };
    var owned = {};
    var where = {};
    a.refs.concat(b.refs).forEach(function (r) { where[r.dotted] = r.path; });
    ["prompts", "artifacts", "files"].forEach(function (kind) {
      var before = a[kind], after = b[kind];
      var keys = Object.keys(after).concat(Object.keys(before).filter(function (k) { return !(k in after); }));
      keys.forEach(function (dotted) {
        if (canonical(before[dotted]) === canonical(after[dotted])) { return; }
        var ref = where[dotted] || dotted;
        var mine = changes.filter(function (c) {
          return c.path === ref || PIN_FIELDS.some(function (f) { return c.path === ref + "." + f; });
        });
        mine.forEach(function (c) { owned[c.path] = true; });
        found[kind].push({ ref: dotted, before: before[dotted] || null, after: after[dotted] || null, level: bumpLevel(mine) || (mine.length ? "none" : null) });
      });
    });
    found.values = changes.filter(function (c) { return !owned[c.path]; });
    return found;
  }

  // ------------------------------------------------------------------ text diffs (textdiff.py)

  function lcsPairs(a, b) {
    // The longest common subsequence as matched index pairs; a quadratic table, fine for prompts.
    var n = a.length, m = b.length;
    if (n * m > 4000000) { return null; }
    var table = [];
    for (var i = 0; i <= n; i++) { table.push(new Uint32Array(m + 1)); }
    for (i = n - 1; i >= 0; i--) {
      for (var j = m - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    var pairs = [];
    i = 0; j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { pairs.push([i, j]); i++; j++; } else if (table[i + 1][j] >= table[i][j + 1]) { i++; } else { j++; }
    }
    return pairs;
  }
  function opcodes(a, b) {
    var pairs = lcsPairs(a, b);
    if (pairs === null) { return [["replace", 0, a.length, 0, b.length]]; }
    pairs.push([a.length, b.length]);
    var codes = [], i = 0, j = 0;
    pairs.forEach(function (p) {
      if (p[0] > i || p[1] > j) {
        var op = p[0] > i && p[1] > j ? "replace" : p[0] > i ? "delete" : "insert";
        codes.push([op, i, p[0], j, p[1]]);
      }
      if (p[0] < a.length) {
        var last = codes[codes.length - 1];
        if (last && last[0] === "equal" && last[2] === p[0]) { last[2]++; last[4]++; } else { codes.push(["equal", p[0], p[0] + 1, p[1], p[1] + 1]); }
      }
      i = p[0] + 1; j = p[1] + 1;
    });
    return codes;
  }
  function grouped(codes, n) {  // difflib.SequenceMatcher.get_grouped_opcodes
    codes = codes.length ? codes.map(function (c) { return c.slice(); }) : [["equal", 0, 1, 0, 1]];
    var first = codes[0], last = codes[codes.length - 1];
    if (first[0] === "equal") { first[1] = Math.max(first[1], first[2] - n); first[3] = Math.max(first[3], first[4] - n); }
    if (last[0] === "equal") { last[2] = Math.min(last[2], last[1] + n); last[4] = Math.min(last[4], last[3] + n); }
    var groups = [], current = [];
    codes.forEach(function (c) {
      var i1 = c[1], j1 = c[3];
      if (c[0] === "equal" && c[2] - c[1] > 2 * n) {
        current.push(["equal", i1, Math.min(c[2], i1 + n), j1, Math.min(c[4], j1 + n)]);
        groups.push(current);
        current = [];
        i1 = Math.max(i1, c[2] - n); j1 = Math.max(j1, c[4] - n);
      }
      current.push([c[0], i1, c[2], j1, c[4]]);
    });
    if (current.length && !(current.length === 1 && current[0][0] === "equal")) { groups.push(current); }
    return groups;
  }
  function tokens(text) { return text.match(/[\p{L}\p{N}\p{M}_]+|\s+|[^\p{L}\p{N}\p{M}_\s]/gu) || []; }
  function words(old, now) {
    // [[text, changed]…] for each side; nothing marked when the lines have little in common.
    var a = tokens(old), b = tokens(now);
    var pairs = lcsPairs(a, b);
    var total = a.length + b.length;
    if (pairs === null || (total && 2 * pairs.length / total < SIMILAR)) { return [[[old, false]], [[now, false]]]; }
    var left = [], right = [];
    opcodes(a, b).forEach(function (c) {
      var gone = a.slice(c[1], c[2]).join(""), came = b.slice(c[3], c[4]).join("");
      if (gone) { left.push([gone, c[0] !== "equal"]); }
      if (came) { right.push([came, c[0] !== "equal"]); }
    });
    return [left, right];
  }
  function textDiff(old, now) {
    var a = splitLines(old), b = splitLines(now);
    var hunks = [], added = 0, removed = 0;
    grouped(opcodes(a, b), CONTEXT).forEach(function (group) {
      var lines = [], pairs = [];
      group.forEach(function (c) {
        var k;
        if (c[0] === "equal") {
          for (k = 0; k < c[2] - c[1]; k++) {
            var line = { kind: "ctx", old: c[1] + k + 1, "new": c[3] + k + 1, parts: [[a[c[1] + k], false]] };
            lines.push(line); pairs.push([line, line]);
          }
          return;
        }
        var gone = [], came = [];
        for (k = 0; k < Math.max(c[2] - c[1], c[4] - c[3]); k++) {
          var hasOld = k < c[2] - c[1], hasNew = k < c[4] - c[3];
          var w = hasOld && hasNew ? words(a[c[1] + k], b[c[3] + k]) : [[[hasOld ? a[c[1] + k] : "", false]], [[hasNew ? b[c[3] + k] : "", false]]];
          if (hasOld) { gone.push({ kind: "del", old: c[1] + k + 1, "new": null, parts: w[0] }); }
          if (hasNew) { came.push({ kind: "add", old: null, "new": c[3] + k + 1, parts: w[1] }); }
        }
        removed += gone.length; added += came.length;
        lines = lines.concat(gone, came);
        for (k = 0; k < Math.max(gone.length, came.length); k++) { pairs.push([gone[k] || null, came[k] || null]); }
      });
      var f = group[0], l = group[group.length - 1];
      hunks.push({ header: "@@ -" + range(f[1], l[2]) + " +" + range(f[3], l[4]) + " @@", lines: lines, pairs: pairs });
    });
    return { hunks: hunks, added: added, removed: removed };
  }
  function splitLines(text) {
    var lines = text.split(/\r\n|\r|\n/);
    if (lines.length && lines[lines.length - 1] === "") { lines.pop(); }
    return lines;
  }
  function range(start, end) {
    var length = end - start;
    if (length === 0) { return start + ",0"; }
    return length === 1 ? String(start + 1) : (start + 1) + "," + length;
  }

  // ------------------------------------------------------------------ drawing (DOM, textContent only)

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "className") { node.className = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }
  var MARK = { ctx: " ", del: "-", add: "+" }, SAID = { ctx: "", del: "removed: ", add: "added: " };
  function num(value) { return el("td", { className: "ln", text: value === null || value === undefined ? "" : String(value) }); }
  function code(line) {
    var td = el("td", { className: "code " + line.kind }, [
      el("span", { className: "mark", "aria-hidden": "true", text: MARK[line.kind] }),
      el("span", { className: "sr-only", text: SAID[line.kind] })
    ]);
    line.parts.forEach(function (p) {
      if (!p[1]) { td.appendChild(document.createTextNode(p[0])); return; }
      td.appendChild(el(line.kind === "del" ? "del" : "ins", { text: p[0] }));
    });
    return td;
  }
  function head(names) {
    return el("thead", { className: "sr-only" }, [el("tr", {}, names.map(function (n) { return el("th", { scope: "col", text: n }); }))]);
  }
  function unified(found) {
    var body = el("tbody");
    found.hunks.forEach(function (h) {
      body.appendChild(el("tr", { className: "hunk" }, [el("td", { colspan: "3", text: h.header })]));
      h.lines.forEach(function (line) { body.appendChild(el("tr", { className: line.kind }, [num(line.old), num(line["new"]), code(line)])); });
    });
    return el("table", { className: "diff unified" }, [head(["old line", "new line", "text"]), body]);
  }
  function side(line, which) {
    if (!line) { return [el("td", { className: "ln" }), el("td", { className: "code none" })]; }
    return [num(which === "old" ? line.old : line["new"]), code(line)];
  }
  function split(found) {
    var body = el("tbody");
    found.hunks.forEach(function (h) {
      body.appendChild(el("tr", { className: "hunk" }, [el("td", { colspan: "4", text: h.header })]));
      h.pairs.forEach(function (p) { body.appendChild(el("tr", {}, side(p[0], "old").concat(side(p[1], "new")))); });
    });
    return el("table", { className: "diff split" }, [head(["old line", "old text", "new line", "new text"]), body]);
  }
  function views(found, ident) {
    return el("div", { className: "views" }, [
      el("input", { type: "radio", className: "u", name: ident, id: ident + "-u", checked: "checked" }),
      el("label", { "for": ident + "-u", text: "Unified" }),
      el("input", { type: "radio", className: "s", name: ident, id: ident + "-s" }),
      el("label", { "for": ident + "-s", text: "Side by side" }),
      el("div", { className: "scroll unified-view" }, [unified(found)]),
      el("div", { className: "scroll split-view" }, [split(found)])
    ]);
  }
  function levelBadge(level) {
    return level ? el("span", { className: "level " + level, text: level }) : document.createTextNode("–");
  }
  function show(value) {
    if (value === null || value === undefined) { return "–"; }
    return typeof value === "string" ? value : JSON.stringify(value);
  }
  function short(value) {
    if (!value) { return el("span", { text: "–" }); }
    var at = value.indexOf(":"), rest = at >= 0 ? value.slice(at + 1) : value;
    var shown = at >= 0 && rest.length > 12 ? value.slice(0, at + 1) + rest.slice(0, 12) : value.slice(0, 19);
    return el("code", { className: "hash", title: value, text: shown + (shown.length < value.length ? "…" : "") });
  }
  function arrow(a, b) {
    return [typeof a === "string" ? document.createTextNode(a) : a, el("span", { "aria-label": "becomes", text: " → " }), typeof b === "string" ? document.createTextNode(b) : b];
  }
  function table(names, rows, cls) {
    var body = el("tbody");
    rows.forEach(function (row) {
      body.appendChild(el("tr", {}, row.map(function (c) {
        return el("td", {}, Array.isArray(c) ? c : [c instanceof Node ? c : show(c)]);
      })));
    });
    return el("div", { className: "scroll" }, [el("table", { className: cls }, [
      el("thead", {}, [el("tr", {}, names.map(function (n) { return el("th", { scope: "col", text: n }); }))]), body])]);
  }
  function size(value) {
    if (value === null || value === undefined) { return "–"; }
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"], amount = value, u = 0;
    while (amount >= 1024 && u < units.length - 1) { amount /= 1024; u++; }
    return u === 0 ? value.toLocaleString("en") + " bytes" : amount.toFixed(1) + " " + units[u];
  }
  function prompt(fc, ident) {
    var a = fc.before, b = fc.after;
    var paths = [a, b].filter(Boolean).map(function (f) { return f.path; });
    var shown = paths.length === 2 && paths[0] !== paths[1] ? paths.join(" → ") : paths[0];
    var state = !a ? "added" : !b ? "removed" : "changed";
    var title = el("h4", {}, [el("code", { text: shown }), " ", el("span", { className: "quiet", text: fc.ref + ", " + state }), " ", levelBadge(fc.level)]);
    var section = el("section", { className: "file-diff", id: ident }, [title]);
    var notes = [["before", a], ["after", b]].filter(function (s) { return s[1] && s[1].note; }).map(function (s) { return s[0] + ": " + s[1].note; });
    if ((a && a.text === null) || (b && b.text === null)) {
      notes.push("sha256 " + ((a && a.sha256) || "–").slice(0, 12) + " → " + ((b && b.sha256) || "–").slice(0, 12));
    } else {
      var found = textDiff(a ? a.text : "", b ? b.text : "");
      title.appendChild(el("span", { className: "stat" }, [" ", el("ins", { text: "+" + found.added }), " ", el("del", { text: "−" + found.removed })]));
      section.appendChild(found.hunks.length ? views(found, ident) : el("p", { className: "quiet", text: "The text is the same." }));
    }
    if (notes.length) { section.appendChild(el("p", { className: "quiet", text: notes.join("; ") })); }
    return section;
  }
  function render(found) {
    var parts = [];
    if (found.prompts.length) {
      parts.push(el("h3", { text: "Prompts" }));
      found.prompts.forEach(function (fc, i) { parts.push(prompt(fc, "cmp-p" + i)); });
    }
    if (found.artifacts.length) {
      parts.push(el("h3", { text: "Weights and data (DVC)" }));
      parts.push(table(["reference", "path", "md5", "size", "level", "note"], found.artifacts.map(function (fc) {
        var a = fc.before, b = fc.after, any = b || a;
        var notes = [a, b].filter(function (x) { return x && x.note; }).map(function (x) { return x.note; }).join("; ");
        return [fc.ref, any.path, arrow(short(a && a.md5 ? "md5:" + a.md5 : null), short(b && b.md5 ? "md5:" + b.md5 : null)),
          arrow(size(a ? a.size : null), size(b ? b.size : null)), levelBadge(fc.level), notes || null];
      }), "artifacts"));
    }
    if (found.files.length) {
      parts.push(el("h3", { text: "Other files" }));
      parts.push(table(["reference", "path", "sha256", "level"], found.files.map(function (fc) {
        var a = fc.before, b = fc.after;
        return [fc.ref, (b || a).path, arrow(short(a && a.sha256 ? "sha256:" + a.sha256 : null), short(b && b.sha256 ? "sha256:" + b.sha256 : null)), levelBadge(fc.level)];
      }), "files"));
    }
    if (found.values.length) {
      parts.push(el("h3", { text: "Parameters and settings" }));
      parts.push(table(["path", "old", "new", "level"], found.values.map(function (c) {
        return [c.path, c.old, c["new"], levelBadge(c.level)];
      }), "values"));
    }
    if (!parts.length) { parts.push(el("p", { className: "quiet", text: "No component changed." })); }
    return parts;
  }
  function metrics(a, b) {
    var names = Object.keys(b.metrics);
    Object.keys(a.metrics).concat(Object.keys(b.gates)).forEach(function (n) { if (names.indexOf(n) < 0) { names.push(n); } });
    if (!names.length) { return [el("p", { className: "quiet", text: "Neither version names evaluation results with numbers." })]; }
    var rows = names.map(function (n) {
      var now = b.metrics[n], then = a.metrics[n], gate = b.gates[n];
      var delta = now === undefined || then === undefined ? null : now - then;
      var shownDelta = delta === null ? null : delta === 0 ? "0" : (delta > 0 ? "+" : "−") + Number(Math.abs(delta).toPrecision(4));
      var result = gate ? el("span", { className: gate.ok ? "good" : "bad", text: gate.ok ? "✓ pass" : "✗ fail" }) : null;
      return [n, now === undefined ? null : now, then === undefined ? null : then, shownDelta, gate ? gate.rule : null, result];
    });
    return [table(["metric", b.tag, a.tag, "delta", "gate", "result"], rows, "metrics")];
  }

  // ------------------------------------------------------------------ the page

  var loaded = window.MODELVER_VERSIONS = window.MODELVER_VERSIONS || {};

  function load(tag, done, fail) {
    if (loaded[tag]) { done(loaded[tag]); return; }
    var parsed = TAG.exec(tag);
    if (!parsed) { fail(tag + " is not a version tag"); return; }
    var script = document.createElement("script");
    script.src = "data/" + parsed[1] + "/" + parsed[2] + ".js";
    script.onload = function () { if (loaded[tag]) { done(loaded[tag]); } else { fail("the data of " + tag + " is missing: build the site again"); } };
    script.onerror = function () { fail("the data of " + tag + " is missing: build the site again"); };
    document.head.appendChild(script);
  }
  function pagePath(tag) {
    var parsed = TAG.exec(tag);
    return "v/" + parsed[1] + "/" + parsed[2] + ".html";
  }

  function draw(a, b) {
    var result = document.getElementById("compare-result");
    result.textContent = "";
    var found = group(a, b);
    result.appendChild(el("h2", {}, ["From ", el("a", { href: pagePath(a.tag), text: a.tag }), " to ", el("a", { href: pagePath(b.tag), text: b.tag })]));
    if (a.problem || b.problem) { result.appendChild(el("p", { className: "bad", text: a.problem || b.problem })); }
    result.appendChild(el("p", {}, ["Computed level: ", levelBadge(bumpLevel(found.changes) || "none"), " (" + found.changes.length + " change(s))."]));
    render(found).forEach(function (node) { result.appendChild(node); });
    result.appendChild(el("h2", { text: "Evaluation" }));
    metrics(a, b).forEach(function (node) { result.appendChild(node); });
  }

  function start() {
    var form = document.getElementById("compare-form");
    if (!form) { return; }
    var status = document.getElementById("compare-status");
    var pickA = document.getElementById("cmp-a"), pickB = document.getElementById("cmp-b");
    var known = {};
    Array.prototype.forEach.call(pickA.options, function (o) { known[o.value] = true; });
    var params = new URLSearchParams(location.search);
    var a = params.get("a"), b = params.get("b");
    if (b && known[b]) { pickB.value = b; }
    if (a && known[a]) { pickA.value = a; } else if (b && known[b] && pickB.selectedIndex + 1 < pickB.options.length) {
      pickA.selectedIndex = pickB.selectedIndex + 1;  // the version below it
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      location.search = "?a=" + encodeURIComponent(pickA.value) + "&b=" + encodeURIComponent(pickB.value);
    });
    if (!a || !b) { status.textContent = "Pick two versions."; return; }
    if (!known[a] || !known[b]) { status.textContent = "Not a version of this site: " + (!known[a] ? a : b) + "."; return; }
    status.textContent = "Loading " + a + " and " + b + "…";
    var fail = function (why) { status.textContent = why; };
    load(a, function (da) {
      load(b, function (db) { status.textContent = ""; draw(da, db); }, fail);
    }, fail);
  }

  start();
})();
