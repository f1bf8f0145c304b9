"""Document classification pieces the docs app and its estimator share: batches of
documents at two levels (sentences of words) or flat, the attention explanation, and the
TF-IDF + logistic regression baseline."""

from __future__ import annotations

import html

import numpy as np
import torch
from torch import Tensor

from ..data.documents import (
    PAD_ID,
    Document,
    drop_duplicates,
    encode_document,
    load_documents,
    split_sentences,
    split_words,
)
from ..errors import InputError
from ..models.ensemble import Ensemble
from ..training.batches import bucketed_by_length
from .classification import stratified_split

__all__ = ["DocBatches", "encode_documents", "explain_document", "explain_html", "tfidf_lr_accuracy",
           "tfidf_lr_predict"]


def document_splits(data: str, test: str | None, text_column: str, label_column: str, encoding: str, errors: str,
                    seed: int, log=lambda m: None) -> tuple[list[Document], list[Document]]:
    """(training, test) documents: ``data`` without its exact duplicates (counted in the
    log), and ``test`` read from its own source, or ``"none"`` (every document trains),
    or null (a stratified 20% of ``data`` held out by ``seed``). Two classes at least, and
    no test class unseen in training, else an InputError naming the source."""
    docs, dropped = drop_duplicates(load_documents(data, text_column, label_column, encoding, errors))
    if dropped:
        log(f"docs: {dropped} exact duplicate document(s) removed before splitting")
    if test == "none":  # every document trains (the DocumentClassifier estimator)
        train, held_out = docs, []
    elif test:
        train, held_out = docs, load_documents(test, text_column, label_column, encoding, errors)
    else:
        keep, held = stratified_split([d.label for d in docs], 0.2, seed)
        train, held_out = [docs[i] for i in keep], [docs[i] for i in held]
    classes = sorted({d.label for d in train})
    if len(classes) < 2:
        raise InputError(f"--data {data}: only one class ({classes[0]!r}); classification needs two or more")
    unseen = sorted({d.label for d in held_out} - set(classes))
    if unseen:
        raise InputError(f"{test or data}: class(es) {unseen} appear in the test data but never in training")
    return train, held_out


def encode_documents(texts: list[str], vocab, max_sentences: int, max_words: int,
                     log=lambda m: None) -> list[list[list[int]]]:
    """Each text as sentences of word ids (:func:`~rnnlab.data.documents.encode_document`),
    logging how many were cut to ``max_sentences`` sentences of ``max_words`` words."""
    out, cut = [], 0
    for text in texts:
        enc, was_cut = encode_document(text, vocab, max_sentences, max_words)
        out.append(enc)
        cut += was_cut
    if cut:
        log(f"docs: {cut} document(s) cut to max_sentences={max_sentences} sentences of max_words={max_words} words")
    return out


class DocBatches:
    """Batches of documents of similar length (in sentences), padded per batch:
    ``(ids (B, S, W), word_lengths (B, S), sentence_counts (B), labels (B))`` for HAN,
    ``(ids (B, T), lengths (B), labels (B))`` for the flat model."""

    def __init__(self, docs: list[list[list[int]]], labels: list[int], batch_size: int, seed: int, flat: bool,
                 shuffle: bool = True):
        self.docs, self.labels, self.batch_size, self.seed, self.flat = docs, labels, batch_size, seed, flat
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-len(self.docs) // self.batch_size)

    def __call__(self, epoch: int) -> list[tuple[Tensor, ...]]:
        if self.shuffle:
            index = bucketed_by_length([len(d) for d in self.docs], self.batch_size, self.seed, epoch, pool_batches=20)
        else:
            index = [list(range(i, min(i + self.batch_size, len(self.docs)))) for i in range(0, len(self.docs),
                                                                                          self.batch_size)]
        return [self.batch(b) for b in index]

    def batch(self, idx: list[int]) -> tuple[Tensor, ...]:
        docs, y = [self.docs[i] for i in idx], torch.tensor([self.labels[i] for i in idx])
        if self.flat:
            seqs = [[w for s in d for w in s] for d in docs]
            ids = torch.full((len(seqs), max(map(len, seqs))), PAD_ID, dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, :len(s)] = torch.tensor(s)
            return ids, torch.tensor([len(s) for s in seqs]), y
        S, W = max(len(d) for d in docs), max(len(s) for d in docs for s in d)
        ids = torch.full((len(docs), S, W), PAD_ID, dtype=torch.long)
        lengths = torch.zeros(len(docs), S, dtype=torch.long)
        for i, d in enumerate(docs):
            for j, s in enumerate(d):
                ids[i, j, :len(s)] = torch.tensor(s)
                lengths[i, j] = len(s)
        return ids, lengths, torch.tensor([len(d) for d in docs]), y


