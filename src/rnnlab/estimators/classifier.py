"""``SequenceClassifier``: ``rnnlab classify`` as an aeon classifier and scikit-learn estimator.

    >>> from rnnlab import SequenceClassifier
    >>> clf = SequenceClassifier(epochs=20, ensemble=1).fit(X_train, y_train)   # doctest: +SKIP
    >>> clf.score(X_test, y_test)                                                 # doctest: +SKIP

``X``: an array ``(n, channels, T)`` (aeon's layout; ``(n, T)`` for one channel) or a list
of ``(channels, T_i)`` arrays of different lengths. The network, its defaults and its
training are those of ``rnnlab classify train`` (a bidirectional LSTM with a
convolutional front end, Δ features, an ensemble of 3): the same seed and config give
the same model as the CLI on the same series.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from aeon.classification.base import BaseClassifier

from ..apps.classify import APP as CLASSIFY
from ..errors import InputError
from .base import RunBackedEstimator, columns_for

__all__ = ["SequenceClassifier"]


def _series(X) -> list[np.ndarray]:
    """aeon's layout (channels, T) per case -> rnnlab's (T, channels), as float64."""
    return [np.asarray(x, dtype=float).T for x in X]


def _npz(series: list[np.ndarray], labels: list[str]) -> bytes:
    """The series as the NPZ ``rnnlab classify`` reads: X padded (n, T, C), lengths, y."""
    T = max(len(s) for s in series)
    X = np.zeros((len(series), T, series[0].shape[1]))
    for i, s in enumerate(series):
        X[i, :len(s)] = s
    buf = io.BytesIO()
    np.savez(buf, X=X, lengths=np.array([len(s) for s in series]), y=np.array(labels))
    return buf.getvalue()


class SequenceClassifier(RunBackedEstimator, BaseClassifier):
    """A recurrent classifier of whole sequences (``rnnlab classify``), in aeon's and
    scikit-learn's conventions: ``fit(X, y)``, ``predict``, ``predict_proba``, ``score``,
    ``classes_``; ``get_params`` / ``set_params``, ``clone``, ``cross_val_score`` and
    ``GridSearchCV`` over every key of ``rnnlab classify config`` (the ``train`` keys —
    ``epochs``, ``lr``, ``seed``, ... — at the top level). ``save(dir)`` writes a run
    directory (``rnnlab classify predict DIR --data FILE`` reads it); ``rnnlab.load(dir)``
    reads one back. ``verbose=1`` shows the training progress."""

    _app = CLASSIFY
    _exclude = ("data", "test")
    _tags = {
        "capability:multivariate": True,
        "capability:unequal_length": True,
        "X_inner_type": ["np-list", "numpy3D"],
        "algorithm_type": "deeplearning",
        "python_dependencies": "torch",
    }

    _data_file = "train.npz"

    def __init__(self, **params):  # replaced by _define_params (an explicit signature)
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def _get_test_params(cls, parameter_set: str = "default"):
        """A configuration that trains in a second or two (aeon's estimator checks)."""
        return {"hidden_size": 8, "conv": (), "conv_kernels": (), "ensemble": 1, "epochs": 2, "min_steps": 0,
                "batch_size": 8, "deltas": False, "dropout": 0.0, "log_every": 10**9}

    def _fit(self, X, y):
        series = _series(X)
        data = _npz(series, [str(v) for v in y])
        self._train_on(data, test="none")
        return self

    def _predict_proba(self, X) -> np.ndarray:
        run = self._app_loaded()
        series = _series(X)
        if series and series[0].shape[1] != run.encoding.channels:
            raise InputError(f"X: {series[0].shape[1]} channels, the model was trained on {run.encoding.channels}")
        proba = self._app.predict_proba(run.model, series, run.encoding)
        return columns_for(proba, run.classes, self.classes_)  # in the order of aeon's classes_

    def _predict(self, X) -> np.ndarray:
        return self.classes_[self._predict_proba(X).argmax(1)]

    def _restore(self, run: Path, cfg) -> None:
        import json

        classes = json.loads((run / "classes.json").read_text())["classes"]
        self.classes_ = np.array(classes)
        self.n_classes_ = len(classes)
        self._class_dictionary = {c: i for i, c in enumerate(self.classes_)}
        self.metadata_ = {}
        self.is_fitted = True


SequenceClassifier._define_params()
