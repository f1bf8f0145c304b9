"""Generated long-range memory tasks (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Each generator returns ``(x, y)`` tensors for a batch, drawn from a ``torch.Generator``:

- :func:`adding_problem` — x ``(B, T, 2)``: a value in U(0, 1) and a marker channel with
  exactly two 1s, one in each half; y ``(B, 1)``: the sum of the two marked values.
  Predicting the mean (1.0) gives MSE = Var = 2/12 ≈ 0.167.
- :func:`copy_memory` — x ``(B, T + 20)`` ids: 10 symbols in 1..8, T blanks (0), a
  delimiter (9) and 9 more blanks; y ``(B, T + 20)``: blanks, then the 10 symbols in
  the last 10 steps. Chance accuracy on the recalled symbols is 1/8.
- :func:`delayed_recall` — x ``(B, d + 1, k + 5)`` one-hot: a symbol, ``d - 1``
  distractors and a recall marker; y ``(B,)``: the symbol seen d steps before the
  marker. Chance accuracy is 1/k.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["adding_problem", "copy_memory", "delayed_recall", "COPY_SYMBOLS", "COPY_LENGTH"]

COPY_SYMBOLS = 8  # symbols 1..8; 0 = blank, 9 = delimiter
COPY_LENGTH = 10


def adding_problem(batch: int, T: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    if T < 2:
        raise ValueError(f"adding problem: T must be >= 2, got {T}")
    values = torch.rand(batch, T, generator=generator)
    half = T // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, T, (batch,), generator=generator)
    marks = torch.zeros(batch, T)
    rows = torch.arange(batch)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, marks], -1), y


def copy_memory(batch: int, T: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    if T < 1:
        raise ValueError(f"copy memory: T must be >= 1, got {T}")
    n = COPY_LENGTH
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (batch, n), generator=generator)
    total = T + 2 * n
    x = torch.zeros(batch, total, dtype=torch.long)
    x[:, :n] = symbols
    x[:, n + T - 1] = COPY_SYMBOLS + 1  # the delimiter: "now recall"
    y = torch.zeros(batch, total, dtype=torch.long)
    y[:, -n:] = symbols
    return x, y


def delayed_recall(batch: int, delay: int, k: int = 8, distractors: int = 4,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """x ``(B, delay + 1, k + distractors + 1)`` one-hot: a symbol in 0..k-1 at step 0,
    ``delay - 1`` random distractor symbols, then the recall marker; y ``(B,)``: the first
    symbol. Only memory spanning ``delay`` steps solves it."""
    if delay < 1:
        raise ValueError(f"delayed recall: delay must be >= 1, got {delay}")
    ids = torch.randint(k, k + distractors, (batch, delay + 1), generator=generator)
    y = torch.randint(0, k, (batch,), generator=generator)
    ids[:, 0] = y
    ids[:, -1] = k + distractors  # the marker: "answer now"
    return torch.nn.functional.one_hot(ids, k + distractors + 1).float(), y
