"""``rnnlab lab successor``: the Transformer beside the recurrent networks, measured — and
the recurrences that answered it, trained in parallel over time.

The survey closes by naming the Transformer as attention's successor; its sequel
(minGRU / minLSTM, Feng et al. 2024; the LRU, Orvieto et al. 2023) brings back recurrences
linear in their state, which train with a scan over time yet generate with a state of
fixed size. Three families — the LSTM, the Transformer and a minGRU block stack
(:class:`~rnnlab.models.RecurrentBlockLM`, sized to the LSTM's parameter count) — and
three measurements of where each wins, on this machine:

1. **Generation cost against context length.** A language model writes one token at a
   time (batch 1) after a context of C tokens. The LSTM carries a state of fixed size,
   so a token costs the same at any C; the Transformer keeps every token's keys and
   values (its cache) and attends over all of them, so a token costs more as C grows,
   and the cache grows by ``2 × layers × d_model`` numbers a token. Milliseconds per
   token (median over ``repeats`` rounds, the two models timed alternately) and bytes
   held per sequence, at each context; where the Transformer's line crosses the LSTM's
   (a straight-line fit of its cost against C) is the context beyond which the
   recurrent state is cheaper. The models are untrained: cost does not depend on the
   weights' values.
2. **Training throughput against window length, on the same data.** Tokens per second of
   a training step (forward, backward, Adam) on windows of ``seq_lens`` characters of the
   embedded corpus (the Python standard library's source), the same tokens per step at
   every length, for the LSTM, a Transformer whose feed-forward width gives it the LSTM's
   parameter count, and the minGRU stack.
3. **The reversal task** of ``rnnlab lab attention`` with the Transformer added: a GRU
   encoder-decoder without attention, with additive attention, and a Transformer, at
   growing lengths.

Writes ``successor.md`` (the three tables), ``generation.png``, ``results.json``,
``metrics.json`` and ``reversal/`` (the attention lab's files, ``attention.png`` its plot)
in the output directory.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import atomic_write, write_json
from ..models import RecurrentBlockLM, SeqToSeq, TransformerLM
from ..report import save_figure
from ..tasks.reversal import AttentionLabConfig, sweep
from ..tasks.reversal import table_markdown as reversal_table
from ..training.config import check_positive

__all__ = ["SuccessorLabConfig", "QUICK", "generation_cost", "training_throughput", "run"]


@dataclass
class SuccessorLabConfig:
    """contexts: the context lengths of the generation measurement; generated: tokens
    timed at each; repeats: rounds (the median is reported). LSTM language model:
    ``lstm_layers`` × ``hidden_size``; Transformer: ``transformer_layers`` of ``d_model``
    with ``heads`` (its feed-forward width chosen to match the LSTM's parameters); minGRU:
    ``blocks`` residual blocks, their width chosen likewise. vocab_size: tokens of the
    generation models. throughput_steps / batch_size × seq_len tokens a step / seq_lens:
    the training measurement (at each window length ``batch_size × seq_len / length``
    windows a step). reversal: the attention lab's sweep (its keys)."""

    contexts: list[int] = field(default_factory=lambda: [100, 1000, 10000])
    generated: int = 50
    repeats: int = 3
    vocab_size: int = 96
    embed_size: int = 128
    hidden_size: int = 512
    lstm_layers: int = 2
    d_model: int = 256
    heads: int = 4
    transformer_layers: int = 4
    blocks: int = 2
    throughput_steps: int = 20
    batch_size: int = 32
    seq_len: int = 128
    seq_lens: list[int] = field(default_factory=lambda: [128, 512, 2048])
    seed: int = 0
    reversal: AttentionLabConfig = field(default_factory=lambda: AttentionLabConfig(
        lengths=[5, 10, 20, 40], models=["none", "additive", "transformer"]))

    def __post_init__(self) -> None:
        if not self.contexts or min(self.contexts) < 1:
            raise ValueError("contexts: give one or more context lengths >= 1")
        if not self.seq_lens or min(self.seq_lens) < 2:
            raise ValueError("seq_lens: give one or more window lengths >= 2")
        check_positive(self, "generated", "repeats", "vocab_size", "embed_size", "hidden_size", "lstm_layers",
                       "d_model", "heads", "transformer_layers", "throughput_steps", "batch_size", "seq_len", "blocks")
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} does not divide into heads={self.heads}")


