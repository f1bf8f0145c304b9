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
