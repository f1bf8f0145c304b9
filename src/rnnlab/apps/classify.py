"""``rnnlab classify``: one label per sequence (sequence→vector).

Data: aeon's bundled UCR/UEA datasets by name (JapaneseVowels by default), the archives'
``.ts`` / ``.arff`` / ``.tsv`` / ``.txt`` files, or your CSV / NPZ (see
:mod:`rnnlab.data.sequences`). Bundled data, and a ``NAME_TRAIN`` file with its
``NAME_TEST`` beside it, come with their published train/test split; otherwise give
``test`` or 20% is held out (stratified, by seed). Channels (and their Δ features) are standardised with
training statistics. Variable lengths go through the lengths API, so padding never
changes a prediction.

Model (defaults): two convolutional layers over time, a bidirectional LSTM, mean
pooling, a linear layer; three such networks trained independently (each on its own
90% of the training set, the other 10% logged as validation) and their probabilities
averaged. ``--quick``: one smaller network.

Metrics: accuracy, macro-F1, the per-class report (``classes.json``) and a confusion
matrix PNG; the trivial baseline is the majority class.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..cells import cell_names
from ..data.sequences import BUNDLED, Sequences, load_sequences, published_test_file
from ..errors import InputError
from ..files import read_json, write_json
from ..models import Ensemble, RawSeriesClassifier, SeqToVec, TransformerClassifier
from ..models.conv_front_end import check_conv_layers
from ..models.transformer import TransformerOptions
from ..tasks.classification import classification_report, majority_class, plot_confusion, stratified_split
from ..tasks.ensembles import fit_members
from ..tasks.series_encoding import Encoding, auto_frame, features, to_tensors, with_deltas  # noqa: F401 (public names)
from ..training import TrainConfig, Trainer, read_run_config
from ..training.config import check_choices
from .base import App, LoadedRun, RunContext

__all__ = ["ClassifyConfig", "ClassifyApp", "APP", "classification_report", "RawSeriesClassifier"]


@dataclass
class ClassifyConfig(TransformerOptions):
    """data: a bundled name, or a .ts / .arff / .tsv / .txt / .csv / .npz path; test: a
    test file (null: the published split, or 20% held out; "none": no test set, every
    series trains — what :class:`rnnlab.estimators.SequenceClassifier` does). Model: cell
    (lstm | gru | rnn), hidden_size, num_layers, bidirectional, pooling (last | mean | max |
    attention), dropout.
    frame: consecutive steps stacked into one input vector (frame stacking, as speech
    recognisers feed RNNs: a 150-step univariate series becomes 50 steps of 3 values),
    so that long univariate series reach the RNN as short sequences of richer steps; 0
    picks ``ceil(median length / 50)`` (1 for series of up to 50 steps). deltas: append
    each channel's regression delta over ±2 steps (the Δ features of speech recognisers,
    HTK's formula), so the network reads every value with its local slope: on
    JapaneseVowels' LPC cepstra this takes accuracy from 98.0% to 99.0%.
    min_steps: train for at least this many optimiser steps, adding epochs on small
    datasets (ArrowHead's 36 series are 3 batches an epoch: 60 epochs left it underfit).
    noise: standard deviation of Gaussian noise added to the standardised training inputs
    (augmentation; 0: none). conv / conv_kernels: convolutional layers over time in front
    of the recurrent layer (:class:`rnnlab.models.ConvFrontEnd`; filters and odd kernel
    size per layer; ``conv=[]``: none) — local shapes learned by the convolutions, their
    order by the LSTM (CLDNN, LSTM-FCN); on JapaneseVowels 98.97% without, 99.3% with.
    ensemble: independently trained networks whose class probabilities are averaged
    (InceptionTime's recipe); member i trains with seed ``seed + 1000 i``, which picks its
    validation split, batch order, initial weights and dropout, in ``members/i/`` of the
    run directory; 1: a single network (the run directory holds it directly).
    model=transformer: a :class:`~rnnlab.models.TransformerClassifier` (the Transformer
    keys; the convolutions and the recurrent keys do not apply) reads the same inputs."""

    data: str = "JapaneseVowels"
    test: str | None = None
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean"
    dropout: float = 0.2
    frame: int = 0
    deltas: bool = True
    min_steps: int = 1000
    noise: float = 0.0
    conv: list[int] = field(default_factory=lambda: [128, 128])
    conv_kernels: list[int] = field(default_factory=lambda: [5, 3])
    ensemble: int = 3
    batch_size: int = 16
    val_fraction: float = 0.1
    # A fixed cosine schedule, keeping the last weights: picking the best epoch on a
    # validation set of a few dozen series chose early, underfit epochs (JapaneseVowels:
    # 97.2% with val_loss early stopping, 98.0% without, both without deltas).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=60, lr=2e-3, clip_norm=1.0, patience=None,
                                                                   schedule="cosine", monitor=None,
                                                                   weight_decay=1e-4, log_every=10**9))
    d_model: int = 64
    transformer_layers: int = 2
    ff_size: int = 256
    max_positions: int = 1024

    def __post_init__(self) -> None:
        check_choices(self, cell=cell_names(), pooling=("last", "mean", "max", "attention"))
        self.check_transformer(0, "frame")  # the series' length is checked when they are read
        if self.frame < 0:
            raise ValueError(f"frame: must be >= 0 (0: automatic), got {self.frame}")
        if self.min_steps < 0:
            raise ValueError(f"min_steps: must be >= 0, got {self.min_steps}")
        if self.noise < 0:
            raise ValueError(f"noise: a standard deviation, must be >= 0, got {self.noise}")
        if self.ensemble < 1:
            raise ValueError(f"ensemble: a number of networks, must be >= 1, got {self.ensemble}")
        check_conv_layers(self.conv, self.conv_kernels, ("conv", "conv_kernels"))


class ClassifyApp(App):
    name = "classify"
    help = "Classify whole sequences (UCR/UEA datasets from aeon, or your own files)."
    summary = "bidirectional LSTM on JapaneseVowels (speaker from 12-channel LPC sequences, aeon)"
    Config = ClassifyConfig

    # `rnnlab classify train --quick --seed S`, S = 0-4: 98.6% with conv=[64, 64]; 97.9% with 128
    # filters, which 15 epochs at a constant learning rate leave unsettled
    quick = {
        "hidden_size": 64, "min_steps": 0, "conv": [64, 64], "ensemble": 1, "train.epochs": 15, "train.lr": 0.003,
        "train.weight_decay": 0.0, "train.schedule": "none", "train.monitor": "val_loss"
    }
    # the Transformer's own: warm-up, a lower peak (quick, seeds 0-3: 97.8-98.9% on JapaneseVowels)
    family_defaults = {"transformer": {"train.lr": 1e-3, "train.warmup_steps": 100}}
    family_quick = {"transformer": {"ff_size": 128, "train.lr": 1e-3, "train.warmup_steps": 50,
                                    "train.schedule": "cosine"}}

    def make_config(self, data: str | None = None, quick: bool = False, epochs: int | None = None,
                    seed: int | None = None, overrides: list[str] | None = None) -> ClassifyConfig:
        cfg = super().make_config(data, quick, epochs, seed, overrides)
        if epochs is not None:  # --epochs N means N epochs, however small the dataset
            cfg = dataclasses.replace(cfg, min_steps=0)
        fix = lambda p: p if p is None or p in BUNDLED or not Path(p).exists() else str(Path(p).resolve())  # noqa
        return dataclasses.replace(cfg, data=fix(cfg.data), test=fix(cfg.test))

    def splits(self, cfg: ClassifyConfig) -> tuple[Sequences, Sequences | None]:
        train = load_sequences(cfg.data, "TRAIN")
        if cfg.test == "none":
            return train, None
        if cfg.test:
            test = load_sequences(cfg.test, "TRAIN")
        elif cfg.data in BUNDLED or published_test_file(cfg.data) is not None:
            test = load_sequences(cfg.data, "TEST")
        else:
            keep, held = stratified_split(train.labels, 0.2, cfg.train.seed)
            test = Sequences([train.series[i] for i in held], [train.labels[i] for i in held], train.source)
            train = Sequences([train.series[i] for i in keep], [train.labels[i] for i in keep], train.source)
        if test.channels != train.channels:
            raise InputError(f"{test.source}: {test.channels} channels, but the training data has {train.channels}")
        unseen = sorted(set(test.labels) - set(train.labels))
        if unseen:
            raise InputError(f"{test.source}: class(es) {unseen} appear in the test data but never in training; "
                             "the model cannot predict them")
        return train, test

    def fit(self, cfg: ClassifyConfig, ctx: RunContext) -> dict[str, float]:
        train, test = self.splits(cfg)
        classes = sorted(set(train.labels))
        if len(classes) < 2:
            raise InputError(f"{train.source}: only one class ({classes[0]!r}); classification needs two or more")
        enc = Encoding.fit(train.series, cfg.frame or auto_frame(train.series), cfg.deltas)
        longest = max(-(-len(s) // enc.frame) for s in train.series)
        if cfg.model == "transformer" and longest > cfg.max_positions:
            raise InputError(f"{train.source}: the longest series is {longest} steps (frames of {enc.frame}), more "
                             f"than max_positions={cfg.max_positions}; raise max_positions or frame")
        write_json(ctx.run_dir / "classes.json", {"classes": classes, **enc.to_json()})
        ctx.log(f"classify: {train.source}: {len(train)} training / {len(test) if test else 0} test series, "
                f"{train.channels} channels, {len(classes)} classes, frames of {enc.frame} step(s)")
        one = dataclasses.replace(cfg, ensemble=1)
        fit_one = lambda d, seed, resume: self._fit_member(one, ctx, d, train, enc, classes, seed, resume)  # noqa
        model = fit_members(ctx.run_dir, cfg.ensemble, cfg.train.seed, ctx.resume, fit_one,
                            lambda d: self.trained(d, lambda: self.build(one, enc.input_size, len(classes))),
                            lambda m: ctx.log("classify: " + m))
        if test is None:
            return {"train_series": len(train)}
        return self._evaluate(model, test, classes, enc, ctx.run_dir, train.labels)

    def _fit_member(self, cfg: ClassifyConfig, ctx: RunContext, run_dir: Path, train: Sequences, enc: "Encoding",
                    classes: list[str], seed: int, resume: bool) -> SeqToVec:
        """One network, trained in ``run_dir`` with ``seed`` deciding its validation split,
        batch order, initial weights and dropout."""
        keep, held = stratified_split(train.labels, cfg.val_fraction, seed)
        index = {c: i for i, c in enumerate(classes)}
        xtr, ltr = enc.tensors([train.series[i] for i in keep])
        ytr = torch.tensor([index[train.labels[i]] for i in keep])
        if held:
            xva, lva = enc.tensors([train.series[i] for i in held])
            yva = torch.tensor([index[train.labels[i]] for i in held])
        ctx.log(f"classify: {len(keep)} training / {len(held)} validation series")
        steps_per_epoch = -(-len(keep) // cfg.batch_size)
        train_cfg = dataclasses.replace(cfg.train, seed=seed)
        if steps_per_epoch * train_cfg.epochs < cfg.min_steps:
            train_cfg = dataclasses.replace(train_cfg, epochs=-(-cfg.min_steps // steps_per_epoch))
            ctx.log(f"classify: {train_cfg.epochs} epochs of {steps_per_epoch} steps (min_steps={cfg.min_steps})")
        torch.manual_seed(seed)
        model = self.build(cfg, enc.input_size, len(classes))
        from ..training import TensorBatches

        def loss_fn(m, batch):
            x, lengths, y = batch
            T = int(lengths.max())  # trim this batch's padding
            x = x[:, :T]
            if cfg.noise > 0:  # augmentation: Gaussian noise on the standardised inputs
                x = x + cfg.noise * torch.randn_like(x)
            return nn.functional.cross_entropy(m(x, lengths), y)

        def evaluate(m):
            logits = m(xva, lva)
            return {"val_loss": float(nn.functional.cross_entropy(logits, yva)),
                    "val_accuracy": float((logits.argmax(-1) == yva).float().mean())}

        Trainer(model, loss_fn, train_cfg, run_dir=run_dir, evaluate_fn=evaluate if held else None,
                verbose=ctx.verbose).fit(
            TensorBatches(xtr, ltr, ytr, batch_size=cfg.batch_size, seed=seed), resume=resume)
        return model

    def build(self, cfg: ClassifyConfig, channels: int, n_classes: int) -> SeqToVec | Ensemble:
        if cfg.ensemble > 1:
            one = dataclasses.replace(cfg, ensemble=1)
            return Ensemble([self.build(one, channels, n_classes) for _ in range(cfg.ensemble)])
        if cfg.model == "transformer":
            return TransformerClassifier(channels, n_classes, **cfg.transformer_sizes(cfg.dropout))
        return SeqToVec(channels, n_classes, cfg.hidden_size, cfg.cell, cfg.num_layers, cfg.bidirectional,
                        cfg.dropout, cfg.pooling, conv_channels=cfg.conv, conv_kernels=cfg.conv_kernels)

    @torch.no_grad()
    def predict_proba(self, model, seqs: list[np.ndarray], enc: Encoding) -> np.ndarray:
        """Class probabilities ``(n, classes)`` of series ``(T_i, channels)``, in the order of classes.json."""
        model.eval()
        out = []
        for b in range(0, len(seqs), 256):
            x, lengths = enc.tensors(seqs[b:b + 256])
            out.append(model(x, lengths).softmax(-1))
        return torch.cat(out).numpy()

    def predict_labels(self, model, seqs: list[np.ndarray], enc: Encoding) -> np.ndarray:
        return self.predict_proba(model, seqs, enc).argmax(-1)

    def _evaluate(self, model, test: Sequences, classes, enc: Encoding, run_dir: Path, train_labels) -> dict:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[v] for v in test.labels])
        pred = self.predict_labels(model, test.series, enc)
        rep = classification_report(y, pred, classes)
        majority = majority_class(list(train_labels))
        base = float((y == index[majority]).mean())
        info = read_json(run_dir / "classes.json")
        write_json(run_dir / "classes.json", {**info, "report": rep})
        plot_confusion(run_dir / "confusion.png", rep["confusion"], classes,
                       f"{Path(test.source).stem}: accuracy {rep['accuracy']:.3f}, macro-F1 {rep['macro_f1']:.3f}")
        return {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "baseline_majority_accuracy": base,
                "test_series": len(test)}

    def load_config(self, run_dir: str | Path) -> ClassifyConfig:
        cfg = super().load_config(run_dir)
        raw = read_run_config(run_dir, self.name)["config"]
        # runs from before the convolutional front end / ensembles had none
        if "conv" not in raw:
            cfg = dataclasses.replace(cfg, conv=[], conv_kernels=[])
        if "ensemble" not in raw:
            cfg = dataclasses.replace(cfg, ensemble=1)
        return cfg

    def load(self, run_dir: Path) -> LoadedRun:
        """The run's config, class names, input encoding (from classes.json: what the
        network was trained on) and trained model."""
        cfg = self.load_config(run_dir)
        info = read_json(run_dir / "classes.json", "class list (classes.json)")
        enc = Encoding.from_json(info)
        model = self.trained(run_dir, lambda: self.build(cfg, enc.input_size, len(info["classes"])))
        return LoadedRun(cfg, model, classes=info["classes"], encoding=enc,
                         unpacks_as=("config", "classes", "encoding", "model"))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, classes, enc, model = self.load(run_dir)
        train, test = self.splits(cfg)
        if test is None:
            raise InputError(f"{run_dir}: this run has no test set (test: none); evaluate it on labelled data with "
                             "'rnnlab classify predict' or SequenceClassifier.score")
        return self._evaluate(model, test, classes, enc, run_dir, train.labels)

    def export(self, run_dir: Path, out: Path | None = None):
        """The model with its input encoding as an ONNX graph: ``series (batch, time,
        channels)`` of one length, raw values -> ``probabilities (batch, classes)`` in the
        order of ``classes.json``; checked against onnxruntime."""
        from ..export import to_onnx

        cfg, classes, enc, model = self.load(run_dir)
        if cfg.model == "transformer":  # the TorchScript exporter fixes attention's batch × heads reshape
            raise InputError(f"{run_dir}: ONNX export is for the recurrent classifiers; the Transformer's "
                             "attention does not export with a free batch size. Use the run from Python "
                             "(rnnlab.load(RUN_DIR)) or 'rnnlab classify predict'")
        graph = RawSeriesClassifier(enc, model)
        g = torch.Generator().manual_seed(0)
        example = [torch.randn(2, 3 * enc.frame + 5, enc.channels, generator=g)]
        check = [torch.randn(3, 5 * enc.frame + 2, enc.channels, generator=g)]
        dyn = {"series": {0: "batch", 1: "time"}, "probabilities": {0: "batch"}}
        return to_onnx(graph, example, out or run_dir / "model.onnx", ["series"], ["probabilities"], dyn, check=check)

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("export")
        def export(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab classify train'."),
                   out: Path = typer.Option(None, "--out", help="The .onnx file (default: RUN/model.onnx).")):
            """Write the model, input encoding included, as an ONNX graph for onnxruntime: raw series
            (batch, time, channels; one length per batch) in, class probabilities out."""
            r = guarded(lambda: self.export(run_dir, out))
            typer.echo(f"{r.summary()}; class order: {run_dir / 'classes.json'}")

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab classify train'."),
                    data: str = typer.Option(..., "--data", help="Sequences to label (any format train reads; "
                                             "labels in the file are ignored).")):
            """Print one predicted label per sequence (index<TAB>label)."""

            def run():
                cfg, classes, enc, model = self.load(run_dir)
                seqs = load_sequences(data, "TRAIN")
                if seqs.channels != enc.channels:
                    raise InputError(f"{seqs.source}: {seqs.channels} channels, the model expects {enc.channels}")
                pred = self.predict_labels(model, seqs.series, enc)
                return "".join(f"{i}\t{classes[p]}\n" for i, p in enumerate(pred))

            sys.stdout.write(guarded(run))


APP = ClassifyApp()
