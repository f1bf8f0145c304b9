"""The reversal task: attention against a fixed-size context, as inputs grow — what
``rnnlab lab attention`` runs and ``rnnlab lab successor`` runs again with the Transformer.

The paper's claim (after Bahdanau et al. 2014, Figure 2): an encoder-decoder that passes
the source to the decoder as one fixed-size vector loses it as sentences grow, while a
decoder that attends to every encoder state does not — and the survey's last pages name
the Transformer, attention without recurrence, as attention's successor
(``models=["transformer"]``: :class:`~rnnlab.models.TransformerEncoderDecoder`, two layers
of width ``2 × hidden_size``, as wide as the GRU encoder's states). The lab measures it on a task
whose answer is known: **reverse a sequence** of ``symbols`` random symbols. Each model —
the same bidirectional GRU encoder and GRU decoder (``EncoderDecoder``), with no
attention (the encoder's final states start the decoder: Cho et al.'s RNN Encoder-Decoder),
additive (Bahdanau) or multiplicative (Luong, dot) attention — is trained on fresh
random batches at each swept length, with the same budget of steps, and scored on a
held-out batch decoded greedily:

- token accuracy: the share of positions whose symbol is right (chance ``1/symbols``);
- exact match: the share of sequences reversed without a single error.

A run stops early once its held-out exact match reaches 99%. Results: ``attention.md``
(the table), ``attention.png`` (accuracy against length), ``results.json`` (every run)
and ``metrics.json`` (``{model}_token_accuracy_L{L}``, ``{model}_exact_L{L}``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..files import atomic_write, write_json
from ..models import EncoderDecoder, TransformerEncoderDecoder
from ..report import save_figure
from ..training import TrainConfig, Trainer
from ..training.config import check_positive

__all__ = ["AttentionLabConfig", "ATTENTIONS", "reversal_batch", "run_one", "sweep", "table_markdown"]

ATTENTIONS = ("none", "additive", "dot", "transformer")
PAD, BOS, EOS = 0, 1, 2
FIRST_SYMBOL = 3  # ids 0-2 are the specials
EXACT_TO_STOP = 0.99


@dataclass
class AttentionLabConfig:
    """lengths: the swept source lengths. models: any of none, additive, dot. symbols:
    the alphabet's size. steps: training steps per run at most (evaluated every
    steps_per_eval; a run stops once held-out exact match reaches 99%). hidden_size /
    embed_size: each model's (the encoder is bidirectional: its states are 2 × hidden)."""

    lengths: list[int] = field(default_factory=lambda: [5, 10, 20, 40])
    models: list[str] = field(default_factory=lambda: ["none", "additive", "dot"])
    symbols: int = 20
    hidden_size: int = 64
    embed_size: int = 32
    batch_size: int = 64
    steps: int = 2000
    steps_per_eval: int = 100
    val_size: int = 500
    lr: float = 3e-3
    clip_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for m in self.models:
            if m not in ATTENTIONS:
                raise ValueError(f"models: unknown model {m!r}; expected any of {', '.join(ATTENTIONS)}")
        if not self.models:
            raise ValueError("models: give at least one of " + ", ".join(ATTENTIONS))
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError("lengths: give one or more lengths >= 1")
        check_positive(self, "hidden_size", "embed_size", "batch_size", "steps", "steps_per_eval", "val_size")
        if self.symbols < 2:
            raise ValueError(f"symbols: must be >= 2, got {self.symbols}")


