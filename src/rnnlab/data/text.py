"""Text: reading files with clear errors, the embedded standard-library corpus, and
character or subword vocabularies.

The embedded default corpus (like char-rnn's Linux-kernel experiment, but present on
every machine with Python): the ``.py`` files of this interpreter's standard library
(``sysconfig.get_paths()["stdlib"]``), in sorted path order, skipping the ``test``,
``tests``, ``idlelib`` and ``site-packages`` folders and any file that is not UTF-8,
joined with a blank line, cut at ``max_chars`` characters. On CPython 3.11.7 the whole
collection is 601 files, 11.1 million characters (``stdlib_corpus(10**9)``); the default
cap keeps the first 2 million.
"""

from __future__ import annotations

import codecs
import json
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .vocab import Vocab

__all__ = ["read_text_file", "stdlib_corpus", "CharVocab", "load_corpus", "TextSource", "split_text", "lines_of",
           "file_lines", "stream_file", "files_fingerprint", "json_lines"]

#: bytes read at a time when streaming a file: memory stays bounded however large it is
READ_BYTES = 8 << 20

SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "__pycache__", "lib2to3"}


def read_text_file(path: str | Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Read one text file; empty, binary or undecodable files raise InputError naming
    the file and the byte offset (the checks of :func:`stream_file`, the file read whole)."""
    return "".join(stream_file(Path(path), encoding, errors, read_bytes=1 << 30))


def stdlib_corpus(max_chars: int) -> tuple[str, int]:
    """The embedded corpus: ``(text, number of files used)``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, total, used = [], 0, 0
    for f in sorted(root.rglob("*.py")):
        if SKIP_DIRS & set(f.relative_to(root).parts[:-1]):
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        used += 1
        total += len(text) + 2
        if total >= max_chars:
            break
    return "\n\n".join(parts)[:max_chars], used


def json_lines(path: str | Path, encoding: str = "utf-8", errors: str = "strict") -> Iterator[tuple[str, object]]:
    """``(where, value)`` for each non-blank line of a JSON Lines file (``where``: "FILE,
    line N" for messages); a line that is not JSON is an InputError naming it. The file is
    read through :func:`read_text_file` (encoding, byte-order mark, binary and empty files)."""
    for no, line in enumerate(read_text_file(path, encoding, errors).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {no}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: not valid JSON ({e.msg})") from None


def corpus_paths(data: str) -> list[Path]:
    """The files of ``--data``: comma-separated paths of text files or of directories
    (their ``.txt`` files, in name order, subfolders included)."""
    paths: list[Path] = []
    for part in (p.strip() for p in data.split(",") if p.strip()):
        if Path(part).is_dir():
            found = sorted(Path(part).rglob("*.txt"))
            if not found:
                raise InputError(f"{part}: a directory with no .txt files in it")
            paths += found
        else:
            paths.append(Path(part))
    if not paths:
        raise InputError("--data: give 'stdlib', one or more text files (comma-separated), or a directory of "
                         ".txt files")
    return paths


def load_corpus(data: str, max_chars: int, encoding: str = "utf-8", errors: str = "strict") -> tuple[str, str]:
    """``(text, description)`` for ``"stdlib"``, or comma-separated paths of text files or
    of directories (their ``.txt`` files), joined with a newline. The whole text in
    memory: for corpora of any size, stream them with :class:`TextSource`."""
    if data == "stdlib":
        text, n = stdlib_corpus(max_chars)
        return text, f"Python {sysconfig.get_python_version()} standard library, {n} files, {len(text):,} chars"
    text = "\n".join(read_text_file(p, encoding, errors) for p in corpus_paths(data))
    return text, f"{data} ({len(text):,} chars)"


def _codec(encoding: str) -> str:
    # a byte-order mark (Windows editors write one) is not text
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def stream_file(path: Path, encoding: str = "utf-8", errors: str = "strict", read_bytes: int = READ_BYTES
                ) -> Iterator[str]:
    """The text of one file in pieces, checked as :func:`read_text_file` checks it
    (missing, empty, binary, undecodable: InputError naming the file and byte offset)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        decoder = codecs.getincrementaldecoder(_codec(encoding))(errors)
    except LookupError:
        raise InputError(f"encoding: unknown encoding {encoding!r}") from None
    offset, seen_text = 0, False
    with open(path, "rb") as f:
        while True:
            raw = f.read(read_bytes)
            final = not raw
            nul = raw.find(b"\x00")
            if nul >= 0 and errors == "strict":
                raise InputError(f"{path}: looks binary (a NUL byte at offset {offset + nul}); give a text file")
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as e:
                at = offset - pending + e.start
                bad = (e.object[e.start] if e.start < len(e.object) else 0)
                raise InputError(f"{path}: byte {at} (0x{bad:02x}) is not valid {encoding}; pass "
                                 f"--set encoding=latin-1 or --set errors=replace") from None
            offset += len(raw)
            if text:
                seen_text = seen_text or bool(text.strip())
                yield text
            if final:
                break
    if not seen_text:
        raise InputError(f"{path}: the file is empty")


class TextSource:
    """A corpus read as a stream of text pieces, never whole: the embedded standard-library
    corpus (``"stdlib"``, at most ``max_chars`` characters) or the files of ``--data``
    joined with a newline, exactly the text :func:`load_corpus` returns.

    ``fingerprint`` names the files by path, size and modification time, so a cache of
    anything derived from the text (token ids) is rebuilt when a file changes."""

    def __init__(self, data: str, max_chars: int = 2_000_000, encoding: str = "utf-8", errors: str = "strict",
                 read_bytes: int = READ_BYTES):
        self.data, self.max_chars, self.encoding, self.errors = data, max_chars, encoding, errors
        self.read_bytes = read_bytes
        self.paths = [] if data == "stdlib" else corpus_paths(data)

    @property
    def embedded(self) -> bool:
        return self.data == "stdlib"

    def fingerprint(self) -> dict:
        if self.embedded:
            return {"stdlib": sysconfig.get_python_version(), "max_chars": self.max_chars}
        return {"files": files_fingerprint(self.paths), "encoding": self.encoding, "errors": self.errors}

    def describe(self, chars: int) -> str:
        if self.embedded:
            return f"Python {sysconfig.get_python_version()} standard library, {chars:,} chars"
        return f"{self.data} ({chars:,} chars)"

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths)

    def pieces(self) -> Iterator[str]:
        """The corpus's text, piece by piece (pieces of up to a few million characters)."""
        if self.embedded:
            yield stdlib_corpus(self.max_chars)[0]
            return
        for i, p in enumerate(self.paths):
            if i:
                yield "\n"
            yield from stream_file(p, self.encoding, self.errors, self.read_bytes)

    def char_counts(self) -> tuple[list[str], np.ndarray]:
        """``(characters, their counts)`` over the whole corpus, characters sorted, in one
        pass (a bincount of code points: fast, and memory independent of the size)."""
        counts = np.zeros(0x110000, dtype=np.int64)
        for piece in self.pieces():
            for cps in code_points(piece):
                counts += np.bincount(cps, minlength=0x110000)
        present = np.flatnonzero(counts)
        if present.size == 0:
            raise InputError(f"{self.data}: the text is empty")
        return [chr(c) for c in present], counts[present]


def files_fingerprint(paths: list[Path]) -> list:
    """``[path, size, modification time]`` of each file: what a cache of their contents is keyed by."""
    out = []
    for p in paths:
        try:
            st = Path(p).stat()
        except OSError:
            raise InputError(f"{p}: no such file") from None
        out.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return out


def file_lines(path: str | Path, encoding: str = "utf-8", errors: str = "strict") -> Iterator[str]:
    """The lines of a file, line ends removed, read a few megabytes at a time: the same
    lines as ``read_text_file(path).splitlines()``."""
    for batch in lines_of(stream_file(Path(path), encoding, errors)):
        for line in batch:
            yield (line.splitlines() or [""])[0]


def code_points(text: str, step: int = 1 << 22) -> Iterator[np.ndarray]:
    """The code points of ``text`` as uint32 arrays of at most ``step`` characters."""
    for i in range(0, len(text), step):
        # surrogatepass: a lone surrogate (from a surrogateescape'd file name, say) is still one character
        yield np.frombuffer(text[i:i + step].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def lines_of(pieces: Iterator[str], batch: int = 1000) -> Iterator[list[str]]:
    """The lines (line ends kept) of a stream of text pieces, in lists of ``batch``."""
    rest, out = "", []
    for piece in pieces:
        lines = (rest + piece).splitlines(keepends=True)
        # the last line may go on in the next piece (a "\r" may be half of "\r\n")
        rest = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        out += lines
        while len(out) >= batch:
            yield out[:batch]
            out = out[batch:]
    if rest:
        out.append(rest)
    if out:
        yield out


def split_text(pieces: Iterator[str], at: int) -> Iterator[tuple[int, str]]:
    """``(part, piece)`` for a stream cut at character ``at``: part 0 before, 1 from there on."""
    seen = 0
    for piece in pieces:
        if seen + len(piece) <= at:
            yield 0, piece
        elif seen >= at:
            yield 1, piece
        else:
            yield 0, piece[:at - seen]
            yield 1, piece[at - seen:]
        seen += len(piece)


class CharVocab(Vocab):
    """Characters <-> ids, no specials, unknown characters an error: a character language
    model's :class:`~rnnlab.data.vocab.Vocab`. Built from the whole corpus (as char-rnn
    and nanoGPT do)."""

    def __init__(self, chars: list[str]):
        super().__init__("char", chars)

    @classmethod
    def build(cls, text: str) -> "CharVocab":
        if not text:
            raise InputError("the text is empty: an empty vocabulary cannot be built")
        return cls(sorted(set(text)))
