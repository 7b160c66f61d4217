// The attention explorer's front end (anywidget): it renders the state that Python computes
// (transformer_course/explorer/state.py) and sends back only the controls the learner moves.
// No imports, nothing fetched: the file travels to the browser through the widget's own comm.

const fmt = (x, digits = 2) => Number(x).toFixed(digits);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// A readout value the tests (and the learner) read: <span data-key="...">value</span>.
const value = (key, text) => h("span", { class: "tc-value", "data-key": key }, text);

function setControls(model, changes) {
  model.set("controls", { ...model.get("controls"), ...changes });
  model.save_changes();
}

function choice(label, key, options, current, onchange) {
  const select = h("select", { "data-control": key, onchange: (e) => onchange(e.target.value) },
    options.map(([v, text]) => h("option", { value: v, selected: String(v) === String(current) }, text)));
  return h("label", { class: "tc-control" }, label, " ", select);
}

function toggle(label, key, checked, onchange) {
  const box = h("input", { type: "checkbox", "data-control": key, checked,
                           onchange: (e) => onchange(e.target.checked) });
  return h("label", { class: "tc-control" }, box, " ", label);
}

// One attention matrix: a row per query, a column per key; hovering a row (or its token)
// highlights it and says where that query's weight goes.
function matrix({ rows, columns, weights, hidden = null, extra = null, top = null, rowInfo }) {
  const info = h("div", { class: "tc-rowinfo", "data-key": "row" }, "hover a row or its token");
  const head = h("tr", {}, h("th", { class: "tc-corner" }, "query ↓ key →"),
    columns.map((c) => h("th", { class: "tc-key" }, c)), extra ? h("th", {}, extra.title) : null);
  const body = rows.map((r, i) => {
    const cells = columns.map((_, j) => {
      const w = weights[i][j];
      const masked = hidden && !hidden[i][j];
      return h("td", {
        class: "tc-cell" + (masked ? " tc-hidden" : "") + (top && top[i] === j ? " tc-top" : ""),
        style: masked ? "" : `background: rgba(33, 102, 172, ${Math.min(1, Math.max(0, w))});` +
               `color: ${w > 0.55 ? "white" : "black"}`,
        title: `${r} → ${columns[j]}: ${fmt(w, 4)}`,
      }, masked ? "·" : fmt(w));
    });
    const tr = h("tr", { class: "tc-row", "data-row": i }, h("th", { class: "tc-query" }, r), cells,
      extra ? h("td", { class: "tc-extra" }, fmt(extra.values[i])) : null);
    tr.addEventListener("mouseenter", () => {
      tr.parentNode.querySelectorAll(".tc-row-active").forEach((e) => e.classList.remove("tc-row-active"));
      tr.classList.add("tc-row-active");
      info.textContent = rowInfo(i);
    });
    return tr;
  });
  const table = h("table", { class: "tc-matrix" }, h("thead", {}, head), h("tbody", {}, body));
  return { table, info };
}

function rowSummary(rows, columns, weights, i) {
  const row = weights[i];
  const j = row.indexOf(Math.max(...row));
  return `“${rows[i]}” puts ${fmt(row[j])} of its weight on “${columns[j]}”`;
}

// Each view has controls made once (a slider being dragged must not be replaced under the
// pointer) and a body drawn anew from every state.
function softmaxView(model, options) {
  const slider = h("input", { type: "range", min: 0, max: options.d_ks.length - 1, step: 1,
                              "data-control": "d_k",
                              oninput: (e) => setControls(model, { d_k: options.d_ks[Number(e.target.value)] }) });
  const shown = value("d_k", "");
  const scaling = choice("scores =", "scaling", Object.entries(options.scalings), null,
                         (v) => setControls(model, { scaling: v }));
  const controls = h("div", { class: "tc-controls" }, h("label", { class: "tc-control" }, "d_k ", slider, " ", shown),
                     scaling);
  const body = (state) => {
    slider.value = Math.max(0, options.d_ks.indexOf(state.d_k));
    shown.textContent = state.d_k;
    scaling.querySelector("select").value = state.scaling;
    const { table, info } = matrix({
      rows: state.tokens, columns: state.tokens, weights: state.weights,
      extra: { title: "entropy", values: state.entropy },
      rowInfo: (i) => rowSummary(state.tokens, state.tokens, state.weights, i) +
                      `; entropy ${fmt(state.entropy[i])} nats`,
    });
    return [
      h("div", { class: "tc-readout" },
        "τ = ", value("tau", fmt(state.tau)), " · mean entropy ", value("mean_entropy", fmt(state.mean_entropy, 3)),
        ` of at most ${fmt(state.max_entropy, 3)} nats (uniform) · mean largest weight `,
        value("max_weight", fmt(state.max_weight, 3))),
      table, info,
    ];
  };
  return { controls, body };
}

