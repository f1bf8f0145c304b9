"""rnnlab chords: chord labels, Viterbi, features, harmonize end to end, bad input."""

import itertools

import numpy as np
import pytest
import torch
from conftest import read_json

from rnnlab.apps.chords import viterbi
from rnnlab.data.music import CHORDS, FERMATA, N_FEATURES, OTHER, REST, chord_label, melody_features


def test_chord_labels():
    from music21 import chord

    assert CHORDS[chord_label(chord.Chord("C4 E4 G4"))] == "C"
    assert CHORDS[chord_label(chord.Chord("A3 C4 E4"))] == "Am"
    assert CHORDS[chord_label(chord.Chord("G3 B3 D4 F4"))] == "G"  # a seventh counts as its triad
    assert chord_label(chord.Chord("B3 D4 F4")) == OTHER  # diminished
    assert chord_label(chord.Chord([])) == REST
    assert len(CHORDS) == 26


def test_viterbi_matches_brute_force():
    rng = np.random.default_rng(0)
    K, T = 3, 5
    ls = np.log(rng.dirichlet(np.ones(K)))
    lt = np.log(rng.dirichlet(np.ones(K), size=K))
    le = np.log(rng.dirichlet(np.ones(K), size=T))
    best = max(itertools.product(range(K), repeat=T),
               key=lambda p: ls[p[0]] + le[0, p[0]] + sum(lt[p[t - 1], p[t]] + le[t, p[t]] for t in range(1, T)))
    assert viterbi(ls, lt, le).tolist() == list(best)


