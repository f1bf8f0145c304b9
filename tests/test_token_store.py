"""Corpora larger than memory: text streamed in pieces, token ids cached in memory-mapped
files, batches read lazily (and per rank) — each equal to the in-memory computation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.pair_corpus import load_pair_corpus
from rnnlab.data.parallel import TokenVocab
from rnnlab.data.text import CharVocab, TextSource, file_lines, lines_of, load_corpus, read_text_file, split_text
from rnnlab.data.token_store import (
    CACHE_ENV,
    PairStore,
    TokenArray,
    TokenStore,
    corpus_stats,
    token_cache_dir,
    token_dtype,
)
from rnnlab.errors import InputError
from rnnlab.training import stream_batches
from rnnlab.training.batches import StreamBatches

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
               max_size=300).filter(lambda t: t.strip())


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=3), read_bytes=st.integers(1, 64), bom=st.booleans())
def test_streamed_text_equals_the_text_read_whole(tmp_path_factory, texts, read_bytes, bom):
    """Pieces of any size, a multi-byte character cut between reads, a BOM, several files."""
    folder = tmp_path_factory.mktemp("c")
    paths = []
    for i, t in enumerate(texts):
        p = folder / f"{i}.txt"
        p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + t.encode())
        paths.append(str(p))
    data = ",".join(paths)
    whole, _ = load_corpus(data, 0)
    src = TextSource(data, read_bytes=read_bytes)
    assert "".join(src.pieces()) == whole
    chars, counts = src.char_counts()
    assert chars == sorted(set(whole)) and int(counts.sum()) == len(whole)


@pytest.mark.parametrize("content,needle", [
    (b"ok text\n" * 10 + b"\xff bad", "byte 80 (0xff) is not valid utf-8"),
    (b"caf\xc3\xa9 " * 5 + b"\xc3(", "byte 30 (0xc3) is not valid utf-8"),
    (b"text" + b"\x00" * 3, "a NUL byte at offset 4"),
    (b"  \n\n ", "the file is empty"),
])
def test_streamed_errors_name_the_same_byte_as_reading_whole(tmp_path, content, needle):
    p = tmp_path / "c.txt"
    p.write_bytes(content)
    with pytest.raises(InputError) as whole:
        read_text_file(p)
    with pytest.raises(InputError) as streamed:
        list(TextSource(str(p), read_bytes=7).pieces())
    assert needle in str(whole.value) and str(streamed.value) == str(whole.value)


def test_unknown_encoding_is_an_input_error(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("abc")
    with pytest.raises(InputError, match="unknown encoding 'nope'"):
        list(TextSource(str(p), encoding="nope").pieces())


@settings(max_examples=30, deadline=None)
@given(text=TEXT, at=st.integers(0, 400), sizes=st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_split_text_cuts_at_one_character(text, at, sizes):
    pieces, i = [], 0
    for n in sizes * 20:
        if i >= len(text):
            break
        pieces.append(text[i:i + n])
        i += n
    pieces.append(text[i:])
    parts = ["", ""]
    for part, piece in split_text(iter(pieces), at):
        parts[part] += piece
    assert parts == [text[:at], text[at:]]


def test_lines_of_a_stream_equal_splitlines():
    text = "a\nbb\n\nccc\r\ndd" * 50
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
    got = [line for batch in lines_of(iter(pieces), batch=13) for line in batch]
    assert "".join(got) == text and got == text.splitlines(keepends=True)


def test_char_vocab_encodes_with_a_table_and_names_unknown_characters():
    v = CharVocab.build("héllo wörld")
    assert v.encode("wörld") == [v.index[c] for c in "wörld"]
    with pytest.raises(InputError, match="'z'"):
        v.encode("lazy")


def test_token_dtype_is_the_smallest_that_fits():
    assert token_dtype(256) == np.uint8 and token_dtype(257) == np.uint16
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32


def _corpus(tmp_path, n=3000):
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "über", "naïve", "日本"]
    p = tmp_path / "data" / "corpus.txt"
    p.parent.mkdir()
    p.write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(n)), encoding="utf-8")
    return p


def _char_store(tmp_path, n=3000):
    """(corpus file, its source, cache folder, stats, char vocabulary, store)."""
    p = _corpus(tmp_path, n)
    src = TextSource(str(p))
    cache = token_cache_dir(src.paths, tmp_path / "run")
    stats = corpus_stats(src, cache)
    vocab = CharVocab(stats.chars)
    store = TokenStore.open(src, vocab.to_json(), len(vocab), vocab.encode_array, 0.1, stats, cache)
    return p, src, cache, stats, vocab, store


def test_store_holds_the_in_memory_encoding_of_each_part_and_is_reused(tmp_path):
    p = _corpus(tmp_path)
    src = TextSource(str(p), read_bytes=1000)
    cache = token_cache_dir(src.paths, tmp_path / "run")
    assert cache == p.parent / ".rnnlab-tokens"  # beside the data
    stats = corpus_stats(src, cache)
    vocab = CharVocab(stats.chars)
    text = p.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    logs = []
    store = TokenStore.open(src, vocab.to_json(), len(vocab), vocab.encode_array, 0.1, stats, cache, logs.append)
    assert np.array_equal(store.train.read(0, len(store.train)), vocab.encode_array(text[:cut]))
    assert np.array_equal(store.val.read(0, len(store.val)), vocab.encode_array(text[cut:]))
    assert store.train_chars == cut and store.val_chars == len(text) - cut
    assert store.train.dtype == np.uint8 and any("MB/s" in m for m in logs)
    logs.clear()
    again = TokenStore.open(src, vocab.to_json(), len(vocab), vocab.encode_array, 0.1, stats, cache, logs.append)
    assert logs == [] and again.meta == store.meta  # read from the cache, not tokenised again
    counts = store.train.counts(len(vocab))
    assert np.array_equal(counts, np.bincount(vocab.encode_array(text[:cut]), minlength=len(vocab)))


def test_an_edited_file_gets_a_new_cache_entry(tmp_path):
    p, src, cache, stats, vocab, first = _char_store(tmp_path)
    p.write_text(p.read_text(encoding="utf-8") + "\nthe cat", encoding="utf-8")
    src2 = TextSource(str(p))
    stats2 = corpus_stats(src2, cache)
    assert stats2.total == stats.total + 8
    second = TokenStore.open(src2, vocab.to_json(), len(vocab), vocab.encode_array, 0.1, stats2, cache)
    assert second.meta["train_file"] != first.meta["train_file"]
    assert len(second.train) + len(second.val) == stats2.total


def test_cache_falls_back_to_the_run_directory_or_the_environment(tmp_path, monkeypatch):
    src = TextSource("stdlib", max_chars=1000)
    assert token_cache_dir(src.paths, tmp_path / "run") == tmp_path / "run" / "tokens"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "elsewhere"))
    assert token_cache_dir(TextSource(str(_corpus(tmp_path))).paths, tmp_path / "run") == tmp_path / "elsewhere"


def test_processes_started_together_build_one_entry(tmp_path):
    """Data-parallel ranks open the same entry at once: one builds it, the others wait and read it."""
    p = _corpus(tmp_path, n=20000)
    src = TextSource(str(p))
    cache = token_cache_dir(src.paths, tmp_path / "run")
    stats = corpus_stats(src, cache)
    vocab = CharVocab(stats.chars)
    builds, stores, errors = [], [], []

    def open_store():
        try:
            stores.append(TokenStore.open(src, vocab.to_json(), len(vocab), vocab.encode_array, 0.1, stats, cache,
                                          builds.append))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(stores) == 4
    assert sum("tokenising" in m for m in builds) == 1
    assert len({s.meta["train_file"] for s in stores}) == 1
    assert not list(cache.glob(".*partial"))


def test_a_truncated_cache_file_is_an_input_error(tmp_path):
    f = tmp_path / "ids.uint16"
    f.write_bytes(b"\x00" * 7)
    with pytest.raises(InputError, match="damaged"):
        TokenArray(f, np.uint16, 4)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_stream_batches_read_lazily_equal_the_in_memory_layout(world):
    ids = torch.randint(0, 50, (10_007,))
    x, y = stream_batches(ids, 6, 40)
    full = [(x[:, s:s + 40], y[:, s:s + 40]) for s in range(0, x.shape[1] - 1, 40)]
    shards = [StreamBatches(ids, 6, 40, rank, world)(0) for rank in range(world)]
    assert all(len(s) == len(full) for s in shards)
    for k, (xb, yb) in enumerate(full):
        # the ranks' rows, in rank order, are the whole batch: disjoint parts of the corpus
        assert torch.equal(torch.cat([s[k][0] for s in shards]), xb)
        assert torch.equal(torch.cat([s[k][1] for s in shards]), yb)
        # each rank gets exactly what shard_batch would have cut for it
        assert all(torch.equal(s[k][0], xb.tensor_split(world)[r]) for r, s in enumerate(shards))


def test_stream_batches_from_a_memory_mapped_store_match_the_tensor(tmp_path):
    store = _char_store(tmp_path)[-1]
    as_tensor = torch.from_numpy(store.train.read(0, len(store.train)))
    lazy, eager = StreamBatches(store.train, 8, 32)(0), StreamBatches(as_tensor, 8, 32)(0)
    for k in (0, 1, len(lazy) - 1):
        assert torch.equal(lazy[k][0], eager[k][0]) and torch.equal(lazy[k][1], eager[k][1])
    assert lazy[0][0].dtype == torch.int64


def test_file_lines_equal_splitlines_of_the_whole_file(tmp_path):
    p = tmp_path / "f.txt"
    p.write_bytes("one\r\ntwo\rthree\n\nfour\u2028five\x0bsix".encode())
    assert list(file_lines(p)) == p.read_bytes().decode().splitlines()


def test_pair_corpus_holds_out_what_a_shuffled_list_would_and_stores_every_pair(tmp_path):
    """The split of a streamed corpus is the split earlier versions made in memory."""
    import random

    rng = random.Random(3)
    pairs = [(f"s{i}" + " ab" * rng.randint(0, 5), f"t{i}") for i in range(503)]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    corpus = load_pair_corpus(str(tsv), None, None, seed=7, n_generated=0)
    order = list(range(len(pairs)))
    random.Random(7).shuffle(order)
    n = len(pairs) // 20
    assert corpus.valid == [pairs[i] for i in order[:n]] and corpus.test == [pairs[i] for i in order[n:2 * n]]
    assert corpus.train.tolist() == order[2 * n:]
    assert list(corpus.training_pairs()) == [pairs[i] for i in sorted(order[2 * n:])]
    src = TokenVocab.build((s for s, _ in pairs), "char")
    tgt = TokenVocab.build((t for _, t in pairs), "char")
    store = PairStore.open(corpus.pairs, corpus.key, src, tgt, token_cache_dir(corpus.paths, tmp_path), chunk=50)
    assert len(store) == len(pairs)
    for i in (0, 49, 50, 251, 502):
        assert store.get("src", i) == src.encode(pairs[i][0]) and store.get("tgt", i) == tgt.encode(pairs[i][1])
    assert store.lengths("tgt").tolist() == [len(tgt.encode(t)) for _, t in pairs]


def test_pair_corpus_with_its_own_valid_and_test_files_trains_on_every_pair_in_order(tmp_path):
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.tsv").write_text("".join(f"{name}{i}\tx{i}\n" for i in range(30)), encoding="utf-8")
    corpus = load_pair_corpus(str(tmp_path / "train.tsv"), str(tmp_path / "valid.tsv"), str(tmp_path / "test.tsv"),
                              seed=0, n_generated=0)
    assert corpus.train.tolist() == list(range(30)) and corpus.test[0] == ("test0", "x0")
