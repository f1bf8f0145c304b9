"""Documents: HAN test accuracy on BBC News against the number of networks in the ensemble
(``--set model=flat`` for the flat attention GRU).

    python benchmarks/docs_members.py --members 6 --set train.epochs=5
    python benchmarks/docs_members.py --seeds 0 --members 3

Per seed, one `rnnlab docs train --seed S --set ensemble=K [--set ...]` run (the split and
member i's seed, ``S + 1000 i``, do not depend on K); then every prefix of its members,
1..K, is scored on the test split by averaging their class probabilities, which is what a
run with ``--set ensemble=k`` would give. The K-member score is checked against the
run's own metrics.json. TF-IDF + logistic regression on the same split for reference.
The JSON is written after every seed; running the same command again resumes.
Writes OUT/docs_members.md and .json (default OUT: benchmarks/results/docs_members).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import mean_std, resumed, save_progress, train, write_results

from rnnlab.apps.docs import APP


def prefix_accuracies(run: Path) -> list[float]:
    """Test accuracy of the mean of members 1..k's probabilities, for every k."""
    cfg, vocab, classes, model = APP.load(run)
    _, test = APP.splits(cfg)
    truth = np.array([classes.index(d.label) for d in test])
    texts = [d.text for d in test]
    probs = [APP.predict_proba(cfg, member, vocab, texts) for member in model.members]
    return [float((np.mean(probs[:k], 0).argmax(1) == truth).mean()) for k in range(1, len(probs) + 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--members", type=int, default=6)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a config setting for every run, as rnnlab docs train --set")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "docs_members")
    args = ap.parse_args()
    settings = [f"ensemble={args.members}", *args.overrides]
    out_json = args.out / "docs_members.json"
    done = resumed(out_json, settings, "seeds")
    for seed in args.seeds:
        if str(seed) in done["seeds"]:
            print(seed, "already in", out_json, flush=True)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            metrics = train(APP, Path(tmp) / "run", "bbc", seed, settings)
            acc = prefix_accuracies(Path(tmp) / "run")
        if abs(acc[-1] - metrics["accuracy"]) > 1e-9:
            raise SystemExit(f"seed {seed}: the {args.members}-member prefix scores {acc[-1]}, the run "
                             f"{metrics['accuracy']}: the prefix scoring does not match the app's")
        done["seeds"][str(seed)] = {"prefix_accuracy": acc, "metrics": metrics, "threads": torch.get_num_threads()}
        save_progress(out_json, done)
        print(seed, [f"{100 * a:.2f}" for a in acc], flush=True)
    runs = [done["seeds"][str(s)] for s in args.seeds]
    minutes = mean_std([r["metrics"]["train_seconds"] / 60 for r in runs])
    model = next((s.split("=", 1)[1] for s in settings if s.startswith("model=")), "han")
    threads = sorted({r.get("threads", "?") for r in runs}, key=str)
    lines = [f"Settings: {' '.join(settings)}", "",
             f"BBC News, deduplicated, stratified 80/20 split per seed; seeds {args.seeds}; {os.cpu_count()} CPU "
             f"cores, {'/'.join(map(str, threads))} torch thread(s) per run (1: two benchmarks ran side by side); "
             f"training all {args.members} networks took {minutes} minutes per seed.", "",
             f"| networks | {model} test accuracy % (mean ± std) | per seed |", "|---|---|---|"]
    for k in range(args.members):
        accs = [100 * r["prefix_accuracy"][k] for r in runs]
        lines.append(f"| {k + 1} | {mean_std(accs)} | {' / '.join(f'{a:.2f}' for a in accs)} |")
    tfidf = [100 * r["metrics"]["baseline_tfidf_lr_accuracy"] for r in runs]
    lines.append(f"| TF-IDF (1-2 grams) + LR | {mean_std(tfidf)} | {' / '.join(f'{a:.2f}' for a in tfidf)} |")
    write_results(args.out, "docs_members", done, lines)


if __name__ == "__main__":
    main()