class FixedPosterior(torch.nn.Module):
    """Stands in for the DNN: the same logits for every window, row by row."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)

    def forward(self, x):
        return self.logits[: len(x)]


def test_dnn_hmm_decodes_posteriors_over_priors_with_transitions():
    from rnnlab.apps.chords import HMM, dnn_hmm_predict

    K = len(CHORDS)
    hmm = HMM()
    hmm.log_start = np.full(K, -np.log(K))
    x = np.zeros((3, N_FEATURES))
    flat_prior = np.full(K, -np.log(K))
    # a confident network and free transitions: its argmax, unit by unit
    hmm.log_trans = np.full((K, K), -np.log(K))
    sure = np.full((3, K), -10.0)
    sure[[0, 1, 2], [7, 0, 9]] = 10.0
    assert dnn_hmm_predict(FixedPosterior(sure), hmm, flat_prior, x, 0).tolist() == [7, 0, 9]
    # the network leans to chord 2 on the middle unit, but chord 1 never goes to 2
    trans = np.full((K, K), 1.0)
    trans[1, 2] = 1e-6
    hmm.log_trans = np.log(trans / trans.sum(1, keepdims=True))
    lean = np.full((3, K), -10.0)
    lean[0, 1], lean[2, 1] = 10.0, 10.0
    lean[1, 2], lean[1, 1] = 1.0, 0.5
    assert dnn_hmm_predict(FixedPosterior(lean), hmm, flat_prior, x, 0).tolist() == [1, 1, 1]
    # dividing by the prior: a chord the network favours only because it is common loses
    hmm.log_trans = np.full((K, K), -np.log(K))
    common = np.full((1, K), -10.0)
    common[0, 3], common[0, 4] = 1.0, 0.5
    prior = np.full(K, 1e-3)
    prior[3] = 0.9
    assert dnn_hmm_predict(FixedPosterior(common), hmm, np.log(prior / prior.sum()), x[:1], 0).tolist() == [4]


def test_melody_features_per_beat():
    from music21 import converter

    part = converter.parse("tinyNotation: 4/4 c4 e2 r4")
    x = melody_features(part)
    assert x.shape == (4, N_FEATURES)
    assert x[0, 0] == 1 and x[1, 4] == 1 and x[2, 4] == 1 and x[3, 12] == 1  # C, E, E, rest
    assert x[0, 13] == 1 and x[1, 14] == 1  # downbeat, second beat
    assert not x[:, FERMATA].any()


def test_fermata_flags_every_beat_its_note_holds():
    from music21 import converter, expressions

    part = converter.parse("tinyNotation: 4/4 c4 d4 e2 f4 g4 a2")
    notes = list(part.flatten().notes)
    notes[2].expressions.append(expressions.Fermata())  # e2: beats 2-3, a phrase end
    x = melody_features(part)
    assert x[:, FERMATA].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    from rnnlab.data.music import bar_features, bar_spans

    assert bar_features(x, bar_spans(x))[:, FERMATA].tolist() == [1, 0]  # the bar that holds it


def write_melody(path, notation="tinyNotation: 4/4 c4 d4 e4 f4 g2 e2 d4 c4 d4 e4 c1"):
    from music21 import converter

    converter.parse(notation).write("musicxml", fp=str(path))
    return path


def test_harmonize_end_to_end(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("chords", "train", "--quick", "--out", str(run), "--epochs", "2",
                         "--set", "max_pieces=15", "--set", "hidden_size=16")
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert {"accuracy", "baseline_hmm_accuracy", "baseline_dnn_hmm_accuracy", "baseline_mlp_accuracy",
            "gain_over_dnn_hmm_pct"} <= set(m)
    assert (run / "confusion.png").exists()
    melody = write_melody(tmp_path / "tune.musicxml")
    code, out, err = cli("chords", "harmonize", str(run), str(melody), "--out", str(tmp_path / "out" / "tune"))
    assert code == 0, err
    assert (tmp_path / "out" / "tune.musicxml").exists() and (tmp_path / "out" / "tune.mid").exists()
    names = out.splitlines()[0].split()
    assert len(names) == 16 and set(names) <= set(CHORDS)
    # bad input
    (tmp_path / "junk.xml").write_text("<not music")
    code, _, err = cli("chords", "harmonize", str(run), str(tmp_path / "junk.xml"))
    assert code == 2 and "cannot parse" in err
    six8 = write_melody(tmp_path / "six8.musicxml", "tinyNotation: 6/8 c4. d4. e4. f4.")  # 2 bars of 3 quarters
    code, out, err = cli("chords", "harmonize", str(run), str(six8), "--out", str(tmp_path / "six8-out"))
    assert code == 0, err
    assert len(out.splitlines()[0].split()) == 6
    nine8 = write_melody(tmp_path / "nine8.musicxml", "tinyNotation: 9/8 c4. d4. e4.")  # 4.5 quarters a bar
    code, _, err = cli("chords", "harmonize", str(run), str(nine8))
    assert code == 2 and "9/8" in err and "whole number" in err
    from music21 import converter, stream

    two = stream.Score([converter.parse("tinyNotation: 4/4 c4 d4 e4 f4"),
                        converter.parse("tinyNotation: 4/4 e4 f4 g4 a4")])
    two.write("musicxml", fp=str(tmp_path / "two.musicxml"))
    code, _, err = cli("chords", "harmonize", str(run), str(tmp_path / "two.musicxml"))
    assert code == 2 and "--part" in err
    code, out, err = cli("chords", "harmonize", str(run), str(tmp_path / "two.musicxml"), "--part", "1",
                         "--out", str(tmp_path / "p1"))
    assert code == 0, err


@pytest.mark.slow
def test_quick_blstm_beats_hmm(tmp_path, cli):
    code, out, err = cli("chords", "train", "--quick", "--out", str(tmp_path / "q"))
    assert code == 0, err
    m = read_json(tmp_path / "q" / "metrics.json")
    assert m["accuracy"] > m["baseline_hmm_accuracy"] > m["baseline_majority_accuracy"]


def test_human_analyses_align_with_the_chorales():
    from rnnlab.data.music import riemenschneider_analyses, transpose_label

    pairs = riemenschneider_analyses()
    assert len(pairs) >= 15
    agree = [np.mean([transpose_label(int(v), -p.shift) == h for v, h in zip(p.y, hs)]) for p, hs in pairs]
    assert np.median(agree) > 0.8  # chordify and the human analyses mostly agree: the beats line up


def test_bars_from_beats():
    """unit=bar: a pickup is its own bar; the bar's profile is its beats' summed and
    normalised; its label holds most of its beats (the earliest of a tie)."""
    from music21 import converter

    from rnnlab.data.music import Piece, bar_features, bar_majority, bar_spans, to_bars

    # a one-beat pickup, then two 4/4 bars
    x = melody_features(converter.parse("tinyNotation: 4/4 c4 e4 e4 g4 r4 c2 d4"))
    x = np.concatenate([melody_features(converter.parse("tinyNotation: 1/4 g4")), x])
    x[0, 13:17] = [0, 0, 0, 1]  # the pickup beat is the 4th of its bar
    spans = bar_spans(x)
    assert spans == [(0, 1), (1, 5), (5, 9)]
    f = bar_features(x, spans)
    assert f.shape == (3, N_FEATURES)
    np.testing.assert_allclose(f[1, [0, 4, 7]], [0.25, 0.5, 0.25])  # C, E, E, G
    np.testing.assert_allclose(f[2, [0, 2, 12]], [2 / 3, 1 / 3, 0.25])  # r4 c2 d4: a rest beat, C twice, D
    assert f[0, 13] == 1 and f[1, 15] == 1  # bar lengths: up to 2 beats, 4 beats
    y = np.array([7, 0, 0, 7, 7, 0, 0, 2, 2])
    assert bar_majority(y, spans).tolist() == [7, 0, 0]  # ties go to the earliest label
    bars = to_bars(Piece("p", x, y, shift=3))
    assert bars.x.shape == (3, N_FEATURES) and bars.y.tolist() == [7, 0, 0] and bars.shift == 3


def test_bar_unit_trains_and_harmonizes_a_chord_per_bar(tmp_path, cli):
    run = tmp_path / "bars"
    code, out, err = cli("chords", "train", "--quick", "--out", str(run), "--epochs", "2",
                         "--set", "max_pieces=15", "--set", "hidden_size=16", "--set", "unit=bar")
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["test_bars"] > 0 and 0 <= m["accuracy"] <= 1
    melody = write_melody(tmp_path / "tune.musicxml")  # 4 bars of 4/4
    code, out, err = cli("chords", "harmonize", str(run), str(melody), "--out", str(tmp_path / "out" / "tune"))
    assert code == 0, err
    names = out.splitlines()[0].split()
    assert len(names) == 16 and all(len(set(names[b:b + 4])) == 1 for b in range(0, 16, 4))
    code, _, err = cli("chords", "train", "--quick", "--set", "unit=phrase", "--out", str(tmp_path / "bad"))
    assert code == 2 and "unit" in err
    code, _, err = cli("chords", "train", "--quick", "--set", "dnn_hmm_context=-1", "--out", str(tmp_path / "bad"))
    assert code == 2 and "dnn_hmm_context" in err and not (tmp_path / "bad").exists()


def test_chorales_parse_on_every_core_in_order_as_one_core_would(tmp_path, monkeypatch):
    """The cold parse runs over worker processes (issue 35: it was a third of the demo's
    cold time); it gives the pieces of a one-core parse, in corpus order, and the cache
    gives them back to the digit."""
    from rnnlab.data import music

    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "pool"))
    pooled = music.chorale_pieces(10)
    cached = music.chorale_pieces(10)
    assert [p.name for p in cached] == [p.name for p in pooled]
    assert all(np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) for a, b in zip(cached, pooled))
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "serial"))
    monkeypatch.setattr(music.os, "cpu_count", lambda: 1)
    serial = music.chorale_pieces(10)
    assert [p.name for p in pooled] == [p.name for p in serial] and len(serial) >= 6
    for a, b in zip(pooled, serial):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and a.shift == b.shift
