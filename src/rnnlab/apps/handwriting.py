"""``rnnlab handwriting``: handwriting synthesis (Graves 2013, §5) — write a text as pen strokes.

A :class:`~rnnlab.models.HandwritingSynthesis` network learns, point by point, the
distribution of the next pen offset given the trajectory so far and the text, through a
Gaussian window that slides along the text. Pen offsets are divided by their standard
deviation over the training set (kept in ``handwriting.json`` with the alphabet).

Held-out metric: negative log-likelihood per point (nats, in those units) on a
validation split, against a baseline that ignores both the past and the text: one
bivariate Gaussian for the offset and a constant end-of-stroke probability, fitted to the
training points. ``val_window_at_end`` is the fraction of validation samples whose window
sits on their last character (or past it) at their last point — whether the network
learned to read its text to the end while writing it.

``rnnlab handwriting write RUN --text "..."`` samples a trajectory (``--bias`` for neater
writing, Graves §5.4) and draws it, with the window's path along the text beneath.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.strokes import Handwriting, load_strokes, to_strokes
from ..errors import InputError
from ..files import atomic_write, read_json, write_json
from ..models import HandwritingSynthesis, mixture_nll, mixture_sample
from ..report import save_figure
from ..tasks.attention_plots import draw_alignment
from ..training import TrainConfig, Trainer
from ..training.batches import bucketed_by_length
from ..training.config import check_positive
from .base import App, LoadedRun, RunContext

__all__ = ["HandwritingConfig", "HandwritingApp", "APP"]

START = (0.0, 0.0, 1.0)  # the input before the first point: "the pen has just lifted"


@dataclass
class HandwritingConfig:
    """data: "fonts" (embedded: font-traced words, see :mod:`rnnlab.data.strokes`), a
    ``.jsonl`` file, an IAM-OnDB ``.xml`` file or a directory of them. samples /
    max_words: size of the embedded set and words per sample. max_points: samples with
    more points are left out (their count is logged). Model: ``num_layers`` LSTM layers
    of ``hidden_size``, ``mixtures`` output Gaussians, ``window_mixtures`` window
    Gaussians. batch_size; val_fraction of the samples held out."""

    data: str = "fonts"
    samples: int = 3000
    max_words: int = 2
    max_points: int = 800
    hidden_size: int = 256
    num_layers: int = 3
    mixtures: int = 20
    window_mixtures: int = 10
    batch_size: int = 32
    val_fraction: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, lr=2e-3, clip_norm=5.0,
                                                                   schedule="cosine", log_every=20))

    def __post_init__(self) -> None:
        check_positive(self, "samples", "max_words", "max_points", "hidden_size", "num_layers", "mixtures",
                       "window_mixtures", "batch_size")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction: must be in (0, 0.5), got {self.val_fraction}")


def encode_batch(samples: list[Handwriting], alphabet: dict[str, int], scale: float
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(inputs, targets, point_mask, text, text_lengths)``, padded: targets are the
    points with offsets divided by ``scale``; inputs the same shifted right by one behind
    :data:`START`."""
    B, T, U = len(samples), max(len(s.points) for s in samples), max(len(s.text) for s in samples)
    targets = torch.zeros(B, T, 3)
    mask = torch.zeros(B, T, dtype=torch.bool)
    text = torch.zeros(B, U, dtype=torch.long)
    for b, s in enumerate(samples):
        p = torch.tensor(s.points, dtype=torch.float32)  # a copy: the samples are reused every epoch
        p[:, :2] /= scale
        targets[b, :len(p)] = p
        mask[b, :len(p)] = True
        text[b, :len(s.text)] = torch.tensor([alphabet[ch] for ch in s.text])
    inputs = torch.cat([torch.tensor(START).expand(B, 1, 3), targets[:, :-1]], 1)
    lengths = torch.tensor([len(s.text) for s in samples])
    return inputs, targets, mask, text, lengths


