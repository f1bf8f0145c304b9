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

import json
import sysconfig
from pathlib import Path

from ..errors import InputError

__all__ = ["read_text_file", "stdlib_corpus", "CharVocab", "load_corpus"]

SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "__pycache__", "lib2to3"}


def read_text_file(path: str | Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Read one text file; empty, binary or undecodable files raise InputError naming
    the file and the byte offset."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    nul = raw.find(b"\x00")
    if nul >= 0 and errors == "strict":
        raise InputError(f"{path}: looks binary (a NUL byte at offset {nul}); give a text file")
    # a byte-order mark (Windows editors write one) is not text
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(codec, errors=errors)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: byte {e.start} (0x{raw[e.start]:02x}) is not valid {encoding}; pass "
                         f"--set encoding=latin-1 or --set errors=replace") from None
    except LookupError:
        raise InputError(f"encoding: unknown encoding {encoding!r}") from None


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


def load_corpus(data: str, max_chars: int, encoding: str = "utf-8", errors: str = "strict") -> tuple[str, str]:
    """``(text, description)`` for ``"stdlib"``, or comma-separated paths of text files or
    of directories (their ``.txt`` files)."""
    if data == "stdlib":
        text, n = stdlib_corpus(max_chars)
        return text, f"Python {sysconfig.get_python_version()} standard library, {n} files, {len(text):,} chars"
    paths: list[Path] = []
    for part in (p.strip() for p in data.split(",") if p.strip()):
        if Path(part).is_dir():  # a folder: its .txt files, in name order, subfolders included
            found = sorted(Path(part).rglob("*.txt"))
            if not found:
                raise InputError(f"{part}: a directory with no .txt files in it")
            paths += found
        else:
            paths.append(Path(part))
    texts = [read_text_file(p, encoding, errors) for p in paths]
    if not texts:
        raise InputError("--data: give 'stdlib', one or more text files (comma-separated), or a directory of .txt files")
    text = "\n".join(texts)
    return text, f"{data} ({len(text):,} chars)"


class CharVocab:
    """Characters <-> ids. Built from the whole corpus (as char-rnn and nanoGPT do)."""

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, text: str) -> "CharVocab":
        if not text:
            raise InputError("the text is empty: an empty vocabulary cannot be built")
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        return sorted(set(text) - set(self.index))

    def encode(self, text: str) -> list[int]:
        missing = self.unknown(text)
        if missing:
            raise InputError(f"characters not in the vocabulary: {missing[:20]!r}")
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"kind": "char", "chars": self.chars}, ensure_ascii=False)
