"""The chords app's comparisons, after the survey's: an HMM with chords as hidden states
(Bernoulli pitch classes per chord), a windowed MLP (:class:`~rnnlab.models.WindowMLP`)
on each unit's neighbourhood, and the hybrid DNN-HMM that decodes the MLP's scaled
posteriors with the HMM's transitions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data.music import CHORDS, Piece
from ..models import WindowMLP
from ..training import TensorBatches, TrainConfig, Trainer

__all__ = ["HMM", "viterbi", "windows", "train_mlp", "mlp_log_probs", "dnn_hmm_predict"]

N_CHORDS = len(CHORDS)


class HMM:
    """Chords as hidden states; per state, independent Bernoulli pitch classes + rest."""

    def fit(self, pieces: list[Piece]) -> "HMM":
        K = N_CHORDS
        trans = np.ones((K, K))
        start = np.ones(K)
        on = np.ones((K, 13))  # the 12 pitch classes and the rest flag
        total = np.full(K, 2.0)
        for p in pieces:
            start[p.y[0]] += 1
            for a, b in zip(p.y[:-1], p.y[1:]):
                trans[a, b] += 1
            active = p.x[:, :13] > 0
            for t, c in enumerate(p.y):
                on[c] += active[t]
                total[c] += 1
        self.log_start = np.log(start / start.sum())
        self.log_trans = np.log(trans / trans.sum(1, keepdims=True))
        prob = on / total[:, None]
        self.log_on, self.log_off = np.log(prob), np.log1p(-prob)
        return self

    def emissions(self, x: np.ndarray) -> np.ndarray:
        """Log-likelihood of each unit's features under each chord ``(T, K)``."""
        active = (x[:, :13] > 0).astype(float)
        return active @ self.log_on.T + (1 - active) @ self.log_off.T  # (T, K)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most likely chord sequence of one piece (Viterbi)."""
        return viterbi(self.log_start, self.log_trans, self.emissions(x))


def viterbi(log_start: np.ndarray, log_trans: np.ndarray, log_emit: np.ndarray) -> np.ndarray:
    """Most likely state path for emissions ``(T, K)``."""
    T, K = log_emit.shape
    score = log_start + log_emit[0]
    back = np.zeros((T, K), dtype=np.int64)
    for t in range(1, T):
        cand = score[:, None] + log_trans  # (from, to)
        back[t] = cand.argmax(0)
        score = cand.max(0) + log_emit[t]
    path = np.zeros(T, dtype=np.int64)
    path[-1] = score.argmax()
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def windows(x: np.ndarray, context: int) -> np.ndarray:
    """(T, (2c+1)*F): each beat with its c neighbours on each side (zeros past the ends)."""
    padded = np.concatenate([np.zeros((context, x.shape[1])), x, np.zeros((context, x.shape[1]))])
    return np.stack([padded[t:t + 2 * context + 1].ravel() for t in range(len(x))])


def train_mlp(pieces: list[Piece], context: int, hidden: int, seed: int) -> nn.Module:
    """The non-recurrent baseline: two hidden ReLU layers on each unit's window."""
    X = torch.tensor(np.concatenate([windows(p.x, context) for p in pieces]), dtype=torch.float32)
    Y = torch.tensor(np.concatenate([p.y for p in pieces]))
    torch.manual_seed(seed)
    mlp = WindowMLP(X.shape[1], hidden, N_CHORDS)
    Trainer(mlp, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
            TrainConfig(epochs=30, lr=1e-3, clip_norm=1.0, seed=seed), verbose=False).fit(
        TensorBatches(X, Y, batch_size=256, seed=seed))
    return mlp.eval()


@torch.no_grad()
def mlp_log_probs(mlp: nn.Module, x: np.ndarray, context: int) -> np.ndarray:
    """(T, chords) log posteriors of each unit of one piece."""
    logits = mlp(torch.tensor(windows(x, context), dtype=torch.float32))
    return torch.log_softmax(logits, -1).numpy()


def dnn_hmm_predict(mlp: nn.Module, hmm: HMM, log_prior: np.ndarray, x: np.ndarray, context: int) -> np.ndarray:
    """Hybrid decoding: ``log p(chord | window) - log p(chord)`` is, up to a term that
    does not depend on the chord, ``log p(window | chord)`` — the HMM's emission."""
    return viterbi(hmm.log_start, hmm.log_trans, mlp_log_probs(mlp, x, context) - log_prior)
