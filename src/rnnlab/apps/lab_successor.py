"""``rnnlab lab successor``: the Transformer beside the recurrent networks, measured.

The survey closes by naming the Transformer as attention's successor. Three measurements
of where each wins, on this machine:

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
2. **Training throughput on the same data.** Tokens per second of a training step
   (forward, backward, Adam) on windows of the embedded corpus (the Python standard
   library's source, characters), for the LSTM and a Transformer whose feed-forward
   width is chosen to give it the LSTM's parameter count.
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
from ..models import SeqToSeq, TransformerLM
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
    with ``heads`` (its feed-forward width chosen to match the LSTM's parameters).
    vocab_size: tokens of the generation models. throughput_steps / batch_size / seq_len:
    the training measurement. reversal: the attention lab's sweep (its keys)."""

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
    throughput_steps: int = 20
    batch_size: int = 32
    seq_len: int = 128
    seed: int = 0
    reversal: AttentionLabConfig = field(default_factory=lambda: AttentionLabConfig(
        lengths=[5, 10, 20, 40], models=["none", "additive", "transformer"]))

    def __post_init__(self) -> None:
        if not self.contexts or min(self.contexts) < 1:
            raise ValueError("contexts: give one or more context lengths >= 1")
        check_positive(self, "generated", "repeats", "vocab_size", "embed_size", "hidden_size", "lstm_layers",
                       "d_model", "heads", "transformer_layers", "throughput_steps", "batch_size", "seq_len")
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} does not divide into heads={self.heads}")


#: ``--quick``: smaller models and sweeps, the same three measurements (about two minutes)
QUICK = dict(generated=20, repeats=2, hidden_size=256, d_model=128, transformer_layers=2, throughput_steps=6,
             batch_size=16, reversal=AttentionLabConfig(lengths=[5, 10, 20], models=["none", "additive", "transformer"],
                                                        steps=600))


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_models(cfg: SuccessorLabConfig, max_positions: int) -> tuple[SeqToSeq, TransformerLM]:
    """The LSTM language model, and the Transformer whose feed-forward width gives it the
    LSTM's parameter count (to the nearest 32)."""
    torch.manual_seed(cfg.seed)
    lstm = SeqToSeq(cfg.embed_size, cfg.vocab_size, cfg.hidden_size, "lstm", num_layers=cfg.lstm_layers,
                    num_embeddings=cfg.vocab_size)
    target = _params(lstm)

    def transformer(ff: int) -> TransformerLM:
        torch.manual_seed(cfg.seed)
        return TransformerLM(cfg.vocab_size, cfg.d_model, cfg.heads, cfg.transformer_layers, ff, dropout=0.0,
                             max_positions=max_positions)

    per_unit = _params(transformer(33)) - _params(transformer(32))  # parameters per feed-forward unit
    ff = max(32, int(round((target - _params(transformer(32))) / per_unit / 32)) * 32 + 32)
    return lstm, transformer(ff)


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
    held = state.nbytes if hasattr(state, "nbytes") else sum(s.numel() * s.element_size() for s in state)
    return seconds, held


def generation_cost(cfg: SuccessorLabConfig, log=print) -> dict:
    """Rows ``{context, lstm_ms, transformer_ms, lstm_bytes, transformer_bytes}`` and the
    crossover context (None if the Transformer is never slower within the fit)."""
    lstm, transformer = build_models(cfg, max(cfg.contexts) + cfg.generated + 1)
    lstm.eval(), transformer.eval()
    g = torch.Generator().manual_seed(cfg.seed)
    # the first calls of a model pay one-off costs (allocator growth, kernel selection);
    # left in, they made the LSTM's first context look several times slower than its others
    for model in (lstm, transformer):
        _time_generation(model, torch.randint(0, cfg.vocab_size, (1, 16), generator=g), 5)
    rows = []
    for C in cfg.contexts:
        context = torch.randint(0, cfg.vocab_size, (1, C), generator=g)
        times: dict[str, list[float]] = {"lstm": [], "transformer": []}
        held = {}
        for _ in range(cfg.repeats):  # alternately, so both see the same machine
            for name, model in (("lstm", lstm), ("transformer", transformer)):
                s, held[name] = _time_generation(model, context, cfg.generated)
                times[name].append(s)
        row = {"context": C, **{f"{k}_ms": 1000 * float(np.median(v)) for k, v in times.items()},
               **{f"{k}_bytes": int(v) for k, v in held.items()}}
        log(f"context {C:>6}: LSTM {row['lstm_ms']:.2f} ms/token ({row['lstm_bytes']:,} B state), Transformer "
            f"{row['transformer_ms']:.2f} ms/token ({row['transformer_bytes']:,} B cache)")
        rows.append(row)
    crossover = None
    if len(rows) >= 2:
        slope, intercept = np.polyfit([r["context"] for r in rows], [r["transformer_ms"] for r in rows], 1)
        lstm_ms = float(np.median([r["lstm_ms"] for r in rows]))
        if slope > 0:
            crossover = max(0.0, (lstm_ms - intercept) / slope)
    return {"rows": rows, "crossover_context": crossover, "lstm_parameters": _params(lstm),
            "transformer_parameters": _params(transformer)}


