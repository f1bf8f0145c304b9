"""``rnnlab textgen``: character- (or subword-) level language models, Karpathy's char-rnn.

Training is stateful truncated BPTT over one continuous stream: the training text (the
first ``1 - val_fraction`` of the corpus) is cut into ``batch_size`` parallel streams;
each batch is the next ``seq_len`` steps of every stream, and the recurrent state is
carried (detached) from batch to batch, so the model sees context far beyond
``seq_len`` while gradients stop at ``seq_len`` steps.

Held-out loss is measured the same way on the last ``val_fraction`` of the corpus (its
first ``eval_tokens`` tokens), in nats and bits per character (and per token and
perplexity for subwords).

Corpora larger than memory: the text is streamed and tokenised once into memory-mapped
token ids (:mod:`rnnlab.data.token_store`, cached beside the data); batches are read from
them as training goes, and with data parallelism each process reads only its own streams. The trivial
baseline is the unigram model (character frequencies of the training text).
Sampling steps the network one token at a time, carrying its state — the priming text
is read once, never re-run.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..cells import cell_names
from ..data.text import CharVocab, TextSource, lines_of, split_text
from ..data.token_store import TokenStore, corpus_stats, token_cache_dir
from ..data.vocab import Vocab, train_bpe
from ..decoding import sample_logits
from ..errors import InputError
from ..files import atomic_write
from ..models import RecurrentBlockLM, SeqToSeq, TransformerLM
from ..models.transformer import TransformerOptions
from ..training import TrainConfig, Trainer, stream_batches
from ..training.batches import StreamBatches
from ..training.config import check_choices
from .base import App, LoadedRun, RunContext

__all__ = ["TextGenConfig", "TextGenApp", "APP"]


@dataclass
class TextGenConfig(TransformerOptions):
    """data: "stdlib" (embedded) or comma-separated text files. max_chars: cap on the
    embedded corpus. encoding / errors: how files are decoded (errors: strict | replace |
    ignore). tokenizer: char | bpe (a byte-level BPE trained offline on the training
    text with the ``tokenizers`` library; ``vocab_size`` tokens). Model: embedding of
    ``embed_size``, ``num_layers`` × ``hidden_size`` cells, dropout, optional weight tying.
    seq_len: truncated-BPTT length; batch_size: parallel streams. eval_tokens: held-out
    tokens scored (the first ones of the held-out part; a 2 GB corpus has far too many
    to score on a CPU after every epoch). model=transformer: a causal
    :class:`~rnnlab.models.TransformerLM` (the Transformer keys; it reads windows of
    ``seq_len`` tokens, independent in training, and carries its key/value cache —
    growing, sliding past ``seq_len``, the positions it was trained on — where the LSTM
    carries its state; ``max_positions`` only bounds ``seq_len``). model=blocks: a
    :class:`~rnnlab.models.RecurrentBlockLM`, ``num_layers`` residual blocks of
    ``hidden_size`` wide (each a causal convolution of ``conv_kernel`` steps, a ``cell``
    layer ``expansion`` times as wide, an MLP), minGRU by default: the parallel-recurrence
    papers' deep stack, trained on the scan backend and carrying its state like the LSTM."""

    data: str = "stdlib"
    max_chars: int = 2_000_000
    encoding: str = "utf-8"
    errors: str = "strict"
    tokenizer: str = "char"
    vocab_size: int = 2000
    cell: str = "lstm"
    embed_size: int = 128
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2
    tie_weights: bool = False
    seq_len: int = 128
    batch_size: int = 64
    val_fraction: float = 0.1
    eval_tokens: int = 2_000_000
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, lr=2e-3, clip_norm=1.0,
                                                                   schedule="cosine", stateful=True, log_every=100))
    transformer_layers: int = 4
    max_positions: int = 1024
    expansion: float = 1.5
    conv_kernel: int = 4

    def __post_init__(self) -> None:
        check_choices(self, tokenizer=("char", "bpe"), errors=("strict", "replace", "ignore"),
                      cell=cell_names())
        self.check_transformer(self.seq_len, "seq_len", models=("rnn", "transformer", "blocks"))
        if self.expansion <= 0 or self.conv_kernel < 0:
            raise ValueError(f"expansion / conv_kernel: need expansion > 0 and conv_kernel >= 0 (0: none), got "
                             f"{self.expansion} / {self.conv_kernel}")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction: must be in (0, 0.5), got {self.val_fraction}")
        if self.eval_tokens < 2:
            raise ValueError(f"eval_tokens: must be >= 2, got {self.eval_tokens}")


