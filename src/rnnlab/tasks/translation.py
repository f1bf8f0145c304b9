"""The translation task: token ids of sentence pairs, padded batches of similar lengths
(read lazily from lists or a memory-mapped store, sharded per process), decoding in
batches, and sacrebleu's scores overall and by source length. ``rnnlab translate`` and
:class:`rnnlab.Translator` are glue around these; any model with ``generate(src,
lengths, max_len, beam_size, alpha)`` (the encoder-decoders of :mod:`rnnlab.models`)
decodes through :func:`translate_ids`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..data.parallel import TokenVocab
from ..data.token_store import PairStore
from ..errors import InputError
from ..training.batches import bucketed_by_length

__all__ = ["PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID", "Pairs", "encode_pairs", "pad", "make_batch", "PairBatches",
           "store_pair", "translate_ids", "bleu_report", "length_buckets"]

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3  # TokenVocab's specials

Pairs = list[tuple[str, str]]


def encode_pairs(pairs: Pairs, src: TokenVocab, tgt: TokenVocab, max_len: int, drop_long: bool,
                 warn=lambda m: None) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of the pairs: sources cut at ``max_len`` (an empty one is ``<unk>``),
    targets cut to leave room for ``</s>`` and ended by it; with ``drop_long`` pairs that
    do not fit are left out instead. ``warn`` hears how many were cut or left out."""
    xs, ys, cut, dropped = [], [], 0, 0
    for s, t in pairs:
        x, y = src.encode(s), tgt.encode(t)
        if drop_long and (len(x) > max_len or len(y) + 1 > max_len):
            dropped += 1
            continue
        if len(x) > max_len:
            x, cut = x[:max_len], cut + 1
        if not x:
            x = [UNK_ID]
        xs.append(x)
        ys.append(y[: max_len - 1] + [EOS_ID])
    if cut:
        warn(f"warning: {cut} source sentence(s) longer than max_len={max_len} tokens were truncated")
    if dropped:
        warn(f"note: {dropped} training pair(s) longer than max_len={max_len} tokens were left out")
    return xs, ys


def pad(seqs: list[list[int]]) -> tuple[Tensor, Tensor]:
    """A ``(B, T)`` batch padded with ``<pad>`` and the ``(B,)`` lengths."""
    lengths = torch.tensor([len(s) for s in seqs])
    out = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out, lengths


class PairBatches:
    """Mini-batches of (src, src_lengths, tgt_in, tgt_out), padded per batch. Sentences of
    similar length go together (sorted inside pools of 50 batches) to waste little
    compute on padding; the order depends only on (seed, epoch). ``get(i) -> (x, y)``
    gives pair ``i``'s token ids when its batch is used (from lists, or from a
    memory-mapped store: the corpus need not fit in memory). With data parallelism
    (``rank`` of ``world``) a process reads and pads only its share of each batch."""

    pre_sharded = True

    def __init__(self, lengths: list[int], get, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.lengths, self.get, self.batch_size, self.seed = lengths, get, batch_size, seed
        self.rank, self.world = rank, world

    @classmethod
    def of_lists(cls, xs, ys, batch_size: int, seed: int) -> "PairBatches":
        return cls([len(x) for x in xs], lambda i: (xs[i], ys[i]), batch_size, seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __call__(self, epoch: int) -> "_Batches":
        index = bucketed_by_length(self.lengths, self.batch_size, self.seed, epoch, pool_batches=50)
        if self.world > 1:
            if min(len(b) for b in index) < self.world:
                raise InputError(f"batch_size: a batch of {min(len(b) for b in index)} pairs cannot be shared by "
                                 f"{self.world} processes; use a larger batch size")
            index = [np.array_split(np.asarray(b), self.world)[self.rank].tolist() for b in index]
        return _Batches(index, self.get)


class _Batches(Sequence):
    """An epoch's batches, each padded when it is used."""

    def __init__(self, index: list[list[int]], get):
        self.index, self.get = index, get

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k):
        pairs = [self.get(i) for i in self.index[k]]
        return make_batch([x for x, _ in pairs], [y for _, y in pairs])


def store_pair(store: PairStore, positions: np.ndarray, max_len: int):
    """``i -> (x, y)`` for the i-th training pair read from ``store``, prepared as
    :func:`encode_pairs` prepares it (an empty source is ``<unk>``; ``</s>`` ends the target)."""

    def get(i: int):
        p = int(positions[i])
        return store.get("src", p) or [UNK_ID], store.get("tgt", p)[: max_len - 1] + [EOS_ID]

    return get


def make_batch(xs, ys):
    """``(src, src_lengths, tgt_in, tgt_out)``: teacher forcing reads ``<s>`` + the target."""
    src, src_len = pad(xs)
    tgt, _ = pad(ys)
    tgt_in = torch.cat([torch.full((len(ys), 1), BOS_ID), tgt[:, :-1]], 1)
    return src, src_len, tgt_in, tgt


@torch.no_grad()
def translate_ids(model: nn.Module, xs: list[list[int]], max_len: int, beam_size: int = 1, alpha: float = 0.0,
                  batch_size: int = 100):
    """Decode token-id sources with ``model.generate`` (greedy, or a beam of ``beam_size``
    with length penalty ``alpha``) in length-sorted batches; returns (ids, attention) lists."""
    model.eval()
    order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
    out_ids: list = [None] * len(xs)
    out_att: list = [None] * len(xs)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        src, lens = pad([xs[i] for i in idx])
        res = model.generate(src, lens, max_len=max_len, beam_size=beam_size, alpha=alpha)
        for j, i in enumerate(idx):
            n = int(res.lengths[j])
            toks = res.tokens[j, :n].tolist()
            out_ids[i] = [t for t in toks if t != EOS_ID]
            if res.extras is not None:
                out_att[i] = res.extras[j, :n, : len(xs[i])].numpy()
    return out_ids, out_att


def bleu_report(hyps: list[str], refs: list[str]) -> dict:
    """sacrebleu's corpus BLEU and chrF of detokenised hypotheses, with their signatures."""
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    return {"bleu": b.score, "chrf": c.score, "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


def length_buckets(srcs: list[str], hyps: list[str], refs: list[str], unit: str) -> list[dict]:
    """BLEU by source length (words, or characters for the dates task), in quartiles."""
    import sacrebleu

    lengths = np.array([len(s.split()) if unit == "words" else len(s) for s in srcs])
    edges = np.unique(np.quantile(lengths, [0, 0.25, 0.5, 0.75, 1.0]).round().astype(int))
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        last = hi == edges[-1]
        sel = [i for i, n in enumerate(lengths) if lo <= n and (n <= hi if last else n < hi)]
        if sel:
            score = sacrebleu.corpus_bleu([hyps[i] for i in sel], [[refs[i] for i in sel]]).score
            rows.append({"from": int(lo), "to": int(hi), "sentences": len(sel), "bleu": score,
                         "exact": float(np.mean([hyps[i] == refs[i] for i in sel]))})
    return rows