#: ``--quick``: smaller models and sweeps, the same three measurements (about two minutes)
QUICK = dict(generated=20, repeats=2, hidden_size=256, d_model=128, transformer_layers=2, throughput_steps=6,
             batch_size=16, seq_lens=[128, 512],
             reversal=AttentionLabConfig(lengths=[5, 10, 20], models=["none", "additive", "transformer"], steps=600))


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


FAMILIES = ("lstm", "transformer", "mingru")
NAMES = {"lstm": "LSTM", "transformer": "Transformer", "mingru": "minGRU blocks"}


def build_models(cfg: SuccessorLabConfig, max_positions: int) -> dict[str, nn.Module]:
    """The LSTM language model, the Transformer whose feed-forward width gives it the
    LSTM's parameter count (to the nearest 32) and the minGRU block stack whose width does
    (to the nearest 16), by family name."""
    torch.manual_seed(cfg.seed)
    lstm = SeqToSeq(cfg.embed_size, cfg.vocab_size, cfg.hidden_size, "lstm", num_layers=cfg.lstm_layers,
                    num_embeddings=cfg.vocab_size)
    target = _params(lstm)

    def transformer(ff: int) -> TransformerLM:
        torch.manual_seed(cfg.seed)
        return TransformerLM(cfg.vocab_size, cfg.d_model, cfg.heads, cfg.transformer_layers, ff, dropout=0.0,
                             max_positions=max_positions)

    def blocks(width: int) -> RecurrentBlockLM:
        torch.manual_seed(cfg.seed)
        return RecurrentBlockLM(cfg.vocab_size, width, cfg.blocks, "mingru")

    per_unit = _params(transformer(33)) - _params(transformer(32))  # parameters per feed-forward unit
    ff = max(32, int(round((target - _params(transformer(32))) / per_unit / 32)) * 32 + 32)
    # a block stack's parameters are a quadratic in its width: fit it on three small widths
    quad = np.polyfit([16, 32, 48], [_params(blocks(w)) for w in (16, 32, 48)], 2)
    width = min(range(16, 8193, 16), key=lambda w: abs(np.polyval(quad, w) - target))
    return {"lstm": lstm, "transformer": transformer(ff), "mingru": blocks(width)}


def _nbytes(state) -> int:
    """Bytes of a (nested) state: what says its own (``nbytes``: a tensor, the Transformer's
    key/value cache), or tuples of them."""
    if hasattr(state, "nbytes"):
        return int(state.nbytes)
    return sum(_nbytes(s) for s in state)


@torch.no_grad()
def _time_generation(model: nn.Module, context: torch.Tensor, generated: int) -> tuple[float, int]:
    """(seconds per generated token, bytes of state held) after reading ``context`` (1, C)."""
    state = None
    for start in range(0, context.shape[1], 512):  # read the context in pieces, carrying the state
        logits, state = model(context[:, start:start + 512], state)
    token = logits[:, -1:].argmax(-1)
    t0 = time.perf_counter()
    for _ in range(generated):
        logits, state = model(token, state)
        token = logits[:, -1:].argmax(-1)
    seconds = (time.perf_counter() - t0) / generated
    return seconds, _nbytes(state)