def build_model(cfg: TextGenConfig, vocab_size: int) -> SeqToSeq | TransformerLM | RecurrentBlockLM:
    if cfg.model == "transformer":
        # trained on windows of seq_len, it has only ever seen positions 0..seq_len-1: built
        # with more, evaluation and sampling would read positions it never learned (its
        # cache slides instead, keeping the context within what it was trained on)
        return TransformerLM(vocab_size, **{**cfg.transformer_sizes(cfg.dropout), "max_positions": cfg.seq_len})
    if cfg.model == "blocks":
        return RecurrentBlockLM(vocab_size, cfg.hidden_size, cfg.num_layers, cfg.cell, expansion=cfg.expansion,
                                conv_kernel=cfg.conv_kernel, dropout=cfg.dropout, tie_weights=cfg.tie_weights)
    embed = cfg.hidden_size if cfg.tie_weights else cfg.embed_size
    return SeqToSeq(embed, vocab_size, cfg.hidden_size, cfg.cell, num_layers=cfg.num_layers, dropout=cfg.dropout,
                    num_embeddings=vocab_size, tie_weights=cfg.tie_weights)


def stream_loss(model: nn.Module, ids: Tensor, chunk: int, streams: int = 16) -> float:
    """Mean cross-entropy (nats per token) over a token stream, read as ``streams``
    parallel slices with the state carried from chunk to chunk."""
    if ids.numel() < 3:
        raise InputError(f"the validation text has {ids.numel()} tokens; give a longer text")
    streams = max(1, min(streams, (ids.numel() - 1) // (2 * chunk)))
    x, y = stream_batches(ids, streams, chunk)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for s in range(0, x.shape[1], chunk):
            logits, state = model(x[:, s:s + chunk], state)
            total += float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                       y[:, s:s + chunk].reshape(-1), reduction="sum"))
            count += y[:, s:s + chunk].numel()
    return total / count


def unigram_nats(ids: Tensor, train_counts: np.ndarray) -> float:
    """Cross-entropy of ``ids`` under the (add-one smoothed) training token frequencies."""
    counts = torch.from_numpy(train_counts).double() + 1
    logp = torch.log(counts / counts.sum())
    return float(-logp[ids].mean())


