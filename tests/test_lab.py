"""The memory lab: task generators are right, a tiny sweep runs end to end, gradients."""

import numpy as np
import torch
from conftest import read_json

from rnnlab.apps.memory import MemoryConfig, gradient_norms, summarize
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