def reversal_batch(n: int, L: int, symbols: int, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``src (n, L)``, ``src_lengths (n,)``, ``tgt_in (n, L+1)`` (BOS, then the reversed
    source) and ``tgt_out (n, L+1)`` (the reversed source, then EOS)."""
    src = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + symbols, (n, L), generator=g)
    rev = src.flip(1)
    tgt_in = torch.cat([torch.full((n, 1), BOS), rev], 1)
    tgt_out = torch.cat([rev, torch.full((n, 1), EOS)], 1)
    return src, torch.full((n,), L), tgt_in, tgt_out


def build(cfg: AttentionLabConfig, attention: str) -> EncoderDecoder | TransformerEncoderDecoder:
    if attention == "transformer":
        V = FIRST_SYMBOL + cfg.symbols
        return TransformerEncoderDecoder(V, V, d_model=2 * cfg.hidden_size, heads=4, num_layers=2,
                                         ff_size=4 * cfg.hidden_size, dropout=0.0, max_positions=max(cfg.lengths) + 2,
                                         pad_id=PAD, bos_id=BOS, eos_id=EOS)
    return EncoderDecoder(FIRST_SYMBOL + cfg.symbols, FIRST_SYMBOL + cfg.symbols, cfg.embed_size, cfg.hidden_size,
                          "gru", attention=None if attention == "none" else attention, dropout=0.0,
                          pad_id=PAD, bos_id=BOS, eos_id=EOS)


@torch.no_grad()
def scores(model: EncoderDecoder, batch) -> dict[str, float]:
    """Greedy decoding of ``batch``: token accuracy over the L positions, and exact match
    (every symbol right and EOS right after them)."""
    src, lengths, _, tgt_out = batch
    model.eval()
    L = src.shape[1]
    got = model.generate(src, lengths, max_len=L + 1).tokens
    got = nn.functional.pad(got, (0, max(0, L + 1 - got.shape[1])), value=PAD)[:, : L + 1]
    right = got == tgt_out
    return {"token_accuracy": float(right[:, :L].float().mean()), "exact": float(right.all(1).float().mean())}


def run_one(cfg: AttentionLabConfig, attention: str, L: int) -> dict:
    """Train one model at one length; its result row."""
    torch.manual_seed(cfg.seed)
    model = build(cfg, attention)
    val = reversal_batch(cfg.val_size, L, cfg.symbols, torch.Generator().manual_seed(10_000 + cfg.seed))

    def batches(epoch: int):
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        return [reversal_batch(cfg.batch_size, L, cfg.symbols, g) for _ in range(cfg.steps_per_eval)]

    def loss(m, b):
        src, lengths, tgt_in, tgt_out = b
        logits, _ = m(src, lengths, tgt_in)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))

    epochs = -(-cfg.steps // cfg.steps_per_eval)
    train = TrainConfig(epochs=epochs, lr=cfg.lr, clip_norm=cfg.clip_norm, seed=cfg.seed, patience=None,
                        log_every=10**9)
    t0 = time.perf_counter()
    trainer = Trainer(model, loss, train, evaluate_fn=lambda m: scores(m, val), verbose=False,
                      stop_fn=lambda row: row["exact"] >= EXACT_TO_STOP)
    last = trainer.fit(batches)[-1]
    return {"model": attention, "length": L, "token_accuracy": last["token_accuracy"], "exact": last["exact"],
            "steps": last["step"], "seconds": round(time.perf_counter() - t0, 1)}


def sweep(cfg: AttentionLabConfig, out: Path, log=print) -> list[dict]:
    """Every model at every length; writes ``results.json`` (after each run, so a killed
    sweep keeps what it did), ``attention.md``, ``attention.png`` and ``metrics.json``."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for attention in cfg.models:
        for L in sorted(cfg.lengths):
            r = run_one(cfg, attention, L)
            rows.append(r)
            write_json(out / "results.json", {"config": cfg.__dict__, "runs": rows})
            log(f"{attention:9s} L={L:<4d} token accuracy {r['token_accuracy']:.3f}  exact {r['exact']:.3f}  "
                f"({r['steps']} steps, {r['seconds']} s)")
    atomic_write(out / "attention.md", table_markdown(rows, cfg))
    plot(out / "attention.png", rows, cfg)
    write_json(out / "metrics.json", {f"{r['model']}_{k}_L{r['length']}": r[k] for r in rows
                                      for k in ("token_accuracy", "exact")})
    return rows


def table_markdown(rows: list[dict], cfg: AttentionLabConfig) -> str:
    models = [m for m in cfg.models if any(r["model"] == m for r in rows)]
    head = ("Reversing a sequence of random symbols (alphabet of "
            f"{cfg.symbols}, chance {1 / cfg.symbols:.2f}); held-out token accuracy (exact match), "
            f"at most {cfg.steps} steps of {cfg.batch_size} sequences each; hidden size {cfg.hidden_size}.\n\n")
    lines = ["| length | " + " | ".join(f"attention: {m}" for m in models) + " |",
             "|---|" + "---|" * len(models)]
    for L in sorted({r["length"] for r in rows}):
        cells = []
        for m in models:
            r = next((r for r in rows if r["model"] == m and r["length"] == L), None)
            cells.append("–" if r is None else f"{r['token_accuracy']:.3f} ({100 * r['exact']:.0f}%)")
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def plot(path: Path, rows: list[dict], cfg: AttentionLabConfig) -> None:
    from ..report import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax, title in (("token_accuracy", axes[0], "token accuracy"), ("exact", axes[1], "exact match")):
        for m in cfg.models:
            mine = sorted((r["length"], r[key]) for r in rows if r["model"] == m)
            if mine:
                ax.plot(*zip(*mine), marker="o", label="no attention (fixed-size context)" if m == "none" else m)
        if key == "token_accuracy":
            ax.axhline(1 / cfg.symbols, color="grey", ls=":", lw=1, label="chance")
        ax.set_xscale("log")
        ax.set_xticks(sorted(cfg.lengths), [str(L) for L in sorted(cfg.lengths)])
        ax.minorticks_off()
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("source length")
        ax.set_ylabel(f"held-out {title}")
        ax.legend(fontsize=8)
    fig.suptitle("Reversing a sequence: attention against one fixed-size vector")
    fig.tight_layout()
    save_figure(fig, path)