def generation_cost(cfg: SuccessorLabConfig, log=print) -> dict:
    """Rows ``{context, <family>_ms, <family>_bytes}`` and the crossover context of the
    Transformer with the LSTM (None if the Transformer is never slower within the fit)."""
    models = build_models(cfg, max(cfg.contexts) + cfg.generated + 1)
    g = torch.Generator().manual_seed(cfg.seed)
    # the first calls of a model pay one-off costs (allocator growth, kernel selection);
    # left in, they made the LSTM's first context look several times slower than its others
    for model in models.values():
        model.eval()
        _time_generation(model, torch.randint(0, cfg.vocab_size, (1, 16), generator=g), 5)
    rows = []
    for C in cfg.contexts:
        context = torch.randint(0, cfg.vocab_size, (1, C), generator=g)
        times: dict[str, list[float]] = {k: [] for k in models}
        held = {}
        for _ in range(cfg.repeats):  # round-robin, so every family sees the same machine
            for name, model in models.items():
                s, held[name] = _time_generation(model, context, cfg.generated)
                times[name].append(s)
        row = {"context": C, **{f"{k}_ms": 1000 * float(np.median(v)) for k, v in times.items()},
               **{f"{k}_bytes": int(v) for k, v in held.items()}}
        log(f"context {C:>6}: " + ", ".join(f"{NAMES[k]} {row[f'{k}_ms']:.2f} ms/token ({row[f'{k}_bytes']:,} B)"
                                            for k in models))
        rows.append(row)
    crossover = None
    if len(rows) >= 2:
        slope, intercept = np.polyfit([r["context"] for r in rows], [r["transformer_ms"] for r in rows], 1)
        lstm_ms = float(np.median([r["lstm_ms"] for r in rows]))
        if slope > 0:
            crossover = max(0.0, (lstm_ms - intercept) / slope)
    return {"rows": rows, "crossover_context": crossover,
            **{f"{k}_parameters": _params(m) for k, m in models.items()}}


