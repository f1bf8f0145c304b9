"""``rnnlab chords``: chord accompaniment for a melody (after Lim, Rhyu & Lee 2017).

A bidirectional LSTM (2 layers × 128, Lim et al.'s configuration) reads a melody beat
by beat (:mod:`rnnlab.data.music`) and names the chord of every beat — or, with
``unit=bar`` (Lim et al.'s time unit), bar by bar, naming each bar's main chord. It is compared,
on the same held-out chorales, with the two baselines the paper used:

- an HMM: chords are the hidden states, the melody's beat is the emission (12
  independent Bernoulli pitch classes given the chord, add-one smoothed counts),
  transitions counted on the training chorales, Viterbi decoding;
- an MLP (non-recurrent) on a window of ``2 * mlp_context + 1`` units around each unit;
- a DNN-HMM (the hybrid Lim et al. compared with): an MLP on ``2 * dnn_hmm_context + 1``
  units (default: the unit alone) gives each chord's posterior; divided by the chord's
  prior it is the HMM's emission score, decoded by Viterbi with the HMM's transitions.

Chorales are split into train / validation / test by piece (never by window), with the
seed; ``max_pieces`` limits the corpus (the quick run uses the first 120).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..data.music import (
    CHORDS,
    N_FEATURES,
    Piece,
    bar_features,
    bar_majority,
    bar_spans,
    chorale_pieces,
    chord_pitches,
    load_melody,
    melody_features,
    riemenschneider_analyses,
    to_bars,
    transpose_label,
)
from ..errors import InputError
from ..files import write_json
from ..models import SeqToSeq
from ..tasks.chord_baselines import HMM, dnn_hmm_predict, mlp_log_probs, train_mlp, viterbi, windows  # noqa: F401
from ..tasks.classification import classification_report, plot_confusion
from ..training import TrainConfig, Trainer
from ..training.config import check_choices
from .base import App, LoadedRun, RunContext

__all__ = ["ChordsConfig", "ChordsApp", "APP", "HMM", "viterbi", "train_mlp", "mlp_log_probs", "dnn_hmm_predict"]

N_CHORDS = len(CHORDS)


@dataclass
class ChordsConfig:
    """data: "chorales" (music21's Bach chorales). max_pieces: use only the first N
    (null: all). unit: the time step, "beat" or "bar" (one chord per bar, Lim et al.'s
    setting). hidden_size / num_layers: the BLSTM (Lim et al.: 128 × 2). mlp_context:
    units on each side for the MLP; dnn_hmm_context: for the DNN-HMM's network.
    test_fraction / val_fraction: share of pieces."""

    data: str = "chorales"
    max_pieces: int | None = None
    unit: str = "beat"
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.3
    mlp_context: int = 4
    mlp_hidden: int = 256
    dnn_hmm_context: int = 0
    batch_size: int = 8
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=60, lr=2e-3, clip_norm=1.0, patience=12,
                                                                   monitor="val_accuracy", monitor_mode="max",
                                                                   log_every=10**9))

    def __post_init__(self) -> None:
        if self.data != "chorales":
            raise ValueError(f"data: only 'chorales' (music21's Bach chorales) can be trained on, got {self.data!r}")
        check_choices(self, unit=("beat", "bar"))
        for name in ("mlp_context", "dnn_hmm_context"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a number of units >= 0, got {getattr(self, name)!r}")


def split_pieces(n: int, val: float, test: float, seed: int) -> tuple[list[int], list[int], list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test, n_val = max(1, int(n * test)), max(1, int(n * val))
    return sorted(order[n_test + n_val:]), sorted(order[n_test:n_test + n_val]), sorted(order[:n_test])


def pad_pieces(pieces: list[Piece]) -> tuple[Tensor, Tensor, Tensor]:
    lengths = torch.tensor([len(p.y) for p in pieces])
    T = int(lengths.max())
    x = torch.zeros(len(pieces), T, N_FEATURES)
    y = torch.full((len(pieces), T), -1, dtype=torch.long)
    for i, p in enumerate(pieces):
        x[i, : len(p.y)] = torch.tensor(p.x, dtype=torch.float32)
        y[i, : len(p.y)] = torch.tensor(p.y)
    return x, lengths, y


# ---------------------------------------------------------------------------- the app
def build_model(cfg: ChordsConfig) -> SeqToSeq:
    return SeqToSeq(N_FEATURES, N_CHORDS, cfg.hidden_size, "lstm", num_layers=cfg.num_layers, bidirectional=True,
                    dropout=cfg.dropout)


@torch.no_grad()
def blstm_predict(model: SeqToSeq, pieces: list[Piece]) -> list[np.ndarray]:
    model.eval()
    x, lengths, _ = pad_pieces(pieces)
    logits, _ = model(x, lengths=lengths)
    pred = logits.argmax(-1).numpy()
    return [pred[i, : len(p.y)] for i, p in enumerate(pieces)]


class ChordsApp(App):
    name = "chords"
    help = "Chord accompaniment from a melody: BLSTM vs HMM vs MLP on the Bach chorales (music21)."
    summary = "BLSTM harmonisation of Bach chorale melodies vs HMM, DNN-HMM and MLP baselines"
    Config = ChordsConfig

    quick = {
        "max_pieces": 120, "dropout": 0.1, "batch_size": 4, "train.epochs": 40, "train.lr": 0.003,
        "train.patience": 10
    }

    def _data(self, cfg: ChordsConfig, log) -> tuple[list[Piece], list[Piece], list[Piece]]:
        pieces = chorale_pieces(cfg.max_pieces, log)
        if len(pieces) < 10:
            raise InputError(f"only {len(pieces)} chorales could be read; need at least 10")
        if cfg.unit == "bar":
            pieces = [to_bars(p) for p in pieces]
        tr, va, te = split_pieces(len(pieces), cfg.val_fraction, cfg.test_fraction, cfg.train.seed)
        return [pieces[i] for i in tr], [pieces[i] for i in va], [pieces[i] for i in te]

    def fit(self, cfg: ChordsConfig, ctx: RunContext) -> dict[str, float]:
        train, val, test = self._data(cfg, ctx.log)
        ctx.log(f"chords: {len(train)} / {len(val)} / {len(test)} chorales (train / validation / test), "
                f"{sum(len(p.y) for p in train)} training {cfg.unit}s")
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg)
        xva, lva, yva = pad_pieces(val)

        def loss_fn(m, batch):
            x, lengths, y = batch
            T = int(lengths.max())
            logits, _ = m(x[:, :T], lengths=lengths)
            return nn.functional.cross_entropy(logits.reshape(-1, N_CHORDS), y[:, :T].reshape(-1), ignore_index=-1)

        def evaluate(m):
            logits, _ = m(xva, lengths=lva)
            valid = yva >= 0
            return {"val_accuracy": float((logits.argmax(-1)[valid] == yva[valid]).float().mean())}

        from ..training import TensorBatches

        xtr, ltr, ytr = pad_pieces(train)
        Trainer(model, loss_fn, cfg.train, run_dir=ctx.run_dir, evaluate_fn=evaluate, verbose=ctx.verbose).fit(
            TensorBatches(xtr, ltr, ytr, batch_size=cfg.batch_size, seed=cfg.train.seed), resume=ctx.resume)
        return self._evaluate(cfg, model, train, test, ctx.run_dir)

    def _evaluate(self, cfg, model, train: list[Piece], test: list[Piece], run_dir: Path) -> dict[str, float]:
        y = np.concatenate([p.y for p in test])
        preds = {"blstm": np.concatenate(blstm_predict(model, test))}
        hmm = HMM().fit(train)
        preds["hmm"] = np.concatenate([hmm.predict(p.x) for p in test])
        seed = cfg.train.seed
        mlp = train_mlp(train, cfg.mlp_context, cfg.mlp_hidden, seed)
        preds["mlp"] = np.concatenate([mlp_log_probs(mlp, p.x, cfg.mlp_context).argmax(-1) for p in test])
        counts = np.bincount(np.concatenate([p.y for p in train]), minlength=N_CHORDS)
        log_prior = np.log((counts + 1) / (counts + 1).sum())
        dnn = train_mlp(train, cfg.dnn_hmm_context, cfg.mlp_hidden, seed)
        preds["dnn_hmm"] = np.concatenate([dnn_hmm_predict(dnn, hmm, log_prior, p.x, cfg.dnn_hmm_context)
                                           for p in test])
        metrics = {"accuracy": float((preds["blstm"] == y).mean())}
        for name in ("hmm", "dnn_hmm", "mlp"):
            metrics[f"baseline_{name}_accuracy"] = float((preds[name] == y).mean())
        metrics["baseline_majority_accuracy"] = float((y == counts.argmax()).mean())
        for name in ("hmm", "dnn_hmm", "mlp"):
            metrics[f"gain_over_{name}_pct"] = 100 * (metrics["accuracy"] / metrics[f"baseline_{name}_accuracy"] - 1)
        metrics["test_chorales"] = len(test)
        metrics[f"test_{cfg.unit}s"] = int(len(y))
        metrics.update(self._human_agreement(model, train, cfg.unit))
        rep = classification_report(y, preds["blstm"], CHORDS)
        write_json(run_dir / "chords_report.json", {"blstm": rep, "test_pieces": [p.name for p in test]})
        plot_confusion(run_dir / "confusion.png", rep["confusion"], CHORDS,
                       f"BLSTM on {len(test)} held-out chorales: accuracy {metrics['accuracy']:.3f} "
                       f"(HMM {metrics['baseline_hmm_accuracy']:.3f}, "
                       f"DNN-HMM {metrics['baseline_dnn_hmm_accuracy']:.3f}, "
                       f"MLP {metrics['baseline_mlp_accuracy']:.3f})")
        return metrics

    def _human_agreement(self, model, train: list[Piece], unit: str = "beat") -> dict[str, float]:
        """Agreement, unit by unit, with the 20 human analyses (riemenschneider001-020):
        of the BLSTM, and of the chordify labels the model is trained on (the ceiling the
        data sets). Chorales the model trained on are left out of the BLSTM figure. Per
        bar, the human label is the one that holds most of the bar's beats."""
        pairs = riemenschneider_analyses()
        if unit == "bar":
            pairs = [(to_bars(p), bar_majority(h, bar_spans(p.x))) for p, h in pairs]
        seen = {p.name.split(".")[0] for p in train}
        held = [(p, h) for p, h in pairs if p.name not in seen]
        out = {"human_analyses": len(pairs), "human_analyses_held_out": len(held)}
        if pairs:
            both = np.concatenate([[transpose_label(int(v), -p.shift) for v in p.y] for p, _ in pairs])
            out["chordify_vs_human_agreement"] = float((both == np.concatenate([h for _, h in pairs])).mean())
        if held:
            preds = blstm_predict(model, [p for p, _ in held])
            mine = np.concatenate([[transpose_label(int(v), -p.shift) for v in pr] for pr, (p, _) in zip(preds, held)])
            out["blstm_vs_human_agreement"] = float((mine == np.concatenate([h for _, h in held])).mean())
        return out

    def load(self, run_dir: Path) -> LoadedRun:
        cfg = self.load_config(run_dir)
        return LoadedRun(cfg, self.trained(run_dir, lambda: build_model(cfg)))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, model = self.load(run_dir)
        train, _, test = self._data(cfg, lambda m: print(m, file=sys.stderr))
        return self._evaluate(cfg, model, train, test, run_dir)

    def harmonize(self, run_dir: Path, melody: str, out: Path, part: int | None = None) -> list[str]:
        """Write ``out``.musicxml and ``out``.mid (melody + chord track); return the chords."""
        from music21 import chord, note, stream

        cfg, model = self.load(run_dir)
        normal_part, semis, original = load_melody(melody, part)
        x = melody_features(normal_part)
        if not len(x):
            raise InputError(f"{melody}: the melody is empty")
        if cfg.unit == "bar":
            spans = bar_spans(x)
            x = bar_features(x, spans)
        else:
            spans = [(b, b + 1) for b in range(len(x))]
        with torch.no_grad():
            logits, _ = model(torch.tensor(x, dtype=torch.float32).unsqueeze(0))
        # one label per beat: a bar's chord is held over its beats
        labels = np.concatenate([[lab] * (b - a) for lab, (a, b) in zip(logits[0].argmax(-1).numpy(), spans)])
        shift = -semis  # back to the melody's own key
        chords_part = stream.Part(id="chords")
        names = []
        for b, lab in enumerate(labels):
            lab = int(lab)
            if lab >= 24:
                names.append(CHORDS[lab])
                chords_part.insert(float(b), note.Rest(quarterLength=1.0))
                continue
            root = (lab % 12 + shift) % 12
            label = root + (12 if lab >= 12 else 0)
            names.append(CHORDS[label])
            c = chord.Chord(chord_pitches(label), quarterLength=1.0)
            if b == 0 or names[-2] != names[-1]:
                c.addLyric(CHORDS[label])  # the chord name, shown under the staff when it changes
            chords_part.insert(float(b), c)
        ts = original.recurse().getElementsByClass("TimeSignature")
        if ts:
            chords_part.insert(0, ts[0].__class__(ts[0].ratioString))
        chords_part = chords_part.makeMeasures()  # MIDI and MusicXML writers want bars
        score = stream.Score([original, chords_part])
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            score.write("musicxml", fp=str(out.with_suffix(".musicxml")))
            score.write("midi", fp=str(out.with_suffix(".mid")))
        except Exception as e:
            raise InputError(f"{out}: could not write the harmonisation ({type(e).__name__}: {e})") from None
        return names

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("harmonize")
        def harmonize(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab chords train'."),
                      melody: str = typer.Argument(..., help="A melody: MusicXML, MIDI or ABC."),
                      out: Path = typer.Option(Path("harmonized"), "--out", help="Output stem (.musicxml and .mid)."),
                      part: int = typer.Option(None, "--part", help="Which part is the melody (0-based).")):
            """Harmonise a melody: writes MusicXML and MIDI with a chord track; prints the chords per beat."""
            names = guarded(lambda: self.harmonize(run_dir, melody, out, part))
            typer.echo(" ".join(names))
            typer.echo(f"wrote {out.with_suffix('.musicxml')} and {out.with_suffix('.mid')}")

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(...), melody: str = typer.Argument(...),
                    out: Path = typer.Option(Path("harmonized"), "--out"), part: int = typer.Option(None, "--part")):
            """Same as harmonize."""
            typer.echo(" ".join(guarded(lambda: self.harmonize(run_dir, melody, out, part))))


APP = ChordsApp()