class TextGenApp(App):
    name = "textgen"
    help = "Character- or subword-level language model: train on text, then sample from it."
    summary = "char-level LSTM language model on the Python standard library's source"
    Config = TextGenConfig

    quick = {
        "max_chars": 400000, "embed_size": 64, "hidden_size": 256, "num_layers": 1, "dropout": 0.0, "seq_len": 64,
        "batch_size": 32, "train.epochs": 4, "train.lr": 0.004, "train.schedule": "none", "train.log_every": 50
    }
    # the Transformer's own: warm-up, and a lower peak than the LSTM's (quick: ~1.3 nats/char in ~100 s)
    # the blocks' (minGRU paper's language model): its cell, pre-norm residual blocks, a warm-up
    family_defaults = {"transformer": {"train.lr": 1e-3, "train.warmup_steps": 400},
                       "blocks": {"cell": "mingru", "num_layers": 3, "hidden_size": 384, "dropout": 0.1,
                                  "tie_weights": True, "train.lr": 2e-3, "train.warmup_steps": 200}}
    family_quick = {"transformer": {"d_model": 128, "transformer_layers": 3, "ff_size": 512, "train.lr": 2e-3,
                                    "train.warmup_steps": 100, "train.schedule": "cosine", "train.epochs": 6},
                    "blocks": {"hidden_size": 128, "num_layers": 2, "dropout": 0.0, "train.warmup_steps": 50}}

    def _data(self, cfg: TextGenConfig, run_dir: Path, create: bool, log=lambda m: None):
        """(vocabulary, token store, description): the corpus streamed once into cached token ids."""
        source = TextSource(cfg.data, cfg.max_chars, cfg.encoding, cfg.errors)
        cache = token_cache_dir(source.paths, run_dir)
        stats = corpus_stats(source, cache, log)
        vocab_path = run_dir / "vocab.json"
        if create and not vocab_path.exists():
            if cfg.tokenizer == "char":
                vocab = CharVocab(stats.chars)
            else:  # trained on the training part only, streamed line by line
                train_part = (piece for part, piece in split_text(source.pieces(), self._cut(cfg, stats.total))
                              if part == 0)
                vocab = Vocab("bpe", tokenizer=train_bpe(lines_of(train_part), cfg.vocab_size, byte_level=True))
            atomic_write(vocab_path, vocab.to_json())
        vocab = Vocab.read(vocab_path)
        store = TokenStore.open(source, vocab_path.read_text(encoding="utf-8"), len(vocab), vocab.encode_array,
                                cfg.val_fraction, stats, cache, log)
        return vocab, store, source.describe(stats.total)

    @staticmethod
    def _cut(cfg: TextGenConfig, total_chars: int) -> int:
        return int(total_chars * (1 - cfg.val_fraction))

    @staticmethod
    def _val_ids(cfg: TextGenConfig, store: TokenStore) -> Tensor:
        return torch.from_numpy(store.val.read(0, min(len(store.val), cfg.eval_tokens)))

    def fit(self, cfg: TextGenConfig, ctx: RunContext) -> dict[str, float]:
        from ..training.distributed import rank, world_size

        vocab, store, desc = self._data(cfg, ctx.run_dir, create=True, log=ctx.log)
        val_ids = self._val_ids(cfg, store)
        ctx.log(f"textgen: {desc}; vocabulary {len(vocab)} {cfg.tokenizer} tokens; {len(store.train):,} training "
                f"/ {len(store.val):,} validation tokens (scoring {len(val_ids):,})")
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg, len(vocab))
        batches = StreamBatches(store.train, cfg.batch_size, cfg.seq_len, rank(), world_size())

        def loss_fn(m, batch, state=None):
            xb, yb = batch
            logits, state = m(xb, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
            return loss if transformer else (loss, state)

        def evaluate(m):
            return {"val_loss": stream_loss(m, val_ids, cfg.seq_len)}

        # the LSTM carries its state from window to window (truncated BPTT); the
        # Transformer reads each window on its own (its cache carries no gradient)
        transformer = cfg.model == "transformer"
        train_cfg = dataclasses.replace(cfg.train, stateful=not transformer, tbptt_steps=None if transformer
                                        else cfg.train.tbptt_steps)
        Trainer(model, loss_fn, train_cfg, run_dir=ctx.run_dir, evaluate_fn=evaluate,
                verbose=ctx.verbose).fit(batches, resume=ctx.resume)
        return self._metrics(model, vocab, store, val_ids, cfg)

    def _metrics(self, model, vocab, store: TokenStore, val_ids: Tensor, cfg) -> dict[str, float]:
        model.eval()
        nats_tok = stream_loss(model, val_ids, cfg.seq_len)
        base_tok = unigram_nats(val_ids, store.train.counts(len(vocab)))
        if len(val_ids) == len(store.val):
            chars = store.val_chars
        else:  # a prefix of the held-out part: its characters (one each for a char vocabulary)
            chars = len(val_ids) if cfg.tokenizer == "char" else len(vocab.decode(val_ids.tolist()))
        per_char = len(val_ids) / max(chars, 1)  # tokens per character
        m = {"val_nats_per_char": nats_tok * per_char, "val_bits_per_char": nats_tok * per_char / math.log(2),
             "baseline_unigram_nats_per_char": base_tok * per_char,
             "baseline_unigram_bits_per_char": base_tok * per_char / math.log(2)}
        if cfg.tokenizer == "bpe":
            m.update({"val_nats_per_token": nats_tok, "val_perplexity": math.exp(nats_tok),
                      "baseline_unigram_perplexity": math.exp(base_tok)})
        return m

    def load(self, run_dir: Path) -> LoadedRun:
        cfg = self.load_config(run_dir)
        vocab = Vocab.read(run_dir / "vocab.json")
        model = self.trained(run_dir, lambda: build_model(cfg, len(vocab)))
        return LoadedRun(cfg, model, vocab=vocab, unpacks_as=("config", "vocab", "model"))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, vocab, model = self.load(run_dir)
        _, store, _ = self._data(cfg, run_dir, create=False)
        return self._metrics(model, vocab, store, self._val_ids(cfg, store), cfg)

    def sample(self, run_dir: Path, prime: str = "\n", length: int = 500, temperature: float = 0.8,
               top_k: int | None = None, seed: int = 0, stream=None) -> str:
        """Generate ``length`` tokens after ``prime``; write each piece to ``stream`` as it comes."""
        cfg, vocab, model = self.load(run_dir)
        if not prime:
            raise InputError("--prime: give at least one character")
        missing = vocab.unknown(prime)
        if missing:
            raise InputError(f"--prime: these characters are not in the model's vocabulary: {missing!r}")
        if temperature < 0 or length < 0:
            raise InputError("--temperature and --length must be >= 0")
        g = torch.Generator().manual_seed(seed)
        ids = vocab.encode(prime)
        out_ids: list[int] = []
        with torch.no_grad():
            logits, state = model(torch.tensor([ids]))  # read the prime once
            last = logits[:, -1]
            prev_text = ""
            for _ in range(length):
                nxt = sample_logits(last, temperature, top_k, g)
                out_ids.append(int(nxt))
                if stream is not None:  # decode incrementally (subwords may merge across tokens)
                    text = vocab.decode(out_ids)
                    stream.write(text[len(prev_text):])
                    stream.flush()
                    prev_text = text
                logits, state = model(nxt.view(1, 1), state)  # one step, state carried
                last = logits[:, -1]
        return vocab.decode(out_ids)

    def export(self, run_dir: Path, out: Path | None = None):
        """The model as an ONNX graph, ``ids (B, T), h0 [, c0] -> logits (B, T, V), h [, c]``
        (``vocab.json`` maps ids to text), checked against onnxruntime."""
        from ..export import export_token_model

        cfg, vocab, model = self.load(run_dir)
        if cfg.model == "transformer":
            raise InputError(f"{run_dir}: export writes a recurrent model's step (ids and state in, logits and "
                             "state out); a Transformer's key/value cache grows with every token, which that "
                             "graph cannot carry")
        if cfg.model == "blocks":
            raise InputError(f"{run_dir}: export writes ONNX's LSTM/GRU/RNN operators; model=blocks has no layer "
                             "they compute")
        return export_token_model(model, model.rnn, out or run_dir / "model.onnx", len(vocab))

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("sample")
        def sample(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab textgen train'."),
                   prime: str = typer.Option("\n", "--prime", help="Text to start from."),
                   length: int = typer.Option(500, "--length", help="Tokens to generate."),
                   temperature: float = typer.Option(0.8, "--temperature", help="0 = greedy; higher = wilder."),
                   top_k: int = typer.Option(0, "--top-k", help="Sample among the k most likely (0 = all)."),
                   seed: int = typer.Option(0, "--seed")):
            """Generate text, streamed to the terminal as it is produced."""
            sys.stdout.write(prime)
            guarded(lambda: self.sample(run_dir, prime, length, temperature, top_k or None, seed, sys.stdout))
            sys.stdout.write("\n")

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(...),
                    prime: str = typer.Option("\n", "--prime"),
                    length: int = typer.Option(200, "--length"),
                    seed: int = typer.Option(0, "--seed")):
            """Same as sample, greedy by default (temperature 0)."""
            typer.echo(prime + guarded(lambda: self.sample(run_dir, prime, length, 0.0, None, seed)))

        @cli.command("export")
        def export(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab textgen train'."),
                   out: Path = typer.Option(None, "--out", help="The .onnx file (default: RUN/model.onnx).")):
            """Write the model as an ONNX graph for onnxruntime: ids (batch, time) and the state in,
            logits and the next state out (feed it back to generate step by step)."""
            r = guarded(lambda: self.export(run_dir, out))
            typer.echo(f"{r.summary()}; token ids: {run_dir / 'vocab.json'}")


APP = TextGenApp()