def training_throughput(cfg: SuccessorLabConfig, log=print) -> dict:
    """Training tokens per second of each family on windows of the embedded corpus, at
    each window length of ``seq_lens`` (``batch_size × seq_len`` tokens a step)."""
    from ..data.text import CharVocab, stdlib_corpus

    text, _ = stdlib_corpus(400_000)
    vocab = CharVocab.build(text)
    ids = torch.from_numpy(vocab.encode_array(text))
    sized = dataclasses.replace(cfg, vocab_size=len(vocab))
    models = build_models(sized, max(cfg.seq_lens))
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    g = torch.Generator().manual_seed(cfg.seed)
    rows = []
    for L in cfg.seq_lens:
        batch = max(1, cfg.batch_size * cfg.seq_len // L)
        seconds = {k: 0.0 for k in models}
        for step in range(cfg.throughput_steps + 1):  # the first step of each warms up and is not counted
            starts = torch.randint(0, len(ids) - L - 1, (batch,), generator=g)
            x = torch.stack([ids[s:s + L] for s in starts])
            y = torch.stack([ids[s + 1:s + L + 1] for s in starts])
            for name, model in models.items():
                model.train()
                t0 = time.perf_counter()
                logits, _ = model(x)
                loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                opts[name].zero_grad()
                loss.backward()
                opts[name].step()
                if step:
                    seconds[name] += time.perf_counter() - t0
        tokens = cfg.throughput_steps * batch * L
        rows.append({"seq_len": L, "batch": batch, **{f"{k}_tokens_per_s": tokens / s for k, s in seconds.items()}})
        log(f"training, windows of {L}: " + ", ".join(f"{NAMES[k]} {rows[-1][f'{k}_tokens_per_s']:,.0f} tokens/s"
                                                        for k in models))
    out: dict = {"rows": rows, **{f"{k}_parameters": _params(m) for k, m in models.items()}}
    out.update({f"{k}_tokens_per_s": rows[0][f"{k}_tokens_per_s"] for k in models})  # at the first length
    return out


def plot_generation(path: Path, gen: dict) -> None:
    from ..report import pyplot

    plt = pyplot()
    rows = gen["rows"]
    C = [r["context"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(C, [r["lstm_ms"] for r in rows], marker="o", label="LSTM (state carried)")
    axes[0].plot(C, [r["transformer_ms"] for r in rows], marker="o", label="Transformer (key/value cache)")
    axes[0].plot(C, [r["mingru_ms"] for r in rows], marker="o", label="minGRU blocks (state carried)")
    if gen["crossover_context"]:
        axes[0].axvline(gen["crossover_context"], color="grey", ls=":", lw=1, label="crossover")
    axes[0].set_ylabel("ms per generated token (batch 1)")
    axes[1].plot(C, [r["lstm_bytes"] / 2**20 for r in rows], marker="o", label="LSTM state")
    axes[1].plot(C, [r["transformer_bytes"] / 2**20 for r in rows], marker="o", label="Transformer cache")
    axes[1].plot(C, [r["mingru_bytes"] / 2**20 for r in rows], marker="o", label="minGRU blocks state")
    axes[1].set_ylabel("MiB held per sequence")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("context (tokens)")
        ax.legend(fontsize=8)
    fig.suptitle("Generating after a long context: a fixed-size state against a growing cache")
    fig.tight_layout()
    save_figure(fig, path)


def crossover_sentence(gen: dict) -> str:
    """Where the LSTM's constant cost per token overtakes the Transformer's growing one, in words."""
    rows, c = gen["rows"], gen["crossover_context"]
    faster = [r["context"] for r in rows if r["lstm_ms"] < r["transformer_ms"]]
    if c is None:
        return "Within these contexts the Transformer's cost per token does not grow."
    head = "The Transformer's cost per token grows with the context; the LSTM's does not. "
    if len(faster) == len(rows) and c < rows[0]["context"]:
        ratios = ", ".join(f"{r['transformer_ms'] / r['lstm_ms']:.1f}× at {r['context']:,}" for r in rows)
        return head + (f"The LSTM is faster at every context measured, and the gap grows with the context "
                       f"(the Transformer's time per token over the LSTM's: {ratios} tokens).")
    return head + f"Beyond about {c:,.0f} tokens of context the LSTM generates faster (straight-line fit)."


def report_markdown(gen: dict, train: dict, reversal: str) -> str:
    names = " / ".join(f"{NAMES[k]} {gen[f'{k}_parameters']:,}" for k in FAMILIES)
    lines = ["## 1. Generation cost against context length (batch 1)", "", f"Parameters: {names}.", "",
             "| context | " + " | ".join(f"{NAMES[k]} ms/token" for k in FAMILIES) + " | "
             + " | ".join(f"{NAMES[k]} {'cache' if k == 'transformer' else 'state'}" for k in FAMILIES) + " |",
             "|---|" + "---|" * (2 * len(FAMILIES))]
    for r in gen["rows"]:
        lines.append(f"| {r['context']:,} | " + " | ".join(f"{r[f'{k}_ms']:.2f}" for k in FAMILIES) + " | "
                     + " | ".join(f"{r[f'{k}_bytes'] / 1024:,.1f} KiB" for k in FAMILIES) + " |")
    lines += ["", crossover_sentence(gen), "",
              "## 2. Training throughput against window length (same data, about equal parameter counts)", "",
              "Training tokens per second (forward, backward, Adam); the same tokens in every step.", "",
              "| window | windows a step | " + " | ".join(NAMES[k] for k in FAMILIES) + " |",
              "|---|---|" + "---|" * len(FAMILIES)]
    for r in train["rows"]:
        lines.append(f"| {r['seq_len']:,} | {r['batch']} | "
                     + " | ".join(f"{r[f'{k}_tokens_per_s']:,.0f}" for k in FAMILIES) + " |")
    lines += ["", "## 3. Reversing a sequence", "", reversal]
    return "\n".join(lines)


def run(cfg: SuccessorLabConfig, out: Path, log=print) -> dict:
    """The three measurements; files as the module docstring says. Returns metrics.json's dict."""
    out.mkdir(parents=True, exist_ok=True)
    gen = generation_cost(cfg, log)
    train = training_throughput(cfg, log)
    rows = sweep(cfg.reversal, out / "reversal", log)
    write_json(out / "results.json", {"config": dataclasses.asdict(cfg), "generation": gen, "training": train,
                                      "reversal": rows})
    plot_generation(out / "generation.png", gen)
    atomic_write(out / "successor.md", report_markdown(gen, train, reversal_table(rows, cfg.reversal)))
    metrics = {f"{k}_ms_per_token_C{r['context']}": r[f"{k}_ms"] for r in gen["rows"] for k in FAMILIES}
    metrics.update({f"{k}_bytes_C{r['context']}": r[f"{k}_bytes"] for r in gen["rows"] for k in FAMILIES})
    metrics.update({k: v for k, v in train.items() if k != "rows"})
    metrics.update({f"{k}_tokens_per_s_L{r['seq_len']}": r[f"{k}_tokens_per_s"] for r in train["rows"]
                    for k in FAMILIES})
    metrics["crossover_context"] = gen["crossover_context"]
    metrics.update({f"reversal_{r['model']}_exact_L{r['length']}": r["exact"] for r in rows})
    write_json(out / "metrics.json", metrics)
    return metrics
