"""The estimators: rnnlab's apps on in-memory data in scikit-learn's and aeon's conventions,
trained by the same code as the CLI (same seed and config, same model)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import rnnlab
from rnnlab.errors import InputError
from rnnlab.estimators import Forecaster, SequenceClassifier, TextGenerator, Translator, load
from rnnlab.training import TrainConfig

FAST = SequenceClassifier._get_test_params()


def _waves(n=40, seed=0):
    """Two classes of 2-channel series of different lengths (aeon's layout: (channels, T))."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        T = int(rng.integers(20, 30))
        t = np.arange(T)
        label = i % 2
        base = np.sin(t / 2) + (1.0 if label else -1.0)
        X.append(np.stack([base, np.cos(t / 3)]) + 0.1 * rng.normal(size=(2, T)))
        y.append(label + 1)
    return X, np.array(y)


def test_classifier_fits_predicts_and_keeps_the_label_type():
    X, y = _waves()
    clf = SequenceClassifier(**{**FAST, "epochs": 15, "hidden_size": 16, "lr": 0.01}).fit(X, y)
    assert clf.classes_.tolist() == [1, 2]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    pred = clf.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= {1, 2}
    assert clf.score(X, y) >= 0.9  # learns two easy classes


def test_parameters_are_the_config_keys_and_clone_round_trips():
    from sklearn.base import clone

    clf = SequenceClassifier(hidden_size=32, epochs=7, conv=(16,), conv_kernels=(3,))
    params = clf.get_params()
    assert params["hidden_size"] == 32 and params["epochs"] == 7 and params["cell"] == "lstm"
    assert "data" not in params and "test" not in params and "train" not in params
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    twin.set_params(lr=0.01)
    assert twin.lr == 0.01 and clf.lr != 0.01
    with pytest.raises(TypeError, match="hiden_size"):
        SequenceClassifier(hiden_size=3)


def test_bad_config_and_bad_data_are_value_errors_naming_the_key():
    X, y = _waves(10)
    with pytest.raises(ValueError, match="cell"):
        SequenceClassifier(**{**FAST, "cell": "transformer"}).fit(X, y)
    with pytest.raises(ValueError):
        SequenceClassifier(**FAST).fit(X, y[:5])
    with pytest.raises(InputError, match="not fitted"):
        SequenceClassifier(**FAST).save("/tmp/never")


def test_save_writes_a_run_the_cli_predicts_with_and_load_reads_back(tmp_path):
    X, y = _waves(20)
    clf = SequenceClassifier(**FAST).fit(X, y)
    run = clf.save(tmp_path / "run")
    out = subprocess.run([sys.executable, "-m", "rnnlab", "classify", "predict", str(run), "--data",
                          str(run / "train.npz")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cli = [line.split("\t")[1] for line in out.stdout.splitlines()]
    assert cli == [str(p) for p in clf.predict(X)]
    again = load(run)
    assert isinstance(again, SequenceClassifier) and again.get_params() == clf.get_params()
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert rnnlab.load is load


def test_pickled_estimator_predicts_the_same():
    import pickle

    X, y = _waves(12)
    clf = SequenceClassifier(**FAST).fit(X, y)
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), clf.predict_proba(X))


def test_cross_val_score_and_grid_search_run_over_config_keys():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = _waves(24)
    scores = cross_val_score(SequenceClassifier(**FAST), X, y, cv=2)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    grid = GridSearchCV(SequenceClassifier(**FAST), {"hidden_size": [4, 8]}, cv=2).fit(X, y)
    assert grid.best_params_["hidden_size"] in (4, 8)


def test_aeon_check_estimator_passes():
    from aeon.testing.estimator_checking import check_estimator

    results = check_estimator(SequenceClassifier, raise_exceptions=False)
    failed = {k: v for k, v in results.items() if v not in ("PASSED",) and not str(v).startswith("SKIPPED")}
    assert not failed, failed


@pytest.mark.slow
def test_same_accuracy_as_the_cli_on_japanese_vowels(tmp_path):
    """The estimator on aeon's arrays and `rnnlab classify train` on the bundled files: one model."""
    from aeon.datasets import load_classification

    params = {**FAST, "hidden_size": 16, "epochs": 3, "deltas": True, "seed": 3}
    Xtr, ytr = load_classification("JapaneseVowels", split="train")
    Xte, yte = load_classification("JapaneseVowels", split="test")
    acc = SequenceClassifier(**params).fit(Xtr, ytr).score(Xte, yte)
    import json

    cmd = [sys.executable, "-m", "rnnlab", "classify", "train", "--data", "JapaneseVowels", "--out",
           str(tmp_path / "cli"), "--epochs", "3", "--seed", "3"]
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    for k, v in params.items():
        if k not in ("epochs", "seed"):
            key = f"train.{k}" if k in train_keys else k
            cmd += ["--set", f"{key}={json.dumps(list(v) if isinstance(v, tuple) else v)}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())["accuracy"]
    assert acc == pytest.approx(cli, abs=1e-12)


def _airline():
    from aeon.datasets import load_airline

    return load_airline(return_array=False)


FAST_FORECAST = dict(ensemble=1, hidden_size=8, epochs=3, patience=None, baselines=("naive", "seasonal_naive"))


def test_forecaster_predicts_the_months_after_the_series_as_the_cli_does(tmp_path):
    import pandas as pd

    y = _airline()
    f = Forecaster(6, **FAST_FORECAST).fit(y)
    pred = f.predict()
    assert isinstance(pred, pd.Series) and len(pred) == 6
    assert [str(p) for p in pred.index] == ["1961-01", "1961-02", "1961-03", "1961-04", "1961-05", "1961-06"]
    run = f.save(tmp_path / "run")
    out = subprocess.run([sys.executable, "-m", "rnnlab", "forecast", "predict", str(run)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    cli = [float(line.split(",")[2]) for line in out.stdout.splitlines()[1:]]
    assert np.allclose(pred.to_numpy(), cli, rtol=1e-5)
    table = f.backtest()
    assert {"rnn", "naive", "seasonal_naive"} <= set(table.index) and "mae" in table.columns
    later = f.backtest("1959-01")  # a copy trained up to 1959, scored from there
    assert later.loc["naive", "mae"] != table.loc["naive", "mae"]
    assert load(run).get_params()["horizon"] == 6


def test_forecaster_on_an_array_with_covariates_and_intervals():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    y = np.sin(t / 6) + 0.05 * rng.normal(size=120)
    X = np.cos(t / 6)[:, None]
    out = Forecaster(4, **{**FAST_FORECAST, "likelihood": "gaussian"}).fit(y, X).predict()
    assert list(out.index) == [120, 121, 122, 123]
    assert (out["lower95"] <= out["value"]).all() and (out["value"] <= out["upper95"]).all()
    with pytest.raises(ValueError, match="rows"):
        Forecaster(4, **FAST_FORECAST).fit(y, X[:10])


def test_text_generator_and_translator_on_lists_of_strings():
    text = ["the cat sat on the mat. " * 40, "a dog ran in the fog. " * 40]
    gen = TextGenerator(hidden_size=32, embed_size=16, num_layers=1, seq_len=16, batch_size=4, epochs=1,
                        dropout=0.0).fit(text)
    out = gen.generate("the", length=20, temperature=0)
    assert isinstance(out, str) and len(out) == 20
    assert gen.metrics_["val_bits_per_char"] < gen.metrics_["baseline_unigram_bits_per_char"]
    words = ["eins", "zwei", "drei", "vier"]
    src = [f"{a} {b}" for a in words for b in words] * 4
    tgt = [" ".join(reversed(s.split())) for s in src]
    tr = Translator(tokenizer="char", hidden_size=32, embed_size=16, epochs=1, beam_size=1, heatmaps=0,
                    eval_limit=0).fit(src, tgt)
    assert len(tr.translate(["eins zwei", "drei vier"])) == 2
    with pytest.raises(ValueError, match="sources\\[0\\]"):
        Translator().fit(["a\tb"], ["c"])


def test_document_classifier_on_lists_of_strings(tmp_path):
    from rnnlab.estimators import DocumentClassifier

    rng = np.random.default_rng(0)
    topics = {0: "goal match team win league", 1: "bank profit shares market rate"}
    texts, labels = [], []
    for i in range(60):
        label = i % 2
        words = topics[label].split() + "the a of and it".split()
        texts.append(" ".join(f"{' '.join(rng.choice(words, 6))}." for _ in range(3)) + f" Doc {i}.")
        labels.append(label)
    clf = DocumentClassifier(embed_size=16, hidden_size=8, epochs=6, lr=0.01, dropout=0.1, baselines=("majority",),
                             explain=0).fit(texts, labels)
    assert clf.classes_.tolist() == [0, 1] and clf.score(texts, labels) >= 0.9
    assert "predicted:" in clf.explain_html(texts[0])
    assert load(clf.save(tmp_path / "run")).predict(texts[:4]).tolist() == [str(v) for v in clf.predict(texts[:4])]
