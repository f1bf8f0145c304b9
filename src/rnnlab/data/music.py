"""Melodies and chords from scores (music21): the Bach chorales as data, melody files in.

Time unit: the beat (a quarter note). For each beat:

- melody features: the 12 pitch classes of the melody, weighted by how long each sounds
  in the beat, a rest flag, and the beat's place in the bar (one-hot: downbeat, 2nd,
  3rd, 4th or later), and whether a note held with a fermata sounds in it — 18 numbers
  (Lim et al. 2017 use 12 pitch-class vectors per time unit; the metre tells where chords
  tend to change, and a chorale's fermatas mark its phrase ends, where the cadences are:
  DeepBach (Hadjeres et al. 2017) feeds them to its networks for the same reason);
- target: the chord sounding at the beat's start in music21's ``chordify`` of all parts,
  as root + quality in a 26-class vocabulary: 12 major triads (``C`` ... ``B``), 12 minor
  triads (``Cm`` ... ``Bm``), ``other`` (diminished, augmented, incomplete or extended
  sonorities that are not a plain triad) and ``rest``. Sevenths count as their triad
  (G7 → G), as chord-symbol systems do.

Per bar (``unit=bar``, Lim et al.'s time unit): :func:`to_bars` turns a beat-grid piece
into one step per bar — the bar's pitch-class profile (its beats' profiles summed and
normalised), the share of its beats that rest, and its length (one-hot: up to 2, 3, 4,
5 or more beats) and whether a fermata falls in it — labelled with the chord that holds
most of the bar's beats.

Key normalisation: every chorale is transposed so that its key (music21's Krumhansl
analysis) becomes C major or A minor; ``harmonize`` transposes its answer back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["bar_spans", "bar_features", "bar_majority", "to_bars", "CHORDS", "Piece", "riemenschneider_analyses",
           "transpose_label", "melody_features", "chorale_pieces", "load_melody", "chord_label", "chord_pitches"]

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
CHORDS = NOTE_NAMES + [n + "m" for n in NOTE_NAMES] + ["other", "rest"]
OTHER, REST = 24, 25
N_FEATURES = 18
FERMATA = 17  # the feature column of the fermata flag
FEATURES_VERSION = "3"  # part of the cache key: bump when the features change


@dataclass
class Piece:
    """One piece on the beat grid: x (beats, N_FEATURES) melody features, y (beats,) chord ids."""

    name: str
    x: np.ndarray
    y: np.ndarray
    shift: int = 0  # semitones the piece was transposed by (to C major / A minor)


def chord_label(c) -> int:
    """Chord-vocabulary id of a music21 Chord (see the module docstring)."""
    pcs = {p.pitchClass for p in c.pitches}
    if not pcs:
        return REST
    try:
        root = c.root().pitchClass
    except Exception:  # music21 cannot find a root for some clusters
        return OTHER
    third_major, third_minor, fifth = (root + 4) % 12 in pcs, (root + 3) % 12 in pcs, (root + 7) % 12 in pcs
    if fifth and third_major and not third_minor:
        return root
    if fifth and third_minor and not third_major:
        return 12 + root
    return OTHER


def chord_pitches(label: int, octave: int = 3) -> list[str]:
    """Pitches (names with octave) of a vocabulary chord, for writing the chord track."""
    if label >= OTHER:
        return []
    root = label % 12
    third = 3 if label >= 12 else 4
    midi = [12 * (octave + 1) + root + k for k in (0, third, 7)]
    return [f"{NOTE_NAMES[m % 12]}{m // 12 - 1}" for m in midi]


def _check_meter(score, name: str, eighths: bool = False) -> None:
    """Refuse metres rnnlab cannot step through in quarter notes. Training (the chorales)
    takes simple metres only; a melody to harmonize (``eighths``) may also be in a metre
    of eighths whose bar is a whole number of quarter notes (6/8, 12/8, 2/8...)."""
    from music21 import meter

    for ts in score.recurse().getElementsByClass(meter.TimeSignature):
        if ts.denominator in (2, 4):
            continue
        bar = float(ts.barDuration.quarterLength)
        if eighths and ts.denominator == 8 and bar == int(bar):
            continue
        raise InputError(f"{name}: time signature {ts.ratioString} is not supported (rnnlab steps through a melody "
                         "in quarter notes, so a bar must hold a whole number of them: 2/4, 3/4, 4/4, 2/2, 3/2, 6/8, "
                         "12/8)")


def melody_features(part, n_beats: int | None = None) -> np.ndarray:
    """(beats, 18): pitch-class durations per beat (normalised), a rest flag, metre, fermata."""
    from music21 import expressions

    notes = [(float(n.offset), float(n.quarterLength), n) for n in part.flatten().notes]
    end = max([o + d for o, d, _ in notes] + [float(part.flatten().highestTime)])  # trailing rests count
    beats = n_beats if n_beats is not None else int(np.ceil(end))
    x = np.zeros((beats, 13))
    fermata = np.zeros((beats, 1))
    for off, dur, n in notes:
        pcs = [p.pitchClass for p in n.pitches]
        if any(isinstance(e, expressions.Fermata) for e in n.expressions):
            first = int(np.floor(off + 1e-9))  # every beat the held note sounds in
            fermata[first:max(int(np.ceil(off + dur - 1e-9)), first + 1)] = 1
        t = off
        while t < off + dur - 1e-9 and int(t) < beats:
            b = int(np.floor(t + 1e-9))
            seg = min(off + dur, b + 1) - t
            for pc in pcs:
                x[b, pc] += seg
            t = b + 1
    sums = x[:, :12].sum(1, keepdims=True)
    x[:, :12] = np.where(sums > 0, x[:, :12] / np.maximum(sums, 1e-9), 0)
    x[:, 12] = (sums[:, 0] == 0).astype(float)
    metre = np.eye(4)[np.minimum(beat_positions(part, beats), 3)]
    return np.concatenate([x, metre, fermata], 1)


def beat_positions(part, beats: int) -> np.ndarray:
    """Each beat's position in its bar (0 = downbeat), from the part's measures
    (pickup bars included); every 4th beat if the part has no measures."""
    pos = np.arange(beats) % 4
    for m in part.getElementsByClass("Measure"):
        start, pad = float(m.offset), float(m.paddingLeft or 0.0)
        for b in range(int(np.ceil(start - 1e-9)), int(np.ceil(start + float(m.duration.quarterLength) - 1e-9))):
            if 0 <= b < beats:
                pos[b] = int(b - start + pad)
    return pos


def bar_spans(x: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` beat ranges of the bars of beat features ``x`` (from the downbeat
    column of the metre one-hot); beats before the first downbeat (a pickup) are a bar."""
    starts = [0] + [b for b in range(1, len(x)) if x[b, 13] == 1]
    return list(zip(starts, starts[1:] + [len(x)]))


