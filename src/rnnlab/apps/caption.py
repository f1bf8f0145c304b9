"""``rnnlab caption``: image captioning, vector→sequence (Vinyals et al. 2015, Show and Tell).

A convolutional :class:`~rnnlab.models.ImageEncoder` turns the image into a vector; a
:class:`~rnnlab.models.VecToSeq` LSTM starts from it (initial state) and reads it at every
step, emitting the caption word by word; beam search decodes. Every (image, caption)
pair is a training example, so an image with several references teaches all of them.

With ``--set attention=additive`` (or ``dot``, ``general``) it is Xu et al.'s (2015) Show,
Attend and Tell instead: the decoder of :class:`~rnnlab.models.EncoderDecoder` reads the
CNN's last feature map as a memory of ``h × w`` positions (each with its normalised x, y
appended, so a context vector says where it came from) and attends to it at every word;
``attention.png`` shows where it looked for each word.

Held-out metrics on a test split of images: corpus BLEU against all of an image's
references (sacrebleu), and the fraction of images whose caption equals one of them,
against the baseline that gives every image the training set's most frequent caption.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..cells import cell_names
from ..data.images import Captioned, WordVocab, load_captions, read_image
from ..errors import InputError
from ..files import atomic_write
from ..models import ImageCaptioner
from ..report import save_figure
from ..training import TensorBatches, TrainConfig, Trainer
from ..training.config import check_choices, check_positive
from .base import App, LoadedRun, RunContext

__all__ = ["CaptionConfig", "CaptionApp", "Captioner", "APP"]

PAD, BOS, EOS = 0, 1, 2


@dataclass
class CaptionConfig:
    """data: "shapes" (embedded, generated; ``images`` of them) or a directory of images
    with ``captions.tsv``. image_size: images are resized to this square. Encoder:
    ``channels`` per convolutional block, ``pooling`` of the last feature map (flatten:
    keeps where things are; average), ``vector_size``. attention: None (Show and Tell:
    the image as one vector) or additive | dot | general (Show, Attend and Tell: attend
    to the feature map's positions; ``pooling`` and ``vector_size`` then unused). Decoder: ``cell`` with
    ``hidden_size`` units over ``num_layers``, word embeddings of ``embed_size``,
    dropout. min_count: rarer words become <unk>. max_len: longest caption generated
    (words). beam_size: 1 = greedy. val_fraction / test_fraction: images held out for
    model selection and for the final metrics."""

    data: str = "shapes"
    images: int = 6000
    image_size: int = 32
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    pooling: str = "flatten"
    vector_size: int = 256
    attention: str | None = None
    cell: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 1
    embed_size: int = 64
    dropout: float = 0.1
    min_count: int = 1
    max_len: int = 24
    beam_size: int = 3
    batch_size: int = 64
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15, lr=2e-3, clip_norm=5.0,
                                                                   schedule="cosine", log_every=50))

    def __post_init__(self) -> None:
        check_choices(self, cell=cell_names(), pooling=("flatten", "average"),
                      attention=(None, "additive", "dot", "general"))
        check_positive(self, "images", "image_size", "vector_size", "hidden_size", "num_layers", "embed_size",
                       "min_count", "max_len", "beam_size", "batch_size")
        if self.image_size < 2 ** len(self.channels):
            raise ValueError(f"image_size: {self.image_size} is too small for {len(self.channels)} pooling blocks "
                             f"(needs >= {2 ** len(self.channels)})")
        if not (0 < self.val_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            raise ValueError("val_fraction, test_fraction: each must be in (0, 0.5)")


def Captioner(cfg: CaptionConfig, vocab_size: int) -> ImageCaptioner:
    """The run's network (:class:`~rnnlab.models.ImageCaptioner`) from its config."""
    return ImageCaptioner(vocab_size, cfg.channels, cfg.vector_size, cfg.image_size, cfg.pooling, cfg.attention,
                          cfg.embed_size, cfg.hidden_size, cfg.cell, cfg.num_layers, cfg.dropout, PAD, BOS, EOS)


def split_items(items: list[Captioned], cfg: CaptionConfig) -> tuple[list, list, list]:
    """Train / validation / test images, shuffled by the seed."""
    order = list(range(len(items)))
    random.Random(cfg.train.seed).shuffle(order)
    n_val = max(1, int(len(items) * cfg.val_fraction))
    n_test = max(1, int(len(items) * cfg.test_fraction))
    if len(items) - n_val - n_test < 1:
        raise InputError(f"{cfg.data}: {len(items)} images are too few to split into training, validation and test")
    pick = lambda idx: [items[i] for i in idx]  # noqa: E731
    return pick(order[n_val + n_test:]), pick(order[:n_val]), pick(order[n_val:n_val + n_test])


def pairs(items: list[Captioned], vocab: WordVocab) -> tuple[Tensor, Tensor, Tensor]:
    """One row per (image, caption): images ``(N, 3, S, S)``, decoder inputs and targets
    ``(N, L)`` (``<s>`` + words, words + ``</s>``; ``<pad>`` after)."""
    imgs, seqs = [], []
    for it in items:
        for c in it.captions:
            imgs.append(it.image)
            seqs.append(vocab.encode(c))
    L = max(len(s) for s in seqs) + 1
    tgt_in = torch.full((len(seqs), L), PAD, dtype=torch.long)
    tgt_out = torch.full((len(seqs), L), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        tgt_in[i, :len(s) + 1] = torch.tensor([BOS, *s])
        tgt_out[i, :len(s) + 1] = torch.tensor([*s, EOS])
    return torch.from_numpy(np.stack(imgs)), tgt_in, tgt_out


def caption_images(model: Captioner, images: Tensor, vocab: WordVocab, max_len: int, beam_size: int,
                   batch_size: int = 128) -> list[str]:
    out = []
    for b in range(0, len(images), batch_size):
        res = model.generate(images[b:b + batch_size], max_len, beam_size)
        for j in range(res.tokens.shape[0]):
            toks = res.tokens[j, :int(res.lengths[j])].tolist()
            out.append(vocab.decode([t for t in toks if t != EOS]))
    return out


def caption_scores(hyps: list[str], refs: list[list[str]]) -> dict[str, float]:
    """Corpus BLEU against every reference of each image, and exact matches."""
    import sacrebleu

    k = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else r[0] for r in refs] for i in range(k)]  # sacrebleu: k aligned streams
    bleu = sacrebleu.metrics.BLEU()
    return {"bleu": bleu.corpus_score(hyps, streams).score,
            "exact": float(np.mean([h in set(r) for h, r in zip(hyps, refs)]))}


