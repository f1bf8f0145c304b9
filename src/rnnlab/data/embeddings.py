"""Word vectors learned from the training text itself, offline: the truncated SVD of the
positive pointwise mutual information (PPMI) matrix of word co-occurrences within a
window (Levy, Goldberg & Dagan 2015: as good as word2vec's skip-gram on similarity tasks
when tuned alike). HAN's paper initialised its embeddings with word2vec; rnnlab cannot
download vectors, so it computes these in seconds from the training documents.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ppmi_svd_vectors"]


def ppmi_svd_vectors(sequences: list[list[int]], vocab_size: int, dim: int, window: int = 5,
                     smoothing: float = 0.75, seed: int = 0) -> np.ndarray:
    """``(vocab_size, dim)`` vectors, rows scaled to unit length (rows of ids never seen
    are small random vectors). ``sequences``: word ids of the training sentences; co-
    occurrences are weighted 1/distance within ``window``; context counts are raised to
    ``smoothing`` (word2vec's 0.75); the vectors are ``U * sqrt(S)`` of the PPMI matrix."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import svds

    rows, cols, vals = [], [], []
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64)
        for d in range(1, window + 1):
            if len(s) <= d:
                break
            a, b = s[:-d], s[d:]
            rows += [a, b]
            cols += [b, a]
            vals += [np.full(len(a), 1.0 / d)] * 2
    rng = np.random.default_rng(seed)
    out = rng.normal(0, 0.1, (vocab_size, dim)).astype(np.float32)
    if not rows:
        return out
    counts = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(vocab_size, vocab_size)).tocsr()
    counts.sum_duplicates()
    word = np.asarray(counts.sum(1)).ravel()
    context = np.asarray(counts.sum(0)).ravel() ** smoothing
    coo = counts.tocoo()
    pmi = np.log(coo.data * context.sum() / (word[coo.row] * context[coo.col]) + 1e-12)
    keep = pmi > 0
    ppmi = coo_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape).tocsr()
    k = min(dim, min(ppmi.shape) - 1)
    u, s, _ = svds(ppmi.astype(np.float64), k=k, random_state=seed)
    vectors = (u * np.sqrt(s)).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    seen = word > 0
    out[seen, :k] = vectors[seen] / np.maximum(norms[seen], 1e-8)
    if k < dim:
        out[seen, k:] = 0.0
    return out
