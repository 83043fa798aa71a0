// The lessons' stepper: walks a trace the server sent once, entirely in the browser.
//
// `data` (built by app/lessons/steps.py) holds the grids to draw, the terms of every step, and the texts.
// Next, Previous, Play, the slider, the keyboard and a click on a cell move the step here, without a message to
// the server. The address bar follows at once (history.replaceState); the server hears of the step only when the
// learner stops stepping for a moment (setStateValue "step"), so a later setting change keeps it.

const PUOR = [[127, 59, 8], [179, 88, 6], [224, 130, 20], [253, 184, 99], [254, 224, 182], [247, 247, 247],
  [216, 218, 235], [178, 171, 210], [128, 115, 172], [84, 39, 136], [45, 0, 75]];
const PAD_GREY = "#d4d4d4";
const SYNC_MS = 1200;  // quiet time after the last step before the server is told

// A number as the lessons print it (app/charts.fmt): integers plain, others to 4 significant digits.
function fmt(x) {
  if (x === null || !Number.isFinite(x)) return "";
  if (Number.isInteger(x) && Math.abs(x) < 1e12) return String(x === 0 ? 0 : x);
  let s = x.toPrecision(4);
  if (s.includes("e")) {  // Python's %.4g: 1e-05, 1.234e+06
    let [m, e] = s.split("e");
    if (m.includes(".")) m = m.replace(/0+$/, "").replace(/\.$/, "");
    const n = parseInt(e, 10);
    return `${m}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  return s;
}

// A negative number in brackets, as in the sums the lessons write out.
function num(x) { return x < 0 ? `(${fmt(x)})` : fmt(x); }

// The colour of value v on the diverging scale, white at 0, full colour at +-lim.
function colour(v, lim) {
  const t = Math.max(0, Math.min(1, (v / (lim || 1) + 1) / 2)) * (PUOR.length - 1);
  const i = Math.min(Math.floor(t), PUOR.length - 2), f = t - i;
  const c = PUOR[i].map((a, k) => Math.round(a + f * (PUOR[i + 1][k] - a)));
  return { bg: `rgb(${c[0]},${c[1]},${c[2]})`, dark: (c[0] * 299 + c[1] * 587 + c[2] * 114) / 1000 < 128 };
}

// Icons drawn as SVG, so no font has to hold the glyphs (a missing ⏸ shows as a box).
const ICONS = { play: '<path d="M4 2.5v11l9-5.5z"/>', pause: '<path d="M3.5 2.5h3v11h-3zM9.5 2.5h3v11h-3z"/>' };
function label(button, icon, text) {
  button.innerHTML = `<svg class="sf-icon" viewBox="0 0 16 16" aria-hidden="true">${ICONS[icon]}</svg>`;
  button.append(document.createTextNode(text));
}

// "{0} and {1}" with args filled in.
function fill(template, args) { return template.replace(/\{(\d+)\}/g, (_, i) => String(args[+i])); }

// Build one grid's DOM: a CSS grid of cells and a layer for the outlines.
function buildGrid(g, gi, onCell) {
  const box = document.createElement("figure");
  box.className = "sf-grid";
  const cap = document.createElement("figcaption");
  cap.textContent = g.title;
  const body = document.createElement("div");
  body.className = "sf-cells";
  const px = g.size || (g.cols <= 10 ? 34 : g.cols <= 16 ? 22 : g.cols <= 24 ? 13 : 10);
  body.style.gridTemplateColumns = `repeat(${g.cols}, ${px}px)`;
  body.style.gridAutoRows = `${px}px`;
  const pad = new Set(g.pad || []);
  const cells = [];
  for (let i = 0; i < g.rows * g.cols; i++) {
    const c = document.createElement("div");
    c.className = "sf-cell";
    c.dataset.grid = gi;
    c.dataset.index = i;
    if (pad.has(i)) c.classList.add("sf-pad");
    body.appendChild(c);
    cells.push(c);
  }
  body.addEventListener("click", (e) => { const c = e.target.closest(".sf-cell"); if (c) onCell("click", gi, +c.dataset.index); });
  body.addEventListener("mouseover", (e) => { const c = e.target.closest(".sf-cell"); if (c) onCell("hover", gi, +c.dataset.index); });
  body.addEventListener("mouseleave", () => onCell("leave", gi, -1));
  const layer = document.createElement("div");
  layer.className = "sf-layer";
  body.appendChild(layer);
  box.append(cap, body);
  return { el: box, cells, layer, px, pad, g };
}

// Paint a cell with value v (null: blank).
function paint(grid, i, v, lim) {
  const c = grid.cells[i];
  if (grid.pad.has(i)) {
    c.style.background = PAD_GREY;
  } else if (v === null || v === undefined) {
    c.style.background = "#fafafa";
  } else {
    const k = colour(v, lim);
    c.style.background = k.bg;
    c.style.color = k.dark ? "#fff" : "#222";
  }
  c.textContent = grid.g.text && v !== null && v !== undefined ? fmt(v) : "";
  c.title = `${grid.g.title}: ${fmt(v)}`;
}

// The stepper: state and rendering for one mounted component.
function createStepper(root, d, setStateValue) {
  const S = d.steps, T = d.text;
  const state = { step: Math.min(Math.max(d.step, 1), d.n), shown: 0, playing: false, timer: null, sync: null };
  root.innerHTML = "";
  const wrap = document.createElement("div");
  wrap.className = "sf-stepper";
  wrap.tabIndex = 0;
  wrap.setAttribute("role", "group");
  wrap.setAttribute("aria-label", T.group);

  // controls
  const bar = document.createElement("div");
  bar.className = "sf-bar";
  const mk = (label, cls) => { const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.className = cls || ""; return b; };
  const play = mk("", "sf-play"), prev = mk(T.prev), next = mk(T.next);
  label(play, "play", T.play);
  const slider = document.createElement("input");
  Object.assign(slider, { type: "range", min: 1, max: d.n, step: 1 });
  slider.setAttribute("aria-label", T.slider);
  const speed = document.createElement("select");
  speed.setAttribute("aria-label", T.speed);
  for (const s of d.speeds) { const o = document.createElement("option"); o.value = s; o.textContent = fill(T.per_step, [s]); speed.appendChild(o); }
  speed.value = String(d.speed);
  const caption = document.createElement("p");
  caption.className = "sf-caption";
  caption.setAttribute("aria-live", "polite");
  bar.append(prev, next, play, slider, speed);
  if (d.n < 2) { play.disabled = true; slider.disabled = true; }

  // grids, in rows
  const grids = d.grids.map((g, gi) => buildGrid(g, gi, onCell));
  const board = document.createElement("div");
  board.className = "sf-board";
  for (const row of d.layout) {
    const line = document.createElement("div");
    line.className = "sf-row";
    for (const gi of row) line.appendChild(grids[gi].el);
    board.appendChild(line);
  }
  // the arithmetic of the step, as text
  const formula = document.createElement("p");
  formula.className = "sf-formula";
  formula.setAttribute("aria-live", "polite");
  const table = document.createElement("table");
  table.className = "sf-table";
  const value = document.createElement("div");
  value.className = "sf-value";
  const detail = document.createElement("div");
  detail.className = "sf-detail";
  const terms_box = document.createElement("div");
  terms_box.className = "sf-terms";
  terms_box.tabIndex = 0;  // scrollable by keyboard when long
  terms_box.appendChild(table);
  detail.append(formula, value, terms_box);
  const head = document.createElement("div");  // the controls and the caption stay in view while scrolling
  head.className = "sf-head";
  head.append(bar, caption);
  wrap.append(head, board, detail);
  root.appendChild(wrap);

  // which step fills each cell of a filling grid, for clicks and for filling in
  const owner = new Map();  // "g:i" -> step (1-based)
  S.cell.forEach((cell, s) => {  // one [grid, index] or a list of them
    for (const [g, i] of Array.isArray(cell[0]) ? cell : [cell]) owner.set(`${g}:${i}`, s + 1);
  });
  const corner = new Map();  // top-left cell of exactly one window -> step
  const corners = new Map();
  S.box.forEach((boxes, s) => { const b = boxes[0]; if (!b) return; const k = `${b[0]}:${b[1] * d.grids[b[0]].cols + b[2]}`; corners.set(k, (corners.get(k) || 0) + 1); corner.set(k, s + 1); });

  // The static grids once; filling grids as far as the step.
  function paintStatic() {
    grids.forEach((gr, gi) => { if (!gr.g.fill && !gr.g.dyn) gr.g.z.forEach((v, i) => paint(gr, i, v, gr.g.lim)); });
  }

  // Terms of step s (0-based) with products and running sums computed as the trace does: total = 0, += product.
  function terms(s) {
    const t = S.t[s], out = [];
    if (d.op === "sum") {
      let total = 0;
      for (let k = 0; k < t.length; k += 2) { const p = t[k] * t[k + 1]; total += p; out.push([t[k], t[k + 1], p, total]); }
    } else {
      let acc = d.op === "max" ? -Infinity : 0;
      for (const x of t) { acc = d.op === "max" ? Math.max(acc, x) : acc + x; out.push([x, acc]); }
    }
    return out;
  }

  // The step's result: the library's value where it sent one, else the last running value.
  function result(s, rows) {
    if (S.v) return S.v[s];
    const last = rows[rows.length - 1];
    return d.op === "sum" ? last[3] : d.op === "max" ? last[1] : last[1] / rows.length;
  }

  function drawTerms(s, rows) {
    const head = d.op === "sum" ? T.cols : T.cols.slice(0, 2);
    let html = "<thead><tr>" + ["#", ...head].map((h) => `<th scope="col">${h}</th>`).join("") + "</tr></thead><tbody>";
    rows.forEach((r, k) => { html += `<tr><td>${k}</td>` + r.map((v) => `<td>${fmt(v)}</td>`).join("") + "</tr>"; });
    table.innerHTML = html + "</tbody>";
  }

  function formulaText(s, rows, v) {
    const lhs = fill(d.lhs, S.a[s]);
    if (d.op === "sum") {
      const nz = rows.filter((r) => r[0] !== 0);
      const shown = (nz.length ? nz : rows.slice(0, 1)).map((r) => `${num(r[0])}·${num(r[1])}`);
      return `${lhs} = ${shown.join(" + ")} = ${fmt(v)}`;
    }
    const xs = rows.map((r) => fmt(r[0]));
    return d.op === "max" ? `${lhs} = max(${xs.join(", ")}) = ${fmt(v)}` : `${lhs} = (${rows.map((r) => num(r[0])).join(" + ")}) / ${rows.length} = ${fmt(v)}`;
  }

  // Outline boxes [grid, top, left, height, width, style?] on their grids ("dot": this step's pair).
  function drawBoxes(boxes) {
    grids.forEach((gr) => { gr.layer.innerHTML = ""; });
    for (const [g, r, c, h, w, style] of boxes) {
      const gr = grids[g], o = document.createElement("div");
      o.className = style === "dot" ? "sf-box sf-dot" : "sf-box";
      const gap = 1;
      Object.assign(o.style, { top: `${r * (gr.px + gap)}px`, left: `${c * (gr.px + gap)}px`, width: `${w * (gr.px + gap) - gap}px`, height: `${h * (gr.px + gap) - gap}px` });
      gr.layer.appendChild(o);
    }
  }

  // Show step s (1-based): the window, the filled output so far, the arithmetic.
  function render(s, preview) {
    const i = s - 1;
    // filling grids: every cell whose step is at most s; dynamic grids: this step's values only
    grids.forEach((gr, gi) => {
      if (gr.g.fill) gr.g.z.forEach((v, k) => paint(gr, k, (owner.get(`${gi}:${k}`) || Infinity) <= s ? v : null, gr.g.lim));
      else if (gr.g.dyn) gr.g.z.forEach((_, k) => paint(gr, k, null, gr.g.lim));
    });
    for (const [g, idx, vals] of (S.put ? S.put[i] : [])) idx.forEach((k, j) => paint(grids[g], k, vals[j], grids[g].g.lim));
    drawBoxes(S.box[i]);
    const rows = terms(i), v = result(i, rows);
    drawTerms(i, rows);
    formula.textContent = formulaText(i, rows, v);
    value.textContent = `${fill(d.lhs, S.a[i])} = ${fmt(v)}`;
    caption.textContent = fill(T.caption, [s, d.n]) + (d.note ? " " + fill(d.note, S.a[i]) : "");
    caption.classList.toggle("sf-preview", !!preview);  // styled, not reworded: the board must not move
    caption.title = preview ? T.preview : "";
    if (!preview) state.shown = s;
  }

  // Move to step s: draw it, update the controls and the address, and schedule the server's copy.
  function go(s, fromPlay) {
    s = Math.min(Math.max(s, 1), d.n);
    state.step = s;
    render(s, false);
    slider.value = s;
    prev.disabled = s <= 1;
    next.disabled = s >= d.n;
    try {
      // the link's parameters for this step: {step: name} or {row: name, col: name, cols: n}
      const u = new URL(window.location.href), url = d.url || {};
      const want = url.step ? { [url.step]: s } : url.row ? { [url.row]: Math.floor((s - 1) / url.cols), [url.col]: (s - 1) % url.cols } : {};
      let changed = false;
      for (const [name, v] of Object.entries(want)) {
        if (u.searchParams.get(name) !== String(v)) { u.searchParams.set(name, String(v)); changed = true; }
      }
      if (changed) window.history.replaceState(window.history.state, "", u);
    } catch (e) { /* an address we cannot rewrite: the server's sync still keeps the step */ }
    if (!fromPlay) schedule();
  }

  function schedule() {
    clearTimeout(state.sync);
    state.sync = setTimeout(() => { if (!state.playing) setStateValue("step", state.step); }, SYNC_MS);
  }

  function setPlaying(on) {
    state.playing = on && d.n > 1;
    label(play, state.playing ? "pause" : "play", state.playing ? T.pause : T.play);
    play.setAttribute("aria-pressed", String(state.playing));
    clearInterval(state.timer);
    if (state.playing) {
      if (state.step >= d.n) go(1, true);
      state.timer = setInterval(() => {
        if (state.step >= d.n) { setPlaying(false); return; }
        go(state.step + 1, true);
      }, 1000 * parseFloat(speed.value));
    } else {
      schedule();
    }
  }

  // A cell clicked or hovered: jump to the step that fills it (or whose window starts there); preview on hover.
  function onCell(kind, g, i) {
    if (kind === "leave") { if (state.shown !== state.step) render(state.step, false); return; }
    const k = `${g}:${i}`;
    const s = owner.get(k) || (corners.get(k) === 1 ? corner.get(k) : undefined);
    if (s === undefined) return;
    if (kind === "click") { setPlaying(false); go(s, false); wrap.focus({ preventScroll: true }); }
    else if (!state.playing && d.grids[g].fill) render(s, true);
  }

  prev.onclick = () => { setPlaying(false); go(state.step - 1); };
  next.onclick = () => { setPlaying(false); go(state.step + 1); };
  play.onclick = () => setPlaying(!state.playing);
  slider.oninput = () => { setPlaying(false); go(parseInt(slider.value, 10)); };
  speed.onchange = () => { if (state.playing) setPlaying(true); };
  wrap.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT" || (e.target.tagName === "INPUT" && e.key !== " ")) return;
    const keys = { ArrowRight: () => go(state.step + 1), ArrowLeft: () => go(state.step - 1), Home: () => go(1), End: () => go(d.n), " ": () => setPlaying(!state.playing) };
    if (keys[e.key]) { e.preventDefault(); if (e.key !== " ") setPlaying(false); keys[e.key](); }
  });

  paintStatic();
  go(state.step, true);
  return {
    // a rerun sent the same trace: keep the learner's step unless the server moved it
    update(nd) { if (nd.step !== d.step) { d.step = nd.step; go(nd.step, true); } },
    destroy() { clearInterval(state.timer); clearTimeout(state.sync); },
  };
}

const mounted = new WeakMap();  // parentElement -> {sig, stepper}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const prior = mounted.get(parentElement);
  // the trace arrives as JSON text (parsed once per trace); the step, speed and texts as they are
  const d = { ...(prior && prior.sig === data.sig ? prior.spec : JSON.parse(data.spec)), ...data };
  delete d.spec;
  if (prior && prior.sig === d.sig) {
    prior.stepper.update(d);
  } else {
    if (prior) prior.stepper.destroy();
    let root = parentElement.querySelector(".sf-root");
    if (!root) { root = document.createElement("div"); root.className = "sf-root"; parentElement.appendChild(root); }
    const spec = { ...d };
    mounted.set(parentElement, { sig: d.sig, spec, stepper: createStepper(root, d, setStateValue) });
  }
  return () => { const m = mounted.get(parentElement); if (m) m.stepper.destroy(); mounted.delete(parentElement); };
}
