"""Small trained runs of every app, for the tests of ``rnnlab serve`` (the page needs real
run directories; their quality does not matter, only that each app's ``load`` and verbs
work on them). Each is the app's ``--quick`` configuration cut to seconds."""

from __future__ import annotations

from pathlib import Path

from rnnlab.apps import load_apps

TEXT = "".join(f"ROMEO: the cat sat on mat number {i % 7}.\n" for i in range(400))
TOPICS = {"sport": "match goal team coach league win", "money": "bank shares profit market rate loan",
          "film": "actor movie award director star cinema"}

# app -> (data, overrides): each trains in a few seconds on 2 cores
SMALL: dict[str, tuple[str | None, list[str]]] = {
    "translate": (None, ["n_generated=600", "tokenizer=char", "hidden_size=32", "embed_size=16", "eval_limit=0",
                         "train.epochs=1", "heatmaps=1"]),
    "textgen": ("{tmp}/shakespeare.txt", ["hidden_size=32", "embed_size=16", "seq_len=32", "train.epochs=1"]),
    "chords": (None, ["max_pieces=12", "hidden_size=16", "train.epochs=1"]),
    "handwriting": (None, ["samples=120", "hidden_size=32", "mixtures=3", "window_mixtures=2", "batch_size=16",
                           "train.epochs=1"]),
    "docs": ("{tmp}/topics", ["train.epochs=2", "hidden_size=16", "embed_size=16"]),
    "forecast": (None, ["train.epochs=2", "ensemble=1", "hidden_size=16"]),
    "classify": (None, ["train.epochs=1", "hidden_size=16"]),
    "caption": (None, ["images=300", "train.epochs=1", "hidden_size=32", "vector_size=32", "channels=[8,16]",
                       "attention=additive", "beam_size=1"]),
    "lab": ("adding", ["lengths=[3,6]", 'models=["rnn","lstm"]', "steps_per_epoch=5", "val_size=32",
                       "train.epochs=2"]),
}


def _topics(root: Path, n: int = 20) -> Path:
    """Three topics as ``<label>/*.txt``: each with its own words among shared ones."""
    filler = "the a of in on and it was said today".split()
    for label, words in TOPICS.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        vocab = words.split()
        for i in range(n):
            sentences = [" ".join(vocab[(i + k + j) % len(vocab)] if (i + j + k) % 3 == 0 else
                                  filler[(i * 7 + j + k) % len(filler)] for j in range(8)).capitalize() + "."
                         for k in range(3)]
            (root / label / f"{i:03d}.txt").write_text(" ".join(sentences), encoding="utf-8")
    return root


def build_run(app_name: str, root: Path) -> Path:
    """Train ``app_name``'s small run into ``root/<app_name>``; return it."""
    root.mkdir(parents=True, exist_ok=True)
    out = root / app_name
    data, overrides = SMALL[app_name]
    if data is not None and "{tmp}" in data:
        (root / "shakespeare.txt").write_text(TEXT, encoding="utf-8")
        _topics(root / "topics")
        data = data.format(tmp=root)
    apps, _ = load_apps()
    return apps[app_name].train(data=data, quick=app_name != "lab", out=out, overrides=overrides, verbose=False)
