"""Document classifiers: the Hierarchical Attention Network (Yang et al. 2016) and the
flat attention RNN it is measured against.

HAN: each sentence's words are embedded, read by a bidirectional GRU and pooled by
additive attention with a learned context vector into a sentence vector; the sentence
vectors are read by a second bidirectional GRU and pooled the same way into the
document vector, then a linear layer gives the classes. Both levels take variable
lengths: padded words and padded sentences get zero attention and never reach the
recurrent states (the layers' ``lengths``), and a batch's empty sentence slots are not
encoded at all. Both attention poolings are :class:`~rnnlab.models.SeqToVec`'s
``pooling="attention"`` (a learned query through :class:`~rnnlab.attention.AdditiveAttention`).

``word_dropout`` (both models): while training, each real word is replaced by the unknown
word ``unk_id`` with this probability, so no single (often rare) word can decide a
document and the network learns to use the rest of its evidence; padding stays padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .seq_to_vec import SeqToVec

__all__ = ["HierarchicalAttentionNetwork", "FlatAttentionClassifier"]


def drop_words(ids: Tensor, p: float, pad_id: int, unk_id: int) -> Tensor:
    """``ids`` with each non-padding id replaced by ``unk_id`` with probability ``p``."""
    if p <= 0:
        return ids
    return ids.masked_fill((torch.rand(ids.shape, device=ids.device) < p) & (ids != pad_id), unk_id)


class HierarchicalAttentionNetwork(nn.Module):
    """``forward(ids (B, S, W), word_lengths (B, S), sentence_counts (B)) -> logits (B, classes)``;
    :meth:`encode` also returns the sentence ``(B, S)`` and word ``(B, S, W)`` attention."""

    def __init__(self, vocab_size: int, num_classes: int, embed_size: int = 100, word_hidden: int = 50,
                 sentence_hidden: int = 50, cell: str = "gru", dropout: float = 0.0, pad_id: int = 0,
                 word_dropout: float = 0.0, unk_id: int = 1):
        super().__init__()
        self.pad_id, self.unk_id, self.word_dropout = pad_id, unk_id, word_dropout
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.words = SeqToVec(embed_size, None, word_hidden, cell, bidirectional=True, pooling="attention")
        self.sentences = SeqToVec(2 * word_hidden, None, sentence_hidden, cell, bidirectional=True,
                                  pooling="attention")
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * sentence_hidden, num_classes)

    def encode(self, ids: Tensor, word_lengths: Tensor, sentence_counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(document vectors (B, 2H), sentence attention (B, S), word attention (B, S, W))``."""
        B, S, W = ids.shape
        flat_lengths = word_lengths.reshape(B * S)
        kept = torch.nonzero(flat_lengths > 0).squeeze(1)  # real sentences only
        if self.training:
            ids = drop_words(ids, self.word_dropout, self.pad_id, self.unk_id)
        words = self.dropout(self.embed(ids.reshape(B * S, W)[kept]))
        vectors, word_att = self.words.encode(words, flat_lengths[kept])
        assert word_att is not None  # pooling="attention" returns its weights
        sentences = vectors.new_zeros(B * S, vectors.shape[1]).index_copy(0, kept, vectors)
        word_weights = word_att.new_zeros(B * S, W)
        word_weights[kept, : word_att.shape[1]] = word_att
        doc, sentence_att = self.sentences.encode(self.dropout(sentences.view(B, S, -1)), sentence_counts)
        assert sentence_att is not None
        return doc, sentence_att, word_weights.view(B, S, W)

    def forward(self, ids: Tensor, word_lengths: Tensor, sentence_counts: Tensor) -> Tensor:
        doc, _, _ = self.encode(ids, word_lengths, sentence_counts)
        return self.head(self.dropout(doc))


class FlatAttentionClassifier(nn.Module):
    """The whole document as one word sequence: embedding, a bidirectional GRU, attention
    pooling with a learned query, a linear layer. ``forward(ids (B, T), lengths (B))``."""

    def __init__(self, vocab_size: int, num_classes: int, embed_size: int = 100, hidden_size: int = 50,
                 cell: str = "gru", dropout: float = 0.0, pad_id: int = 0, word_dropout: float = 0.0,
                 unk_id: int = 1):
        super().__init__()
        self.pad_id, self.unk_id, self.word_dropout = pad_id, unk_id, word_dropout
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.encoder = SeqToVec(embed_size, num_classes, hidden_size, cell, bidirectional=True, pooling="attention",
                                dropout=dropout)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        if self.training:
            ids = drop_words(ids, self.word_dropout, self.pad_id, self.unk_id)
        return self.encoder(self.dropout(self.embed(ids)), lengths)
