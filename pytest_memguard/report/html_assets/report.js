/* pytest-memguard HTML report: table, filters and detail view, from the embedded JSON. */
(() => {
  "use strict";
  const DATA = JSON.parse(document.getElementById("mg-data").textContent);
  const tests = DATA.tests;
  const fields = DATA.fields; // [[key, label, kind], ...] in the order of each test's `d`
  const limitFields = DATA.limitFields;
  const LIMIT = 500; // rows rendered after a filter until "show all" is pressed
  const SEVERITY = { error: 0, leak: 1, "over-limit": 2, warmup: 3, ok: 4 };
  const at = {};
  fields.forEach((f, i) => { at[f[0]] = i; });

  const esc = (value) => String(value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");

  // Same output as pytest_memguard.units.format_size / format_duration.
  const UNITS = ["KiB", "MiB", "GiB"];
  const fmtSize = (n) => {
    if (Math.abs(Math.round(n)) < 1024) return Math.round(n) + " B";
    let scaled = n / 1024;
    let unit = 0;
    while (Math.abs(Math.round(scaled * 10) / 10) >= 1024 && unit < UNITS.length - 1) {
      scaled /= 1024;
      unit += 1;
    }
    return scaled.toFixed(1) + " " + UNITS[unit];
  };
  const fmtDuration = (s) => {
    const m = Math.abs(s);
    if (Math.round(m * 1e6) < 1000) return (s * 1e6).toFixed(0) + " us";
    if (Math.round(m * 1e4) / 10 < 1000) return (s * 1e3).toFixed(1) + " ms";
    return s.toFixed(2) + " s";
  };
  const COUNT = new Intl.NumberFormat("en-US"); // one formatter: toLocaleString builds one per call
  const fmtCount = (n) => COUNT.format(n);
  const fmt = (value, kind) => {
    if (value === null || value === undefined) return "\u2013";
    if (kind === "bytes" && typeof value === "number") return fmtSize(value);
    if (kind === "seconds" && typeof value === "number") return fmtDuration(value);
    if (kind === "gens") return Array.isArray(value) ? value.map(fmtCount).join(" / ") : esc(value);
    if (kind === "count" && typeof value === "number") return fmtCount(value);
    return typeof value === "object" ? esc(JSON.stringify(value)) : esc(value);
  };

  const get = (t, key) => {
    const i = at[key];
    const v = i === undefined ? null : t.d[i];
    return v === undefined ? null : v;
  };
  const num = (v) => (typeof v === "number" ? v : null);
  const gen = (t, g) => {
    const c = get(t, "gc_collections");
    return Array.isArray(c) && typeof c[g] === "number" ? c[g] : null;
  };

  // Columns as plain arrays, computed once: sorting and filtering never touch the DOM.
  const n = tests.length;
  const cols = {
    nodeid: new Array(n), outcome: new Array(n), verdict: new Array(n),
    retained: new Array(n), objects: new Array(n), peak: new Array(n), peakFrom: new Array(n),
    pause: new Array(n), gc0: new Array(n), gc1: new Array(n), gc2: new Array(n),
  };
  const lowerIds = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = tests[i];
    cols.nodeid[i] = t.n;
    lowerIds[i] = t.n.toLowerCase();
    cols.outcome[i] = t.o;
    cols.verdict[i] = t.v in SEVERITY ? SEVERITY[t.v] : 5;
    cols.retained[i] = num(get(t, "retained_bytes"));
    cols.objects[i] = num(get(t, "retained_objects"));
    const traced = num(get(t, "traced_peak"));
    cols.peak[i] = traced !== null ? traced : num(get(t, "rss_peak"));
    cols.peakFrom[i] = traced !== null ? "tracemalloc peak" : "RSS peak";
    cols.pause[i] = num(get(t, "gc_pause_max"));
    cols.gc0[i] = gen(t, 0);
    cols.gc1[i] = gen(t, 1);
    cols.gc2[i] = gen(t, 2);
  }

  const $ = (id) => document.getElementById(id);
  const tbody = $("mg-rows");
  const search = $("mg-search");
  const verdictSelect = $("mg-verdict");
  const countLabel = $("mg-count");
  const more = $("mg-more");
  const moreCount = $("mg-more-n");
  const showAll = $("mg-show-all");
  const wrap = document.querySelector(".tablewrap");
  const detail = $("detail");
  const heads = Array.from(document.querySelectorAll("table.tests th[data-key]"));

  let order = Array.from({ length: n }, (_, i) => i);
  let view = order;
  let sortKey = "verdict";
  let sortDir = 1;
  let shown = 0;
  let selected = -1;

  const sortRows = () => {
    const vals = cols[sortKey];
    const dir = sortDir;
    order.sort((a, b) => {
      const x = vals[a];
      const y = vals[b];
      if (x === y) return a - b;
      if (x === null) return 1; // missing figures last, in both directions
      if (y === null) return -1;
      return x < y ? -dir : dir;
    });
    heads.forEach((th) => {
      const on = th.dataset.key === sortKey;
      th.setAttribute("aria-sort", on ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  };

  const filterRows = () => {
    const q = search.value.trim().toLowerCase();
    const v = verdictSelect.value;
    view = v === "all" && !q ? order : order.filter(
      (i) => (v === "all" || tests[i].v === v) && (!q || lowerIds[i].includes(q)));
  };

  const cell = (value, text, extra) =>
    value === null ? '<td class="num na">\u2013</td>' : '<td class="num"' + (extra || "") + ">" + text + "</td>";

  const rowHtml = (i) => {
    const t = tests[i];
    return '<tr data-i="' + i + '" tabindex="0"' + (i === selected ? ' class="sel"' : "") + ">" +
      '<td><span class="pill v-' + esc(t.v) + '">' + esc(t.v) + "</span></td>" +
      '<td class="nodeid">' + esc(t.n) + "</td>" +
      '<td class="outcome">' + esc(t.o) + "</td>" +
      cell(cols.retained[i], fmtSize(cols.retained[i])) +
      cell(cols.objects[i], fmtCount(cols.objects[i])) +
      cell(cols.peak[i], fmtSize(cols.peak[i]), ' title="' + cols.peakFrom[i] + '"') +
      cell(cols.pause[i], fmtDuration(cols.pause[i])) +
      cell(cols.gc0[i], fmtCount(cols.gc0[i])) +
      cell(cols.gc1[i], fmtCount(cols.gc1[i])) +
      cell(cols.gc2[i], fmtCount(cols.gc2[i])) +
      "</tr>";
  };

  const rowsHtml = (from, to) => {
    const parts = new Array(to - from);
    for (let k = from; k < to; k++) parts[k - from] = rowHtml(view[k]);
    return parts.join("");
  };

  const updateCount = () => {
    countLabel.textContent = fmtCount(view.length) +
      (view.length !== n ? " of " + fmtCount(n) : "") + " tests" +
      (shown < view.length ? " \u00b7 first " + fmtCount(shown) + " shown" : "");
    more.hidden = shown >= view.length;
    showAll.hidden = more.hidden;
    moreCount.textContent = fmtCount(view.length);
  };

  // Re-observing makes the observer report the sentinel again even if it stayed visible.
  const watchMore = () => { if (observer) { observer.unobserve(more); observer.observe(more); } };

  const render = () => {
    shown = Math.min(view.length, LIMIT);
    tbody.innerHTML = shown ? rowsHtml(0, shown)
      : '<tr><td colspan="10" class="empty">No test matches the filter.</td></tr>';
    wrap.scrollTop = 0;
    updateCount();
    watchMore();
  };

  // Rows past the first LIMIT are appended as the table is scrolled, LIMIT at a time.
  const extend = (to) => {
    const end = Math.min(to, view.length);
    if (end <= shown) return;
    tbody.insertAdjacentHTML("beforeend", rowsHtml(shown, end));
    shown = end;
    updateCount();
    watchMore();
  };

  const refresh = () => { filterRows(); render(); };

  heads.forEach((th) => {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.key;
      if (key === sortKey) sortDir = -sortDir;
      else {
        sortKey = key;
        sortDir = th.classList.contains("num") ? -1 : 1; // biggest first for figures
      }
      sortRows();
      refresh();
    });
  });
  let pending = 0;
  search.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 80);
  });
  verdictSelect.addEventListener("change", refresh);
  showAll.addEventListener("click", () => extend(view.length));
  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) extend(shown + LIMIT);
  }, { root: wrap, rootMargin: "400px 0px" }) : null;

  // ---- detail view ----
  const table = (head, rows) =>
    '<table class="kv"><thead><tr>' + head.map((h) => "<th>" + h + "</th>").join("") +
    "</tr></thead><tbody>" + rows.map((r) => "<tr>" + r.map((c) => "<td>" + c + "</td>").join("") +
    "</tr>").join("") + "</tbody></table>";

  const frameText = (f) => {
    let s = f.filename + ":" + f.lineno + (f.name ? " in " + f.name : "");
    if (f.line) s += "\n    " + f.line;
    return esc(s);
  };

  const findingHtml = (f) => {
    const meta = [];
    if (f.count) meta.push(fmtCount(f.count) + (f.count === 1 ? " object" : " objects"));
    if (f.bytes) meta.push(fmtSize(f.bytes));
    let h = '<div class="finding"><div class="fhead"><span class="pill kind">' + esc(f.kind) +
      '</span><span class="summary">' + esc(f.summary) + "</span></div>";
    if (meta.length) h += '<div class="meta">' + meta.join(" \u00b7 ") + "</div>";
    const chain = f.retainer_chain || [];
    if (f.chain_text || chain.length) {
      h += "<h4>Retainer chain</h4><pre class=\"chain\">" + esc(f.chain_text || "") + "</pre>";
      if (f.chain_complete === false) {
        h += '<div class="incomplete">The chain is incomplete: its root could not be reached.</div>';
      }
      if (chain.length) {
        h += '<table class="steps" aria-label="chain steps">' + chain.map((e, k) =>
          '<tr><td class="i">' + (k + 1) + '</td><td class="edge">' + esc(e.edge) +
          '</td><td class="obj">' + esc(e.object) + "</td></tr>").join("") + "</table>";
      }
    }
    const frames = f.allocated_at || [];
    if (frames.length) {
      h += '<h4>Allocated at</h4><pre class="frames">' + frames.map(frameText).join("\n") + "</pre>";
    }
    if (f.advice) h += '<div class="advice">' + esc(f.advice) + "</div>";
    return h + "</div>";
  };

  const showDetail = (i) => {
    const t = tests[i];
    selected = i;
    tbody.querySelectorAll("tr.sel").forEach((tr) => tr.classList.remove("sel"));
    const tr = tbody.querySelector('tr[data-i="' + i + '"]');
    if (tr) tr.classList.add("sel");
    let h = '<div class="dhead"><button type="button" class="close" aria-label="Close">\u00d7</button>' +
      "<h2>" + esc(t.n) + '</h2><div class="badges"><span class="pill v-' + esc(t.v) + '">' +
      esc(t.v) + '</span><span class="outcome">outcome: ' + esc(t.o) + "</span></div>";
    if (t.m) h += '<pre class="message">' + esc(t.m) + "</pre>";
    h += '</div><div class="dbody">';
    const findings = t.f || [];
    h += "<h3>Findings</h3>" + (findings.length ? findings.map(findingHtml).join("")
      : '<p class="muted">No findings for this test.</p>');
    const reps = t.r || [];
    if (reps.length) {
      const used = fields.filter((f, k) => reps.some((r) => r[k] !== null && r[k] !== undefined));
      h += "<h3>Per repetition</h3>" + table(
        ["figure"].concat(reps.map((_, k) => "run " + (k + 1))),
        used.map((f) => [esc(f[1])].concat(reps.map((r) => fmt(r[at[f[0]]], f[2])))));
    }
    h += "<h3>Figures</h3>" + table(["figure", "value"],
      fields.map((f, k) => [esc(f[1]), fmt(t.d[k], f[2])]));
    const limits = t.l === undefined ? {} : DATA.limitSets[t.l];
    const set = limitFields.filter((f) => limits[f[0]] !== null && limits[f[0]] !== undefined);
    if (set.length) {
      h += "<h3>Limits</h3>" + table(["limit", "value"],
        set.map((f) => [esc(f[1]), fmt(limits[f[0]], f[2])]));
    }
    detail.innerHTML = h + "</div>";
    detail.hidden = false;
    detail.querySelector(".close").addEventListener("click", closeDetail);
    detail.scrollTop = 0;
  };

  function closeDetail() {
    detail.hidden = true;
    const tr = tbody.querySelector('tr[data-i="' + selected + '"]');
    selected = -1;
    if (tr) { tr.classList.remove("sel"); tr.focus(); }
  }

  const rowOf = (event) => {
    const tr = event.target.closest("tr[data-i]");
    return tr ? Number(tr.dataset.i) : -1;
  };
  tbody.addEventListener("click", (event) => {
    const i = rowOf(event);
    if (i >= 0) showDetail(i);
  });
  tbody.addEventListener("keydown", (event) => {
    const i = rowOf(event);
    if (i >= 0 && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      showDetail(i);
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !detail.hidden) closeDetail();
  });

  sortRows();
  refresh();
})();
