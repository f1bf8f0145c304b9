"""Training history on disk: ``metrics.csv`` and a training-curve PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..files import atomic_write

__all__ = ["write_csv", "plot_history"]


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """Write rows (dicts) as CSV; the columns are the union of keys in first-seen order."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(path, buf.getvalue())


def plot_history(path: str | Path, rows: list[dict], title: str = "training") -> None:
    """Loss curves (every ``*loss*`` column) against epoch, and other validation metrics."""
    from ..report import pyplot

    plt = pyplot()

    if not rows:
        return
    epochs = [r["epoch"] for r in rows]
    loss_cols = [k for k in rows[-1] if "loss" in k]
    other = [k for k in rows[-1] if k.startswith("val_") and "loss" not in k]
    fig, axes = plt.subplots(1, 2 if other else 1, figsize=(10 if other else 6, 4), squeeze=False)
    for k in loss_cols:
        axes[0, 0].plot(epochs, [r.get(k) for r in rows], marker="o", label=k)
    axes[0, 0].set_xlabel("epoch")
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].legend()
    axes[0, 0].set_title(title)
    if other:
        for k in other:
            axes[0, 1].plot(epochs, [r.get(k) for r in rows], marker="o", label=k)
        axes[0, 1].set_xlabel("epoch")
        axes[0, 1].legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
