"""A text corpus tokenised once into memory-mapped arrays of token ids, so language models
train on corpora larger than memory.

The first run over a corpus streams its text (:class:`~rnnlab.data.text.TextSource`, a
few megabytes at a time), encodes it with the run's vocabulary and writes the ids of the
training part and of the held-out part to two flat files of ``uint8`` / ``uint16`` /
``uint32`` (the smallest that holds the vocabulary). Later runs with the same files and
the same vocabulary open them at once. Training reads batches straight from the mapped
files, and the pages it has read are handed back to the kernel as it goes, so the
resident memory of a run does not grow with the corpus.

Where the cache lives: ``$RNNLAB_TOKEN_CACHE`` if set; otherwise a ``.rnnlab-tokens``
folder beside the (first) data file when that folder is writable; otherwise the run
directory's ``tokens/``. A cache entry is named by a hash of the files (path, size,
modification time), the vocabulary and the split, so an edited file or another
tokenizer gets its own entry, and a stale one is never read. Entries are written whole
(temporary names, fsync, rename, the manifest last) under a lock, so processes started
together (data-parallel ranks) build one entry once and a killed build leaves nothing
that is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .text import TextSource, split_text

__all__ = ["TokenArray", "TokenStore", "PairStore", "CorpusStats", "corpus_stats", "token_cache_dir", "token_dtype"]

FORMAT = 1
CACHE_ENV = "RNNLAB_TOKEN_CACHE"
#: bytes of token pages a reader maps before handing them back to the kernel
RELEASE_BYTES = 64 << 20


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. vocab_size - 1``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if vocab_size <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    raise InputError(f"a vocabulary of {vocab_size:,} tokens is too large (at most 2**32)")


def token_cache_dir(paths: list[Path], run_dir: Path) -> Path:
    """Where the token ids of the data files ``paths`` are cached (see the module's
    docstring); generated or embedded data (no paths) keeps them in the run directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if paths:
        beside = Path(paths[0]).resolve().parent / ".rnnlab-tokens"
        if os.access(beside if beside.exists() else beside.parent, os.W_OK):
            return beside
    return run_dir / "tokens"


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (waits for the holder: another rank building the same entry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        yield
    finally:
        os.close(fd)


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{folder}: cannot create the token cache ({e.strerror}); set {CACHE_ENV} to a writable "
                         "folder") from None


def _open_entry(cls, cache: Path, name: str, build: Callable[[], dict]):
    """``cls(cache, manifest)`` of the cache entry ``name``, built first (under its lock,
    the manifest written last) if it is missing or damaged."""
    _writable(cache)
    manifest = cache / f"{name}.json"
    with _locked(cache / f"{name}.lock"):
        if manifest.is_file():
            try:
                return cls(cache, json.loads(manifest.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, OSError):
                pass  # damaged: build it again
        meta = build()
        from ..files import atomic_write

        atomic_write(manifest, json.dumps(meta, indent=1))
        return cls(cache, meta)


class CorpusStats:
    """What one pass over a corpus tells: its characters (sorted), their counts, and its length."""

    def __init__(self, chars: list[str], counts: list[int], seconds: float = 0.0):
        self.chars, self.counts, self.seconds = chars, counts, seconds
        self.total = int(sum(counts))

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "chars": self.chars, "counts": self.counts,
                           "seconds": round(self.seconds, 3)}, ensure_ascii=False)


def corpus_stats(source: TextSource, cache: Path, log: Callable[[str], None] = lambda m: None) -> CorpusStats:
    """The characters and length of ``source``, counted once and cached beside its token ids."""
    path = cache / f"chars-{_key(source.fingerprint())}.json"
    if path.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw["format"] == FORMAT and len(raw["chars"]) == len(raw["counts"]):
                return CorpusStats([str(c) for c in raw["chars"]], [int(n) for n in raw["counts"]],
                                   float(raw.get("seconds", 0.0)))
    t0 = time.perf_counter()
    chars, counts = source.char_counts()
    stats = CorpusStats(chars, counts.tolist(), time.perf_counter() - t0)
    if not source.embedded:
        mb = source.size_bytes() / 1e6
        log(f"counted {stats.total:,} characters of {mb:,.1f} MB in {stats.seconds:.1f} s "
            f"({mb / max(stats.seconds, 1e-9):,.1f} MB/s)")
    if not source.embedded:  # the embedded corpus is counted in a second; no need to keep it
        from ..files import atomic_write

        with contextlib.suppress(OSError):
            _writable(cache)
            atomic_write(path, stats.to_json())
    return stats


