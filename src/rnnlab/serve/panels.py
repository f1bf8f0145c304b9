"""What each app's panel of ``rnnlab serve`` does with one request: the app's own verbs on
a loaded run, the answer as JSON-able data (text, tables, PNG images and downloads as
base64).

A panel gets the :class:`~rnnlab.serve.runs.ServedRun` (its model loaded once, then kept)
and the request's fields as strings; an uploaded file arrives as the path of the
temporary file the server wrote — no path from a request is ever opened. Every problem
with the input is an :class:`~rnnlab.errors.InputError`, which the page shows as a
message; the server goes on serving.
"""

from __future__ import annotations

import base64
import dataclasses
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .audio import score_notes, synthesize
from .runs import ServedRun

__all__ = ["PANELS", "STREAMING", "UPLOADS", "Inputs", "MAX_TEXT"]

#: characters of a pasted document; a sentence or a prime is shorter (each panel says)
MAX_TEXT = 100_000
#: matplotlib's pyplot keeps global state: figures are drawn one at a time, whichever run asks
PLOT_LOCK = threading.Lock()
#: the file kinds each upload panel accepts, by suffix (the temporary file keeps the suffix,
#: which is how the app's reader picks its format)
UPLOADS = {
    "chords": (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".abc"),
    "classify": (".ts", ".arff", ".tsv", ".txt", ".csv", ".npz"),
    "caption": (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"),
    "forecast": (".csv", ".tsv", ".tsf", ".txt"),
}


class Inputs:
    """A request's form fields (strings) and its uploaded file, read with checks whose
    messages name the field."""

    def __init__(self, fields: dict[str, str], file: Path | None = None, filename: str = ""):
        self.fields, self.file, self.filename = fields, file, filename

    def text(self, key: str, what: str, limit: int, strip: bool = True) -> str:
        value = self.fields.get(key, "")
        if len(value) > limit:
            raise InputError(f"{what}: {len(value):,} characters; at most {limit:,} here")
        if not value.strip():
            raise InputError(f"{what}: empty; type something first")
        return value.strip() if strip else value

    def number(self, key: str, what: str, default: float, low: float, high: float, integer: bool = False) -> float:
        raw = self.fields.get(key, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"{what}: {raw[:40]!r} is not a number") from None
        if not low <= value <= high or (integer and value != int(value)):
            kind = "a whole number" if integer else "a number"
            shown = (f"{int(low):,} to {int(high):,}" if integer else f"{low:g} to {high:g}")
            raise InputError(f"{what}: {raw[:40]} — give {kind} from {shown}")
        return value

    def upload(self, what: str) -> Path:
        if self.file is None:
            raise InputError(f"{what}: no file chosen; choose one first")
        return self.file


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _figure_png(draw: Callable[[Path], Any]) -> str:
    """``draw(path)`` writes a PNG (one of the apps' own plotting functions); its bytes."""
    with PLOT_LOCK, tempfile.TemporaryDirectory(prefix="rnnlab-serve-") as tmp:
        path = Path(tmp) / "figure.png"
        draw(path)
        return _b64(path.read_bytes())


# ---------------------------------------------------------------------------- translate
def translate(run: ServedRun, inputs: Inputs) -> dict:
    """A sentence → its translation (beam size, length penalty) and its attention: for each
    output token, its weights over the source tokens."""
    from ..tasks.translation import encode_pairs, translate_ids

    loaded = run.loaded()
    cfg, src, tgt = loaded.config, loaded.vocab, loaded.target_vocab
    sentence = inputs.text("text", "sentence", 2_000)
    beam = int(inputs.number("beam", "beam size", cfg.beam_size, 1, 16, integer=True))
    alpha = inputs.number("length_penalty", "length penalty", cfg.length_penalty, 0, 5)
    notes = []
    unknown = src.unknown(sentence)
    if unknown:
        notes.append(f"not in the model's source vocabulary (read as unknown): {' '.join(unknown[:20])}")
    with run.lock:
        xs, _ = encode_pairs([(sentence, "")], src, tgt, cfg.max_len, drop_long=False, warn=notes.append)
        ids, atts = translate_ids(loaded.model, xs, cfg.max_len, beam, alpha)
    out: dict[str, Any] = {"translation": tgt.decode(ids[0]), "notes": notes}
    if atts[0] is not None:  # the weights, drawn by the page (a figure per request would cost 20x the decoding)
        out_tokens = [tgt.piece(t) for t in ids[0]] + ["</s>"]
        weights = np.asarray(atts[0], dtype=float)[: len(out_tokens), : len(xs[0])]
        out["attention"] = {"source": [src.piece(t) for t in xs[0]], "output": out_tokens[: len(weights)],
                            "weights": np.round(weights, 4).tolist()}
    else:
        notes.append("this run has no attention (attention: null): no heatmap")
    return out


# ------------------------------------------------------------------------------ textgen
def textgen(run: ServedRun, inputs: Inputs) -> Iterator[str]:
    """Prime, temperature, top-k → the generated text, piece by piece as the model writes
    it. The inputs are checked before the first piece, so a bad one is a message, not a
    broken stream."""
    import queue

    prime = inputs.text("prime", "prime", 2_000, strip=False)
    length = int(inputs.number("length", "length", 300, 1, 3_000, integer=True))
    temperature = inputs.number("temperature", "temperature", 0.8, 0, 5)
    top_k = int(inputs.number("top_k", "top-k", 0, 0, 1_000_000, integer=True)) or None
    missing = run.loaded().vocab.unknown(prime)
    if missing:
        raise InputError(f"prime: characters the model never saw: {''.join(missing[:40])!r}")
    pieces: queue.Queue[str | None] = queue.Queue()

    class Pieces:  # the file-like ``stream`` TextgenApp.sample writes to
        def write(self, s: str) -> None:
            pieces.put(s)

        def flush(self) -> None:
            pass

    def work() -> None:
        try:
            with run.lock:
                run.app.sample(run.path, prime, length, temperature, top_k, stream=Pieces())
        except Exception as e:  # noqa: BLE001 - the page shows it at the end of the text
            pieces.put(f"\n[stopped: {type(e).__name__}: {e}]")
        finally:
            pieces.put(None)

    threading.Thread(target=work, daemon=True, name=f"textgen-{run.id}").start()
    return iter(pieces.get, None)


# --------------------------------------------------------------------------------- docs
def docs(run: ServedRun, inputs: Inputs) -> dict:
    """Pasted text → class probabilities and the sentence / word attention shading."""
    from ..tasks.documents import explain_document

    loaded = run.loaded()
    cfg, vocab, classes, model = loaded.config, loaded.vocab, loaded.classes, loaded.model
    text = inputs.text("text", "document", MAX_TEXT)
    unknown = set(vocab.unknown(text))
    if not any(p not in unknown and any(c.isalnum() for c in p) for p in vocab.pieces(text)):
        raise InputError("document: none of its words are in the model's vocabulary")
    with run.lock:
        proba = run.app.predict_proba(cfg, model, vocab, [text])[0]
        shading = (explain_document(model, vocab, classes, text, cfg.max_sentences, cfg.max_words)
                   if cfg.model == "han" else None)
    order = np.argsort(-proba)
    return {"probabilities": [[classes[int(k)], float(proba[k])] for k in order], "explain_html": shading,
            "notes": [] if shading else [f"model={cfg.model} has no sentence and word attention to shade"]}


# ----------------------------------------------------------------------------- forecast
def forecast(run: ServedRun, inputs: Inputs) -> dict:
    """The run's series (or an uploaded CSV with the training's columns) → the forecast
    after its end: a plot with its intervals and the numbers as a CSV table."""
    data = str(inputs.file) if inputs.file is not None else None
    with run.lock:
        loaded = run.loaded() if data is None else run.app.load(run.path, data)
        text = run.app.predict_csv(run.path, data, loaded)
        history = _history(loaded.plan)
    rows = [line.split(",") for line in text.strip().splitlines()]
    header, body = rows[0], rows[1:]
    png = _figure_png(lambda p: _plot_forecast(p, header, body, history))
    return {"header": header, "rows": body, "csv": text, "plot_png": png}


def _history(plan: Any) -> dict[str, tuple[list[str], np.ndarray]]:
    """The last values of each plotted series (up to 4) of a forecast's plan (one series'
    or a panel's), by the name its forecast rows use."""
    if hasattr(plan, "panel"):
        pan, out = plan.panel, {}
        for i, sid in enumerate(pan.ids[:4]):
            values = np.asarray(pan.values[i], dtype=float)
            dates = pan.dates[i]  # a long table's dates may run on into the future rows: cut to the values
            labels = [] if dates is None else list(np.datetime_as_string(dates[: len(values)], unit="D"))
            out[sid] = (labels[-60:], values[-60:])
        return out
    s = plan.series
    return {name: (list(s.index[-60:]), s.values[-60:, j]) for j, name in enumerate(s.target_names[:4])}


def _plot_forecast(path: Path, header: list[str], rows: list[list[str]],
                   history: dict[str, tuple[list[str], np.ndarray]]) -> None:
    from ..report import pyplot, save_figure

    plt = pyplot()
    key = header.index("unique_id") if "unique_id" in header else header.index("target")
    fc = header.index("forecast")
    lo = next((header.index(c) for c in ("lower95", "q0.05", "q0.1") if c in header), None)
    hi = next((header.index(c) for c in ("upper95", "q0.95", "q0.9") if c in header), None)
    names = list(history)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.4 * len(names)), squeeze=False)
    label = header.index("ds") if "ds" in header else header.index("step")
    for ax, name in zip(axes[:, 0], names):
        past_labels, past = history[name]
        mine = [r for r in rows if r[key] == name]
        n = len(past)
        labels = (list(past_labels) if len(past_labels) == n else [""] * n) + [r[label] for r in mine]
        ticks = list(range(0, len(labels), max(1, len(labels) // 8)))
        ax.set_xticks(ticks, [labels[k] for k in ticks], fontsize=7)
        ax.plot(range(n), past, color="#333", lw=1.2, label="history")
        steps = np.arange(n, n + len(mine))
        ax.plot(steps, [float(r[fc]) for r in mine], color="#1f5fbf", marker="o", ms=3, label="forecast")
        if lo is not None and hi is not None:
            ax.fill_between(steps, [float(r[lo]) for r in mine], [float(r[hi]) for r in mine], color="#1f5fbf",
                            alpha=0.2, label=f"{header[lo]} – {header[hi]}")
        ax.set_title(str(name), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)


# ----------------------------------------------------------------------------- classify
def classify(run: ServedRun, inputs: Inputs) -> dict:
    """An uploaded file of series (any format ``classify train`` reads) → each series'
    class probabilities."""
    from ..data.sequences import load_sequences

    loaded = run.loaded()
    classes, enc = loaded.classes, loaded.encoding
    seqs = load_sequences(str(inputs.upload("series file")), "TRAIN")
    if seqs.channels != enc.channels:
        raise InputError(f"{inputs.filename}: {seqs.channels} channel(s) per step; the model was trained on "
                         f"{enc.channels}")
    shown = seqs.series[:1_000]
    with run.lock:
        proba = run.app.predict_proba(loaded.model, shown, enc)
    rows = [[i, classes[int(p.argmax())], *(float(v) for v in p)] for i, p in enumerate(proba)]
    notes = ([f"showing the first {len(shown):,} of {len(seqs.series):,} series"]
             if len(shown) < len(seqs.series) else [])
    return {"header": ["series", "predicted", *classes], "rows": rows, "notes": notes}


# ------------------------------------------------------------------------------ caption
def caption(run: ServedRun, inputs: Inputs) -> dict:
    """An uploaded image → its caption and, for a run with attention, where it looked."""
    import torch

    from ..apps.caption import caption_images
    from ..data.images import read_image

    loaded = run.loaded()
    cfg, vocab, model = loaded.config, loaded.vocab, loaded.model
    beam = int(inputs.number("beam", "beam size", cfg.beam_size, 1, 16, integer=True))
    image = torch.from_numpy(read_image(inputs.upload("image"), cfg.image_size)).unsqueeze(0)
    with run.lock:
        text = caption_images(model, image, vocab, cfg.max_len, beam)[0]
        out: dict[str, Any] = {"caption": text, "notes": []}
        if cfg.attention:
            draw_cfg = dataclasses.replace(cfg, beam_size=beam)
            out["attention_png"] = _figure_png(lambda p: run.app._plot_attention(p, model, image, vocab, draw_cfg))
        else:
            out["notes"].append("this run has no attention (Show and Tell): no attention map")
    return out


# -------------------------------------------------------------------------- handwriting
def handwriting(run: ServedRun, inputs: Inputs) -> dict:
    """Text and bias → the writing as an image, the window's path beneath it, and the
    strokes (the training file's JSON line) to download."""
    import json

    from ..apps.handwriting import plot_writing, to_strokes

    loaded = run.loaded()
    text = inputs.text("text", "text", 60, strip=False)
    bias = inputs.number("bias", "bias", 1.0, 0, 10)
    seed = int(inputs.number("seed", "seed", 0, 0, 2**31 - 1, integer=True))
    with run.lock:
        points, phi = run.app.generate(loaded.model, loaded.meta, text, bias, seed)
    png = _figure_png(lambda p: plot_writing(p, [(f"bias {bias:g}: \u201c{text}\u201d", text, points, phi)]))
    strokes = json.dumps({"text": text, "strokes": [s.round(4).tolist() for s in to_strokes(points)]})
    return {"png": png, "strokes": _b64(strokes.encode()), "points": int(len(points))}


# ------------------------------------------------------------------------------- chords
def chords(run: ServedRun, inputs: Inputs) -> dict:
    """An uploaded melody (MusicXML, MIDI, ABC) → the chords beat by beat under its notes,
    the harmonisation as MusicXML and MIDI, and a WAV of it rendered here in NumPy."""
    melody = inputs.upload("melody")
    part = inputs.fields.get("part", "").strip()
    part_index = int(inputs.number("part", "part", 0, 0, 64, integer=True)) if part else None
    with tempfile.TemporaryDirectory(prefix="rnnlab-serve-") as tmp:
        stem = Path(tmp) / "harmonized"
        try:
            with run.lock:
                names = run.app.harmonize(run.path, str(melody), stem, part_index)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - music21 raises its own types for a corrupt file
            raise InputError(f"{inputs.filename or 'melody'}: not a melody music21 can read "
                             f"({type(e).__name__}: {str(e)[:160]})") from None
        xml, midi = stem.with_suffix(".musicxml").read_bytes(), stem.with_suffix(".mid").read_bytes()
        notes = score_notes(stem.with_suffix(".musicxml"))
    beats = [{"beat": b + 1, "melody": " ".join(n.name for n in notes if n.part == 0 and int(n.start) == b),
              "chord": name} for b, name in enumerate(names)]
    wav, rendered, total = synthesize(notes)
    return {"beats": beats, "musicxml": _b64(xml), "midi": _b64(midi), "wav": _b64(wav),
            "notes": [f"audio: the first {rendered:.0f} s of {total:.0f} s"] if rendered < total else []}


PANELS: dict[str, Callable[[ServedRun, Inputs], Any]] = {
    "translate": translate, "textgen": textgen, "docs": docs, "forecast": forecast, "classify": classify,
    "caption": caption, "handwriting": handwriting, "chords": chords,
}
#: panels whose answer is a stream of text pieces rather than one JSON object
STREAMING = {"textgen"}
