import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The suite runs on pytest-xdist's workers (``-n auto`` in pyproject.toml): most tests are
# small trainings and CLI subprocesses bound by Python, not by GEMMs, so two of them on two
# cores finish sooner than one at a time. Each worker (and every process it starts) gets
# its share of the cores as threads: torch's default, all the cores per process, would
# oversubscribe them and slow every test down.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = _threads
    torch.set_num_threads(int(_threads))


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None, timeout: int = 600):
    """Run ``python -m rnnlab ARGS`` in a subprocess: (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "rnnlab", *args], cwd=cwd, input=input, capture_output=True,
                       text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def cli():
    return run_cli


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def as_if_killed(run_dir: Path) -> None:
    """Clear ``train.max_steps`` in a run's config.json: a run stopped by that limit then
    looks like one killed at that step, and ``--resume`` trains it to the end."""
    path = Path(run_dir) / "config.json"
    cfg = json.loads(path.read_text())
    cfg["config"]["train"]["max_steps"] = None
    path.write_text(json.dumps(cfg))


def pytest_collection_modifyitems(items):
    """torch's gradcheck and gradgradcheck of the multi-layer drop-ins (test_torch_module_db,
    about 4 minutes on 2 cores) run in the slow suite, which CI runs too."""
    # Under RNNLAB_SWAP_TORCH_NN=1 torch names the tests after ``torch.nn.LSTM`` etc.
    # ("test_grad_nn_LSTM_..."), otherwise after our class ("test_grad_LSTM_...").
    layer_gradcheck = re.compile(r"test_(grad|gradgrad)_(nn_)?(RNN|GRU|LSTM)_")
    for item in items:
        if "test_torch_module_db" in item.nodeid and layer_gradcheck.match(item.name):
            item.add_marker(pytest.mark.slow)