class TokenArray:
    """Token ids in a flat file, memory-mapped read-only; reads come back as int64 arrays.

    Every :data:`RELEASE_BYTES` read, the mapped pages are handed back to the kernel
    (``madvise(MADV_DONTNEED)``: they stay in the page cache, out of this process's
    resident set), so reading a corpus end to end keeps memory flat."""

    def __init__(self, path: Path, dtype: np.dtype, length: int):
        self.path, self.dtype, self.length = Path(path), np.dtype(dtype), int(length)
        self._mm: mmap.mmap | None = None
        self._ids = np.zeros(0, dtype=self.dtype)
        if self.length:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size != self.length * self.dtype.itemsize:
                    raise InputError(f"{self.path}: {size:,} bytes, expected {self.length * self.dtype.itemsize:,}; "
                                     "the token cache is damaged: delete it and run again")
                self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._ids = np.frombuffer(self._mm, dtype=self.dtype)
        self._since_release = 0

    def __len__(self) -> int:
        return self.length

    def _touched(self, n: int) -> None:
        self._since_release += n * self.dtype.itemsize
        if self._since_release >= RELEASE_BYTES:
            self.release()

    def release(self) -> None:
        """Hand the pages read so far back to the kernel."""
        self._since_release = 0
        if self._mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._mm.madvise(mmap.MADV_DONTNEED)

    def read(self, start: int, stop: int) -> np.ndarray:
        out = self._ids[start:stop].astype(np.int64)
        self._touched(out.size)
        return out

    def gather(self, index: np.ndarray) -> np.ndarray:
        out = self._ids[index].astype(np.int64)
        self._touched(out.size)
        return out

    def counts(self, minlength: int, step: int = 1 << 24) -> np.ndarray:
        """How often each id occurs (read in slices: memory independent of the length)."""
        total = np.zeros(minlength, dtype=np.int64)
        for s in range(0, self.length, step):
            total += np.bincount(self.read(s, s + step), minlength=minlength)[:minlength]
        return total


class TokenStore:
    """A corpus's ids, split into ``train`` (the first ``1 - val_fraction`` of its
    characters) and ``val`` (the rest), each encoded on its own: exactly
    ``encode(text[:cut])`` and ``encode(text[cut:])`` of the text in memory.

    ``TokenStore.open(source, vocab_json, vocab_size, encode, val_fraction, stats, cache)``
    opens the cached entry or builds it; ``encode(text) -> int array`` is the vocabulary's."""

    def __init__(self, folder: Path, meta: dict):
        self.folder, self.meta = folder, meta
        dtype = np.dtype(meta["dtype"])
        self.train = TokenArray(folder / meta["train_file"], dtype, meta["train_tokens"])
        self.val = TokenArray(folder / meta["val_file"], dtype, meta["val_tokens"])

    @property
    def train_chars(self) -> int:
        return int(self.meta["train_chars"])

    @property
    def val_chars(self) -> int:
        return int(self.meta["val_chars"])

    @classmethod
    def open(cls, source: TextSource, vocab_json: str, vocab_size: int, encode: Callable[[str], np.ndarray],
             val_fraction: float, stats: CorpusStats, cache: Path, log: Callable[[str], None] = lambda m: None
             ) -> "TokenStore":
        key = _key(FORMAT, source.fingerprint(), hashlib.sha256(vocab_json.encode()).hexdigest(), val_fraction)
        return _open_entry(cls, cache, f"tokens-{key}",
                           lambda: cls._build(source, key, vocab_size, encode, val_fraction, stats, cache, log))

    @staticmethod
    def _build(source, key, vocab_size, encode, val_fraction, stats, cache, log) -> dict:
        dtype = token_dtype(vocab_size)
        cut = int(stats.total * (1 - val_fraction))
        names = [f"tokens-{key}.train.{dtype.name}", f"tokens-{key}.val.{dtype.name}"]
        tmp = [cache / f".{n}.{os.getpid()}.partial" for n in names]
        tokens, chars = [0, 0], [0, 0]
        t0 = time.perf_counter()
        log(f"tokenising {source.data} into {cache} (once; later runs reuse it)")
        files = [open(p, "wb") for p in tmp]
        try:
            for part, piece in split_text(source.pieces(), cut):
                ids = np.asarray(encode(piece))
                if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
                    raise InputError(f"{source.data}: token ids outside the vocabulary of {vocab_size}")
                files[part].write(ids.astype(dtype).tobytes())
                tokens[part] += int(ids.size)
                chars[part] += len(piece)
            for f in files:
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            for f, p in zip(files, tmp):
                f.close()
                p.unlink(missing_ok=True)
            raise
        for f in files:
            f.close()
        for p, n in zip(tmp, names):
            os.replace(p, cache / n)
        seconds = time.perf_counter() - t0
        size = source.size_bytes() if not source.embedded else sum(chars)
        log(f"tokenised {size / 1e6:,.1f} MB into {sum(tokens):,} tokens in {seconds:.1f} s "
            f"({size / 1e6 / max(seconds, 1e-9):,.1f} MB/s)")
        return {"format": FORMAT, "dtype": dtype.name, "train_file": names[0], "val_file": names[1],
                "train_tokens": tokens[0], "val_tokens": tokens[1], "train_chars": chars[0], "val_chars": chars[1],
                "source_bytes": size, "tokenise_seconds": round(seconds, 3), "fingerprint": source.fingerprint()}



