"""The labs: task generators are right, tiny sweeps run end to end, gradients, attention vs a fixed vector."""

import numpy as np
import pytest
import torch
from conftest import read_json

from rnnlab.apps.lab import MemoryConfig, gradient_norms, summarize
from rnnlab.data.synthetic import (
    COPY_LENGTH,
    adding_problem,
    copy_memory,
    delayed_recall,
)


def test_adding_problem_targets():
    g = torch.Generator().manual_seed(0)
    x, y = adding_problem(256, 30, g)
    marks = x[..., 1]
    assert torch.all(marks.sum(1) == 2)
    assert torch.all(marks[:, :15].sum(1) == 1) and torch.all(marks[:, 15:].sum(1) == 1)
    torch.testing.assert_close(y.squeeze(1), (x[..., 0] * marks).sum(1))
    # predicting the mean gives about 1/6
    assert abs(float(((y - 1.0) ** 2).mean()) - 1 / 6) < 0.03


def test_copy_memory_targets():
    x, y = copy_memory(4, 7, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 7 + 2 * COPY_LENGTH)
    assert torch.equal(y[:, -COPY_LENGTH:], x[:, :COPY_LENGTH])
    assert torch.all(y[:, :-COPY_LENGTH] == 0)
    assert torch.all(x[:, COPY_LENGTH + 7 - 1] == 9)  # the delimiter
    assert torch.all((x[:, :COPY_LENGTH] >= 1) & (x[:, :COPY_LENGTH] <= 8))


def test_delayed_recall_targets():
    x, y = delayed_recall(64, 12, k=8, generator=torch.Generator().manual_seed(0))
    ids = x.argmax(-1)
    assert x.shape == (64, 13, 13)
    assert torch.equal(ids[:, 0], y)
    assert torch.all(ids[:, 1:-1] >= 8) and torch.all(ids[:, 1:-1] < 12) and torch.all(ids[:, -1] == 12)


def test_summary_is_largest_length_before_first_failure():
    cfg = MemoryConfig(data="adding", lengths=[5, 10, 20], models=["rnn"])
    rows = [{"task": "adding", "model": "rnn", "length": L, "seed": 0, "solved": s}
            for L, s in [(5, True), (10, False), (20, True)]]
    assert summarize(rows, cfg) == {"adding": {"rnn": 5}}


def test_gradients_vanish_for_elman_and_persist_for_chrono_lstm():
    rnn = gradient_norms("rnn", T=60, hidden=32)
    chrono = gradient_norms("lstm_chrono", T=60, hidden=32)
    assert rnn[0] / rnn[-1] < 1e-3  # vanished 60 steps back
    assert chrono[0] / chrono[-1] > rnn[0] / rnn[-1] * 100


def test_tiny_sweep_end_to_end(tmp_path, cli):
    out = tmp_path / "lab"
    code, stdout, err = cli("lab", "memory", "--out", str(out), "--data", "adding,recall", "--epochs", "2",
                            "--set", "lengths=[3,6]", "--set", 'models=["rnn","lstm"]', "--set", "steps_per_epoch=5",
                            "--set", "val_size=32")
    assert code == 0, err
    assert "| adding |" in stdout and "| recall |" in stdout
    metrics = read_json(out / "metrics.json")
    assert set(metrics) >= {"adding_max_length_rnn", "recall_max_length_lstm"}
    rows = read_json(out / "results.json")
    assert len(rows) == 8 and (out / "memory.png").stat().st_size > 1000
    code, _, err = cli("lab", "gradients", "--out", str(tmp_path / "g"), "--length", "20", "--no-clipping")
    assert code == 0, err
    g = read_json(tmp_path / "g" / "gradients.json")
    assert len(g["norms"]["lstm"]) == 20 and np.isfinite(g["norms"]["gru"]).all()
    code, _, err = cli("lab", "memory", "--out", str(tmp_path / "bad"), "--data", "sorting")
    assert code == 2 and "unknown task" in err


def test_reversal_batches():
    from rnnlab.tasks.reversal import BOS, EOS, FIRST_SYMBOL, reversal_batch

    src, lengths, tgt_in, tgt_out = reversal_batch(4, 6, 5, torch.Generator().manual_seed(0))
    assert src.shape == (4, 6) and lengths.tolist() == [6] * 4
    assert ((src >= FIRST_SYMBOL) & (src < FIRST_SYMBOL + 5)).all()
    assert torch.equal(tgt_out[:, :6], src.flip(1)) and (tgt_out[:, 6] == EOS).all()
    assert (tgt_in[:, 0] == BOS).all() and torch.equal(tgt_in[:, 1:], tgt_out[:, :6])


def test_attention_lab_cli_writes_its_table(tmp_path, cli):
    out = tmp_path / "attn"
    code, stdout, err = cli("lab", "attention", "--out", str(out), "--set", "lengths=[3,6]", "--set", "steps=60",
                            "--set", "steps_per_eval=30", "--set", "val_size=40", "--set", "hidden_size=16",
                            "--set", 'models=["none","dot"]')
    assert code == 0, err
    assert "| 6 |" in stdout and "attention: dot" in stdout
    m = read_json(out / "metrics.json")
    assert set(m) == {f"{a}_{k}_L{L}" for a in ("none", "dot") for k in ("token_accuracy", "exact") for L in (3, 6)}
    assert all(0 <= v <= 1 for v in m.values()) and (out / "attention.png").exists()
    code, _, err = cli("lab", "attention", "--out", str(out), "--set", 'models=["luong"]')
    assert code == 2 and "models" in err


@pytest.mark.slow
def test_attention_keeps_what_a_fixed_vector_loses():
    """Reversing 12 symbols: with the same small budget, attention gets nearly every symbol
    right; the fixed-size context does much worse."""
    from rnnlab.tasks.reversal import AttentionLabConfig, run_one

    cfg = AttentionLabConfig(lengths=[12], symbols=10, hidden_size=32, steps=600, val_size=200)
    with_attention, without = run_one(cfg, "additive", 12), run_one(cfg, "none", 12)
    assert with_attention["token_accuracy"] > 0.95
    assert without["token_accuracy"] < with_attention["token_accuracy"] - 0.2