def explain_html(text: str, vocab, sentence_att: np.ndarray, word_att: np.ndarray, label: str, prob: float) -> str:
    """The document with each sentence shaded (red, left bar) by its attention and each
    word (blue) by its own, scaled as in Yang et al.'s Figure 5 (word weight × √sentence weight)."""
    rows = []
    sentences = [s for s in split_sentences(text) if vocab.encode(s)]
    top = max(float(sentence_att.max()), 1e-9)
    for j, s in enumerate(sentences[: len(sentence_att)]):
        a = float(sentence_att[j])
        words = split_words(s, lower=False) if vocab.kind == "word" else vocab.pieces(s)  # words as written
        spans = []
        for k, w in enumerate(words):
            shade = float(word_att[j, k]) * np.sqrt(a / top) if k < word_att.shape[1] else 0.0
            spans.append(f"<span style='background:rgba(40,90,255,{min(1.0, 2 * shade):.3f})'>{html.escape(w)}</span>")
        rows.append(f"<p style='margin:2px 0;border-left:8px solid rgba(220,40,40,{a / top:.3f});padding-left:6px'>"
                    + " ".join(spans) + "</p>")
    return (f"<div class='doc'><p><b>predicted: {html.escape(label)}</b> ({prob:.1%})</p>" + "".join(rows)
            + "</div>")


@torch.no_grad()
def explain_document(model, vocab, classes: list[str], text: str, max_sentences: int, max_words: int) -> str:
    """``text`` as :func:`explain_html` shows it, with ``model``'s prediction and attention:
    a :class:`~rnnlab.models.HierarchicalAttentionNetwork`, or an
    :class:`~rnnlab.models.Ensemble` of them (its mean probabilities, and its members'
    mean attention at each level)."""
    docs = [encode_document(text, vocab, max_sentences, max_words)[0]]
    ids, lengths, counts, _ = DocBatches(docs, [0], 1, 0, flat=False, shuffle=False)(0)[0]
    model.eval()
    members = list(model.members) if isinstance(model, Ensemble) else [model]
    encoded = [m.encode(ids, lengths, counts) for m in members]
    proba = model(ids, lengths, counts).softmax(-1)[0]  # an ensemble's log mean probabilities: the same
    sentence_att = torch.stack([e[1][0] for e in encoded]).mean(0)
    word_att = torch.stack([e[2][0] for e in encoded]).mean(0)
    k = int(proba.argmax())
    return explain_html(text, vocab, sentence_att.numpy(), word_att.numpy(), classes[k], float(proba[k]))


def tfidf_lr_predict(train: list[Document], test: list[Document]) -> np.ndarray:
    """The labels TF-IDF of words and word pairs (sublinear tf) + logistic regression
    (scikit-learn), fitted on ``train``, gives ``test``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
    x = vec.fit_transform([d.text for d in train])
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, [d.label for d in train])
    return clf.predict(vec.transform([d.text for d in test]))


def tfidf_lr_accuracy(train: list[Document], test: list[Document]) -> float:
    """Test accuracy of :func:`tfidf_lr_predict`."""
    return float(np.mean(tfidf_lr_predict(train, test) == np.array([d.label for d in test])))