class PairStore:
    """The token ids of a corpus of sentence pairs, in file order: for each side a flat
    file of ids and a file of offsets (pair ``i``'s source is ``ids[offsets[i]:offsets[i + 1]]``).

    ``PairStore.open(pairs, key_parts, src_vocab, tgt_vocab, cache)`` opens the cached
    entry or builds it by streaming ``pairs()`` (a function returning a fresh iterator of
    ``(source, target)`` texts) through the vocabularies' ``encode_batch``."""

    SIDES = ("src", "tgt")

    def __init__(self, folder: Path, meta: dict):
        self.folder, self.meta = folder, meta
        self.n = int(meta["pairs"])
        self.ids = {s: TokenArray(folder / meta[f"{s}_ids"], np.dtype(meta[f"{s}_dtype"]), meta[f"{s}_tokens"])
                    for s in self.SIDES}
        self.offsets = {s: TokenArray(folder / meta[f"{s}_offsets"], np.dtype(np.int64), self.n + 1)
                        for s in self.SIDES}

    def __len__(self) -> int:
        return self.n

    def lengths(self, side: str) -> np.ndarray:
        """Tokens in each pair's ``side`` (``"src"`` or ``"tgt"``), as an int64 array."""
        return np.diff(self.offsets[side].read(0, self.n + 1))

    def get(self, side: str, i: int) -> list[int]:
        lo, hi = self.offsets[side].read(int(i), int(i) + 2)
        return self.ids[side].read(int(lo), int(hi)).tolist()

    @classmethod
    def open(cls, pairs: Callable[[], Iterator[tuple[str, str]]], key_parts, src_vocab, tgt_vocab, cache: Path,
             log: Callable[[str], None] = lambda m: None, chunk: int = 10_000) -> "PairStore":
        vocab_hash = [hashlib.sha256(v.to_json().encode()).hexdigest() for v in (src_vocab, tgt_vocab)]
        key = _key(FORMAT, key_parts, vocab_hash)
        return _open_entry(cls, cache, f"pairs-{key}",
                           lambda: cls._build(pairs, key, (src_vocab, tgt_vocab), cache, log, chunk))

    @classmethod
    def _build(cls, pairs, key, vocabs, cache, log, chunk) -> dict:
        dtypes = [token_dtype(len(v)) for v in vocabs]
        names = {f"{s}_{kind}": f"pairs-{key}.{s}.{kind}" for s in cls.SIDES for kind in ("ids", "offsets")}
        tmp = {k: cache / f".{n}.{os.getpid()}.partial" for k, n in names.items()}
        files = {k: open(p, "wb") for k, p in tmp.items()}
        totals, n, t0 = [0, 0], 0, time.perf_counter()
        log(f"tokenising the sentence pairs into {cache} (once; later runs reuse it)")

        def flush(batch: list[tuple[str, str]]) -> None:
            for j, (side, vocab, dt) in enumerate(zip(cls.SIDES, vocabs, dtypes)):
                seqs = vocab.encode_batch([p[j] for p in batch])
                lengths = np.fromiter((len(x) for x in seqs), dtype=np.int64, count=len(seqs))
                flat = np.fromiter((t for x in seqs for t in x), dtype=np.int64, count=int(lengths.sum()))
                files[f"{side}_ids"].write(flat.astype(dt).tobytes())
                files[f"{side}_offsets"].write((totals[j] + np.cumsum(lengths)).tobytes())
                totals[j] += int(lengths.sum())

        try:
            for k in ("src_offsets", "tgt_offsets"):
                files[k].write(np.zeros(1, dtype=np.int64).tobytes())
            batch: list[tuple[str, str]] = []
            for pair in pairs():
                batch.append(pair)
                n += 1
                if len(batch) == chunk:
                    flush(batch)
                    batch = []
            if batch:
                flush(batch)
            for f in files.values():
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            for k, f in files.items():
                f.close()
                tmp[k].unlink(missing_ok=True)
            raise
        for k, f in files.items():
            f.close()
            os.replace(tmp[k], cache / names[k])
        seconds = time.perf_counter() - t0
        log(f"tokenised {n:,} pairs into {totals[0]:,} + {totals[1]:,} tokens in {seconds:.1f} s")
        return {"format": FORMAT, "pairs": n, **names, "src_dtype": dtypes[0].name, "tgt_dtype": dtypes[1].name,
                "src_tokens": totals[0], "tgt_tokens": totals[1], "tokenise_seconds": round(seconds, 3)}
