// The attention page of t2x-decoder --attention_dir: plain JS, no build step, no network.
// It reads window.T2X_ATTENTION (attention.js, written beside this file; see
// t2x/inference/attention.py for its layout) and draws the weights of one example, type,
// layer (or step) and head as a heatmap or as lines between the two token columns.
// Every drawn weight carries its value: td.cell and line elements have data-q, data-k, data-w
// (and data-head on lines), so a test can read back exactly what is shown.
(function () {
  "use strict";
  var HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                      "#7f7f7f", "#bcbd22", "#17becf"];
  var SVG = "http://www.w3.org/2000/svg";
  var data = window.T2X_ATTENTION;
  var $ = function (id) { return document.getElementById(id); };

  function fail(message) {
    $("status").textContent = message;
    $("status").className = "error";
    document.body.dataset.error = message;
    document.body.dataset.ready = "1";
  }

  if (!data || !data.examples || !data.examples.length) {
    fail(data ? "attention.js holds no example" :
         "attention.js did not load: keep it next to index.html (t2x-decoder --attention_dir writes both)");
    return;
  }

  function option(select, value, text) {
    var o = document.createElement("option");
    o.value = String(value);
    o.textContent = text;
    select.appendChild(o);
  }

  function fillSelect(select, items, keep) {
    var previous = select.value;
    select.textContent = "";
    items.forEach(function (item) { option(select, item[0], item[1]); });
    var values = items.map(function (item) { return String(item[0]); });
    select.value = keep && values.indexOf(previous) >= 0 ? previous : values[0];
  }

  function example() { return data.examples[Number($("example").value)]; }

  function tokens(ex, type) {
    var queries = type === "encoder" ? ex.source_tokens : ex.target_tokens;
    var keys = type === "decoder" ? ex.target_tokens : ex.source_tokens;
    return { queries: queries, keys: keys };
  }

  // The shown matrix [queries][keys]: one head's weights, or the mean of the heads.
  function weights(ex, type, layer, head) {
    var heads = ex.attention[type][layer];
    if (head !== "mean") return heads[Number(head)];
    return heads[0].map(function (row, q) {
      return row.map(function (_, k) {
        var sum = 0;
        heads.forEach(function (h) { sum += h[q][k]; });
        return sum / heads.length;
      });
    });
  }

  function fillControls() {
    fillSelect($("example"), data.examples.map(function (ex, i) {
      var text = ex.source || ex.output;
      return [i, (i + 1) + ": " + (text.length > 60 ? text.slice(0, 57) + "..." : text)];
    }), true);
    var ex = example();
    var types = Object.keys(data.types).filter(function (t) { return ex.attention[t]; });
    fillSelect($("type"), types.map(function (t) { return [t, data.types[t]]; }), true);
    var stack = ex.attention[$("type").value];
    var name = data.layer_name || "layer";
    $("layer-label").textContent = name.charAt(0).toUpperCase() + name.slice(1);
    fillSelect($("layer"), stack.map(function (_, l) { return [l, name + " " + l]; }), true);
    var heads = stack[0].map(function (_, h) { return [h, "head " + h]; });
    heads.push(["mean", "all heads" ]);
    fillSelect($("head"), heads, true);
  }

  function cellColour(w) { return "rgba(31, 119, 180, " + Math.max(0, Math.min(1, w)).toFixed(4) + ")"; }

  function drawHeatmap(tok, matrix) {
    var table = $("heatmap");
    table.textContent = "";
    var head = table.createTHead().insertRow();
    head.appendChild(document.createElement("th"));
    tok.keys.forEach(function (t, k) {
      var th = document.createElement("th");
      th.className = "key";
      th.dataset.k = String(k);
      th.textContent = t;
      head.appendChild(th);
    });
    var body = table.createTBody();
    matrix.forEach(function (row, q) {
      var tr = body.insertRow();
      var th = document.createElement("th");
      th.className = "query";
      th.dataset.q = String(q);
      th.textContent = tok.queries[q];
      tr.appendChild(th);
      row.forEach(function (w, k) {
        var td = tr.insertCell();
        td.className = "cell";
        td.dataset.q = String(q);
        td.dataset.k = String(k);
        td.dataset.w = String(w);
        td.style.background = cellColour(w);
        td.title = tok.queries[q] + " \u2192 " + tok.keys[k] + ": " + w.toFixed(4);
      });
    });
  }

  function text(svg, x, y, anchor, content, attrs) {
    var t = document.createElementNS(SVG, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    t.setAttribute("text-anchor", anchor);
    t.setAttribute("dominant-baseline", "middle");
    Object.keys(attrs).forEach(function (a) { t.setAttribute(a, attrs[a]); });
    t.textContent = content;
    svg.appendChild(t);
    return t;
  }

  // T2T's layout: keys on the left, queries on the right, a line per (query, key, head).
  function drawLines(tok, matrices, headIds) {
    var svg = $("lines");
    svg.textContent = "";
    var step = 22, width = 520, left = 150, right = width - 150;
    var rows = Math.max(tok.keys.length, tok.queries.length);
    svg.setAttribute("width", width);
    svg.setAttribute("height", rows * step + 20);
    var y = function (i) { return 15 + i * step; };
    matrices.forEach(function (matrix, m) {
      matrix.forEach(function (row, q) {
        row.forEach(function (w, k) {
          var line = document.createElementNS(SVG, "line");
          line.setAttribute("x1", left + 6);
          line.setAttribute("y1", y(k));
          line.setAttribute("x2", right - 6);
          line.setAttribute("y2", y(q));
          line.setAttribute("stroke", HEAD_COLOURS[Number(headIds[m]) % HEAD_COLOURS.length] || "#1f77b4");
          line.setAttribute("stroke-opacity", String(w));
          line.dataset.q = String(q);
          line.dataset.k = String(k);
          line.dataset.w = String(w);
          line.dataset.head = String(headIds[m]);
          svg.appendChild(line);
        });
      });
    });
    function focus(side, i, on) {
      svg.querySelectorAll("line").forEach(function (line) {
        line.classList.toggle("faded", on && line.dataset[side] !== String(i));
      });
      svg.querySelectorAll("text." + (side === "q" ? "query" : "key")).forEach(function (t) {
        t.classList.toggle("active", on && t.dataset[side] === String(i));
      });
    }
    tok.keys.forEach(function (t, k) {
      var el = text(svg, left, y(k), "end", t, { "class": "key", "data-k": k });
      el.addEventListener("mouseenter", function () { focus("k", k, true); });
      el.addEventListener("mouseleave", function () { focus("k", k, false); });
    });
    tok.queries.forEach(function (t, q) {
      var el = text(svg, right, y(q), "start", t, { "class": "query", "data-q": q });
      el.addEventListener("mouseenter", function () { focus("q", q, true); });
      el.addEventListener("mouseleave", function () { focus("q", q, false); });
    });
  }

  function draw() {
    fillControls();
    var ex = example(), type = $("type").value, layer = Number($("layer").value), head = $("head").value;
    var tok = tokens(ex, type);
    var view = $("view").value;
    $("source-text").textContent = ex.source;
    $("output-text").textContent = ex.output;
    $("heatmap").classList.toggle("hidden", view !== "heatmap");
    $("lines").classList.toggle("hidden", view !== "lines");
    if (view === "heatmap") {
      drawHeatmap(tok, weights(ex, type, layer, head));
      $("lines").textContent = "";
    } else {
      var heads = head === "mean" ? ex.attention[type][layer].map(function (_, h) { return h; }) : [Number(head)];
      drawLines(tok, heads.map(function (h) { return weights(ex, type, layer, h); }), heads);
      $("heatmap").textContent = "";
    }
    $("status").textContent = "example " + (Number($("example").value) + 1) + "/" + data.examples.length + ", " +
      data.types[type] + ", " + (data.layer_name || "layer") + " " + layer + ", " +
      (head === "mean" ? "mean of the heads" : "head " + head) + ": " + tok.queries.length + " queries \u00d7 " +
      tok.keys.length + " keys";
    document.body.dataset.ready = "1";
  }

  $("about").textContent = data.model + (data.problem ? " on " + data.problem : "") +
    (data.checkpoint ? " (" + data.checkpoint + ")" : "") + ": " + data.examples.length + " example(s)";
  ["example", "type", "layer", "head", "view"].forEach(function (id) { $(id).addEventListener("change", draw); });
  draw();
})();
