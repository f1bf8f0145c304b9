"""SIGKILL at random moments, then --resume: does every run end bitwise equal to one never
interrupted?

    python benchmarks/kill_resume.py                  # 20 kills each of classify and textgen
    python benchmarks/kill_resume.py --kills 3 --out /tmp/kr

For each app: one uninterrupted run (a checkpoint after every optimiser step, so many
kills land while one is being written); then, for each kill, the same run started
again, killed with SIGKILL at a random moment of its training (uniform between the time
the uninterrupted run wrote its first checkpoint and its end), and resumed with
``--resume`` until it finishes. A kill counts as recovered when the resumed
run exits 0 and its final checkpoint's weights equal the uninterrupted run's bit for
bit. Writes ``kill_resume.json`` and ``kill_resume.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnlab.training.checkpoint import latest_checkpoint  # noqa: E402


def _data(tmp: Path) -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 24, 2)).astype("float32")
    y = (x[:, :, 0].mean(1) > 0).astype("int64")
    np.savez(tmp / "series.npz", X=x, y=y)
    # a prose corpus of the project's own (the README and pages of the site: 60 kB)
    text = "".join((ROOT / f).read_text(encoding="utf-8") for f in ("README.md", "docs/library.md",
                                                                     "docs/results.md", "docs/apps/index.md"))[:60_000]
    (tmp / "corpus.txt").write_text(text, encoding="utf-8")
    every = ["--set", "train.checkpoint_every=1"]
    return {
        "classify": ["classify", "train", "--quick", "--data", str(tmp / "series.npz"), "--epochs", "8",
                     "--seed", "5", *every],
        "textgen": ["textgen", "train", "--quick", "--data", str(tmp / "corpus.txt"), "--epochs", "4",
                    "--seed", "5", "--set", "hidden_size=64", "--set", "seq_len=32", "--set", "batch_size=16", *every],
    }


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "rnnlab", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _weights(run: Path) -> dict:
    return load_file(latest_checkpoint(run) / "model.safetensors")


def bench(app: str, args: list[str], kills: int, tmp: Path, rng: random.Random) -> dict:
    full = tmp / f"{app}-full"
    t0 = time.perf_counter()
    p = _start([*args, "--out", str(full)])
    first = None
    while p.poll() is None:  # when training starts writing checkpoints
        if first is None and (full / "checkpoints").is_dir():
            first = time.perf_counter() - t0
        time.sleep(0.01)
    err = p.stderr.read()
    if p.returncode != 0:
        raise SystemExit(f"{app}: the uninterrupted run failed:\n{err}")
    duration = time.perf_counter() - t0
    first = first if first is not None else 0.0
    reference = _weights(full)
    results = []
    upper = duration
    for k in range(kills):
        run = tmp / f"{app}-kill{k}"
        while True:  # until the kill lands while the run is still going
            delay = rng.uniform(first, upper)
            t = time.perf_counter()
            p = _start([*args, "--out", str(run)])
            time.sleep(delay)
            killed = p.poll() is None
            if killed:
                p.send_signal(signal.SIGKILL)
                p.wait()
                break
            p.wait()  # it finished first: runs take less than the first one did
            upper = min(upper, time.perf_counter() - t) * 0.95
            shutil.rmtree(run, ignore_errors=True)
        step = None
        if (ck := latest_checkpoint(run)) is not None:
            step = json.loads((ck / "trainer.json").read_text())["global_step"]
        resumes = 0
        code = p.returncode
        while code != 0 and resumes < 3:
            # killed before it wrote config.json (still starting up): there is no run yet, start it again
            again = [args[0], "train", "--resume", str(run)] if (run / "config.json").exists() else \
                [*args, "--out", str(run)]
            r = _start(again)
            _, err = r.communicate()
            code, resumes = r.returncode, resumes + 1
        equal = code == 0 and (w := _weights(run)).keys() == reference.keys() and \
            all((w[n] == reference[n]).all() for n in reference)
        results.append({"kill": k, "delay_s": round(delay, 2), "killed": killed, "checkpoint_step_at_kill": step,
                        "resumes": resumes, "exit": code, "bitwise_equal": bool(equal)})
        print(json.dumps({"app": app, **results[-1]}), flush=True)
        shutil.rmtree(run, ignore_errors=True)
    return {"app": app, "uninterrupted_s": round(duration, 1), "first_checkpoint_s": round(first, 1),
            "kills": len(results),
            "recovered": sum(r["bitwise_equal"] for r in results),
            "killed_before_first_checkpoint": sum(r["killed"] and r["checkpoint_step_at_kill"] is None
                                                  for r in results),
            "runs": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "kill_resume")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix="rnnlab-kill-") as tmp:
        tmp = Path(tmp)
        summary = [bench(app, args, a.kills, tmp, rng) for app, args in _data(tmp).items()]
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "kill_resume.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["SIGKILL at a random moment of training, then `--resume` until the run finishes "
             f"(`python benchmarks/kill_resume.py --kills {a.kills}`; checkpoint after every step):", "",
             "| app | kills | recovered bitwise | killed before the first checkpoint | uninterrupted run s "
             "| its first checkpoint at s |",
             "|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['app']} | {s['kills']} | {s['recovered']} | {s['killed_before_first_checkpoint']} | "
                     f"{s['uninterrupted_s']} | {s['first_checkpoint_s']} |")
    (a.out / "kill_resume.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