def training_throughput(cfg: SuccessorLabConfig, log=print) -> dict:
    """Training tokens per second of each model on windows of the embedded corpus."""
    from ..data.text import CharVocab, stdlib_corpus

    text, _ = stdlib_corpus(400_000)
    vocab = CharVocab.build(text)
    ids = torch.from_numpy(vocab.encode_array(text))
    sized = dataclasses.replace(cfg, vocab_size=len(vocab))
    models = dict(zip(("lstm", "transformer"), build_models(sized, cfg.seq_len)))
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    g = torch.Generator().manual_seed(cfg.seed)
    seconds = {k: 0.0 for k in models}
    for step in range(cfg.throughput_steps + 1):  # the first step of each warms up and is not counted
        starts = torch.randint(0, len(ids) - cfg.seq_len - 1, (cfg.batch_size,), generator=g)
        x = torch.stack([ids[s:s + cfg.seq_len] for s in starts])
        y = torch.stack([ids[s + 1:s + cfg.seq_len + 1] for s in starts])
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
    tokens = cfg.throughput_steps * cfg.batch_size * cfg.seq_len
    out = {f"{k}_tokens_per_s": tokens / s for k, s in seconds.items()}
    out.update({f"{k}_parameters": _params(m) for k, m in models.items()})
    log(f"training: LSTM {out['lstm_tokens_per_s']:,.0f} tokens/s, Transformer {out['transformer_tokens_per_s']:,.0f} "
        f"tokens/s ({out['lstm_parameters']:,} / {out['transformer_parameters']:,} parameters)")
    return out


def plot_generation(path: Path, gen: dict) -> None:
    from ..report import pyplot

    plt = pyplot()
    rows = gen["rows"]
    C = [r["context"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(C, [r["lstm_ms"] for r in rows], marker="o", label="LSTM (state carried)")
    axes[0].plot(C, [r["transformer_ms"] for r in rows], marker="o", label="Transformer (key/value cache)")
    if gen["crossover_context"]:
        axes[0].axvline(gen["crossover_context"], color="grey", ls=":", lw=1, label="crossover")
    axes[0].set_ylabel("ms per generated token (batch 1)")
    axes[1].plot(C, [r["lstm_bytes"] / 2**20 for r in rows], marker="o", label="LSTM state")
    axes[1].plot(C, [r["transformer_bytes"] / 2**20 for r in rows], marker="o", label="Transformer cache")
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
    lines = ["## 1. Generation cost against context length (batch 1)", "",
             f"LSTM {gen['lstm_parameters']:,} parameters, Transformer {gen['transformer_parameters']:,}.", "",
             "| context | LSTM ms/token | Transformer ms/token | LSTM state | Transformer cache |",
             "|---|---|---|---|---|"]
    for r in gen["rows"]:
        lines.append(f"| {r['context']:,} | {r['lstm_ms']:.2f} | {r['transformer_ms']:.2f} | "
                     f"{r['lstm_bytes'] / 1024:,.1f} KiB | {r['transformer_bytes'] / 1024:,.1f} KiB |")
    lines += ["", crossover_sentence(gen), "",
              "## 2. Training throughput (same data, equal parameter counts)", "",
              "| model | parameters | training tokens/s |", "|---|---|---|",
              f"| LSTM | {train['lstm_parameters']:,} | {train['lstm_tokens_per_s']:,.0f} |",
              f"| Transformer | {train['transformer_parameters']:,} | {train['transformer_tokens_per_s']:,.0f} |", "",
              "## 3. Reversing a sequence", "", reversal]
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
    families = ("lstm", "transformer")
    metrics = {f"{k}_ms_per_token_C{r['context']}": r[f"{k}_ms"] for r in gen["rows"] for k in families}
    metrics.update({f"{k}_bytes_C{r['context']}": r[f"{k}_bytes"] for r in gen["rows"] for k in families})
    metrics.update(train)
    metrics["crossover_context"] = gen["crossover_context"]
    metrics.update({f"reversal_{r['model']}_exact_L{r['length']}": r["exact"] for r in rows})
    write_json(out / "metrics.json", metrics)
    return metrics
