"""Parallel text for translation: aligned files or a TSV of pairs, checked line by line,
the generated default task, and token vocabularies (characters or subwords).

The generated default task (deterministic from a seed): dates written in 13 English
and Spanish styles ("Thursday, March 5, 1998", "5 de marzo de 1998", "the 5th of
March, 1998", "05.03.1998", ...) → ISO 8601 ("1998-03-05"), for dates between 1900 and
2099. The model must reorder (day-month-year → year-month-day), translate month names in
two languages and normalise numbers: attention's alignment is visible in the heatmap.
Numeric styles are day-first only (never the ambiguous US order).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError
from .text import file_lines, read_text_file
from .vocab import Vocab, train_bpe

__all__ = ["read_parallel", "iter_parallel", "generate_dates", "TokenVocab", "DATE_STYLES", "SPECIALS"]

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]

EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
ES_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
             "noviembre", "diciembre"]
EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ES_DAYS = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


DATE_STYLES = [
    lambda d: f"{EN_MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{EN_DAYS[d.weekday()]}, {EN_MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {EN_MONTHS[d.month - 1]} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {EN_MONTHS[d.month - 1]}, {d.year}",
    lambda d: f"{EN_MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.day} {EN_MONTHS[d.month - 1][:3].upper()} {d.year % 100:02d}" if d.year < 2000 else
    f"{d.day} {EN_MONTHS[d.month - 1][:3].upper()} {d.year}",
    lambda d: f"{d.day} de {ES_MONTHS[d.month - 1]} de {d.year}",
    lambda d: f"{ES_DAYS[d.weekday()]}, {d.day} de {ES_MONTHS[d.month - 1]} de {d.year}",
    lambda d: f"{ES_DAYS[d.weekday()]} {d.day} de {ES_MONTHS[d.month - 1]} del {d.year}",
    lambda d: f"{d.day}/{d.month}/{d.year}",
    lambda d: f"{d.day}-{ES_MONTHS[d.month - 1][:3]}-{d.year}",
    lambda d: f"el {d.day} de {ES_MONTHS[d.month - 1]} de {d.year}",
]


def generate_dates(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (written date, ISO date) pairs; the same seed gives the same pairs."""
    rng = random.Random(seed)
    start = _dt.date(1900, 1, 1).toordinal()
    end = _dt.date(2099, 12, 31).toordinal()
    pairs = []
    for _ in range(n):
        d = _dt.date.fromordinal(rng.randint(start, end))
        style = DATE_STYLES[rng.randrange(len(DATE_STYLES))]
        pairs.append((style(d), d.isoformat()))
    return pairs


def read_parallel(source: str, target: str | None = None, encoding: str = "utf-8",
                  errors: str = "strict", skip_empty: bool = False) -> list[tuple[str, str]]:
    """Pairs from two aligned files (one sentence per line), from one TSV file
    (source<TAB>target[<TAB>anything], the Tatoeba/Anki layout), or from a ``.csv`` file
    with a header row, the source in its first column and the target in its second."""
    return list(iter_parallel(source, target, encoding, errors, skip_empty))


def iter_parallel(source: str, target: str | None = None, encoding: str = "utf-8",
                  errors: str = "strict", skip_empty: bool = False) -> Iterator[tuple[str, str]]:
    """:func:`read_parallel`'s pairs one at a time; TSV and aligned files are streamed (a
    corpus larger than memory), a CSV file is read whole."""
    if target is None and source.lower().endswith(".csv"):
        yield from _csv_pairs(source, read_text_file(source, encoding, errors), skip_empty)
        return
    if target is None:
        for i, line in enumerate(file_lines(source, encoding, errors), 1):
            if not line.strip():
                if skip_empty:
                    continue
                raise InputError(f"{source}, line {i}: empty line; remove it or pass --set skip_empty=true")
            cols = line.split("\t")
            if len(cols) < 2:
                raise InputError(f"{source}, line {i}: expected source<TAB>target, found no tab")
            if not cols[0].strip() or not cols[1].strip():
                if skip_empty:
                    continue
                raise InputError(f"{source}, line {i}: an empty side; remove it or pass --set skip_empty=true")
            yield cols[0].strip(), cols[1].strip()
        return
    src_lines, tgt_lines = file_lines(source, encoding, errors), file_lines(target, encoding, errors)
    i = 0
    for i, (s, t) in enumerate(itertools.zip_longest(src_lines, tgt_lines), 1):
        if s is None or t is None:
            n_src = i - 1 + (s is not None) + sum(1 for _ in src_lines)
            n_tgt = i - 1 + (t is not None) + sum(1 for _ in tgt_lines)
            raise InputError(f"parallel files differ in length: {source} has {n_src} lines, "
                             f"{target} has {n_tgt}; line i of one must translate line i of the other")
        if not s.strip() or not t.strip():
            if skip_empty:
                continue
            which = source if not s.strip() else target
            raise InputError(f"{which}, line {i}: empty line; remove the pair or pass --set skip_empty=true")
        yield s.strip(), t.strip()


def _csv_pairs(source: str, text: str, skip_empty: bool) -> list[tuple[str, str]]:
    import csv
    import io

    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or len(header) < 2:
        raise InputError(f"{source}, line 1: expected a header row of at least two columns (source, target)")
    pairs = []
    for row in rows:
        line = rows.line_num  # the row's last line: a quoted field may span several
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            if skip_empty:
                continue
            raise InputError(f"{source}, line {line}: expected a source and a target (got {len(row)} field(s)); "
                             "remove the row or pass --set skip_empty=true")
        pairs.append((row[0].strip(), row[1].strip()))
    return pairs


class TokenVocab(Vocab):
    """Text <-> ids with ``<pad>=0, <s>=1, </s>=2, <unk>=3``: characters, or a BPE model
    from the ``tokenizers`` library trained offline on the training side — the
    encoder-decoders' :class:`~rnnlab.data.vocab.Vocab`."""

    def __init__(self, kind: str, chars: list[str] | None = None, tokenizer=None):
        super().__init__(kind, chars or (), specials=SPECIALS, unk=UNK, tokenizer=tokenizer)

    @classmethod
    def build(cls, texts: Iterable[str], kind: str, vocab_size: int = 8000) -> "TokenVocab":
        """Trained on ``texts``, an iterable read once (streamed: it need not fit in memory)."""
        seen = [False]

        def checked(texts):
            for t in texts:
                seen[0] = seen[0] or bool(t)
                yield t

        if kind == "char":
            chars: set[str] = set()
            for t in checked(texts):
                chars.update(t)
            if not seen[0]:
                raise InputError("an empty vocabulary: the training side has no text")
            return cls("char", sorted(chars))
        tok = train_bpe(checked(texts), vocab_size, SPECIALS, UNK)
        if not seen[0]:
            raise InputError("an empty vocabulary: the training side has no text")
        return cls("bpe", tokenizer=tok)

    @staticmethod
    def from_json(raw: str, path: Path, **defaults) -> Vocab:
        """A saved vocabulary; files that do not record their specials have these."""
        return Vocab.from_json(raw, path, **{"specials": SPECIALS, "unk": UNK, **defaults})