def batches_by_length(samples: list[Handwriting], batch_size: int, seed: int, epoch: int) -> list[list[Handwriting]]:
    """Shuffled batches of samples of similar length (:func:`~rnnlab.training.batches.bucketed_by_length`)."""
    buckets = bucketed_by_length([len(s.points) for s in samples], batch_size, seed, epoch, pool_batches=20)
    return [[samples[i] for i in b] for b in buckets]


def baseline_nll(train: list[Handwriting], val: list[Handwriting], scale: float) -> float:
    """NLL per point of ``val`` under one bivariate Gaussian (offsets) and a constant
    end-of-stroke probability, both fitted to ``train``."""
    tr = np.concatenate([s.points for s in train]).astype(np.float64)
    va = np.concatenate([s.points for s in val]).astype(np.float64)
    tr[:, :2] /= scale
    va[:, :2] /= scale
    mean, cov = tr[:, :2].mean(0), np.cov(tr[:, :2].T) + 1e-6 * np.eye(2)
    d = va[:, :2] - mean
    quad = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    log_n = -0.5 * quad - 0.5 * np.log(np.linalg.det(cov)) - np.log(2 * np.pi)
    p_end = np.clip(tr[:, 2].mean(), 1e-6, 1 - 1e-6)
    log_e = va[:, 2] * np.log(p_end) + (1 - va[:, 2]) * np.log(1 - p_end)
    return float(-(log_n + log_e).mean())


def plot_writing(path: Path, items: list[tuple[str, str, np.ndarray, np.ndarray | None]]) -> None:
    """Each item: a title, the text, its points ``(N, 3)`` (real offsets) and optionally
    the window weights ``(N, U + 1)``, drawn beneath it against the text."""
    from ..report import pyplot

    plt = pyplot()

    rows = sum(2 if phi is not None else 1 for *_, phi in items)
    fig, axes = plt.subplots(rows, 1, figsize=(8, 1.9 * rows), squeeze=False)
    r = 0
    for title, text, points, phi in items:
        ax = axes[r, 0]
        for stroke in to_strokes(points):
            ax.plot(stroke[:, 0], stroke[:, 1], "k-", lw=1.2)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title, fontsize=9)
        r += 1
        if phi is not None:
            ax = axes[r, 0]
            draw_alignment(ax, phi[:, :len(text)].T, None, list(text), "point", "window", fontsize=7)
            r += 1
    fig.tight_layout()
    save_figure(fig, path)


