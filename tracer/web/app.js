// tracer case workspace: the flagged subjects and what changed, a subject's flag, evidence (sentences
// down to the raw payload), judgements and notes, and the graph with merged parallel payments, path,
// cluster, exposure-flow and timeline views.  Every text from the store is inserted with textContent
// (never innerHTML): labels are untrusted.
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
  const LEVELS = ["severe", "high", "medium", "low"];
  let current = null;      // selected node id
  let currentEdge = null;  // selected plain edge id
  let writable = false;    // the server records judgements and notes
  const edgeData = {};     // edge id -> the API's edge (for splitting merged edges)
  const groups = {};       // merged id -> the API's merged group
  const split = new Set(); // merged ids the analyst split

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    const r = await fetch(url, { headers: headers() });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
    return body;
  }

  async function post(path, body) {
    const r = await fetch(new URL(path, location.origin), { method: "POST", body: JSON.stringify(body),
      headers: headers({ "Content-Type": "application/json" }) });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
    return data;
  }

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  // a view's own status line: loading, empty with the reason, or the error
  function viewStatus(id, text, kind) {
    const s = $(id);
    s.textContent = text;
    s.className = "view-status " + (kind || "");
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

  // what a list calls a node: its label, else its short id with its listing ("[sanctioned: OFAC SDN]")
  function nameOf(name, id) {
    if (!name) return short(id);
    return name.startsWith("[") ? short(id) + " " + name : name;
  }

  function link(text, id, cls) {
    const a = el("a", text, "link" + (cls ? " " + cls : ""));
    a.href = "#";
    a.dataset.id = id;
    a.addEventListener("click", (ev) => { ev.preventDefault(); open(id); });
    return a;
  }

  function tab(paneId) {
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.pane === paneId);
    for (const p of document.querySelectorAll(".pane")) p.hidden = p.id !== paneId;
  }

  function view(name, button) {
    for (const b of document.querySelectorAll(".view-tab")) {
      b.classList.toggle("active", button ? b === button : b.dataset.view === name && !b.dataset.load);
    }
    for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + name;
    if (name === "graph") cy.resize();
  }

  const cy = cytoscape({
    container: $("cy"),
    wheelSensitivity: 0.3,
    maxZoom: 1.6,
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
        "text-rotation": "autorotate", "color": "#4b5568", "text-background-color": "#fbfcfd",
        "text-background-opacity": 0.85, "text-background-padding": 1 } },
      { selector: "edge[kind = 'paid']", style: { "line-color": "#1a56b0", "target-arrow-color": "#1a56b0" } },
      { selector: "edge[?merged]", style: { "width": 4.5, "font-weight": "bold" } },
      { selector: "edge[kind = 'same_actor']", style: { "line-style": "dashed", "target-arrow-shape": "none" } },
      { selector: ".hl", style: { "line-color": "#e8710a", "target-arrow-color": "#e8710a", "border-color": "#e8710a",
        "border-width": 3, "width": 4 } },
      { selector: "edge:selected", style: { "width": 3.5, "line-color": "#e8710a", "target-arrow-color": "#e8710a" } },
    ],
  });

  function nodeData(n, hop) {
    return { id: n.id, kind: n.kind, level: n.level || "", hub: n.hub || "", listed: n.listed || "", hop: hop,
      caption: (n.label ? clip(n.label, 26) : short(n.id)) + (n.listed ? " ⚠ listed" : "") };
  }

  function edgeCaption(e) {
    // display: exact amount in the asset's unit with its symbol ("1,750 USDC"), never base units or token ids
    return e.kind === "paid" && e.display ? clip(e.display, 24) : e.kind;
  }

  function mergedCaption(m) {
    return clip(m.display || m.kind, 22) + " ×" + m.count;
  }

  // Place new nodes near the node they hang off (a fan away from the drawing's centre); nothing that
  // is already drawn moves, so an expand never reshuffles what the analyst has been looking at.
  function placeNear(anchorId, newIds) {
    const anchor = cy.getElementById(anchorId);
    const drawn = cy.nodes().filter((n) => !newIds.includes(n.id()));
    const c = anchor.nonempty() ? anchor.position() : { x: 0, y: 0 };
    let away = 0;
    if (drawn.length > 1) {
      const bb = drawn.boundingBox();
      away = Math.atan2(c.y - (bb.y1 + bb.y2) / 2, c.x - (bb.x1 + bb.x2) / 2);
    }
    const spread = drawn.length > 1 ? Math.PI * 1.2 : Math.PI * 2;
    const n = newIds.length;
    const taken = drawn.map((d) => d.position());
    newIds.forEach((id, i) => {
      const ring = Math.floor(i / 14);
      const inRing = Math.min(14, n - ring * 14);
      const k = i % 14;
      const angle = away + (inRing > 1 ? -spread / 2 + spread * k / (inRing - (spread >= Math.PI * 2 ? 0 : 1)) : 0);
      let r = 130 + ring * 70;
      let p = { x: c.x + r * Math.cos(angle), y: c.y + r * Math.sin(angle) };
      // step outward while the spot is taken (by a drawn node or one just placed)
      for (let tries = 0; tries < 8 && taken.some((q) => Math.hypot(q.x - p.x, q.y - p.y) < 55); tries++) {
        r += 45;
        p = { x: c.x + r * Math.cos(angle), y: c.y + r * Math.sin(angle) };
      }
      taken.push(p);
      cy.getElementById(id).position(p);
    });
  }

  function addGraph(data, baseHop, anchorId, fresh) {
    const added = [];
    const newNodes = [];
    for (const n of data.nodes) {
      const hop = (baseHop || 0) + n.hop;
      const existing = cy.getElementById(n.id);
      if (existing.nonempty()) {
        if (hop < existing.data("hop")) existing.data("hop", hop);
        if (n.hub) existing.data("hub", n.hub);
        continue;
      }
      added.push({ group: "nodes", data: nodeData(n, hop) });
      newNodes.push(n.id);
    }
    const inGroup = {};
    for (const m of data.merged || []) {
      groups[m.id] = m;
      for (const id of m.edges) inGroup[id] = m.id;
    }
    for (const e of data.edges) {
      const g = inGroup[e.id] || (edgeData[e.id] || {}).group;
      if (g) e.group = g;
      edgeData[e.id] = e;
      if (g && !split.has(g)) continue;
      if (cy.getElementById(e.id).nonempty()) continue;
      added.push({ group: "edges", data: { id: e.id, source: e.src, target: e.dst, kind: e.kind, caption: edgeCaption(e),
        group: g || "" } });
    }
    for (const m of data.merged || []) {
      if (split.has(m.id) || cy.getElementById(m.id).nonempty()) continue;
      cy.remove(cy.edges().filter((x) => x.data("group") === m.id));
      added.push({ group: "edges", data: { id: m.id, source: m.src, target: m.dst, kind: m.kind, merged: true,
        count: m.count, caption: mergedCaption(m) } });
    }
    cy.add(added);
    if (fresh) {
      cy.layout({ name: "concentric", concentric: (n) => 100 - n.data("hop"), levelWidth: () => 1,
        minNodeSpacing: 70, spacingFactor: 1.2, animate: false }).run();
    } else if (newNodes.length) {
      placeNear(anchorId, newNodes);
    }
    return added.length;
  }

  async function load(id) {
    status("loading " + id + " …");
    view("graph");
    try {
      const data = await api("/api/neighbours", { id, depth: 1 });
      cy.elements().remove();
      split.clear();
      addGraph(data, 0, id, true);
      cy.fit(undefined, 40);
      await select(id);
      status(data.nodes.length + " nodes, " + data.edges.length + " edges" + (data.merged.length ?
        " (" + data.merged.length + " groups of parallel payments merged)" : "") + (data.truncated ? " (truncated)" : ""));
    } catch (err) { status(err.message, true); }
  }

  async function open(id) { return load(id); }

  async function expand(id) {
    status("expanding " + id + " …");
    try {
      const node = cy.getElementById(id);
      const data = await api("/api/neighbours", { id, depth: 1 });
      const n = addGraph(data, node.nonempty() ? node.data("hop") : 0, id, cy.nodes().length === 0);
      cy.fit(undefined, 40);  // the viewport follows; positions of what was drawn stay
      status("expanded " + short(id) + ": " + n + " new elements; " + cy.nodes().length + " nodes shown");
    } catch (err) { status(err.message, true); }
  }

  function splitEdge(mid) {
    const m = groups[mid];
    if (!m) return 0;
    split.add(mid);
    cy.remove(cy.getElementById(mid));
    const add = [];
    for (const id of m.edges) {
      const e = edgeData[id];
      if (!e || cy.getElementById(id).nonempty()) continue;
      add.push({ group: "edges", data: { id, source: e.src, target: e.dst, kind: e.kind, caption: edgeCaption(e), group: mid } });
    }
    cy.add(add);
    $("edge-panel").hidden = true;
    status("split into " + add.length + " payments; click one and 'Merge parallel payments' to merge them again");
    return add.length;
  }

  function mergeEdge(mid) {
    const m = groups[mid];
    if (!m) return;
    split.delete(mid);
    cy.remove(cy.edges().filter((x) => x.data("group") === mid));
    cy.add({ group: "edges", data: { id: mid, source: m.src, target: m.dst, kind: m.kind, merged: true, count: m.count,
      caption: mergedCaption(m) } });
    $("edge-panel").hidden = true;
    status("merged " + m.count + " payments");
  }

  function levelBadge(level) { return el("span", level, "badge " + level); }

  function sentenceOfEvidence(e, names) {
    const li = el("li");
    li.dataset.rule = e.rule;
    li.append(el("span", e.detail || e.rule, "sentence"), el("span", "  rule " + e.rule + ", weight " + e.score, "muted"));
    const facts = el("ul", null, "facts");
    for (const f of e.facts || []) {
      const fl = el("li");
      fl.append(el("span", f.sentence || f.id));
      const prov = el("div", null, "prov");
      prov.append(el("span", f.provenance || ""));
      if (f.raw_sha256) {
        const a = el("a", " raw payload", "raw-link");
        a.href = "#";
        a.dataset.fact = f.id;
        a.addEventListener("click", (ev) => { ev.preventDefault(); showRaw(f.id).catch((err) => status(err.message, true)); });
        prov.append(a);
      }
      fl.append(prov);
      facts.append(fl);
    }
    if ((e.facts || []).length) li.append(facts);
    return li;
  }

  async function showRaw(fact) {
    const p = $("raw-panel");
    p.hidden = false;
    $("raw-body").textContent = "loading …";
    const r = await api("/api/raw", { id: fact });
    const dl = $("raw-meta");
    dl.replaceChildren();
    for (const [k, v] of [["fact", r.fact], ["sha256", r.sha256], ["url", r.url], ["stream", r.stream],
      ["fetched", r.fetched_at], ["run", r.run_id], ["bytes", r.bytes]]) {
      if (v !== null && v !== undefined && v !== "") dl.append(el("dt", k), el("dd", v));
    }
    let body = r.kept ? r.body : "(the body was not kept: only its hash and source are stored)";
    if (r.binary) body = "(binary; hex) " + body;
    if (r.truncated) body += "\n… (cut: the whole body stays in the store)";
    $("raw-body").textContent = body;
    return r;
  }

  async function select(id) {
    current = id;
    cy.elements().unselect();
    cy.getElementById(id).select();
    tab("pane-subject");
    viewStatus("subject-status", "loading " + short(id) + " …", "loading");
    $("path-from").value = id;
    let info;
    try {
      info = await api("/api/node", { id });
    } catch (err) { viewStatus("subject-status", err.message, "error"); throw err; }
    viewStatus("subject-status", "");
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
      flag.append(levelBadge(info.flag.level), el("span", " score " + info.flag.score + " · rules " + info.flag.rules_version));
    } else {
      flag.textContent = "not flagged";
    }
    $("export-case").disabled = false;
    await Promise.all([evidence(id), judgements(id)]);
    const obs = $("observations");
    obs.replaceChildren();
    for (const o of info.observations) obs.append(el("li", o.predicate + " = " + o.value + (o.source ? "  [" + o.source + "]" : "")));
    if (!info.observations.length) obs.append(el("li", "none", "muted"));
  }

  async function evidence(id) {
    const ev = $("evidence");
    ev.replaceChildren();
    viewStatus("evidence-status", "loading the evidence …", "loading");
    try {
      const data = await api("/api/explain", { id });
      for (const e of data.evidence) ev.append(sentenceOfEvidence(e, data.names));
      viewStatus("evidence-status", data.evidence.length ? "" : (data.why_empty || "no evidence stored"),
        data.evidence.length ? "" : "empty");
    } catch (err) { viewStatus("evidence-status", err.message, "error"); }
  }

  async function judgements(id) {
    const box = $("judgement");
    const notes = $("notes");
    box.replaceChildren();
    notes.replaceChildren();
    $("judge-form").hidden = !writable;
    $("note-form").hidden = !writable;
    $("judge-readonly").hidden = writable;
    try {
      const c = await api("/api/judgements", { subject: id });
      const j = c.judgement;
      if (j) {
        box.className = "judgement " + j.verdict + (j.evidence_changed ? " stale" : "");
        box.append(el("b", j.verdict), el("span", " by " + j.analyst + " at " + j.created_at + ": " + j.reason));
        if (j.evidence_changed) box.append(el("div", "the evidence changed since: this judgement no longer holds", "error"));
        if (c.judgements.length > 1) box.append(el("div", (c.judgements.length - 1) + " earlier judgement(s)", "muted"));
      } else {
        box.className = "muted";
        box.textContent = "none recorded";
      }
      for (const n of c.notes) {
        const li = el("li");
        li.append(el("b", n.analyst), el("span", " " + n.created_at + ": "), el("span", n.text, "note-text"));
        notes.append(li);
      }
      if (!c.notes.length) notes.append(el("li", "none", "muted"));
    } catch (err) {
      box.textContent = err.message;
      box.className = "error";
    }
  }

  async function recordJudgement() {
    const verdict = document.querySelector("input[name=verdict]:checked").value;
    const analyst = $("analyst").value.trim();
    localStorage.setItem("tracerAnalyst", analyst);
    viewStatus("judge-status", "recording …", "loading");
    try {
      const row = await post("/api/judgements", { subject: current, verdict, reason: $("judge-reason").value, analyst });
      viewStatus("judge-status", "recorded: " + row.verdict + " at " + row.created_at, "ok");
      $("judge-reason").value = "";
      await judgements(current);
      loadLanding();
    } catch (err) { viewStatus("judge-status", err.message, "error"); }
  }

  async function recordNote() {
    const analyst = $("analyst").value.trim();
    viewStatus("note-status", "saving …", "loading");
    try {
      await post("/api/notes", { subject: current, text: $("note-text").value, analyst });
      viewStatus("note-status", analyst ? "" : "", "ok");
      $("note-text").value = "";
      await judgements(current);
    } catch (err) { viewStatus("note-status", err.message + (analyst ? "" : " (fill in your name above)"), "error"); }
  }

  async function exportCase() {
    if (!current) return null;
    status("preparing the case file …");
    try {
      const c = await api("/api/case", { subject: current });
      const blob = new Blob([c.html], { type: "text/html" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = c.filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      window.tracerApp.lastCase = { filename: c.filename, bytes: c.html.length, html: c.html };
      status("case file " + c.filename + " saved (" + Math.round(c.html.length / 1024) + " KB; print it to PDF from " +
        "the browser or with tracer case ID --pdf)");
      return c;
    } catch (err) { status(err.message, true); return null; }
  }

  async function showEdge(id) {
    if (groups[id] && !split.has(id)) return showMerged(id);
    currentEdge = id;
    const info = await api("/api/edge", { id });
    const e = info.edge;
    $("edge-panel").hidden = false;
    $("tx-panel").hidden = true;
    $("edge-title").textContent = "Edge";
    $("split-edge").hidden = true;
    const g = (edgeData[id] || {}).group;
    $("merge-edge").hidden = !g;
    $("merge-edge").dataset.group = g || "";
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

  function showMerged(mid) {
    const m = groups[mid];
    $("edge-panel").hidden = false;
    $("tx-panel").hidden = true;
    $("edge-title").textContent = m.count + " payments merged";
    const dl = $("edge-fields");
    dl.replaceChildren();
    for (const [k, v] of [["kind", m.kind], ["from", m.src], ["to", m.dst], ["total", m.display], ["payments", m.count],
      ["first", m.first_time], ["last", m.last_time]]) {
      if (v !== null && v !== undefined && v !== "") dl.append(el("dt", k), el("dd", v));
    }
    $("split-edge").hidden = false;
    $("split-edge").dataset.group = mid;
    $("merge-edge").hidden = true;
    $("open-tx").hidden = true;
    return m;
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
    if (e.raw_sha256) {
      const a = el("a", "show the raw payload", "raw-link");
      a.href = "#";
      a.addEventListener("click", (ev) => { ev.preventDefault(); showRaw(e.id).catch((err) => status(err.message, true)); });
      prov.append(el("dt", ""), a);
    }
  }

  // draw a set of edges (a path, a cluster, an exposure flow) into the graph, highlighted
  function highlight(nodes, edges) {
    cy.elements().removeClass("hl");
    const data = { nodes: nodes.map((n) => Object.assign({ hop: 1, kind: String(n.id).split(":")[0] }, n)),
      edges: edges.filter((e) => e.src && e.dst), merged: [] };
    const anchor = current && cy.getElementById(current).nonempty() ? current : (nodes[0] || {}).id;
    addGraph(data, 1, anchor, cy.nodes().length === 0);
    for (const n of nodes) cy.getElementById(n.id).addClass("hl");
    for (const e of edges) {
      const drawn = cy.getElementById(e.id);
      if (drawn.nonempty()) drawn.addClass("hl");
      else if (e.group) cy.getElementById(e.group).addClass("hl");
    }
  }

  async function showPath(from, to) {
    view("path");
    const list = $("path-list");
    list.replaceChildren();
    if (!from || !to) { viewStatus("path-status", "give both ids: from and to", "empty"); return []; }
    viewStatus("path-status", "finding the shortest path …", "loading");
    try {
      const hops = await api("/api/path", { from, to });
      if (!hops.length) {
        viewStatus("path-status", "no path within 6 hops that avoids exchanges and bridges (hubs are not crossed)", "empty");
        return hops;
      }
      for (const h of hops) {
        const li = el("li");
        li.append(link(h.src_name || short(h.src), h.src), el("span", " " + h.kind + (h.display ? " " + h.display : "") +
          " → "), link(h.dst_name || short(h.dst), h.dst), el("span", h.time ? "  " + h.time : "", "muted"));
        list.append(li);
      }
      const ends = [...new Set(hops.flatMap((h) => [h.src, h.dst]))].map((id) => ({ id }));
      highlight(ends, hops);
      viewStatus("path-status", hops.length + " hop(s); drawn in orange on the graph", "ok");
      return hops;
    } catch (err) { viewStatus("path-status", err.message, "error"); return []; }
  }

  // the actor cluster: every member (level badge, listing), then each link that joined them as a sentence
  async function showCluster(id) {
    view("cluster");
    const list = $("cluster-list");
    const sentences = $("cluster-links");
    list.replaceChildren();
    sentences.replaceChildren();
    $("cluster-links-title").hidden = true;
    if (!id) { viewStatus("cluster-status", "select a subject first", "empty"); return null; }
    viewStatus("cluster-status", "loading the cluster of " + short(id) + " …", "loading");
    try {
      const c = await api("/api/cluster", { id });
      for (const m of c.members) {
        const li = el("li");
        li.dataset.member = m.id;
        li.append(link(m.label || short(m.id), m.id));
        if (m.level) li.append(el("span", " "), levelBadge(m.level));
        if (m.listed) li.append(el("span", " ⚠ " + m.listed, "listed-mark"));
        li.append(el("span", m.id === c.subject ? "  the subject" :
          "  " + (m.hop === null || m.hop === undefined ? "" : m.hop + " link(s) away, ") + "via " + m.via, "muted"));
        list.append(li);
      }
      const shortIds = (text) => c.members.reduce((t, m) => t.split(m.id).join(short(m.id)), String(text));
      for (const l of c.links.slice(0, 300)) {
        const li = el("li");
        li.append(el("span", shortIds(l.sentence), "sentence"));
        if (l.refs && l.refs.length) {
          li.append(el("div", "facts: " + l.refs.slice(0, 5).join(", ") + (l.refs.length > 5 ? " …" : ""), "prov"));
        }
        sentences.append(li);
      }
      $("cluster-links-title").hidden = !c.links.length;
      if (c.members.length <= 1) {
        viewStatus("cluster-status", short(id) + " — " + (c.note || "no other wallet is linked to it as the same actor"),
          "empty");
      } else {
        const flagged = c.members.filter((m) => m.level).length;
        const listed = c.members.filter((m) => m.listed).length;
        viewStatus("cluster-status", c.members.length + " members (" + flagged + " flagged, " + listed + " listed)" +
          (c.cluster ? " of " + c.cluster : "") + ", " + c.links.length + " link(s)" + (c.truncated ? " (cut)" : "") +
          (c.note ? "; " + c.note : "") + "; members drawn in orange", "ok");
        highlight(c.members.map((m) => ({ id: m.id, kind: m.kind, label: m.label, level: m.level, listed: m.listed,
          hop: m.hop === null || m.hop === undefined ? 1 : m.hop })),
        c.links.filter((l) => l.id).map((l) => ({ id: l.id, src: l.src, dst: l.dst, kind: "same_actor" })));
      }
      return c;
    } catch (err) { viewStatus("cluster-status", err.message, "error"); return null; }
  }

  async function showExposure(id) {
    view("exposure");
    const list = $("exposure-list");
    const share = $("exposure-share");
    list.replaceChildren();
    share.replaceChildren();
    if (!id) { viewStatus("exposure-status", "select a subject first", "empty"); return null; }
    viewStatus("exposure-status", "walking payments from " + short(id) + " …", "loading");
    try {
      const x = await api("/api/exposure", { id, hops: 3 });
      for (const p of x.proportional || []) {
        share.append(el("p", p.share + " of " + short(id) + "'s " + p.direction + " (" + String(p.asset || "").split("/")[0] +
          ") traces to listed " + short(p.source) + ", " + p.hop + " hop(s) away", "sentence share"));
      }
      const flow = [];
      for (const h of x.hits.slice(0, 12)) {
        const li = el("li");
        li.append(link(h.name || short(h.id), h.id), el("span", " — " + h.reason + ", " + h.hop + " hop(s), " + h.direction +
          (h.share ? "; " + h.share : "")));
        const hops = el("ol", null, "flow");
        for (const eid of h.path) {
          const e = (await api("/api/edge", { id: eid })).edge;
          flow.push(e);
          hops.append(el("li", (e.src_name || short(e.src)) + " paid " + (e.display || e.kind) + " to " +
            (e.dst_name || short(e.dst)) + (e.time ? " on " + e.time.slice(0, 10) : "")));
        }
        li.append(hops);
        list.append(li);
      }
      for (const hb of x.hubs) list.append(el("li", "stopped at hub " + short(hb.id) + ": " + hb.why, "muted"));
      // the subject's own listing first: an exposure answer must never read as "no risk" for a listed party
      if (x.listed) list.prepend(el("li", short(id) + " is itself " + x.listed, "sentence listed-self"));
      if (!x.hits.length) {
        viewStatus("exposure-status", "no listed, sanctioned or high-flagged party within " + x.hops + " payments" +
          (x.hubs.length ? " (walks stop at exchanges and bridges)" : ""), "empty");
      } else {
        viewStatus("exposure-status", x.hits.length + " exposed part(ies) within " + x.hops + " payments" +
          (x.hits.length > 12 ? " (first 12 shown)" : "") + "; flow drawn in orange on the graph", "ok");
        const ends = [...new Set(flow.flatMap((e) => [e.src, e.dst]))].map((n) => ({ id: n }));
        highlight(ends, flow);
      }
      return x;
    } catch (err) { viewStatus("exposure-status", err.message, "error"); return null; }
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
    viewStatus("timeline-status", "loading the funding of " + short(id) + " …", "loading");
    try {
      const rows = await api("/api/funding", { id, hops: 3 });
      extra("Funding of " + short(id), rows.map((f) => [
        "hop " + f.hop + ": " + (f.label || short(f.funder)) + " paid " + short(f.via) + " " + (f.display || "") +
        " (" + f.payments + "×, first " + (f.first_time || "?") + ")" + (f.hub ? " — hub: " + f.hub : "") +
        (f.level ? " [" + f.level + "]" : "") + (f.listed ? " — " + f.listed : ""), f.funder]));
      viewStatus("timeline-status", rows.length ? "" : "nobody paid " + short(id) + " in the store", rows.length ? "" : "empty");
    } catch (err) { viewStatus("timeline-status", err.message, "error"); }
  }

  async function timeline(id) {
    viewStatus("timeline-status", "loading the timeline of " + short(id) + " …", "loading");
    try {
      const rows = await api("/api/timeline", { id, limit: 200 });
      extra("Timeline of " + short(id), rows.map((t) => [
        (t.time || "undated") + " " + t.event + (t.direction ? " " + t.direction : "") + " " + short(t.other || "") +
        (t.other_name ? " " + t.other_name : "") + (t.display ? " " + t.display : ""), null]));
      viewStatus("timeline-status", rows.length ? "" : "no dated payment, lease or fact about " + short(id), rows.length ? "" : "empty");
    } catch (err) { viewStatus("timeline-status", err.message, "error"); }
  }

  async function loadLanding() {
    viewStatus("cases-status", "loading the flags …", "loading");
    try {
      const f = await api("/api/flags", { min_level: "low", limit: 500 });
      const counts = $("level-counts");
      counts.replaceChildren();
      for (const lv of LEVELS) {
        const c = el("span", null, "count " + lv);
        c.dataset.level = lv;
        c.append(el("b", f.counts[lv] || 0), el("span", " " + lv));
        counts.append(c);
      }
      const list = $("flag-list");
      list.replaceChildren();
      for (const r of f.flags) {
        const li = el("li");
        li.dataset.id = r.subject;
        li.append(levelBadge(r.level), el("span", " "), link(nameOf(r.name, r.subject), r.subject));
        if (r.new) li.append(el("span", " new", "new"));
        if (r.judgement) li.append(el("span", " " + r.judgement.verdict + (r.judgement.evidence_changed ? " (stale)" : ""),
          "verdict " + r.judgement.verdict));
        li.append(el("div", (r.reasons || [])[0] || "", "muted"));
        list.append(li);
      }
      viewStatus("cases-status", f.why_empty || (f.flags.length + " flagged subject(s)" + (f.truncated ? ", the first shown" : "")),
        f.flags.length ? "" : "empty");
    } catch (err) { viewStatus("cases-status", err.message, "error"); }
    try {
      const c = await api("/api/changes", { runs: 3 });
      const list = $("changes");
      list.replaceChildren();
      for (const n of c.new_flags) {
        const li = el("li");
        li.append(el("span", "new "), levelBadge(n.level), el("span", " "), link(nameOf(n.name, n.subject), n.subject));
        list.append(li);
      }
      for (const [rows, word] of [[c.level_up || [], "up "], [c.level_down || [], "down "]]) {
        for (const n of rows) {
          const li = el("li");
          li.dataset.change = word.trim();
          li.append(el("span", word), levelBadge(n.old_level), el("span", " → "), levelBadge(n.level), el("span", " "),
            link(nameOf(n.name, n.subject), n.subject));
          list.append(li);
        }
      }
      for (const n of c.left_flags || []) {
        const li = el("li");
        li.dataset.change = "left";
        li.append(el("span", "no longer flagged (was "), levelBadge(n.level), el("span", ") "),
          link(nameOf(n.name, n.subject), n.subject));
        list.append(li);
      }
      for (const j of c.stale_judgements) {
        const li = el("li");
        li.append(el("span", "evidence changed since " + j.analyst + " " + j.verdict + " "), link(short(j.subject), j.subject));
        list.append(li);
      }
      for (const r of c.runs) {
        list.append(el("li", "run " + (r.command || "") + " " + (r.started_at || "") + ": " + (r.status || "?") +
          (r.records !== null && r.records !== undefined ? ", " + r.records + " records" : "") + (r.error ? " — " + r.error : ""), "muted"));
      }
      const when = c.scored_at ? "latest scoring " + c.scored_at + (c.previous_at ? ", since " + c.previous_at : "") + ". " : "";
      const n = c.counts || { new: c.new_flags.length, left: 0, up: 0, down: 0 };
      viewStatus("changes-status", when + (c.why_empty || (n.new + " new flag(s), " + n.left + " no longer flagged, " + n.up +
        " up, " + n.down + " down a level, " + c.stale_judgements.length + " judgement(s) whose evidence changed" +
        (c.truncated ? " (lists cut)" : ""))), c.why_empty ? "empty" : "");
    } catch (err) { viewStatus("changes-status", err.message, "error"); }
  }

  async function search(text) {
    const list = $("results");
    list.replaceChildren();
    tab("pane-results");
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

  async function health() {
    try {
      const h = await api("/api/health");
      writable = !!h.judgements_writable;
    } catch (err) { status(err.message, true); }
  }

  // The empty canvas says what to do instead of staying blank (the landing view draws nothing yet).
  const emptyHint = () => { $("cy-empty").hidden = cy.elements().length > 0; };
  cy.on("add remove", emptyHint);
  emptyHint();
  cy.on("tap", "node", (evt) => select(evt.target.id()).catch((err) => status(err.message, true)));
  cy.on("dbltap", "node", (evt) => expand(evt.target.id()));
  cy.on("tap", "edge", (evt) => { Promise.resolve(showEdge(evt.target.id())).catch((err) => status(err.message, true)); });
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search($("search").value.trim()); });
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => tab(b.dataset.pane));
  for (const b of document.querySelectorAll(".view-tab")) {
    b.addEventListener("click", () => {
      view(b.dataset.view, b);
      if (b.dataset.view === "cluster" && current) showCluster(current);
      if (b.dataset.view === "exposure" && current) showExposure(current);
      if (b.dataset.load === "funding" && current) funding(current);
      if (b.dataset.load === "timeline" && current) timeline(current);
    });
  }
  const viewButton = (name, load) => document.querySelector(".view-tab[data-view='" + name + "']" + (load ? "[data-load='" + load + "']" : ""));
  $("expand").addEventListener("click", () => current && expand(current));
  $("recenter").addEventListener("click", () => current && load(current));
  $("export-case").addEventListener("click", () => exportCase());
  $("funding").addEventListener("click", () => { if (current) { view("timeline", viewButton("timeline", "funding")); funding(current); } });
  $("timeline").addEventListener("click", () => { if (current) { view("timeline", viewButton("timeline", "timeline")); timeline(current); } });
  $("show-cluster").addEventListener("click", () => current && showCluster(current));
  $("show-exposure").addEventListener("click", () => current && showExposure(current));
  $("open-tx").addEventListener("click", () => openTx().catch((err) => status(err.message, true)));
  $("split-edge").addEventListener("click", () => splitEdge($("split-edge").dataset.group));
  $("merge-edge").addEventListener("click", () => mergeEdge($("merge-edge").dataset.group));
  $("path-form").addEventListener("submit", (ev) => { ev.preventDefault(); showPath($("path-from").value.trim(), $("path-to").value.trim()); });
  $("judge-form").addEventListener("submit", (ev) => { ev.preventDefault(); recordJudgement(); });
  $("note-form").addEventListener("submit", (ev) => { ev.preventDefault(); recordNote(); });
  $("analyst").value = localStorage.getItem("tracerAnalyst") || "";

  window.tracerApp = { cy, load, open, expand, select, showEdge, openTx, search, funding, timeline, splitEdge, mergeEdge,
    showPath, showCluster, showExposure, showRaw, exportCase, loadLanding, groups, lastCase: null };
  const ready = health().then(loadLanding);
  window.tracerApp.ready = ready;
  const start = new URLSearchParams(location.search).get("q");
  if (start) { $("search").value = start; ready.then(() => search(start)); }
})();
