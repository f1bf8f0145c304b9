"""``rnnlab lab``: the paper's claim about memory, measured.

``rnnlab lab memory`` trains each model on each long-range task at growing lengths and
reports the largest length it solves; ``rnnlab lab gradients`` plots how the gradient
of a loss at the last step fades (or explodes) with the distance back in time, for each
cell, and how clipping changes training.

The swept length L is: adding problem — the sequence length; copy memory — the number
of blanks between the symbols and the recall signal; delayed recall — the delay.
Success criteria (held-out batch of ``val_size`` sequences):

- adding: MSE < 0.01 (predicting the mean gives 0.167);
- copy: accuracy on the 10 recalled symbols ≥ 0.9 (chance 0.125);
- recall: accuracy ≥ 0.9 at naming the symbol seen L steps before the marker (chance 1/8).

A model "solves up to L" if it succeeds at every swept length up to L (for at least
half the seeds). Training: Adam, a fresh generated batch every step, evaluation every
``steps_per_epoch`` steps, stop as soon as the criterion is met or after ``train.epochs``
evaluations. After ``give_up_after`` failed lengths in a row, longer ones are skipped
and counted as failed (they only get harder).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..files import atomic_write, write_json
from ..report import save_figure
from ..tasks.memory import (
    MODELS,
    PARALLEL_MODELS,
    TASKS,
    THRESHOLD,
    build_model,
    clipping_curves,
    gradient_norms,
    make_batch,
    solved,
    task_loss,
    task_score,
)
from ..training import TrainConfig, Trainer, apply_overrides
from .base import App, RunContext

__all__ = ["MemoryConfig", "MemoryLab", "APP", "TASKS", "MODELS", "gradient_norms"]



@dataclass
class MemoryConfig:
    """data: comma-separated tasks (adding, copy, recall; copy is not in the default
    sweep: at 1,500 steps no model learns it, see ``--data copy --epochs 200``). lengths: the swept lengths.
    models: any of rnn, lstm, lstm_chrono (chrono init with T_max = the length), gru, and
    the parallel recurrences mingru, minlstm, lru and lru_blocks (the LRU in its paper's
    residual blocks; tasks/memory.py), not in the default sweep.
    seeds: runs per (task, model, length). give_up_after: failed lengths in a row after
    which longer ones are skipped. steps_per_epoch: training steps between evaluations."""

    data: str = "adding,recall"
    lengths: list[int] = field(default_factory=lambda: [5, 10, 20, 50, 100, 200])
    models: list[str] = field(default_factory=lambda: list(MODELS))
    seeds: int = 1
    hidden_size: int = 64
    batch_size: int = 64
    steps_per_epoch: int = 50
    val_size: int = 512
    give_up_after: int = 2
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, lr=3e-3, clip_norm=1.0, log_every=10**9))

    def __post_init__(self) -> None:
        for t in self.tasks:
            if t not in TASKS:
                raise ValueError(f"data: unknown task {t!r}; expected comma-separated {', '.join(TASKS)}")
        for m in self.models:
            if m not in MODELS + PARALLEL_MODELS:
                raise ValueError(f"models: unknown model {m!r}; expected any of {', '.join(MODELS + PARALLEL_MODELS)}")
        if not self.lengths or min(self.lengths) < 2:
            raise ValueError("lengths: give one or more lengths >= 2")

    @property
    def tasks(self) -> list[str]:
        return [t.strip() for t in self.data.split(",") if t.strip()]


def run_one(task: str, model_name: str, L: int, seed: int, cfg: MemoryConfig) -> dict:
    """Train one model on one task at one length; return its result row."""
    torch.manual_seed(seed)
    model = build_model(task, model_name, L, cfg.hidden_size)
    val = make_batch(task, cfg.val_size, L, torch.Generator().manual_seed(10_000 + seed))

    def batches(epoch: int):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        return [make_batch(task, cfg.batch_size, L, g) for _ in range(cfg.steps_per_epoch)]

    def evaluate(m):
        return {"val_score": task_score(task, m, *val)}

    train_cfg = TrainConfig(**{**cfg.train.__dict__, "seed": seed, "patience": None})
    t0 = time.perf_counter()
    trainer = Trainer(model, lambda m, b: task_loss(task, m, *b), train_cfg, evaluate_fn=evaluate, verbose=False,
                      stop_fn=lambda row: solved(task, row["val_score"]))
    hist = trainer.fit(batches)
    score = hist[-1]["val_score"]
    return {"task": task, "model": model_name, "length": L, "seed": seed, "score": score,
            "solved": solved(task, score), "steps": hist[-1]["step"], "seconds": round(time.perf_counter() - t0, 2)}


def summarize(rows: list[dict], cfg: MemoryConfig) -> dict[str, dict[str, int]]:
    """Largest length solved without a failure at a shorter length: {task: {model: L}}."""
    out: dict[str, dict[str, int]] = {}
    for task in cfg.tasks:
        out[task] = {}
        for model in cfg.models:
            best = 0
            for L in sorted(cfg.lengths):
                runs = [r for r in rows if r["task"] == task and r["model"] == model and r["length"] == L]
                if runs and sum(r["solved"] for r in runs) * 2 >= len(runs):
                    best = L
                else:
                    break
            out[task][model] = best
    return out


def table_markdown(summary: dict, cfg: MemoryConfig) -> str:
    lines = ["| task | criterion | " + " | ".join(cfg.models) + " |", "|---|---|" + "---|" * len(cfg.models)]
    crit = {"adding": "MSE < 0.01", "copy": "recalled symbols acc ≥ 0.9", "recall": "acc ≥ 0.9"}
    for task, by_model in summary.items():
        cells = [str(by_model[m]) if by_model[m] else f"< {min(cfg.lengths)}" for m in cfg.models]
        lines.append(f"| {task} | {crit[task]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_sweep(path: Path, rows: list[dict], cfg: MemoryConfig) -> None:
    from ..report import pyplot

    plt = pyplot()

    tasks = cfg.tasks
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for model in cfg.models:
            Ls, ys = [], []
            for L in sorted(cfg.lengths):
                runs = [r for r in rows if r["task"] == task and r["model"] == model and r["length"] == L]
                if runs:
                    Ls.append(L)
                    ys.append(np.mean([r["score"] for r in runs]))
            ax.plot(Ls, ys, marker="o", label=model)
        ax.axhline(THRESHOLD[task], color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        if task == "adding":
            ax.set_yscale("log")
            ax.axhline(1 / 6, color="red", ls=":", lw=1, label="predict the mean")
            ax.set_ylabel("held-out MSE (lower is better)")
        else:
            ax.set_ylabel("held-out accuracy")
            ax.set_ylim(0, 1.02)
        ax.set_xlabel("length L")
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_gradients(path: Path, norms: dict[str, np.ndarray], curves: dict[str, list[float]] | None) -> None:
    from ..report import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(11 if curves else 6, 4), squeeze=False)
    ax = axes[0, 0]
    for name, n in norms.items():
        dist = np.arange(len(n))[::-1]
        ax.plot(dist, np.maximum(n, 1e-30), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("distance from the loss (steps back)")
    ax.set_ylabel("‖∂loss/∂h_t‖")
    ax.set_title("gradient flowing back through time (untrained)")
    ax.legend()
    if curves:
        ax = axes[0, 1]
        for name, c in curves.items():
            ax.plot(c, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("training MSE")
        ax.set_title("Elman RNN, adding problem: clipping")
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


# ---------------------------------------------------------------------------- the app
class MemoryLab(App):
    name = "lab"
    help = "The memory lab: long-range tasks swept over length (memory) and gradient decay (gradients)."
    summary = "memory span of Elman RNN vs LSTM vs GRU on the adding, copy and delayed-recall tasks"
    Config = MemoryConfig
    generic_commands = False

    quick = {
        "lengths": [5, 10, 20, 40], "models": ["rnn", "lstm", "gru"], "hidden_size": 32, "train.epochs": 12,
        "train.lr": 0.005
    }

    def fit(self, cfg: MemoryConfig, ctx: RunContext) -> dict[str, float]:
        rows_path = ctx.run_dir / "results.json"
        rows: list[dict] = []
        if ctx.resume and rows_path.exists():
            from ..files import read_json

            rows = read_json(rows_path)
        done = {(r["task"], r["model"], r["length"], r["seed"]) for r in rows}
        for task in cfg.tasks:
            for model in cfg.models:
                failures = 0
                for L in sorted(cfg.lengths):
                    ok = 0
                    for seed in range(cfg.seeds):
                        if (task, model, L, seed) in done:
                            key = (task, model, L, seed)
                            r = next(r for r in rows if (r["task"], r["model"], r["length"], r["seed"]) == key)
                        elif failures >= cfg.give_up_after:
                            r = {"task": task, "model": model, "length": L, "seed": seed, "solved": False,
                                 "score": float("nan"), "steps": 0, "seconds": 0.0, "skipped": True}
                            rows.append(r)
                        else:
                            r = run_one(task, model, L, seed, cfg)
                            rows.append(r)
                            write_json(rows_path, rows)  # results so far survive a kill; --resume skips them
                            ctx.log(f"{task:7s} {model:12s} L={L:<5d} seed={seed} score={r['score']:.4f} "
                                    f"{'solved' if r['solved'] else 'failed'} ({r['steps']} steps, {r['seconds']} s)")
                        ok += bool(r["solved"])
                    failures = 0 if ok * 2 >= cfg.seeds else failures + 1
        write_json(rows_path, rows)
        summary = summarize(rows, cfg)
        table = table_markdown(summary, cfg)
        atomic_write(ctx.run_dir / "memory.md", "Largest length solved (see rnnlab/apps/lab.py for the "
                     "criteria)\n\n" + table)
        plot_sweep(ctx.run_dir / "memory.png", rows, cfg)
        return {f"{task}_max_length_{model}": L for task, by in summary.items() for model, L in by.items()}

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        from ..files import read_json

        cfg = self.load_config(run_dir)
        rows = read_json(run_dir / "results.json", "lab results")
        summary = summarize(rows, cfg)
        return {f"{task}_max_length_{model}": L for task, by in summary.items() for model, L in by.items()}

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("memory")
        def memory(
            tasks: str = typer.Option(None, "--data", help="Comma-separated tasks: adding, copy, recall."),
            quick: bool = typer.Option(False, "--quick", help="Small sweep (about a minute)."),
            out: Path = typer.Option(None, "--out", help="Output directory (default runs/lab-<time>)."),
            epochs: int = typer.Option(None, "--epochs", help="Evaluations (of steps_per_epoch steps) per run."),
            seed: int = typer.Option(None, "--seed", help="Unused for the sweep's seeds (see --set seeds=N)."),
            resume: Path = typer.Option(None, "--resume", help="Continue an interrupted sweep."),
            set_: list[str] = typer.Option(None, "--set", help="e.g. --set lengths=[10,100,1000] "
                                           "--set models=[\"lstm_chrono\"] --set seeds=3"),
        ):
            """Sweep models × tasks × lengths; print the table of the largest length solved."""
            run_dir = guarded(lambda: self.train(tasks, quick, out, epochs, seed, resume, set_))
            typer.echo((run_dir / "memory.md").read_text())
            typer.echo(f"plot: {run_dir / 'memory.png'}")

        @cli.command("gradients")
        def gradients(
            out: Path = typer.Option(Path("runs/lab-gradients"), "--out", help="Output directory."),
            length: int = typer.Option(100, "--length", help="Sequence length T."),
            cells: str = typer.Option("rnn,lstm,lstm_chrono,gru", "--cells", help="Comma-separated cells."),
            clipping: bool = typer.Option(True, "--clipping/--no-clipping", help="Also train with/without clipping."),
        ):
            """Plot ‖∂loss/∂h_t‖ against the distance back in time for each cell."""

            def run():
                names = [c.strip() for c in cells.split(",") if c.strip()]
                for c in names:
                    if c not in MODELS:
                        raise InputError(f"--cells: unknown cell {c!r}; expected any of {', '.join(MODELS)}")
                if length < 2:
                    raise InputError(f"--length: must be >= 2, got {length}")
                norms = {c: gradient_norms(c, length) for c in names}
                curves = clipping_curves() if clipping else None
                out.mkdir(parents=True, exist_ok=True)
                plot_gradients(out / "gradients.png", norms, curves)
                ratios = {c: float(n[0] / n[-1]) for c, n in norms.items()}
                write_json(out / "gradients.json",
                           {"length": length, "norms": {c: n.tolist() for c, n in norms.items()},
                            "first_over_last": ratios})
                lines = [f"{c:12s} ‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {r:.3g}" for c, r in ratios.items()]
                return "\n".join(lines) + f"\nplot: {out / 'gradients.png'}\n"

            typer.echo(guarded(run), nl=False)

        @cli.command("attention")
        def attention(
            out: Path = typer.Option(Path("runs/lab-attention"), "--out", help="Output directory."),
            quick: bool = typer.Option(False, "--quick", help="Lengths 5 to 20, no attention vs additive, 600 steps "
                                       "(about 2 minutes)."),
            set_: list[str] = typer.Option(None, "--set", help="e.g. --set lengths=[10,50,100] "
                                           "--set models=[\"none\",\"additive\"] --set steps=5000"),
        ):
            """Attention vs a fixed-size context: reverse sequences of growing length with and without
            attention; print the table of held-out accuracy."""
            from ..tasks.reversal import AttentionLabConfig, sweep

            def run():
                cfg = (AttentionLabConfig(lengths=[5, 10, 20], models=["none", "additive"], steps=600) if quick
                       else AttentionLabConfig())
                cfg = apply_overrides(cfg, set_)
                sweep(cfg, out, log=lambda m: typer.echo(m, err=True))
                return (out / "attention.md").read_text() + f"plot: {out / 'attention.png'}\n"

            typer.echo(guarded(run), nl=False)


        @cli.command("successor")
        def successor(
            out: Path = typer.Option(Path("runs/lab-successor"), "--out", help="Output directory."),
            quick: bool = typer.Option(False, "--quick", help="Smaller models and sweeps (about two minutes)."),
            set_: list[str] = typer.Option(None, "--set", help="e.g. --set contexts=[100,1000,10000] "
                                           "--set reversal.steps=2000"),
        ):
            """The Transformer beside the LSTM: generation cost against context length, training
            throughput at equal parameters, and the reversal task; prints the tables."""
            from .lab_successor import QUICK, SuccessorLabConfig, run

            def go():
                cfg = SuccessorLabConfig(**QUICK) if quick else SuccessorLabConfig()
                run(apply_overrides(cfg, set_), out, log=lambda m: typer.echo(m, err=True))
                return (out / "successor.md").read_text() + f"\nplots: {out / 'generation.png'}, " \
                    f"{out / 'reversal' / 'attention.png'}\n"

            typer.echo(guarded(go), nl=False)

APP = MemoryLab()
