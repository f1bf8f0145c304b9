"""Shared by the benchmark scripts: run an app like the CLI does, summarise seeds, plot curves."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path


def train(app, out: Path, data: str | None = None, seed: int = 0, overrides: list[str] | None = None) -> dict:
    """``rnnlab <app> train --data DATA --seed SEED --out OUT --set ...``; returns metrics.json."""
    import shutil

    if out.exists():
        shutil.rmtree(out)
    run = app.train(data=data, seed=seed, out=out, overrides=overrides, verbose=True)
    return json.loads((run / "metrics.json").read_text())


def write_results(out: Path, stem: str, data, lines: list[str]) -> None:
    """``OUT/STEM.json`` (the raw results) and ``OUT/STEM.md`` (the table), and print the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.pstdev(values):.2g}"


def curve(metrics_csv: Path, png: Path, y: str, title: str, x: str = "elapsed_s") -> None:
    """Plot column ``y`` of a run's metrics.csv against wall-clock training time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(metrics_csv.open()))
    xs = [float(r[x]) / 60 for r in rows if r.get(y)]
    ys = [float(r[y]) for r in rows if r.get(y)]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    ax.set_xlabel("training time (minutes, 2 CPU cores)")
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