class HandwritingApp(App):
    name = "handwriting"
    help = "Handwriting synthesis (Graves 2013): an LSTM with a soft window over the text writes it as pen strokes."
    summary = "LSTM + Gaussian window + mixture density output writing words as pen strokes (font-traced default)"
    Config = HandwritingConfig

    quick = {
        "samples": 1000, "max_words": 1, "max_points": 400, "hidden_size": 128, "num_layers": 2, "mixtures": 10,
        "window_mixtures": 5, "train.epochs": 8, "train.lr": 0.003, "train.log_every": 10
    }

    # ---- data ---------------------------------------------------------------------
    def _data(self, cfg: HandwritingConfig, run_dir: Path, create: bool, log=lambda m: None):
        samples, desc = load_strokes(cfg.data, cfg.samples, cfg.train.seed, cfg.max_words)
        kept = [s for s in samples if len(s.points) <= cfg.max_points]
        if len(kept) < len(samples):
            log(f"handwriting: left out {len(samples) - len(kept)} samples longer than max_points={cfg.max_points}")
        if len(kept) < 4:
            raise InputError(f"{cfg.data}: {len(kept)} usable samples; need at least 4 (raise max_points or add data)")
        order = list(range(len(kept)))
        random.Random(cfg.train.seed).shuffle(order)
        n_val = max(1, int(len(kept) * cfg.val_fraction))
        val, train = [kept[i] for i in order[:n_val]], [kept[i] for i in order[n_val:]]
        meta_path = run_dir / "handwriting.json"
        if create and not meta_path.exists():
            offsets = np.concatenate([s.points[:, :2] for s in train])
            scale = float(offsets.std())
            if not scale > 0:
                raise InputError(f"{cfg.data}: every pen offset is the same; nothing to learn")
            write_json(meta_path, {"alphabet": sorted({ch for s in kept for ch in s.text}), "scale": scale})
        meta = read_json(meta_path, "handwriting model description (handwriting.json)")
        return train, val, meta, desc

    def _model(self, cfg: HandwritingConfig, alphabet_size: int) -> HandwritingSynthesis:
        return HandwritingSynthesis(alphabet_size, cfg.hidden_size, cfg.num_layers, cfg.mixtures, cfg.window_mixtures)

    # ---- train / evaluate -----------------------------------------------------------
    def fit(self, cfg: HandwritingConfig, ctx: RunContext) -> dict[str, float]:
        train, val, meta, desc = self._data(cfg, ctx.run_dir, create=True, log=ctx.log)
        alphabet = {ch: i for i, ch in enumerate(meta["alphabet"])}
        ctx.log(f"handwriting: {desc}; {len(train)} training / {len(val)} validation samples, "
                f"{sum(len(s.points) for s in train):,} training points, alphabet of {len(alphabet)}")
        torch.manual_seed(cfg.train.seed)
        model = self._model(cfg, len(alphabet))
        val_batches = [encode_batch(b, alphabet, meta["scale"]) for b in batches_by_length(val, 64, 0, 0)]

        def batches(epoch: int):
            return [encode_batch(b, alphabet, meta["scale"])
                    for b in batches_by_length(train, cfg.batch_size, cfg.train.seed, epoch)]

        def loss_fn(m, batch):
            inputs, targets, mask, text, lengths = batch
            params, _, _ = m(inputs, text, lengths)
            return mixture_nll(params, targets, mask)

        def evaluate(m):
            return {"val_loss": self._nll(m, val_batches)[0]}

        Trainer(model, loss_fn, cfg.train, run_dir=ctx.run_dir, evaluate_fn=evaluate,
                verbose=ctx.verbose).fit(batches, resume=ctx.resume)
        return self._metrics(model.eval(), train, val, meta, ctx.run_dir)

    @staticmethod
    def _nll(model, val_batches) -> tuple[float, float]:
        """(NLL per point, fraction of samples whose window ends on their last character)."""
        total, count, at_end, n = 0.0, 0, 0, 0
        with torch.no_grad():
            for inputs, targets, mask, text, lengths in val_batches:
                params, _, phi = model(inputs, text, lengths)
                total += float(mixture_nll(params, targets, mask)) * int(mask.sum())
                count += int(mask.sum())
                last = mask.sum(1) - 1  # each sample's last point
                phi_last = phi[torch.arange(len(last)), last]  # (B, U + 1)
                # where the window sits: its heaviest character, counting "past the end" as the last one
                pos = torch.minimum(phi_last.argmax(-1), lengths - 1)
                at_end += int((pos >= lengths - 1).sum())
                n += len(last)
        return total / count, at_end / n

    def _metrics(self, model, train, val, meta, run_dir: Path) -> dict[str, float]:
        alphabet = {ch: i for i, ch in enumerate(meta["alphabet"])}
        val_batches = [encode_batch(b, alphabet, meta["scale"]) for b in batches_by_length(val, 64, 0, 0)]
        nll, at_end = self._nll(model, val_batches)
        texts = [s.text for s in val[:3]]
        items = []
        for k, text in enumerate(texts):
            points, phi = self.generate(model, meta, text, bias=1.0, seed=k)
            items.append((f"sample, bias 1: \u201c{text}\u201d", text, points, phi))
        plot_writing(run_dir / "samples.png", items)
        return {"val_nll_per_point": nll, "baseline_gaussian_nll_per_point": baseline_nll(train, val, meta["scale"]),
                "val_window_at_end": at_end}

    def load(self, run_dir: Path) -> LoadedRun:
        cfg = self.load_config(run_dir)
        meta = read_json(run_dir / "handwriting.json", "handwriting model description (handwriting.json)")
        model = self.trained(run_dir, lambda: self._model(cfg, len(meta["alphabet"])))
        return LoadedRun(cfg, model, meta=meta, unpacks_as=("config", "meta", "model"))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, meta, model = self.load(run_dir)
        train, val, _, _ = self._data(cfg, run_dir, create=False)
        return self._metrics(model, train, val, meta, run_dir)

    # ---- writing ------------------------------------------------------------------------
    @staticmethod
    def generate(model: HandwritingSynthesis, meta: dict, text: str, bias: float = 1.0, seed: int = 0,
                 max_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sample a trajectory for ``text``: ``(points (N, 3) in real units, window
        weights (N, U + 1))``. Stops when the window has moved past the text (Graves'
        rule: the weight one past the end exceeds every character's) or at
        ``max_points`` (default 40 per character + 40)."""
        alphabet = {ch: i for i, ch in enumerate(meta["alphabet"])}
        if not text:
            raise InputError("--text: give at least one character")
        unknown = sorted({ch for ch in text if ch not in alphabet})
        if unknown:
            raise InputError(f"--text: these characters are not in the model's alphabet: {unknown!r} "
                             f"(it knows {''.join(meta['alphabet'])!r})")
        if bias < 0:
            raise InputError(f"--bias: must be >= 0, got {bias}")
        max_points = max_points or 40 * len(text) + 40
        g = torch.Generator().manual_seed(seed)
        ids = torch.tensor([[alphabet[ch] for ch in text]])
        x = torch.tensor(START).view(1, 1, 3)
        points, phis, state = [], [], None
        with torch.no_grad():
            for t in range(max_points):
                params, state, phi = model(x, ids, None, state)
                p = mixture_sample({k: v[:, -1] for k, v in params.items()}, bias, g)  # (1, 3)
                points.append(p[0])
                phis.append(phi[0, -1])
                if t > 0 and phi[0, -1, -1] > phi[0, -1, :-1].max():
                    break
                x = p.view(1, 1, 3)
        out = torch.stack(points).numpy().astype(np.float64)
        out[:, :2] *= meta["scale"]
        out[-1, 2] = 1.0  # the pen lifts at the end
        return out, torch.stack(phis).numpy()

    def write(self, run_dir: Path, text: str, out: Path | None = None, bias: float = 1.0, seed: int = 0,
              max_points: int | None = None) -> Path:
        """Write ``text`` with the run's model: a PNG (the writing and its window) and, next
        to it with the suffix ``.json``, the strokes as one line of the ``.jsonl`` training
        format; returns the PNG's path."""
        _, meta, model = self.load(run_dir)
        points, phi = self.generate(model, meta, text, bias, seed, max_points)
        out = Path(out) if out is not None else run_dir / "written.png"
        plot_writing(out, [(f"bias {bias}: \u201c{text}\u201d", text, points, phi)])
        # one line in the training-file format, so written samples can be read back as data
        strokes = [s.round(4).tolist() for s in to_strokes(points)]
        atomic_write(out.with_suffix(".json"), json.dumps({"text": text, "strokes": strokes}) + "\n")
        return out

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("write")
        def write(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab handwriting train'."),
                  text: str = typer.Option(..., "--text", help="What to write."),
                  out: Path = typer.Option(None, "--out", help="PNG to write (default RUN/written.png); "
                                                                "the strokes go to the same name with .json."),
                  bias: float = typer.Option(1.0, "--bias", help="0 = as varied as the model; higher = neater."),
                  seed: int = typer.Option(0, "--seed"),
                  max_points: int = typer.Option(0, "--max-points", help="Cap on points (0: 40 per character).")):
            """Write a text as pen strokes; draws it with the window's path along the text."""
            path = guarded(lambda: self.write(run_dir, text, out, bias, seed, max_points or None))
            typer.echo(str(path))

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(...),
                    text: str = typer.Option(..., "--text"),
                    out: Path = typer.Option(None, "--out"),
                    seed: int = typer.Option(0, "--seed")):
            """Same as write, with the default bias."""
            typer.echo(str(guarded(lambda: self.write(run_dir, text, out, 1.0, seed))))


APP = HandwritingApp()
