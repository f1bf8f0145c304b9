"""Attention weights as a heatmap: one row per output step, one column per input token
(translate's alignments, handwriting's window over the text)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import pyplot, save_figure

__all__ = ["draw_alignment", "plot_alignment"]


def draw_alignment(ax, weights: np.ndarray, columns: list[str] | None, rows: list[str] | None,
                   xlabel: str, ylabel: str, fontsize: int = 8) -> None:
    """``weights`` ``(rows, columns)`` on ``ax`` in greys (0 white, 1 black), each axis
    labelled with its tokens where given."""
    ax.imshow(weights, cmap="Greys", aspect="auto", vmin=0, vmax=max(1.0, float(np.nanmax(weights, initial=0))),
              interpolation="nearest")
    if columns is not None:
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=fontsize)
    if rows is not None:
        ax.set_yticks(range(len(rows)), rows, fontsize=fontsize)
    ax.set_xlabel(xlabel, fontsize=fontsize)
    ax.set_ylabel(ylabel, fontsize=fontsize)


def plot_alignment(path: Path, weights: np.ndarray, inputs: list[str], outputs: list[str], title: str,
                   xlabel: str = "source", ylabel: str = "output") -> None:
    """A figure of :func:`draw_alignment`, sized to the tokens, saved to ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(inputs) + 2), max(3, 0.35 * len(outputs) + 1.5)))
    draw_alignment(ax, weights, inputs, outputs, xlabel, ylabel)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
