"""The long-range memory tasks of ``rnnlab lab``: batches of the adding, copy-memory and
delayed-recall problems at a length L, the network for each, its loss and held-out score
and the success criteria; and the gradient measurements — the norm of the loss's
gradient with respect to each step's hidden state, and training with and without
clipping. See :mod:`rnnlab.apps.lab` for the protocol."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..data.synthetic import COPY_LENGTH, COPY_SYMBOLS, adding_problem, copy_memory, delayed_recall
from ..models import RecurrentBlockClassifier, SeqToSeq, SeqToVec
from ..recurrent import Recurrent

__all__ = ["TASKS", "MODELS", "PARALLEL_MODELS", "RECALL_SYMBOLS", "THRESHOLD", "make_batch", "build_model",
           "task_loss", "task_score", "solved", "gradient_norms", "clipping_curves"]

TASKS = ("adding", "copy", "recall")
MODELS = ("rnn", "lstm", "lstm_chrono", "gru")
#: the recurrences linear in their state (rnnlab.linear_cells), trained on the scan; not in
#: the default sweep, which stays the survey's cells. Each alone (one layer and the head,
#: as the survey's cells), and the LRU also in its paper's residual blocks (``lru_blocks``:
#: two blocks with MLPs, adding and recall only) — alone it is linear from input to output
#: and cannot form the adding problem's products. LRU eigenvalues on the paper's ring for
#: long-range tasks, |λ| in [0.9, 0.999].
PARALLEL_MODELS = ("mingru", "minlstm", "lru", "lru_blocks")
LRU_RING = {"r_min": 0.9, "r_max": 0.999}
RECALL_SYMBOLS = 8
THRESHOLD = {"adding": 0.01, "copy": 0.9, "recall": 0.9}


def make_batch(task: str, n: int, L: int, g: torch.Generator):
    """A batch ``(x, y)`` of ``n`` sequences of ``task`` at length ``L``."""
    if task == "adding":
        return adding_problem(n, L, g)
    if task == "copy":
        return copy_memory(n, L, g)
    return delayed_recall(n, L, RECALL_SYMBOLS, generator=g)


def build_model(task: str, model: str, L: int, hidden: int) -> nn.Module:
    """The network for ``task``: ``model`` is a cell name, or ``lstm_chrono`` (an LSTM
    with chrono initialisation for sequences of this length)."""
    cell = "lstm" if model.startswith("lstm") else model
    kwargs = dict(LRU_RING) if model.startswith("lru") else {}
    if model == "lru_blocks":
        if task == "copy":
            raise ValueError("models: lru_blocks runs the adding and recall tasks (copy: use lru)")
        inputs, outputs = (2, 1) if task == "adding" else (RECALL_SYMBOLS + 5, RECALL_SYMBOLS)
        return RecurrentBlockClassifier(inputs, outputs, hidden, num_blocks=2, cell="lru", **kwargs)
    if model == "lstm_chrono":
        seq_len = L + 2 * COPY_LENGTH if task == "copy" else L + 1
        kwargs["chrono_max_timescale"] = max(3.0, float(seq_len))
    if task == "adding":
        return SeqToVec(2, 1, hidden, cell, **kwargs)
    if task == "recall":
        return SeqToVec(RECALL_SYMBOLS + 5, RECALL_SYMBOLS, hidden, cell, **kwargs)
    return SeqToSeq(16, COPY_SYMBOLS + 1, hidden, cell, num_embeddings=COPY_SYMBOLS + 2, **kwargs)


def task_loss(task: str, model: nn.Module, x, y):
    """The training loss of ``model`` on one batch of ``task``."""
    if task == "adding":
        return nn.functional.mse_loss(model(x), y)
    if task == "recall":
        return nn.functional.cross_entropy(model(x), y)
    logits, _ = model(x)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1)


@torch.no_grad()
def task_score(task: str, model: nn.Module, x, y) -> float:
    """MSE (adding) or accuracy on the positions that are scored."""
    if task == "adding":
        return float(nn.functional.mse_loss(model(x), y))
    if task == "recall":
        return float((model(x).argmax(-1) == y).float().mean())
    logits, _ = model(x)
    return float((logits.argmax(-1)[:, -COPY_LENGTH:] == y[:, -COPY_LENGTH:]).float().mean())


def solved(task: str, score: float) -> bool:
    """Whether a held-out score meets the task's criterion (:data:`THRESHOLD`)."""
    return score < THRESHOLD[task] if task == "adding" else score >= THRESHOLD[task]


def gradient_norms(cell: str, T: int = 100, hidden: int = 64, batch: int = 32, seed: int = 0,
                   model: nn.Module | None = None) -> np.ndarray:
    """‖∂loss/∂h_t‖ (mean over the batch) for t = 0..T-1, loss at the last step of an
    adding-problem batch, for a fresh (or given) SeqToVec model."""
    torch.manual_seed(seed)
    if model is None:
        model = build_model("adding", cell, T, hidden)
    rnn: Recurrent = model.rnn
    x, y = adding_problem(batch, T, torch.Generator().manual_seed(seed))
    cells = rnn.cells
    inp = x.transpose(0, 1)
    hs = []
    for k, c in enumerate(cells):  # unidirectional stack, step by step to keep every h_t
        state = c.init_state(batch)
        outs = []
        xp = c.project_input(inp)
        for t in range(T):
            h, state = c.step(xp[t], state)
            outs.append(h)
        if k == len(cells) - 1:
            hs = outs
        inp = torch.stack(outs)
    loss = nn.functional.mse_loss(model.head(hs[-1]), y)
    grads = torch.autograd.grad(loss, hs)
    return np.array([float(g.norm(dim=1).mean()) for g in grads])


def clipping_curves(T: int = 50, steps: int = 300, lr: float = 0.05, seed: int = 0) -> dict[str, list[float]]:
    """Training loss of an Elman RNN on the adding problem with and without clipping (SGD)."""
    curves = {}
    for name, clip in (("no clipping", None), ("clip_norm=1", 1.0)):
        torch.manual_seed(seed)
        model = build_model("adding", "rnn", T, 64)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        g = torch.Generator().manual_seed(seed)
        losses = []
        for _ in range(steps):
            x, y = adding_problem(64, T, g)
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            losses.append(float(loss) if math.isfinite(float(loss)) else float("nan"))
        curves[name] = losses
    return curves
