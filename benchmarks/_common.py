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


def resumed(path: Path, settings: list[str], key: str) -> dict:
    """``{"settings": settings, key: {...}}``: what an interrupted run of the same settings
    saved at ``path`` (see :func:`save_progress`), or nothing yet; results of other settings
    are not mixed in."""
    done = json.loads(path.read_text()) if path.exists() else {}
    return {"settings": settings, key: done.get(key, {}) if done.get("settings") == settings else {}}


def save_progress(path: Path, done: dict) -> None:
    """Write ``done`` to ``path`` atomically, so a benchmark killed at any moment resumes."""
    from rnnlab.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(done, indent=2) + "\n")


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


def train_side_by_side(app: str, runs: dict[str, list[str]], data: str, out: Path, seed: int = 0,
                       threads: int = 1, sequential: bool = False) -> dict[str, dict]:
    """Train several configurations of ``rnnlab <app>`` on the same data, each in its own
    process under ``out/<name>`` (log in ``out/<name>.log``), and return their metrics.json.

    Side by side (the default) each process gets ``threads`` CPU threads and they run at
    once, so on a 2-core machine two runs with ``threads=1`` each get the same CPU-minutes
    on the same machine at the same time (whatever else the machine does hits both);
    ``sequential`` runs them one after another instead."""
    import os
    import shutil
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = {}
    for name, overrides in runs.items():
        run = out / name
        if run.exists():
            shutil.rmtree(run)
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "rnnlab", app, "train", "--data", data, "--seed", str(seed), "--out", str(run)]
        for o in overrides:
            cmd += ["--set", o]
        print(" ".join(cmd[1:]), flush=True)
        log = (out / f"{name}.log").open("w")
        procs[name] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        if sequential:
            procs[name][0].wait()
    for name, (proc, log) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"{name}: rnnlab {app} train failed (exit {proc.returncode}); see {out / name}.log")
        log.close()
    return {name: json.loads((out / name / "metrics.json").read_text()) for name in runs}


def parameters(app, run: Path) -> int:
    """The parameter count of a trained run's model."""
    return sum(p.numel() for p in app.load(run).model.parameters())