class CaptionApp(App):
    name = "caption"
    help = "Image captioning, vector→sequence (Show and Tell): a CNN's vector starts an LSTM that writes the caption."
    summary = "CNN encoder + LSTM decoder (vector→sequence) captioning generated shape images"
    Config = CaptionConfig

    quick = {
        "images": 3000, "channels": [16, 32, 64], "vector_size": 128, "hidden_size": 128, "embed_size": 32,
        "train.epochs": 12, "train.lr": 0.003, "train.log_every": 20
    }

    def _data(self, cfg: CaptionConfig, run_dir: Path, create: bool):
        items, desc = load_captions(cfg.data, cfg.images, cfg.train.seed, cfg.image_size)
        train, val, test = split_items(items, cfg)
        vocab_path = run_dir / "vocab.json"
        if create and not vocab_path.exists():
            atomic_write(vocab_path, WordVocab.build([c for it in train for c in it.captions], cfg.min_count).to_json())
        vocab = WordVocab.read(vocab_path)
        return train, val, test, vocab, desc

    def fit(self, cfg: CaptionConfig, ctx: RunContext) -> dict[str, float]:
        train, val, test, vocab, desc = self._data(cfg, ctx.run_dir, create=True)
        ctx.log(f"caption: {desc}; {len(train)} training / {len(val)} validation / {len(test)} test images, "
                f"{sum(len(it.captions) for it in train)} training captions, {len(vocab)} words")
        torch.manual_seed(cfg.train.seed)
        model = Captioner(cfg, len(vocab))
        tr_img, tr_in, tr_out = pairs(train, vocab)
        va_img, va_in, va_out = pairs(val, vocab)
        loss = nn.CrossEntropyLoss(ignore_index=PAD)

        def loss_fn(m, batch):
            img, t_in, t_out = batch
            logits = m(img, t_in)
            return loss(logits.reshape(-1, logits.shape[-1]), t_out.reshape(-1))

        def evaluate(m):
            total = 0.0
            for b in range(0, len(va_img), 256):
                logits = m(va_img[b:b + 256], va_in[b:b + 256])
                total += float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                           va_out[b:b + 256].reshape(-1), ignore_index=PAD,
                                                           reduction="sum"))
            return {"val_loss": total / int((va_out != PAD).sum())}

        Trainer(model, loss_fn, cfg.train, run_dir=ctx.run_dir, evaluate_fn=evaluate, verbose=ctx.verbose).fit(
            TensorBatches(tr_img, tr_in, tr_out, batch_size=cfg.batch_size, seed=cfg.train.seed), resume=ctx.resume)
        return self._metrics(model.eval(), train, test, vocab, cfg, ctx.run_dir)

    def _metrics(self, model, train, test, vocab, cfg, run_dir: Path) -> dict[str, float]:
        images = torch.from_numpy(np.stack([it.image for it in test]))
        hyps = caption_images(model, images, vocab, cfg.max_len, cfg.beam_size)
        refs = [it.captions for it in test]
        ours = caption_scores(hyps, refs)
        common = Counter(c for it in train for c in it.captions).most_common(1)[0][0]
        base = caption_scores([common] * len(test), refs)
        self._plot_examples(run_dir / "examples.png", test[:8], hyps[:8])
        if model.attend:
            self._plot_attention(run_dir / "attention.png", model, images[:1], vocab, cfg)
        return {"test_bleu": ours["bleu"], "test_exact": ours["exact"], "baseline_most_frequent_bleu": base["bleu"],
                "baseline_most_frequent_exact": base["exact"], "test_images": len(test)}

    @staticmethod
    def _plot_examples(path: Path, items: list[Captioned], hyps: list[str]) -> None:
        from ..report import pyplot

        plt = pyplot()

        cols = min(4, len(items))
        rows = -(-len(items) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, it, h in zip(axes.flat, items, hyps):
            ax.imshow(it.image.transpose(1, 2, 0))
            mark = "" if h in it.captions else "  ✗"
            ax.set_title(f"{h}{mark}\nref: {it.captions[0]}", fontsize=6)
        fig.tight_layout()
        save_figure(fig, path)

    @staticmethod
    def _plot_attention(path: Path, model: Captioner, image: Tensor, vocab: WordVocab, cfg: CaptionConfig) -> None:
        """The image, then for each generated word where the decoder looked (its weights
        over the feature map, scaled up to the image)."""
        from ..report import pyplot

        plt = pyplot()

        res = model.generate(image, cfg.max_len, cfg.beam_size)
        n = int(res.lengths[0])
        words = [vocab.itos[int(t)] if int(t) != EOS else "</s>" for t in res.tokens[0, :n]]
        side = cfg.image_size // 2 ** len(cfg.channels)
        weights = res.extras[0, :n].reshape(n, side, side).numpy()
        fig, axes = plt.subplots(1, n + 1, figsize=(1.6 * (n + 1), 1.9), squeeze=False)
        picture = image[0].numpy().transpose(1, 2, 0)
        extent = (0, cfg.image_size, cfg.image_size, 0)
        axes[0, 0].imshow(picture)
        axes[0, 0].set_title("image", fontsize=7)
        for ax, word, wt in zip(axes[0, 1:], words, weights):
            ax.imshow(picture, extent=extent)
            ax.imshow(wt, cmap="gray", alpha=0.7, extent=extent, interpolation="bilinear")
            ax.set_title(word, fontsize=7)
        for ax in axes.flat:
            ax.axis("off")
        fig.tight_layout()
        save_figure(fig, path)

    def load(self, run_dir: Path) -> LoadedRun:
        cfg = self.load_config(run_dir)
        vocab = WordVocab.read(run_dir / "vocab.json")
        return LoadedRun(cfg, self.trained(run_dir, lambda: Captioner(cfg, len(vocab))), vocab=vocab,
                         unpacks_as=("config", "vocab", "model"))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, vocab, model = self.load(run_dir)
        train, _, test, _, _ = self._data(cfg, run_dir, create=False)
        return self._metrics(model, train, test, vocab, cfg, run_dir)

    def caption(self, run_dir: Path, paths: list[Path], beam_size: int | None = None) -> list[str]:
        """Captions for image files, with the run's model."""
        cfg, vocab, model = self.load(run_dir)
        if not paths:
            raise InputError("give at least one image file")
        for p in paths:
            if not Path(p).is_file():
                raise InputError(f"{p}: no such image file")
        if beam_size is not None and beam_size < 1:
            raise InputError(f"--beam: must be >= 1, got {beam_size}")
        images = torch.from_numpy(np.stack([read_image(Path(p), cfg.image_size) for p in paths]))
        return caption_images(model, images, vocab, cfg.max_len, beam_size or cfg.beam_size)

    def add_commands(self, cli, guarded) -> None:
        import typer

        def run(run_dir: Path, images: list[Path], beam: int) -> None:
            caps = guarded(lambda: self.caption(run_dir, images, beam or None))
            for p, c in zip(images, caps):
                sys.stdout.write(f"{p}\t{c}\n")

        @cli.command("caption")
        def caption(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab caption train'."),
                    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, ...)."),
                    beam: int = typer.Option(0, "--beam", help="Beam size (0: the run's beam_size; 1: greedy).")):
            """Caption image files: one 'file<TAB>caption' line each."""
            run(run_dir, images, beam)

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(...), images: list[Path] = typer.Argument(...),
                    beam: int = typer.Option(0, "--beam")):
            """Same as caption."""
            run(run_dir, images, beam)


APP = CaptionApp()
