// rnnlab serve's page: the runs on the left, the chosen run's results and its app's panel
// on the right. Plain DOM code, no libraries: everything comes from this server.
"use strict";

const state = { runs: [], uploads: {}, maxUpload: 0 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// a user's data path by its file name (the whole path is on the run's page)
function shortData(d) {
  return d && d.includes("/") ? d.replace(/\/+$/, "").split("/").pop() : d;
}

function fmt(v) {
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en");
  return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(4);
}

function table(header, rows, opts = {}) {
  const t = el("table", { class: opts.class || "" });
  t.append(el("thead", {}, el("tr", {}, ...header.map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const r of rows) {
    body.append(el("tr", {}, ...r.map((c) => el("td", { class: typeof c === "number" ? "num" : "", text: fmt(c) }))));
  }
  t.append(body);
  return el("div", { class: "scroll" }, t);
}

// An attention matrix as a table: a row per output token, a column per source token,
// each cell shaded by its weight (the weight itself on hover).
function heatmap(att) {
  const t = el("table", { class: "heatmap" });
  const top = Math.max(1e-9, ...att.weights.flat()); // shaded against the largest weight, as a colour map is
  t.append(el("tr", {}, el("th"), ...att.source.map((s) => el("th", { class: "src", text: s }))));
  att.weights.forEach((row, i) => {
    t.append(el("tr", {}, el("th", { text: att.output[i] }),
      ...row.map((w, j) => el("td", { title: `${att.output[i]} ← ${att.source[j]}: ${w.toFixed(3)}`,
        style: `background: rgba(31, 95, 191, ${(w / top).toFixed(3)})` }))));
  });
  return el("div", { class: "scroll" }, t);
}

function png(b64, alt) {
  return el("img", { class: "plot", src: "data:image/png;base64," + b64, alt });
}

function download(b64, name, mime, label) {
  return el("a", { href: `data:${mime};base64,${b64}`, download: name, text: label });
}

// text made in the page (any characters: not base64's Latin-1)
function downloadCsv(text, name, label) {
  return el("a", { href: "data:text/csv;charset=utf-8," + encodeURIComponent(text), download: name, text: label });
}

function notes(list) {
  return (list || []).map((n) => el("div", { class: "note", text: n }));
}

// ------------------------------------------------------------------ the runs and a run's page
async function loadRuns() {
  const res = await fetch("/api/runs");
  const data = await res.json();
  state.runs = data.runs;
  state.uploads = data.uploads;
  state.maxUpload = data.max_upload;
  const nav = document.getElementById("runs");
  nav.replaceChildren();
  const byApp = {};
  for (const r of state.runs) (byApp[r.app] = byApp[r.app] || []).push(r);
  for (const app of Object.keys(byApp).sort()) {
    nav.append(el("h3", { text: app }));
    for (const r of byApp[app]) {
      const link = el("a", { href: "#run=" + r.id, "data-run": r.id }, r.id, el("small", { text: shortData(r.data) || r.path }));
      nav.append(link);
    }
  }
  route();
}

function route() {
  const id = new URLSearchParams(location.hash.slice(1)).get("run");
  const run = state.runs.find((r) => r.id === id);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.run === id);
  if (run) showRun(run);
  else showOverview();
}

// The landing page: every run with its app, data and first few metrics.
function showOverview() {
  const main = document.getElementById("main");
  if (welcomeSection && !document.getElementById("welcome")) main.replaceChildren(welcomeSection);
  const rows = state.runs.map((r) => {
    const key = Object.entries(r.metrics).filter(([k, v]) => typeof v === "number" && !k.startsWith("baseline"))
      .slice(0, 3).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
    return [r.id, r.app, shortData(r.data), key];
  });
  const t = table(["run", "app", "data", "key metrics"], rows, { class: "overview" });
  t.querySelectorAll("tbody tr").forEach((tr, k) => {
    const cell = tr.firstChild;
    cell.replaceChildren(el("a", { href: "#run=" + state.runs[k].id, text: state.runs[k].id }));
  });
  const welcome = document.getElementById("welcome");
  welcome.querySelector(".overview-box")?.remove();
  welcome.append(el("div", { class: "overview-box" }, el("h3", { text: `${state.runs.length} runs` }), t));
}

let welcomeSection = null;

function showRun(run) {
  const main = document.getElementById("main");
  welcomeSection = welcomeSection || document.getElementById("welcome");
  const head = el("section", { class: "card", id: "run-head" },
    el("h2", { text: `${run.app} — ${run.id}` }),
    el("p", { class: "muted", text: `${run.path}${run.data ? " · data: " + run.data : ""}` }));
  const metrics = Object.entries(run.metrics).filter(([, v]) => typeof v !== "object");
  if (metrics.length) head.append(table(["metric", "value"], metrics, { class: "metrics" }));
  main.replaceChildren(head);
  if (run.unavailable) main.append(el("div", { class: "error", text: run.unavailable }));
  else if (PANELS[run.app]) main.append(panelCard(run));
  main.append(filesCard(run));
}

function filesCard(run) {
  const card = el("section", { class: "card files", id: "run-files" }, el("h3", { text: "Results" }));
  if (!run.files.length) card.append(el("p", { class: "muted", text: "no result files" }));
  // plots and a lab's markdown tables shown at once; other files (JSON, CSV, HTML) folded, read when opened
  for (const f of run.files) {
    const url = `/api/runs/${encodeURIComponent(run.id)}/files/${encodeURIComponent(f.name)}`;
    const open = f.kind === "image" || f.kind === "markdown";
    const box = el("details", { class: "file", "data-file": f.name }, el("summary", { text: f.name }));
    if (open) box.setAttribute("open", "");
    card.append(box);
    let loaded = false;
    const load = () => {
      if (loaded) return;
      loaded = true;
      if (f.kind === "image") box.append(el("img", { src: url, alt: f.name }));
      else if (f.kind === "html") box.append(el("iframe", { class: "doc", src: url, sandbox: "", title: f.name }));
      else fetch(url).then((r) => r.text()).then((text) => box.append(renderText(f.name, f.kind, text)));
    };
    if (open) load();
    box.addEventListener("toggle", () => { if (box.open) load(); });
  }
  return card;
}

function renderText(name, kind, text) {
  if (kind === "table") {
    const sep = name.endsWith(".tsv") ? "\t" : ",";
    const lines = text.trim().split(/\r?\n/).map((l) => l.split(sep));
    const shown = lines.slice(1, 201);
    const t = table(lines[0], shown);
    if (lines.length > 201) t.append(el("p", { class: "muted", text: `first 200 of ${lines.length - 1} rows` }));
    return t;
  }
  if (kind === "markdown") return markdown(text);
  let shown = text;
  try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as it is */ }
  return el("pre", { class: "stream", text: shown.length > 20000 ? shown.slice(0, 20000) + "\n…" : shown });
}

// A lab's .md results: pipe tables as tables, headings and other lines as text.
function markdown(text) {
  const out = el("div", { class: "markdown" });
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim().startsWith("|")) {
      const block = [];
      while (i < lines.length && lines[i].trim().startsWith("|")) block.push(lines[i++]);
      i--;
      const cells = block.map((l) => l.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim()));
      const body = cells.slice(1).filter((r) => !r.every((c) => /^:?-+:?$/.test(c)));
      out.append(table(cells[0], body));
    } else if (/^#+\s/.test(line)) {
      out.append(el("h4", { text: line.replace(/^#+\s*/, "") }));
    } else if (line.trim()) {
      out.append(el("p", { text: line }));
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ the panels
// Each panel: its fields [name, label, kind, default] and how to show the answer.
const PANELS = {
  translate: {
    title: "Translate a sentence", button: "Translate",
    fields: [["text", "sentence", "text", ""], ["beam", "beam size", "number", ""],
             ["length_penalty", "length penalty", "number", ""]],
    show(out, a) {
      out.append(el("div", { class: "answer", id: "translation", text: a.translation }), ...notes(a.notes));
      if (a.attention) out.append(el("h4", { text: "attention: each output token's weights over the source" }), heatmap(a.attention));
    },
  },
  textgen: {
    title: "Generate text", button: "Generate", stream: true,
    fields: [["prime", "prime", "textarea", "\n"], ["length", "length (tokens)", "number", "300"],
             ["temperature", "temperature", "number", "0.8"], ["top_k", "top-k (0: all)", "number", "0"]],
  },
  docs: {
    title: "Classify a document", button: "Classify",
    fields: [["text", "document", "textarea", ""]],
    show(out, a) {
      out.append(table(["class", "probability", ""], a.probabilities.map(([c, p]) => [c, p, ""]), { class: "probs" }));
      const bars = out.querySelectorAll("table.probs tbody tr");
      a.probabilities.forEach(([, p], k) => bars[k].lastChild.append(el("span", { class: "bar", style: `width:${Math.round(200 * p)}px` })));
      out.append(...notes(a.notes));
      if (a.explain_html) {
        const shade = el("div", { id: "shading" });
        shade.innerHTML = a.explain_html; // made by rnnlab: every word HTML-escaped
        out.append(el("h4", { text: "attention: sentences (red bar) and words (blue)" }), shade);
      }
    },
  },
  forecast: {
    title: "Forecast after the end", button: "Forecast", upload: "optional",
    help: "Leave the file empty to forecast the run's own series, or upload one with the training's columns.",
    fields: [],
    show(out, a) {
      const labels = new Set(["step", "target", "unique_id", "ds"]); // names and dates stay text, numbers align right
      const rows = a.rows.map((r) => r.map((c, k) => (labels.has(a.header[k]) || c === "" || isNaN(+c) ? c : +c)));
      out.append(png(a.plot_png, "forecast plot"), table(a.header, rows, { class: "forecast" }),
        el("p", { class: "downloads" }, downloadCsv(a.csv, "forecast.csv", "download forecast.csv")));
    },
  },
  classify: {
    title: "Classify series from a file", button: "Classify", upload: "required",
    fields: [],
    show(out, a) {
      const counts = {};
      for (const r of a.rows) counts[r[1]] = (counts[r[1]] || 0) + 1;
      const csv = [a.header.join(","), ...a.rows.map((r) => r.join(","))].join("\n") + "\n";
      out.append(...notes(a.notes), el("h4", { text: `${a.rows.length} series, predicted:` }),
        table(["class", "series"], Object.entries(counts), { class: "counts" }),
        el("h4", { text: a.rows.length > 50 ? `the first 50 of ${a.rows.length}` : "each series" }),
        table(a.header, a.rows.slice(0, 50), { class: "probs" }),
        el("p", { class: "downloads" }, downloadCsv(csv, "predictions.csv", "download all predictions (CSV)")));
    },
  },
  caption: {
    title: "Caption an image", button: "Caption", upload: "required",
    fields: [["beam", "beam size", "number", ""]],
    show(out, a, body) {
      const file = body.get("file");
      if (file && file.size) out.append(el("img", { class: "plot preview", src: URL.createObjectURL(file), alt: "the image" }));
      out.append(el("div", { class: "answer", id: "caption", text: a.caption }), ...notes(a.notes));
      if (a.attention_png) out.append(el("h4", { text: "where it looked, word by word" }), png(a.attention_png, "attention map"));
    },
  },
  handwriting: {
    title: "Write text by hand", button: "Write",
    fields: [["text", "text", "text", "hello"], ["bias", "bias (0: wild, higher: neater)", "number", "1"],
             ["seed", "seed", "number", "0"]],
    show(out, a) {
      out.append(png(a.png, "handwriting"), el("p", { class: "downloads" },
        download(a.strokes, "written.json", "application/json", `download the strokes (${a.points} points)`)));
    },
  },
  chords: {
    title: "Harmonise a melody", button: "Harmonise", upload: "required",
    help: "A melody as MusicXML, MIDI or ABC.",
    fields: [["part", "part (blank: the melody's)", "number", ""]],
    show(out, a) {
      const beats = a.beats.slice(0, 400);
      const t = el("table", { class: "beats" });
      for (const [label, key] of [["beat", "beat"], ["melody", "melody"], ["chord", "chord"]]) {
        t.append(el("tr", {}, el("th", { text: label }), ...beats.map((b) => el("td", { text: String(b[key]) }))));
      }
      out.append(el("div", { class: "scroll" }, t), ...notes(a.notes),
        el("audio", { controls: "", src: "data:audio/wav;base64," + a.wav, id: "audio" }),
        el("p", { class: "downloads" },
          download(a.musicxml, "harmonized.musicxml", "application/vnd.recordare.musicxml+xml", "download MusicXML"),
          download(a.midi, "harmonized.mid", "audio/midi", "download MIDI")));
    },
  },
};

// blank fields take the run's own setting: shown as the placeholder
const DEFAULT_FROM_CONFIG = { beam: "beam_size", length_penalty: "length_penalty" };

function panelCard(run) {
  const spec = PANELS[run.app];
  const form = el("form", { class: "panel", id: "panel-form" });
  for (const [name, label, kind, value] of spec.fields) {
    const input = kind === "textarea" ? el("textarea", { name, id: "f-" + name })
      : el("input", { name, id: "f-" + name, type: kind === "number" ? "text" : "text", inputmode: kind === "number" ? "decimal" : "text" });
    input.value = value;
    const configKey = DEFAULT_FROM_CONFIG[name];
    if (configKey && run.config[configKey] !== undefined) input.placeholder = `the run's: ${run.config[configKey]}`;
    form.append(el("label", { for: "f-" + name, text: label }), input);
  }
  if (spec.upload) {
    const accept = (state.uploads[run.app] || []).join(",");
    form.append(el("label", { for: "f-file", text: spec.upload === "optional" ? "file (optional)" : "file" }),
      el("input", { type: "file", name: "file", id: "f-file", accept }));
  }
  const button = el("button", { type: "submit", id: "run-button", text: spec.button });
  form.append(el("span"), el("div", { class: "actions" }, button));
  const out = el("div", { id: "result", "aria-live": "polite" });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(run, spec, form, button, out); });
  return el("section", { class: "card", id: "panel" }, el("h3", { text: spec.title }),
    ...(spec.help ? [el("p", { class: "muted", text: spec.help })] : []), form, out);
}

async function submit(run, spec, form, button, out) {
  const body = new FormData(form);
  const file = body.get("file");
  if (file && file.size === 0 && !file.name) body.delete("file");
  if (file && file.size > state.maxUpload) {
    out.replaceChildren(el("div", { class: "error", role: "alert", text: `${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MB; this server takes at most ${(state.maxUpload / 2 ** 20).toFixed(0)} MB` }));
    return;
  }
  button.disabled = true;
  out.replaceChildren(el("p", { class: "muted", id: "working", text: "working…" }));
  try {
    const res = await fetch(`/api/runs/${encodeURIComponent(run.id)}/panel`, { method: "POST", body });
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
      out.replaceChildren(el("div", { class: "error", role: "alert", text: message }));
      return;
    }
    if (spec.stream) {
      const pre = el("pre", { class: "stream", id: "generated" });
      pre.textContent = body.get("prime");
      out.replaceChildren(pre);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pre.textContent += decoder.decode(value, { stream: true });
      }
      out.append(el("p", { class: "muted", id: "done", text: "done" }));
      return;
    }
    const answer = await res.json();
    out.replaceChildren();
    spec.show(out, answer, body);
  } catch (e) {
    out.replaceChildren(el("div", { class: "error", role: "alert", text: "the server did not answer: " + e }));
  } finally {
    button.disabled = false;
  }
}

window.addEventListener("hashchange", route);
loadRuns();
