"""A corpus larger than the memory a run may use: does ``rnnlab textgen train`` stay flat?

    python benchmarks/textgen_large_corpus.py                 # 0.1 GB and 2 GB corpora, 100 steps
    python benchmarks/textgen_large_corpus.py --gb 0.5 --steps 20 --out /tmp/big

Generates a text file of ``--gb`` gigabytes (ASCII lines of this Python's standard
library, shuffled in blocks: real text, deterministic), then runs ``rnnlab textgen
train`` on it in a child process (default model: 2 × 512 LSTM, 64 streams of 128 steps;
``--steps`` optimiser steps; 200,000 held-out tokens scored), with a cold token cache.
The child counts the characters, tokenises the file once into memory-mapped ids, trains
from them and scores the whole training part's unigram baseline (one full read of the
ids). Its peak resident memory is read from ``wait4`` (what ``/usr/bin/time -v``
reports), the counting and tokenising throughput from the cache's manifests. The same
run on a ``--small-gb`` corpus shows what the memory is without a large corpus. Writes
``large_corpus.json`` and ``large_corpus.md``. Needs free disk of
about twice ``--gb`` (the text and its ids).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import write_results  # noqa: E402


def generate(path: Path, size: int, seed: int = 0) -> None:
    """``size`` bytes of ASCII lines from the standard library's sources, shuffled in 16 MB blocks."""
    lines = []
    root = Path(sysconfig.get_paths()["stdlib"])
    for f in sorted(root.rglob("*.py"))[:400]:
        try:
            lines += [ln for ln in f.read_text(encoding="utf-8").splitlines(keepends=True) if ln.isascii()]
        except (UnicodeDecodeError, OSError):
            continue
    rng = random.Random(seed)
    written = 0
    with open(path, "w", encoding="ascii") as out:
        while written < size:
            block = "".join(rng.choices(lines, k=400_000))[: size - written]
            out.write(block)
            written += len(block)


def measure(corpus: Path, steps: int) -> dict:
    """One cold-cache ``rnnlab textgen train`` on ``corpus`` in a child process: its peak
    resident memory (``wait4``'s rusage of that child, what ``/usr/bin/time -v`` reports),
    wall time, and the cache's throughput figures."""
    run = corpus.parent / "run"
    cmd = [sys.executable, "-m", "rnnlab", "textgen", "train", "--data", str(corpus), "--out", str(run),
           "--set", f"train.max_steps={steps}", "--set", "eval_tokens=200000", "--set", "train.epochs=1",
           "--set", "train.log_every=10"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rnnlab textgen train exited {os.waitstatus_to_exitcode(status)}")
    cache = corpus.parent / ".rnnlab-tokens"
    tokens = json.loads(next(cache.glob("tokens-*.json")).read_text())
    chars = json.loads(next(cache.glob("chars-*.json")).read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    size = corpus.stat().st_size
    return {"corpus_bytes": size, "steps": steps, "peak_rss_mb": usage.ru_maxrss / 1024, "wall_seconds": wall,
            "count_seconds": chars["seconds"], "count_mb_per_s": size / 1e6 / chars["seconds"],
            "tokenise_seconds": tokens["tokenise_seconds"],
            "tokenise_mb_per_s": size / 1e6 / tokens["tokenise_seconds"],
            "train_tokens": tokens["train_tokens"], "val_tokens": tokens["val_tokens"], "dtype": tokens["dtype"],
            "val_bits_per_char": metrics["val_bits_per_char"],
            "baseline_unigram_bits_per_char": metrics["baseline_unigram_bits_per_char"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--small-gb", type=float, default=0.1, help="the same run on a small corpus, for comparison")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rnnlab-large-corpus"), help="where the corpora go")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "large_corpus")
    args = ap.parse_args()

    results = []
    for gb in (args.small_gb, args.gb):
        work = args.work / f"{gb}gb"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        t0 = time.perf_counter()
        generate(work / "corpus.txt", int(gb * 1e9))
        print(f"generated {gb:.2f} GB in {time.perf_counter() - t0:.0f} s", flush=True)
        results.append(measure(work / "corpus.txt", args.steps))
        shutil.rmtree(work)
    small, big = results
    lines = [
        f"# textgen on a {big['corpus_bytes'] / 1e9:.2f} GB corpus ({os.cpu_count()} CPU cores)", "",
        f"`rnnlab textgen train` (default model: 2 × 512 LSTM, 64 streams × 128 steps), {args.steps} steps, "
        "cold token cache; the same run on a small corpus beside it.", "",
        f"| measure | {small['corpus_bytes'] / 1e9:.2f} GB | {big['corpus_bytes'] / 1e9:.2f} GB |", "|---|---|---|",
        f"| peak resident memory of the training process | {small['peak_rss_mb']:,.0f} MB "
        f"| {big['peak_rss_mb']:,.0f} MB |",
        f"| counting characters (first pass) | {small['count_mb_per_s']:,.0f} MB/s "
        f"| {big['count_mb_per_s']:,.0f} MB/s |",
        f"| tokenising into memory-mapped ids (second pass) | {small['tokenise_mb_per_s']:,.0f} MB/s "
        f"| {big['tokenise_mb_per_s']:,.0f} MB/s |",
        f"| token ids ({big['dtype']}) | {small['train_tokens'] + small['val_tokens']:,} "
        f"| {big['train_tokens'] + big['val_tokens']:,} |",
        f"| whole run | {small['wall_seconds'] / 60:.1f} min | {big['wall_seconds'] / 60:.1f} min |",
        f"| held-out bits/char (unigram baseline) | {small['val_bits_per_char']:.3f} "
        f"({small['baseline_unigram_bits_per_char']:.3f}) | {big['val_bits_per_char']:.3f} "
        f"({big['baseline_unigram_bits_per_char']:.3f}) |",
    ]
    write_results(args.out, "large_corpus", {"cpus": os.cpu_count(), "runs": results}, lines)


if __name__ == "__main__":
    main()
