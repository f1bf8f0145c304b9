"""Classification as a task, shared by the apps that label things (``classify``,
``docs``): stratified splits, the majority class, the classification report and the
confusion plot."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np

from ..report import save_figure

__all__ = ["stratified_split", "stratified_folds", "majority_class", "classification_report", "plot_confusion"]


def majority_class(labels: list[str]) -> str:
    """The most frequent label; a tie goes to the first in sorted order, so the majority
    baseline does not depend on the process's string hashing (two classes of BBC News'
    training splits are equally frequent)."""
    counts = Counter(labels)
    return min(counts, key=lambda v: (-counts[v], v))


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept, held out) indices; each class contributes ~fraction of its members (≥ 1
    when it has 2 or more); fraction 0 holds out nothing."""
    if fraction <= 0:
        return list(range(len(labels))), []
    rng = random.Random(seed)
    keep, held = [], []
    for c in sorted(set(labels)):
        idx = [i for i, v in enumerate(labels) if v == c]
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            k = max(1, k)
        held += idx[:k]
        keep += idx[k:]
    return sorted(keep), sorted(held)


def stratified_folds(labels: list[str], k: int, seed: int) -> list[list[int]]:
    """``k`` folds of indices (each sorted), every class spread evenly over them: the
    members of each class, shuffled by ``seed``, are dealt out in turn."""
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for c in sorted(set(labels)):
        idx = [i for i, v in enumerate(labels) if v == c]
        rng.shuffle(idx)
        for i in idx:
            folds[dealt % k].append(i)
            dealt += 1
    return [sorted(f) for f in folds]


def classification_report(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix."""
    k = len(classes)
    cm = np.zeros((k, k), dtype=int)
    for a, b in zip(y, pred):
        cm[a, b] += 1
    per = {}
    f1s = []
    for i, c in enumerate(classes):
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = tp / cm[i].sum() if cm[i].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[c] = {"precision": prec, "recall": rec, "f1": f1, "support": int(cm[i].sum())}
        if cm[i].sum():
            f1s.append(f1)
    return {"accuracy": float((y == pred).mean()), "macro_f1": float(np.mean(f1s)), "per_class": per,
            "confusion": cm.tolist()}


def plot_confusion(path: Path, cm: list[list[int]], classes: list[str], title: str) -> None:
    from ..report import pyplot

    plt = pyplot()

    cm = np.array(cm)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * k + 2), max(3.5, 0.5 * k + 1.5)))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k), classes, rotation=90 if k > 6 else 0, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
