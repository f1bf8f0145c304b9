import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    for item in items:
        if "test_torch_module_db" in item.nodeid and any(
                f"test_{kind}_{cls}_" in item.name for kind in ("grad", "gradgrad") for cls in ("RNN", "GRU", "LSTM")):
            item.add_marker(pytest.mark.slow)