function masksView(model) {
  const padding = toggle("padding mask", "padding", true, (v) => setControls(model, { padding: v }));
  const lookAhead = toggle("look-ahead mask", "look_ahead", true, (v) => setControls(model, { look_ahead: v }));
  const controls = h("div", { class: "tc-controls" }, padding, lookAhead);
  const body = (state) => {
    padding.querySelector("input").checked = state.padding;
    lookAhead.querySelector("input").checked = state.look_ahead;
    const T = state.tokens.length;
    const leakText = state.leak
      ? `✗ leaks: ${state.leaks.length} (output, later input) pairs, e.g. output ${state.leaks[0][0]} ` +
        `(“${state.tokens[state.leaks[0][0]]}”) changes with input ${state.leaks[0][1]} ` +
        `(“${state.tokens[state.leaks[0][1]]}”)`
      : "✓ no output depends on a later input";
    const { table, info } = matrix({
      rows: state.tokens, columns: state.tokens, weights: state.weights, hidden: state.allowed,
      rowInfo: (i) => rowSummary(state.tokens, state.tokens, state.weights, i) +
                      `; it sees ${state.allowed[i].filter(Boolean).length} of ${T} keys`,
    });
    return [
      h("div", { class: "tc-readout" }, "hidden cells ", value("hidden", state.hidden), ` of ${T * T} · `,
        "most weight a real token gives <pad> ", value("pad_weight", fmt(state.pad_weight))),
      h("div", { class: "tc-readout " + (state.leak ? "tc-bad" : "tc-good") }, "leak test: ", value("leak", leakText)),
      table, info,
    ];
  };
  return { controls, body };
}

function tokens(side, label, list, onhover) {
  return h("div", { class: "tc-tokens", "data-side": side }, h("span", { class: "tc-side" }, label),
    list.map((t, i) => h("span", { class: "tc-token", onmouseenter: () => onhover && onhover(i) }, t)));
}

function modelView(model, options) {
  const sentence = h("input", { type: "text", size: 48, "data-control": "sentence",
                                onkeydown: (e) => { if (e.key === "Enter") setControls(model, { sentence: e.target.value }); } });
  sentence.value = model.get("controls").sentence;
  const controls = h("div", { class: "tc-controls" },
    h("label", { class: "tc-control" }, "type a sentence ", sentence),
    h("button", { "data-control": "show", onclick: () => setControls(model, { sentence: sentence.value }) }, "show"));
  const body = (state) => {
    const current = model.get("controls");
    const examples = Object.entries(options.examples || {});
    const phenomenon = current.phenomenon || (examples[0] || [""])[0];
    const pick = examples.length ? h("div", { class: "tc-controls" },
      choice("or a sentence of the toy task: phenomenon", "phenomenon", examples.map(([k]) => [k, k]), phenomenon,
             (v) => { sentence.value = options.examples[v][0]; setControls(model, { phenomenon: v, sentence: sentence.value }); }),
      choice("sentence", "example", [["", "—"], ...(options.examples[phenomenon] || []).map((s) => [s, s])],
             current.sentence, (v) => { if (v) { sentence.value = v; setControls(model, { sentence: v }); } })) : null;
    if (!state.weights) return [pick];
    const heads = [...Array(state.heads).keys()].map(
      (i) => [i, `head ${i + 1}` + (state.head_names[i] ? `: ${state.head_names[i]}` : "")]);
    const selectors = h("div", { class: "tc-controls" },
      choice("attention", "kind", state.kinds.map((k) => [k, k]), state.kind, (v) => setControls(model, { kind: v })),
      choice("in", "layer", [...Array(state.layers).keys()].map((i) => [i, `layer ${i + 1}`]), state.layer,
             (v) => setControls(model, { layer: Number(v) })),
      choice("", "head", [...heads, ["mean", "mean of the heads"]], state.head,
             (v) => setControls(model, { head: v === "mean" ? "mean" : Number(v) })));
    const { table, info } = matrix({
      rows: state.rows, columns: state.columns, weights: state.weights, top: state.top,
      extra: { title: "entropy", values: state.entropy },
      rowInfo: (i) => rowSummary(state.rows, state.columns, state.weights, i),
    });
    const hover = (i) => table.querySelectorAll(".tc-row")[i].dispatchEvent(new Event("mouseenter"));
    const targetRows = state.kind !== "encoder self-attention";
    const meanEntropy = state.entropy.reduce((a, b) => a + b, 0) / state.entropy.length;
    return [
      pick, selectors,
      tokens("source", "English", state.source, targetRows ? null : hover),
      state.target.length ? tokens("target", "한국어", state.target, targetRows ? hover : null) : null,
      h("div", { class: "tc-readout" }, "each row's strongest key in bold · mean entropy ",
        value("mean_entropy", fmt(meanEntropy, 3)), " nats", state.note ? ` · ${state.note}` : ""),
      table, info,
    ];
  };
  return { controls, body };
}

function render({ model, el }) {
  const root = h("div", { class: "tc-explorer", "data-view": model.get("view") });
  el.append(root);
  // The static figure printed before this widget is for front ends without widgets: hide it.
  const fallback = model.get("fallback_id");
  document.querySelectorAll(`.tc-explorer-fallback[data-explorer="${fallback}"]`)
    .forEach((e) => { e.style.display = "none"; });
  const views = { softmax: softmaxView, masks: masksView, model: modelView };
  const { controls, body } = views[model.get("view")](model, model.get("options"));
  const content = h("div", { class: "tc-body" });
  root.append(h("div", { class: "tc-title" }, model.get("title")), controls, content);
  const draw = () => {
    const state = model.get("state");
    const error = state.error ? h("div", { class: "tc-error", "data-key": "error" }, state.error) : null;
    content.replaceChildren(...[...body(state), error].filter(Boolean));
  };
  draw();
  model.on("change:state", draw);
  return () => model.off("change:state", draw);
}

export default { render };