def bar_features(x: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """(bars, 18) from beat features (bars, as the module docstring says)."""
    out = np.zeros((len(spans), N_FEATURES))
    for i, (a, b) in enumerate(spans):
        pcs = x[a:b, :12].sum(0)
        out[i, :12] = pcs / pcs.sum() if pcs.sum() > 0 else 0
        out[i, 12] = x[a:b, 12].mean()
        out[i, 13 + min(max(b - a, 2), 5) - 2] = 1
        out[i, FERMATA] = x[a:b, FERMATA].max()
    return out


def bar_majority(labels: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Per bar, the label held by the most beats (the earliest of a tie)."""
    out = np.zeros(len(spans), dtype=np.asarray(labels).dtype)
    for i, (a, b) in enumerate(spans):
        seg = list(labels[a:b])
        out[i] = max(seg, key=lambda v: (seg.count(v), -seg.index(v)))
    return out


def to_bars(piece: Piece) -> Piece:
    """The piece with one step per bar instead of per beat."""
    spans = bar_spans(piece.x)
    return Piece(piece.name, bar_features(piece.x, spans), bar_majority(piece.y, spans), piece.shift)


def _normalise_key(score):
    from music21 import interval, pitch

    k = score.analyze("key")
    target = pitch.Pitch("C" if k.mode == "major" else "A")
    iv = interval.Interval(k.tonic, target)
    semis = iv.semitones % 12
    if semis > 6:
        semis -= 12
    return score.transpose(semis), semis


def piece_from_score(score, name: str) -> Piece:
    """Key-normalised beats of a four-part chorale: soprano features, chord targets."""
    _check_meter(score, name)
    score, semis = _normalise_key(score)
    parts = list(score.parts)
    soprano = parts[0]
    x = melody_features(soprano)
    chords = score.chordify().flatten().getElementsByClass("Chord")
    y = np.full(len(x), REST, dtype=np.int64)
    spans = [(float(c.offset), float(c.offset + c.quarterLength), c) for c in chords]
    j = 0
    for b in range(len(x)):
        while j < len(spans) and spans[j][1] <= b + 1e-9:
            j += 1
        if j < len(spans) and spans[j][0] <= b + 1e-9:
            y[b] = chord_label(spans[j][2])
    return Piece(name, x, y, semis)


def _cache_dir() -> Path:
    return Path(os.environ.get("RNNLAB_CACHE", Path.home() / ".cache" / "rnnlab"))


def _chorale_piece(path: str) -> Piece | None:
    """One corpus file as a piece; None for what the chorales set leaves out (not four
    parts, an unsupported metre, unparsable). ``forceSource``: music21 would otherwise
    pickle every parsed score into its scratch folder, a write that costs a quarter of the
    parse and that nothing reads back (the pieces themselves are cached)."""
    from music21 import corpus

    try:
        score = corpus.parse(path, forceSource=True)
    except Exception:
        return None
    if len(score.parts) != 4:
        return None  # only four-part chorales
    try:
        return piece_from_score(score, Path(path).stem)
    except InputError:
        return None


def _parse_all(fn, items: list, log=lambda m: None, what: str = "chorales") -> list:
    """``[fn(item) for item in items]``, in that order, over the machine's cores (music21
    parsing is pure Python, one core each: 2 cores halve a cold run's wait). Worker
    processes are spawned, not forked, so that no torch thread pool is copied into them."""
    import concurrent.futures
    import multiprocessing

    workers = min(len(items), os.cpu_count() or 1, 8)
    if workers < 2 or len(items) < 8:
        return [fn(item) for item in items]
    out = []
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, result in enumerate(pool.map(fn, items, chunksize=4)):
            out.append(result)
            if (i + 1) % 50 == 0:
                log(f"parsed {i + 1}/{len(items)} {what}")
    return out


def _piece_json(q: Piece) -> dict:
    return {"name": q.name, "x": q.x.round(4).tolist(), "y": q.y.tolist(), "shift": q.shift}


def _piece_of_json(d: dict) -> Piece:
    return Piece(d["name"], np.array(d["x"]), np.array(d["y"], dtype=np.int64), int(d.get("shift", 0)))


def _read_cache(cache: Path) -> list | None:
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except json.JSONDecodeError:
            pass  # a damaged cache is rebuilt
    return None


def chorale_pieces(limit: int | None = None, log=lambda m: None) -> list[Piece]:
    """The four-part Bach chorales music21 ships, as key-normalised beat sequences.

    Parsing takes a while (about 0.25 s a chorale on one core), so it runs on every core
    and the result is cached as JSON (``~/.cache/rnnlab``, or ``$RNNLAB_CACHE``) keyed by
    the music21 version and the file list.
    """
    import music21
    from music21 import corpus

    paths = sorted(str(p) for p in corpus.getComposer("bach") if "riemenschneider" not in str(p))
    if limit:
        paths = paths[:limit]
    key = hashlib.sha1((FEATURES_VERSION + music21.__version__ + "|".join(paths)).encode()).hexdigest()[:12]
    cache = _cache_dir() / f"chorales-{key}.json"
    data = _read_cache(cache)
    if data is not None:
        try:
            return [_piece_of_json(d) for d in data]
        except (KeyError, TypeError):
            pass
    log(f"parsing {len(paths)} chorales with music21 (once; cached in {cache.parent})")
    rows = [_piece_json(p) for p in _parse_all(_chorale_piece, paths, log) if p is not None]
    from ..files import atomic_write

    atomic_write(cache, json.dumps(rows))
    return [_piece_of_json(d) for d in rows]  # as a later run reads them from the cache, to the digit


def load_melody(path: str, part: int | None = None):
    """``(melody part, semitones it was transposed by to reach C / Am, score)``."""
    from music21 import converter

    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    try:
        score = converter.parse(str(p))
    except Exception as e:
        raise InputError(f"{path}: music21 cannot parse this file ({type(e).__name__}: {str(e)[:120]}); give "
                         "MusicXML, MIDI or ABC") from None
    try:
        return _melody_of(score, path, part)
    except InputError:
        raise
    except Exception as e:  # music21 parses some malformed files into scores it then fails on
        raise InputError(f"{path}: music21 cannot read a melody from this file ({type(e).__name__}: "
                         f"{str(e)[:120]})") from None


def _melody_of(score, path: str, part: int | None):
    """:func:`load_melody` on a parsed score."""
    _check_meter(score, path, eighths=True)
    parts = list(getattr(score, "parts", [])) or [score]
    candidates = [q for q in parts if len(q.flatten().notes)]
    if not candidates:
        raise InputError(f"{path}: no notes; the melody is empty")
    if part is None:
        if len(candidates) > 1:
            raise InputError(f"{path}: {len(candidates)} parts have notes; choose the melody with --part N "
                             f"(0 to {len(parts) - 1})")
        chosen = candidates[0]
    else:
        if not 0 <= part < len(parts):
            raise InputError(f"--part {part}: the file has parts 0 to {len(parts) - 1}")
        chosen = parts[part]
        if not len(chosen.flatten().notes):
            raise InputError(f"{path}: part {part} has no notes")
    from music21 import stream

    solo = stream.Score([chosen])
    normal, semis = _normalise_key(solo)
    return normal.parts[0], semis, chosen


def transpose_label(label: int, semitones: int) -> int:
    """A vocabulary chord moved by ``semitones`` (other and rest stay)."""
    if label >= OTHER:
        return label
    return (label // 12) * 12 + (label % 12 + semitones) % 12


def riemenschneider_analyses(log=lambda m: None) -> list[tuple[Piece, np.ndarray]]:
    """The 20 human Roman-numeral analyses music21 ships (riemenschneider001-020), each
    with its chorale: ``(key-normalised piece, human chord per beat in the piece's own
    key)``. Analyses whose chorale is not in the corpus are skipped, and said. Parsed on
    every core once, then cached beside the chorales (every chords run scores them)."""
    import music21

    key = hashlib.sha1((FEATURES_VERSION + music21.__version__ + "riemenschneider001-020").encode()).hexdigest()[:12]
    cache = _cache_dir() / f"riemenschneider-{key}.json"
    data = _read_cache(cache)
    if data is not None:
        try:
            return [(_piece_of_json(d["piece"]), np.array(d["human"], dtype=np.int64)) for d in data]
        except (KeyError, TypeError):
            pass
    out = []
    for i, pair in enumerate(_parse_all(_riemenschneider_pair, list(range(1, 21)), log, "analyses"), 1):
        if isinstance(pair, str):  # a missing or unparsable pair is skipped, and said
            log(f"riemenschneider{i:03d}: skipped ({pair})")
        else:
            out.append(pair)
    from ..files import atomic_write

    rows = [{"piece": _piece_json(p), "human": h.tolist()} for p, h in out]
    atomic_write(cache, json.dumps(rows))
    return [(_piece_of_json(d["piece"]), np.array(d["human"], dtype=np.int64)) for d in rows]  # as cached


def _riemenschneider_pair(i: int) -> tuple[Piece, np.ndarray] | str:
    """Analysis ``i`` and its chorale (see :func:`riemenschneider_analyses`), or why not."""
    from music21 import corpus, roman

    path = f"bach/choraleAnalyses/riemenschneider{i:03d}.rntxt"
    try:
        text = Path(corpus.getWork(path)).read_text(encoding="utf-8")
        bwv = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("BWV:"))
        analysis = corpus.parse(path, format="romantext", forceSource=True)
        score = corpus.parse(f"bach/bwv{bwv}", forceSource=True)
        piece = piece_from_score(score, f"bwv{bwv}")
    except Exception as e:
        return type(e).__name__
    rns = [(float(r.offset), float(r.offset + r.quarterLength), r)
           for r in analysis.flatten().getElementsByClass(roman.RomanNumeral)]
    human = np.full(len(piece.y), REST, dtype=np.int64)
    for b in range(len(human)):
        for start, end, r in rns:
            if start <= b + 1e-9 < end:
                human[b] = chord_label(r)
                break
    # A few corpus editions are in another key than the analysed one (two of the 20):
    # move the analysis to the edition's key, the transposition that best matches the
    # edition's own chords (ground truth only; no model is involved).
    own = np.array([transpose_label(int(v), -piece.shift) for v in piece.y])
    k = max(range(12), key=lambda k: int((np.array([transpose_label(int(v), k) for v in human]) == own).sum()))
    return piece, np.array([transpose_label(int(v), k) for v in human])
