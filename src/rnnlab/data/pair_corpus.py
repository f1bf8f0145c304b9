"""A translation corpus of any size: its pairs streamed, split by position, and tokenised
once into a :class:`~rnnlab.data.token_store.PairStore`.

The pairs themselves are never all in memory: ``pairs()`` streams them from the files
(or the generated list), a held-out split is a set of positions, and training reads
token ids from the memory-mapped store. Only the held-out pairs (5% + 5% when no
``valid`` / ``test`` files are given) are kept as text, for BLEU.

The split is the one earlier versions made from the list of pairs in memory — the same
seed holds out the same pairs, in the same order — so a run trained before still
evaluates on its own test pairs.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .parallel import generate_dates, iter_parallel
from .text import files_fingerprint

__all__ = ["PairCorpus", "load_pair_corpus", "pair_files"]

Pairs = list[tuple[str, str]]


def pair_files(spec: str) -> list[str]:
    """The file(s) of a ``--data``-style spec: ``SRC,TGT`` or one TSV / CSV file."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (1, 2) or not all(parts):
        raise InputError(f"--data {spec}: give 'dates', SRC_FILE,TGT_FILE or one TSV file")
    return parts


@dataclass
class PairCorpus:
    """``pairs()``: a fresh iterator over all ``n`` pairs of ``data`` in file order;
    ``train``: the training pairs' positions, in training order; ``valid`` / ``test``: the
    held-out pairs (from their own files, or held out of ``data``); ``key``: what a
    cache of the pairs' token ids is keyed by; ``paths``: the data files (none for
    generated data)."""

    pairs: Callable[[], Iterator[tuple[str, str]]]
    n: int
    train: np.ndarray
    valid: Pairs
    test: Pairs
    key: list
    paths: list[Path]

    def training_pairs(self) -> Iterator[tuple[str, str]]:
        """The training pairs in file order (one streaming pass)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[self.train] = True
        return (p for i, p in enumerate(self.pairs()) if mask[i])


def _collect(pairs: Iterator[tuple[str, str]], positions: np.ndarray) -> Pairs:
    """The pairs at ``positions`` (in that order), in one pass."""
    order = np.argsort(positions, kind="stable")
    wanted = positions[order]
    found: list = [None] * len(positions)
    k = 0
    for i, pair in enumerate(pairs):
        while k < len(wanted) and wanted[k] == i:
            found[order[k]] = pair
            k += 1
        if k == len(wanted):
            break
    return found


def load_pair_corpus(data: str, valid: str | None, test: str | None, seed: int, n_generated: int,
                     encoding: str = "utf-8", errors: str = "strict", skip_empty: bool = False) -> PairCorpus:
    """The corpus of a translate config; deterministic from its fields."""
    if data == "dates":
        generated = generate_dates(n_generated, seed=1234)  # the task, fixed; the seed only drives training
        n = len(generated) // 20
        return PairCorpus(lambda: iter(generated), len(generated), np.arange(2 * n, len(generated)),
                          generated[:n], generated[n:2 * n], ["dates", n_generated], [])

    def read(spec: str) -> Callable[[], Iterator[tuple[str, str]]]:
        files = pair_files(spec)
        src, tgt = files if len(files) == 2 else (files[0], None)
        return lambda: iter_parallel(src, tgt, encoding, errors, skip_empty)

    pairs = read(data)
    total = sum(1 for _ in pairs())  # checks every line before any work
    if not total:
        raise InputError(f"--data {data}: no sentence pairs")
    valid_pairs = list(read(valid)()) if valid else None
    test_pairs = list(read(test)()) if test else None
    train = np.arange(total)
    if valid_pairs is None or test_pairs is None:
        # random.shuffle of the positions, as of a list in memory (8 bytes per pair here)
        order = array("q", range(total))
        random.Random(seed).shuffle(order)
        n = max(1, total // 20)
        held = np.frombuffer(order, dtype=np.int64)
        if valid_pairs is None:
            valid_pairs = _collect(pairs(), held[:n])
        if test_pairs is None:
            test_pairs = _collect(pairs(), held[n:2 * n])
        if total > 2 * n:
            train = held[2 * n:].copy()
    paths = [Path(p) for p in pair_files(data)]
    key = [files_fingerprint(paths), encoding, errors, skip_empty]
    return PairCorpus(pairs, total, train, valid_pairs, test_pairs, key, paths)
