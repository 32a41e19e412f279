// tracer web page: search, draw a neighbourhood with cytoscape, show flags/evidence, follow payments.
// Every text from the store is inserted with textContent (never innerHTML): labels are untrusted.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("tracerToken");
  if (token) sessionStorage.setItem("tracerToken", token);
  // keep the token out of the address bar, bookmarks and screenshots
  if (location.hash.includes("token=")) history.replaceState(null, "", location.pathname + location.search);
  window.addEventListener("hashchange", () => {
    const t = new URLSearchParams(location.hash.slice(1)).get("token");
    if (t) { sessionStorage.setItem("tracerToken", t); location.reload(); }
  });
  let current = null;   // selected node id
  let currentEdge = null;

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch(url, { headers });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
    return body;
  }

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function clip(text, n) {
    const t = String(text);
    return t.length > n ? t.slice(0, Math.ceil(n / 2) - 1) + "…" + t.slice(-Math.floor(n / 2) + 1) : t;
  }

  function short(id) {
    if (!String(id).includes(":")) return clip(id, 30);
    const parts = String(id).split(":");
    const tail = parts.slice(2).join(":") || parts[1] || id;
    return parts[0] + ":" + (tail.length > 14 ? tail.slice(0, 8) + "…" + tail.slice(-4) : tail);
  }

  const cy = cytoscape({
    container: $("cy"),
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: { "label": "data(caption)", "font-size": 9, "text-valign": "bottom",
        "text-margin-y": 3, "background-color": "#9aa3b5", "width": 18, "height": 18 } },
      { selector: "node[level = 'severe']", style: { "background-color": "#b3261e", "width": 26, "height": 26 } },
      { selector: "node[level = 'high']", style: { "background-color": "#e8710a", "width": 23, "height": 23 } },
      { selector: "node[level = 'medium']", style: { "background-color": "#d4a017" } },
      { selector: "node[?listed]", style: { "border-width": 4, "border-color": "#b3261e", "border-style": "double" } },
      { selector: "node[?hub]", style: { "shape": "diamond", "border-width": 2, "border-color": "#1d2330" } },
      { selector: "node[kind = 'lease'], node[kind = 'job'], node[kind = 'deployment']", style: { "shape": "round-rectangle" } },
      { selector: "node[kind = 'provider']", style: { "shape": "hexagon" } },
      { selector: "node[kind = 'entity']", style: { "shape": "star" } },
      { selector: "node[kind = 'gpu']", style: { "shape": "triangle" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#1a56b0" } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#b5bccb", "target-arrow-color": "#b5bccb",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(caption)", "font-size": 8,
        "text-rotation": "autorotate", "color": "#4b5568" } },
      { selector: "edge[kind = 'paid']", style: { "line-color": "#1a56b0", "target-arrow-color": "#1a56b0" } },
      { selector: "edge[kind = 'same_actor']", style: { "line-style": "dashed", "target-arrow-shape": "none" } },
      { selector: "edge:selected", style: { "width": 3.5, "line-color": "#e8710a", "target-arrow-color": "#e8710a" } },
    ],
  });

  function addGraph(data, baseHop) {
    const added = [];
    for (const n of data.nodes) {
      const hop = (baseHop || 0) + n.hop;
      const existing = cy.getElementById(n.id);
      if (existing.nonempty()) {
        if (hop < existing.data("hop")) existing.data("hop", hop);
        if (n.hub) existing.data("hub", n.hub);
        continue;
      }
      added.push({ group: "nodes", data: { id: n.id, kind: n.kind, level: n.level || "", hub: n.hub || "", listed: n.listed || "",
        hop: hop, caption: (n.label ? clip(n.label, 26) : short(n.id)) + (n.listed ? " ⚠ listed" : "") } });
    }
    for (const e of data.edges) {
      if (cy.getElementById(e.id).nonempty()) continue;
      // display: exact amount in the asset's unit with its symbol ("1,750 USDC"), never base units or token ids
      const caption = e.kind === "paid" && e.display ? clip(e.display, 24) : e.kind;
      added.push({ group: "edges", data: { id: e.id, source: e.src, target: e.dst, kind: e.kind, caption } });
    }
    cy.add(added);
    cy.layout({ name: "concentric", concentric: (n) => 100 - n.data("hop"), levelWidth: () => 1,
      minNodeSpacing: 70, spacingFactor: 1.2, animate: false }).run();
    return added.length;
  }

  async function load(id) {
    status("loading " + id + " …");
    try {
      const data = await api("/api/neighbours", { id, depth: 1 });
      cy.elements().remove();
      addGraph(data, 0);
      await select(id);
      status(data.nodes.length + " nodes, " + data.edges.length + " edges" + (data.truncated ? " (truncated)" : ""));
    } catch (err) { status(err.message, true); }
  }

  async function expand(id) {
    status("expanding " + id + " …");
    try {
      const node = cy.getElementById(id);
      const data = await api("/api/neighbours", { id, depth: 1 });
      const n = addGraph(data, node.nonempty() ? node.data("hop") : 0);
      status("expanded " + short(id) + ": " + n + " new elements; " + cy.nodes().length + " nodes shown");
    } catch (err) { status(err.message, true); }
  }

  async function select(id) {
    current = id;
    cy.elements().unselect();
    cy.getElementById(id).select();
    const info = await api("/api/node", { id });
    $("details").hidden = false;
    $("node-title").textContent = id;
    const meta = $("node-meta");
    meta.replaceChildren();
    const ent = info.entity || {};
    meta.append(el("div", [ent.kind, ent.label, ent.chain].filter(Boolean).join(" · "), "muted"));
    if (info.listed) meta.append(el("div", info.listed, "error"));
    const flag = $("flag");
    flag.replaceChildren();
    if (info.flag) {
      flag.append(el("span", info.flag.level, "badge " + info.flag.level),
        el("span", " score " + info.flag.score + " · rules " + info.flag.rules_version));
      const reasons = el("ul");
      for (const r of info.flag.reasons || []) reasons.append(el("li", typeof r === "string" ? r : (r.rule + ": " + (r.detail || ""))));
      flag.append(reasons);
    } else {
      flag.textContent = "not flagged";
    }
    const ev = $("evidence");
    ev.replaceChildren();
    for (const e of info.evidence) {
      const li = el("li");
      li.append(el("b", e.rule + " "), el("span", "(" + e.score + ") " + (e.detail || "")));
      if (Array.isArray(e.refs) && e.refs.length) li.append(el("div", "facts: " + e.refs.join(", "), "muted"));
      ev.append(li);
    }
    if (!info.evidence.length) ev.append(el("li", "none", "muted"));
    const obs = $("observations");
    obs.replaceChildren();
    for (const o of info.observations) obs.append(el("li", o.predicate + " = " + o.value + (o.source ? "  [" + o.source + "]" : "")));
    if (!info.observations.length) obs.append(el("li", "none", "muted"));
  }

  async function showEdge(id) {
    currentEdge = id;
    const info = await api("/api/edge", { id });
    const e = info.edge;
    $("edge-panel").hidden = false;
    $("tx-panel").hidden = true;
    const dl = $("edge-fields");
    dl.replaceChildren();
    for (const [k, v] of [["kind", e.kind], ["from", e.src_name ? e.src + " (" + e.src_name + ")" : e.src],
      ["to", e.dst_name ? e.dst + " (" + e.dst_name + ")" : e.dst], ["amount", e.display],
      ["base units", e.amount_base ? e.amount_base + " (asset " + e.asset + ", decimals " + e.decimals + ")" : null],
      ["chain", e.chain], ["time", e.time], ["block", e.block], ["tx", e.tx], ["source", e.source]]) {
      if (v === null || v === undefined || v === "") continue;
      dl.append(el("dt", k), el("dd", v));
    }
    $("open-tx").hidden = !e.tx;
    $("open-tx").dataset.edge = id;
    return info;
  }

  async function openTx() {
    const info = await api("/api/edge", { id: currentEdge });
    const e = info.edge;
    $("tx-panel").hidden = false;
    $("tx").textContent = (e.chain || "") + " tx " + e.tx + (e.block !== null ? " in block " + e.block : "");
    const list = $("tx-edges");
    list.replaceChildren();
    for (const x of [e, ...info.same_tx]) {
      list.append(el("li", x.kind + " " + short(x.src) + " → " + short(x.dst) + (x.display ? ": " + x.display : "")));
    }
    const prov = $("provenance");
    prov.replaceChildren();
    const p = info.provenance || {};
    for (const [k, v] of [["url", p.url], ["fetched", p.fetched_at], ["sha256", p.sha256], ["run", p.run_id]]) {
      if (v) prov.append(el("dt", k), el("dd", v));
    }
  }

  function extra(title, items) {
    $("extra").hidden = false;
    $("extra-title").textContent = title;
    const list = $("extra-list");
    list.replaceChildren();
    for (const [text, id] of items) {
      const li = el("li", text);
      if (id) {
        li.className = "link";
        li.dataset.id = id;
        li.addEventListener("click", () => load(id));
      }
      list.append(li);
    }
    if (!items.length) list.append(el("li", "none", "muted"));
  }

  async function funding(id) {
    const rows = await api("/api/funding", { id, hops: 3 });
    extra("Funding of " + short(id), rows.map((f) => [
      "hop " + f.hop + ": " + (f.label || short(f.funder)) + " paid " + short(f.via) + " " + (f.display || "") +
      " (" + f.payments + "×, first " + (f.first_time || "?") + ")" + (f.hub ? " — hub: " + f.hub : "") +
      (f.level ? " [" + f.level + "]" : "") + (f.listed ? " — " + f.listed : ""), f.funder]));
  }

  async function timeline(id) {
    const rows = await api("/api/timeline", { id, limit: 200 });
    extra("Timeline of " + short(id), rows.map((t) => [
      (t.time || "undated") + " " + t.event + (t.direction ? " " + t.direction : "") + " " + short(t.other || "") +
      (t.other_name ? " " + t.other_name : "") + (t.display ? " " + t.display : ""), null]));
  }

  async function search(text) {
    const list = $("results");
    list.replaceChildren();
    status("searching …");
    try {
      const hits = await api("/api/find", { q: text });
      for (const h of hits) {
        const li = el("li");
        li.dataset.id = h.id;
        li.append(el("span", (h.label ? h.label + " — " : "") + h.id));
        if (h.level) li.append(el("span", " " + h.level, "badge " + h.level));
        li.addEventListener("click", () => load(h.id));
        list.append(li);
      }
      status(hits.length + " result(s)");
      if (hits.length === 1) await load(hits[0].id);
      if (!hits.length) list.append(el("li", "nothing found", "muted"));
    } catch (err) { status(err.message, true); }
  }

  cy.on("tap", "node", (evt) => select(evt.target.id()).catch((err) => status(err.message, true)));
  cy.on("dbltap", "node", (evt) => expand(evt.target.id()));
  cy.on("tap", "edge", (evt) => showEdge(evt.target.id()).catch((err) => status(err.message, true)));
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search($("search").value.trim()); });
  $("expand").addEventListener("click", () => current && expand(current));
  $("recenter").addEventListener("click", () => current && load(current));
  $("funding").addEventListener("click", () => current && funding(current).catch((err) => status(err.message, true)));
  $("timeline").addEventListener("click", () => current && timeline(current).catch((err) => status(err.message, true)));
  $("open-tx").addEventListener("click", () => openTx().catch((err) => status(err.message, true)));

  window.tracerApp = { cy, load, expand, select, showEdge, openTx, search, funding, timeline };
  const start = new URLSearchParams(location.search).get("q");
  if (start) { $("search").value = start; search(start); }
})();
