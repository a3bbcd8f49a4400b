// Renders an mxGraphModel with mxGraph (draw.io's engine, vendor/mxgraph) in the page and
// reports what a reader would see wrong: a label larger than its box, an edge through a box.
// Loaded by scripts/architecture_diagram.py after vendor/mxgraph/mxClient.min.js.
/* global mxGraph, mxCodec, mxUtils, mxRectangle, mxConstants */
window.qpRender = function (modelXml) {
  const container = document.getElementById("graph");
  const graph = new mxGraph(container);
  graph.setEnabled(false);
  graph.setHtmlLabels(true);
  graph.foldingEnabled = false;
  const doc = mxUtils.parseXml(modelXml);
  new mxCodec(doc).decode(doc.documentElement, graph.getModel());
  const model = graph.getModel();
  const cells = Object.values(model.cells);
  const vertices = cells.filter((c) => model.isVertex(c));
  const edges = cells.filter((c) => model.isEdge(c));
  const style = (c) => graph.getCellStyle(c);
  const problems = [];

  // 1. labels that need more room than their box (html labels are measured as rendered)
  for (const v of vertices) {
    const st = style(v);
    if (!v.value || st.overflow === "visible") continue;
    const state = graph.view.getState(v);
    if (!state || !state.text || !state.text.node) continue;
    const div = state.text.node.getElementsByTagName("div");
    const inner = div.length > 1 ? div[div.length - 1] : div[0];
    if (!inner) continue;
    const r = inner.getBoundingClientRect();
    const g = v.geometry;
    const top = parseFloat(st.spacingTop || 0) + (st.shape === "swimlane" ? 0 : 0);
    const needH = r.height + top;
    const needW = r.width;
    const limitH = st.shape === "swimlane" ? parseFloat(st.startSize || 23) : g.height;
    if (needW > g.width - 2 || needH > limitH + 1) {
      problems.push(`label of ${v.id} needs ${Math.ceil(needW)}x${Math.ceil(needH)}, box ${g.width}x${limitH}`);
    }
  }

  // 2. edges whose drawn path crosses a box that is neither end nor an ancestor of an end
  const absBounds = (c) => {
    const s = graph.view.getState(c);
    return s ? new mxRectangle(s.x, s.y, s.width, s.height) : null;
  };
  const ancestorsOf = (c) => {
    const out = new Set();
    for (let p = c; p; p = model.getParent(p)) out.add(p);
    return out;
  };
  const segHitsRect = (p, q, r) => {
    const inset = 2;
    const x0 = r.x + inset, y0 = r.y + inset, x1 = r.x + r.width - inset, y1 = r.y + r.height - inset;
    if (x1 <= x0 || y1 <= y0) return false;
    // Liang-Barsky clipping
    let t0 = 0, t1 = 1;
    const dx = q.x - p.x, dy = q.y - p.y;
    const checks = [[-dx, p.x - x0], [dx, x1 - p.x], [-dy, p.y - y0], [dy, y1 - p.y]];
    for (const [pp, qq] of checks) {
      if (pp === 0) { if (qq < 0) return false; continue; }
      const t = qq / pp;
      if (pp < 0) { if (t > t1) return false; if (t > t0) t0 = t; }
      else { if (t < t0) return false; if (t < t1) t1 = t; }
    }
    return t0 < t1;
  };
  const boxes = vertices.filter((v) => String(style(v).qpBox) === "1");
  const routes = {};
  for (const e of edges) {
    const s = graph.view.getState(e);
    if (!s || !s.absolutePoints) continue;
    const pts = s.absolutePoints.filter((p) => p);
    routes[e.id] = pts.map((p) => [Math.round(p.x), Math.round(p.y)]);
    const ends = new Set([...ancestorsOf(model.getTerminal(e, true)), ...ancestorsOf(model.getTerminal(e, false))]);
    for (const b of boxes) {
      if (ends.has(b)) continue;
      const r = absBounds(b);
      for (let i = 0; i + 1 < pts.length; i++) {
        if (segHitsRect(pts[i], pts[i + 1], r)) { problems.push(`edge ${e.id} crosses ${b.id}`); break; }
      }
    }
    // edge labels must not sit on a box either (the containers around its ends excepted)
    const own = new Set([model.getTerminal(e, true), model.getTerminal(e, false)]);
    if (s.text && s.text.boundingBox && e.value) {
      const lb = s.text.boundingBox;
      for (const b of boxes) {
        if (ends.has(b) && !own.has(b)) continue;
        const r = absBounds(b);
        const ix = Math.min(lb.x + lb.width, r.x + r.width) - Math.max(lb.x, r.x);
        const iy = Math.min(lb.y + lb.height, r.y + r.height) - Math.max(lb.y, r.y);
        if (ix > 3 && iy > 3) problems.push(`label of edge ${e.id} overlaps ${b.id}`);
      }
    }
  }
  // 3. text on text: an edge label on another label or on a vertex's text, a line through
  // another edge's label, two vertex texts on each other (a box's own parts excepted)
  const overlap = (a, c, m) =>
    Math.min(a.x + a.width, c.x + c.width) - Math.max(a.x, c.x) > m &&
    Math.min(a.y + a.height, c.y + c.height) - Math.max(a.y, c.y) > m;
  const textBox = (c) => {
    const s = graph.view.getState(c);
    if (!s || !s.text || !c.value) return null;
    const node = s.text.node && s.text.node.getElementsByTagName("div");
    if (node && node.length) {
      const r = node[node.length - 1].getBoundingClientRect();
      const host = container.getBoundingClientRect();
      return new mxRectangle(r.x - host.x, r.y - host.y, r.width, r.height);
    }
    return s.text.boundingBox;
  };
  const labelled = edges.filter((e) => e.value && textBox(e));
  const texts = vertices.filter((v) => v.value && textBox(v));
  const related = (a, c) => ancestorsOf(a).has(c) || ancestorsOf(c).has(a);
  for (let i = 0; i < labelled.length; i++) {
    const a = textBox(labelled[i]);
    for (let j = i + 1; j < labelled.length; j++) {
      if (overlap(a, textBox(labelled[j]), 1)) problems.push(`labels of ${labelled[i].id} and ${labelled[j].id} overlap`);
    }
    for (const v of texts) {
      if (overlap(a, textBox(v), 1)) problems.push(`label of edge ${labelled[i].id} overlaps the text of ${v.id}`);
    }
    for (const e of edges) {
      if (e === labelled[i] || !routes[e.id]) continue;
      const pts = graph.view.getState(e).absolutePoints.filter((p) => p);
      const shrunk = new mxRectangle(a.x + 2, a.y + 2, a.width - 4, a.height - 4);
      for (let k = 0; k + 1 < pts.length; k++) {
        if (segHitsRect(pts[k], pts[k + 1], shrunk)) { problems.push(`edge ${e.id} runs under the label of ${labelled[i].id}`); break; }
      }
    }
  }
  for (const e of edges) {
    if (!routes[e.id]) continue;
    const pts = graph.view.getState(e).absolutePoints.filter((p) => p);
    const ends = [model.getTerminal(e, true), model.getTerminal(e, false)].filter((t) => t);
    for (const v of texts) {
      if (ends.some((t) => related(t, v))) continue;
      const r = textBox(v);
      for (let k = 0; k + 1 < pts.length; k++) {
        if (segHitsRect(pts[k], pts[k + 1], r)) { problems.push(`edge ${e.id} runs through the text of ${v.id}`); break; }
      }
    }
  }
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      if (related(texts[i], texts[j])) continue;
      if (overlap(textBox(texts[i]), textBox(texts[j]), 1)) problems.push(`texts of ${texts[i].id} and ${texts[j].id} overlap`);
    }
  }
  const b = graph.getGraphBounds();
  return { problems, routes, bounds: [b.x, b.y, b.width, b.height] };
};
