"""A crash never loses a run: checkpoints are whole or absent, Ctrl-C / SIGTERM stop
resumably, a run directory has one writer, a failed write keeps the last checkpoint."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.errors import RunWriteError
from rnnlab.training import TensorBatches, TrainConfig, Trainer
from rnnlab.training.checkpoint import CHECKPOINT_DIR, latest_checkpoint, load_checkpoint, save_checkpoint
from rnnlab.training.lock import run_lock

ROOT = Path(__file__).resolve().parents[1]


def setup(seed=0):
    torch.manual_seed(123)
    x = torch.randn(64, 6, 2)
    y = x.sum((1, 2)).unsqueeze(1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, (lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])), TensorBatches(x, y, batch_size=8, seed=0)


def test_keeps_the_newest_complete_checkpoints(tmp_path):
    model, loss, batches = setup()
    Trainer(model, loss, TrainConfig(epochs=2, checkpoint_every=3, keep_checkpoints=2), run_dir=tmp_path,
            verbose=False).fit(batches)
    steps = sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir())
    assert steps == ["step-00000015", "step-00000016"]  # 8 batches an epoch: 3, 6, ..., 15, and 16 at the end
    assert latest_checkpoint(tmp_path).name == "step-00000016"


def test_an_incomplete_newest_checkpoint_is_skipped(tmp_path, capsys):
    model, loss, batches = setup()
    Trainer(model, loss, TrainConfig(epochs=1, checkpoint_every=4), run_dir=tmp_path, verbose=False).fit(batches)
    newest = latest_checkpoint(tmp_path)
    (newest / "manifest.json").unlink()  # as if killed before the manifest (the last file) was written
    assert latest_checkpoint(tmp_path).name == "step-00000004"
    assert "incomplete" in capsys.readouterr().err
    # a torn file (another size than the manifest says) is skipped too
    with open(latest_checkpoint(tmp_path) / "model.safetensors", "ab") as f:
        f.write(b"x")
    assert latest_checkpoint(tmp_path) is None


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, loss, batches = setup()
    Trainer(model, loss, TrainConfig(epochs=1), run_dir=tmp_path, verbose=False).fit(batches)
    before = {p.name: p.read_bytes() for p in latest_checkpoint(tmp_path).iterdir()}
    import rnnlab.training.checkpoint as ck

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck, "save_tensors", full)
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(RunWriteError, match="No space left on device.*step 8\\) is intact.*--resume"):
        save_checkpoint(tmp_path, model, opt, None, {"global_step": 9}, None)
    assert [p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir()] == ["step-00000008"]  # no partial left
    assert {p.name: p.read_bytes() for p in latest_checkpoint(tmp_path).iterdir()} == before
    state, _ = load_checkpoint(tmp_path, model, opt, None)
    assert state["global_step"] == 8


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_run_directory_is_a_clear_error(tmp_path):
    model, loss, batches = setup()
    Trainer(model, loss, TrainConfig(epochs=1), run_dir=tmp_path, verbose=False).fit(batches)
    root = tmp_path / CHECKPOINT_DIR
    root.chmod(0o500)
    try:
        with pytest.raises(RunWriteError, match="intact"):
            save_checkpoint(tmp_path, model, torch.optim.Adam(model.parameters()), None, {"global_step": 9}, None)
    finally:
        root.chmod(0o700)


def test_the_run_lock_names_the_other_process_and_takes_over_a_stale_one(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from rnnlab.training.lock import run_lock\n"
        "with run_lock(%r):\n    print('locked', flush=True); time.sleep(60)\n") % (str(ROOT / "src"), str(tmp_path))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        from rnnlab.errors import InputError

        with pytest.raises(InputError, match=f"in use by process {holder.pid}"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.kill()  # SIGKILL: its pid stays in the lock file
        holder.wait()
    with run_lock(tmp_path):
        pass
    assert f"took over the lock of process {holder.pid}" in capsys.readouterr().err
    with run_lock(tmp_path):  # a clean release leaves no note
        pass
    assert "took over" not in capsys.readouterr().err


def make_series(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12, 1)).astype("float32")
    y = (x[:, :, 0].mean(1) > 0).astype("int64")
    np.savez(path, X=x, y=y)
    return path


class _Run:
    """``python -m rnnlab ARGS`` in the background, its stderr kept in a file (a pipe
    could fill up and stall a long run)."""

    def __init__(self, *args):
        import tempfile

        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen([sys.executable, "-m", "rnnlab", *args], env=env, stdout=subprocess.DEVNULL,
                                  stderr=self.err, text=True)
        self.pid = self.p.pid

    def wait(self, timeout=600) -> int:
        return self.p.wait(timeout=timeout)

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read()


def _cli(*args) -> _Run:
    return _Run(*args)


def _final_weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(latest_checkpoint(run) / "model.safetensors")


@pytest.mark.slow  # real training runs in subprocesses
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_checkpoints_and_the_resume_is_bitwise_equal(tmp_path, signum, code):
    data = make_series(tmp_path / "s.npz")
    common = ["--quick", "--data", str(data), "--epochs", "30", "--seed", "1",
              "--set", "train.checkpoint_every=1000"]  # only the signal's checkpoint mid-epoch
    full = _cli("classify", "train", *common, "--out", str(tmp_path / "full"))
    assert full.wait() == 0, full.stderr()
    run = tmp_path / "stopped"
    p = _cli("classify", "train", *common, "--out", str(run))
    while latest_checkpoint(run) is None and p.p.poll() is None:  # the first epoch's checkpoint exists
        time.sleep(0.05)
    p.p.send_signal(signum)
    assert p.wait() == code, p.stderr()
    assert "--resume" in p.stderr() and "interrupted at step" in p.stderr()
    r = _cli("classify", "train", "--resume", str(run))
    assert r.wait() == 0, r.stderr()
    assert "resuming from step" in r.stderr()
    a, b = _final_weights(tmp_path / "full"), _final_weights(run)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


@pytest.mark.slow  # real training runs in subprocesses
def test_a_second_train_on_a_directory_in_use_exits_2_naming_the_process(tmp_path):
    data = make_series(tmp_path / "s.npz")
    run = tmp_path / "run"
    p = _cli("classify", "train", "--quick", "--data", str(data), "--epochs", "200", "--out", str(run))
    try:
        while not (run / "config.json").exists() and p.p.poll() is None:
            time.sleep(0.05)
        r = _cli("classify", "train", "--resume", str(run))
        assert r.wait() == 2 and f"in use by process {p.pid}" in r.stderr(), r.stderr()
        r = _cli("classify", "train", "--quick", "--data", str(data), "--out", str(run))
        assert r.wait() == 2 and f"in use by process {p.pid}" in r.stderr(), r.stderr()
    finally:
        p.p.kill()
        p.wait()


@pytest.mark.slow
@pytest.mark.parametrize("app", ["classify", "textgen"])
def test_random_sigkills_always_resume_bitwise_equal(tmp_path, app):
    """benchmarks/kill_resume.py in small: 2 SIGKILLs at random moments of a classify and of
    a textgen run (a checkpoint after every step), each resumed to the uninterrupted weights
    (the benchmark itself kills 20 times)."""
    import importlib.util
    import random

    spec = importlib.util.spec_from_file_location("kill_resume", ROOT / "benchmarks" / "kill_resume.py")
    kr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kr)
    result = kr.bench(app, kr._data(tmp_path)[app], 2, tmp_path, random.Random(1))
    assert result["recovered"] == 2, result


@pytest.mark.slow  # real training runs in subprocesses
def test_a_hostile_run_directory_is_an_input_error_not_an_out_of_memory(tmp_path):
    """config.json with a hidden size of 10^9, a vocabulary that does not match the
    weights: exit 2 naming the file, checked on the meta device before anything is built."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. " * 200)
    run = tmp_path / "run"
    p = _cli("textgen", "train", "--quick", "--data", str(corpus), "--out", str(run), "--epochs", "1",
             "--set", "hidden_size=32", "--set", "seq_len=16", "--set", "batch_size=8")
    assert p.wait() == 0, p.stderr()
    cfg_path, vocab_path = run / "config.json", run / "vocab.json"
    cfg_text, vocab_text = cfg_path.read_text(), vocab_path.read_text()
    cfg = json.loads(cfg_text)
    cfg["config"]["hidden_size"] = 10**9
    cfg_path.write_text(json.dumps(cfg))
    r = _cli("textgen", "evaluate", str(run))
    assert r.wait() == 2, r.stderr()
    assert "config.json" in r.stderr() and r.stderr().count("\n") == 1, r.stderr()
    cfg_path.write_text(cfg_text)
    vocab = json.loads(vocab_text)
    vocab["chars"] = vocab["chars"] + ("ZQ" if isinstance(vocab["chars"], str) else ["Z", "Q"])
    vocab_path.write_text(json.dumps(vocab))
    r = _cli("textgen", "sample", str(run), "--prime", "the ")
    assert r.wait() == 2 and "do not fit" in r.stderr(), r.stderr()
