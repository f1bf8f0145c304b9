"""A harmonisation to listen to, rendered here: the notes of a score read with music21,
then a small additive synthesiser in NumPy writes a WAV. Nothing is downloaded (no
soundfont, no external player): the page plays the WAV in an ``<audio>`` element.

Each note is a sine with a softer octave above it under a short attack and an
exponential decay; the melody (part 0) is louder than the chords so it stays on top.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Note", "score_notes", "synthesize"]


@dataclass(frozen=True)
class Note:
    """One note or chord of a score: its part, start and length in beats (quarter notes),
    MIDI pitches and name as written (``C4``, ``C4 E4 G4``)."""

    part: int
    start: float
    length: float
    pitches: tuple[int, ...]
    name: str


def score_notes(path: Path) -> list[Note]:
    """Every note and chord of the score at ``path`` (a file rnnlab wrote), part by part."""
    from music21 import converter

    score = converter.parse(str(path))
    notes = []
    for k, part in enumerate(score.parts):
        for el in part.flatten().notes:
            pitches = tuple(int(p.midi) for p in el.pitches)
            notes.append(Note(k, float(el.offset), float(el.quarterLength), pitches,
                              " ".join(p.nameWithOctave for p in el.pitches)))
    return notes


def synthesize(notes: list[Note], rate: int = 16_000, seconds_per_beat: float = 0.5,
               max_seconds: float = 90.0) -> tuple[bytes, float, float]:
    """A mono 16-bit WAV of ``notes`` at ``seconds_per_beat`` (120 beats a minute); returns
    ``(wav bytes, seconds rendered, seconds the score lasts)``. Scores longer than
    ``max_seconds`` are cut there (the page says so): the WAV stays a few MB at most."""
    total = max((n.start + n.length for n in notes), default=0.0) * seconds_per_beat
    rendered = min(total, max_seconds)
    audio = np.zeros(int(rate * rendered) + 1)
    for note in notes:
        start = int(note.start * seconds_per_beat * rate)
        if start >= len(audio):
            continue
        t = np.arange(min(int(note.length * seconds_per_beat * rate), len(audio) - start)) / rate
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-2.5 * t)  # 10 ms attack, then a decay
        gain = 0.5 if note.part == 0 else 0.18
        for midi in note.pitches:
            f = 440.0 * 2.0 ** ((midi - 69) / 12)
            audio[start:start + len(t)] += gain * envelope * (np.sin(2 * np.pi * f * t)
                                                              + 0.3 * np.sin(4 * np.pi * f * t))
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak > 0:
        audio *= 0.8 / peak
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((audio * 32767).astype("<i2").tobytes())
    return buf.getvalue(), rendered, total
