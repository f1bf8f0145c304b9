"""Which test documents a docs run gets wrong, beside TF-IDF + logistic regression on the same split.

    python benchmarks/docs_errors.py RUN_DIR

RUN_DIR: a run of `rnnlab docs train` (its config gives the data and the split). Prints
how many test documents each gets wrong, how many both do, and each such document's
true label, both predictions, the run's probability and the headline: whether the two
models fail on the same (ambiguous) documents or on different ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.apps.docs import APP
from rnnlab.tasks.documents import tfidf_lr_predict


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    cfg, vocab, classes, model = APP.load(args.run)
    train, test = APP.splits(cfg)
    proba = APP.predict_proba(cfg, model, vocab, [d.text for d in test])
    net = [classes[i] for i in proba.argmax(1)]
    lr = tfidf_lr_predict(train, test)
    truth = [d.label for d in test]
    wrong_net = {i for i, t in enumerate(truth) if net[i] != t}
    wrong_lr = {i for i, t in enumerate(truth) if lr[i] != t}
    print(f"{cfg.model} wrong on {len(wrong_net)}, TF-IDF + LR on {len(wrong_lr)}, both on "
          f"{len(wrong_net & wrong_lr)}, either on {len(wrong_net | wrong_lr)} of {len(test)} test documents")
    for i in sorted(wrong_net | wrong_lr):
        headline = test[i].text.strip().splitlines()[0][:70]
        print(f"{truth[i]:>13}  {cfg.model}={net[i]:<13} lr={lr[i]:<13} p={proba[i].max():.2f}  {headline}")


if __name__ == "__main__":
    main()
