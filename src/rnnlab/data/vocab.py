"""One vocabulary type for every app: tokens <-> ids, and its JSON form.

A :class:`Vocab` has a ``kind``:

- ``"char"``: one token per character (textgen, translate on dates);
- ``"word"``: the words a ``split`` function finds (captions, documents);
- ``"bpe"``: subwords of a ``tokenizers`` model trained offline (:func:`train_bpe`):
  Metaspace pieces with the specials as its first ids (translate, documents), or
  byte-level pieces that encode any text (textgen).

``specials`` are the first ids (``<pad>``, ``<s>``, ``</s>``, ``<unk>`` for the
encoder-decoders; ``<pad>``, ``<unk>`` for documents; none for a language model). Text the
vocabulary does not know becomes ``unk``'s id, or, without ``unk``, is an
:class:`~rnnlab.errors.InputError` naming the characters (a character language model
cannot emit what it never saw). ``decode`` leaves out the specials, but for ``<unk>``.

The JSON form (``vocab.json`` of a run) is ``{"kind", "specials", "unk"}`` plus
``"chars"``, ``"words"`` (the tokens after the specials) or ``"tokenizer"``;
:meth:`Vocab.from_json` also reads the forms runs were saved in before (where the
specials were implied by the app: its loader passes them).

The presets the apps use (:class:`rnnlab.data.text.CharVocab`,
:class:`rnnlab.data.parallel.TokenVocab`, the word vocabularies of captions and documents)
are this type with their specials and split function filled in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Vocab", "train_bpe", "KINDS"]

KINDS = ("char", "word", "bpe")


def _whitespace(text: str) -> list[str]:
    return text.split()


def _identity(text: str) -> str:
    return text


class Vocab:
    """Tokens <-> ids (see the module docstring).

    Args:
        kind: ``"char"``, ``"word"`` or ``"bpe"``.
        tokens: the characters or words after the specials (char / word).
        specials: names of the first ids.
        unk: the special unknown text maps to (None: unknown text is an error).
        tokenizer: a ``tokenizers.Tokenizer`` (bpe), whose ids already start with the specials.
        split: text -> words (word; default: whitespace).
        normalize: applied to text before it is encoded (e.g. documents' lower-cased words
            joined by spaces before BPE).
    """

    def __init__(self, kind: str, tokens: Iterable[str] = (), *, specials: Sequence[str] = (),
                 unk: str | None = None, tokenizer=None, split: Callable[[str], list[str]] | None = None,
                 normalize: Callable[[str], str] | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        if unk is not None and unk not in specials:
            raise ValueError(f"unk: {unk!r} is not one of the specials {list(specials)}")
        if kind == "bpe" and tokenizer is None:
            raise ValueError("kind='bpe' needs a tokenizer (see train_bpe)")
        self.kind = kind
        self.specials = list(specials)
        self.unk = unk
        self.unk_id = None if unk is None else self.specials.index(unk)
        self.tok = tokenizer
        self.split = split or _whitespace
        self.normalize = normalize or _identity
        own = [t for t in tokens if t not in self.specials]
        self.tokens: list[str] = self.specials + own if kind != "bpe" else []
        self.index: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        self._table: np.ndarray | None = None

    # ---- sizes and names ------------------------------------------------------
    def __len__(self) -> int:
        return self.tok.get_vocab_size() if self.kind == "bpe" else len(self.tokens)

    @property
    def itos(self) -> list[str]:
        """Id -> token, specials first (char / word)."""
        return self.tokens

    @property
    def chars(self) -> list[str]:
        """The characters after the specials (char)."""
        return self.tokens[len(self.specials):]

    @property
    def words(self) -> list[str]:
        """The words after the specials (word)."""
        return self.tokens[len(self.specials):]

    def piece(self, i: int) -> str:
        """What id ``i`` stands for."""
        return self.tok.id_to_token(int(i)) if self.kind == "bpe" else self.tokens[int(i)]

    def pieces(self, text: str) -> list[str]:
        """The tokens of ``text`` as strings, one per id of ``encode(text)`` (for plots:
        Metaspace's word marks become spaces)."""
        text = self.normalize(text)
        if self.kind == "char":
            return list(text)
        if self.kind == "word":
            return self.split(text)
        return [p.replace("\u2581", " ").strip() or "·" for p in self.tok.encode(text).tokens]

    def unknown(self, text: str) -> list[str]:
        """What in ``text`` this vocabulary has no token for (always [] for BPE)."""
        if self.kind == "bpe":
            return []
        units = self.normalize(text) if self.kind == "char" else self.split(self.normalize(text))
        return sorted(set(units) - set(self.index))

    # ---- encoding ---------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        text = self.normalize(text)
        if self.kind == "bpe":
            return self.tok.encode(text).ids
        if self.kind == "char" and self.unk_id is None:
            return self._char_ids(text).tolist()
        units = text if self.kind == "char" else self.split(text)
        if self.unk_id is None:
            missing = sorted(set(units) - set(self.index))
            if missing:
                raise InputError(f"words not in the vocabulary: {missing[:20]!r}")
        return [self.index.get(u, self.unk_id) for u in units]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self.kind == "bpe":
            return [e.ids for e in self.tok.encode_batch([self.normalize(t) for t in texts])]
        return [self.encode(t) for t in texts]

    def encode_array(self, text: str, piece: int = 1 << 20) -> np.ndarray:
        """Ids of a long text as an int64 array. Characters go through a code-point lookup
        table (about a hundred times faster than a dict per character); BPE text is cut
        after a newline every ``piece`` characters and the parts encoded in parallel (a
        cut can only change how the line break itself is merged)."""
        if self.kind == "char" and self.unk_id is None:
            return self._char_ids(self.normalize(text))
        if self.kind != "bpe":
            return np.asarray(self.encode(text), dtype=np.int64)
        text = self.normalize(text)
        parts, start = [], 0
        while start < len(text):
            end = text.find("\n", start + piece)
            end = len(text) if end < 0 else end + 1
            parts.append(text[start:end])
            start = end
        ids = [np.asarray(e.ids, dtype=np.int64) for e in self.tok.encode_batch(parts)]
        return np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)

    def _char_ids(self, text: str) -> np.ndarray:
        from .text import code_points

        if self._table is None:
            self._table = np.full(0x110000, -1, dtype=np.int64)
            self._table[[ord(c) for c in self.tokens]] = np.arange(len(self.tokens))
        out = [self._table[cps] for cps in code_points(text)]
        ids = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        if ids.size and ids.min() < 0:
            missing = sorted({text[i] for i in np.flatnonzero(ids < 0)[:1000].tolist()})
            raise InputError(f"characters not in the vocabulary: {missing[:20]!r}")
        return ids

    def decode(self, ids) -> str:
        """Text of ``ids``, the specials left out but ``unk`` (shown as its name)."""
        n = len(self.specials)
        kept = [int(i) for i in ids if int(i) >= n or int(i) == self.unk_id]
        if self.kind == "bpe":
            return self.tok.decode(kept)
        return ("" if self.kind == "char" else " ").join(self.tokens[i] for i in kept)

    # ---- JSON -------------------------------------------------------------------
    def to_json(self) -> str:
        data: dict = {"kind": self.kind, "specials": self.specials, "unk": self.unk}
        if self.kind == "bpe":
            data["tokenizer"] = json.loads(self.tok.to_str())
        else:
            data["chars" if self.kind == "char" else "words"] = self.tokens[len(self.specials):]
        return json.dumps(data, ensure_ascii=False)

    @staticmethod
    def from_json(raw: str, path: Path, specials: Sequence[str] = (), unk: str | None = None,
                  split: Callable[[str], list[str]] | None = None,
                  normalize: Callable[[str], str] | None = None) -> "Vocab":
        """The vocabulary saved at ``path`` (``raw``: its text). ``specials`` / ``unk`` /
        ``split`` / ``normalize``: what the reading app uses, for files that do not
        record them (saved before this type existed)."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            kind = data.get("kind") or ("word" if "words" in data else "bpe" if "model" in data else None)
            if kind not in KINDS:
                raise ValueError(f"unknown kind {data.get('kind')!r}")
            specials = data.get("specials", specials)
            unk = data.get("unk", unk) if "specials" in data else unk
            if kind == "bpe":
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(json.dumps(data["tokenizer"] if "tokenizer" in data else data))
                return Vocab("bpe", specials=specials, unk=unk, tokenizer=tok, normalize=normalize)
            tokens = data["chars" if kind == "char" else "words"]
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise ValueError(f"'{'chars' if kind == 'char' else 'words'}' is not a list of strings")
            return Vocab(kind, tokens, specials=specials, unk=unk, split=split, normalize=normalize)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - JSON, key, type and tokenizers' own errors alike
            raise InputError(f"{path}: not a valid vocabulary file ({e}); the run directory is damaged") from None

    @staticmethod
    def read(path: Path, **defaults) -> "Vocab":
        """:meth:`from_json` of the file at ``path``, which must exist."""
        if not Path(path).is_file():
            raise InputError(f"{path}: vocabulary file missing; the run directory is incomplete")
        return Vocab.from_json(Path(path).read_text(encoding="utf-8"), path, **defaults)


def train_bpe(texts: Iterable[str], vocab_size: int, specials: Sequence[str] = (), unk: str | None = None,
              byte_level: bool = False):
    """A ``tokenizers`` BPE model trained on ``texts`` (an iterable read once: streamed,
    it need not fit in memory), its first ids the ``specials``. ``byte_level``: GPT-2's
    byte-level pieces (any text encodes; textgen); otherwise NFC-normalised Metaspace
    pieces (words keep their leading space mark; translate, documents)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=list(specials), show_progress=False)
    else:
        tok = Tokenizer(models.BPE(unk_token=unk))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok
