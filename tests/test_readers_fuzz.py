"""Property: any file given to a reader either loads or raises rnnlab's InputError (the
CLI's exit 2, one message naming the file) — never another exception.

Each reader gets files that hypothesis makes in three ways: random bytes; a valid file
of its format with random edits (lines dropped, duplicated or swapped, fields replaced by
empty / ``nan`` / ``1e999`` / text / separators, bytes cut off the end, a byte-order mark,
invalid UTF-8); and, for structured formats, generated structures (JSON values, arrays of
any shape and dtype). The default suite runs a few examples per reader; the slow suite
runs 200 (``python -m pytest -m slow tests/test_readers_fuzz.py``).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.errors import InputError

# ------------------------------------------------------------------ valid seeds per format
VALID = {
    "forecast.csv": "date,value,temp\n2020-01,1.5,3\n2020-02,2.5,4\n2020-03,2.0,5\n2020-04,3.5,6\n"
                    "2020-05,4.0,7\n2020-06,4.5,8\n2020-07,5.0,9\n2020-08,5.5,9\n",
    "series.ts": "@problemName toy\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n"
                 "@seriesLength 4\n@classLabel true a b\n@data\n1.0,2.0,3.0,4.0:a\n4.0,3.0,2.0,1.0:b\n"
                 "1.5,2.5,3.5,4.5:a\n",
    "series.arff": "@relation toy\n@attribute t0 numeric\n@attribute t1 numeric\n@attribute t2 numeric\n"
                   "@attribute target {a,b}\n@data\n1,2,3,a\n3,2,1,b\n2,2,2,a\n",
    "series.tsv": "1\t0.1\t0.2\t0.3\n2\t0.3\t0.2\t0.1\n1\t0.2\t0.2\tNaN\n",
    "series.txt": "1.0000000e+00 0.1 0.2 0.3\n2.0000000e+00 0.3 0.2 0.1\n",
    "long.csv": "series,label,x,y\ns1,a,1,2\ns1,a,2,3\ns2,b,0,1\ns2,b,1,1\ns2,b,2,0\n",
    "wide.csv": "label,t0,t1,t2\na,1,2,3\nb,3,2,1\na,2,2,\n",
    "corpus.txt": "The cat sat on the mat.\nIt was happy.\n" * 5,
    "pairs.tsv": "hello\thola\ngood morning\tbuenos días\nthanks\tgracias\n",
    "pairs.csv": "source,target\nhello,hola\n\"a, b\",\"c\nd\"\nthanks,gracias\n",
    "strokes.jsonl": json.dumps({"text": "hi", "strokes": [[[0, 0], [1, 1], [2, 0]], [[3, 0], [3, 2]]]}) + "\n"
                     + json.dumps({"text": "ok", "strokes": [[[0, 0], [0, 1], [1, 1]]]}) + "\n",
    "strokes.xml": '<?xml version="1.0"?><WhiteboardCaptureSession><Transcription><TextLine text="hi"/>'
                   '</Transcription><StrokeSet><Stroke><Point x="1" y="2" time="0"/><Point x="3" y="4" time="1"/>'
                   '<Point x="5" y="3" time="2"/></Stroke></StrokeSet></WhiteboardCaptureSession>\n',
    "captions.txt": "a.png#0\ta red square\na.png#1\ta square that is red\nb.png#0\ta blue circle\n",
    "captions.csv": "image,caption\na.png,a red square\nb.png,a blue circle\n",
    "captions.json": json.dumps({"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
                                 "annotations": [{"image_id": 1, "caption": "a red square"},
                                                 {"image_id": 2, "caption": "a blue circle"}]}),
    "melody.abc": "X:1\nT:toy\nM:4/4\nL:1/4\nK:C\nC D E F | G A B c | c B A G | F E D C |]\n",
}

WEIRD_FIELDS = ["", "nan", "NaN", "1e999", "-1e999", "inf", "x", "∞", "\x00", ",", "\t", ";", '"', "#", ":", "{",
                "2020-13-45", "-", "0x10", "1,5", "  ", "\ufeff", "null", "[]", "9" * 40]


@st.composite
def edited(draw, text: str) -> bytes:
    """``text`` with random line- and field-level edits, as bytes (maybe not UTF-8)."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        k = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "field", "cut", "insert"]))
        if op == "drop":
            del lines[k]
        elif op == "dup":
            lines.insert(k, lines[k])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[k], lines[j] = lines[j], lines[k]
        elif op == "field":
            sep = draw(st.sampled_from([",", "\t", " ", ":", '"', "=", ">"]))
            parts = lines[k].split(sep)
            i = draw(st.integers(0, len(parts) - 1))
            parts[i] = draw(st.sampled_from(WEIRD_FIELDS) | st.text(max_size=8))
            lines[k] = sep.join(parts)
        elif op == "cut":
            lines[k] = lines[k][: draw(st.integers(0, len(lines[k])))]
        else:
            lines.insert(k, draw(st.text(max_size=30)))
    data = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data  # a byte-order mark
    if draw(st.integers(0, 9)) == 0:
        data = data + b"\xff\xfe\xc3"  # not UTF-8
    return data


def contents(name: str):
    return st.one_of(edited(VALID[name]), st.binary(max_size=300), st.text(max_size=200).map(str.encode))


def _png(path: Path, color=(255, 0, 0)) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8), color).save(path)


# ------------------------------------------------------------------ the readers
def read_forecast(path: Path):
    from rnnlab.data.timeseries import read_csv_series

    return read_csv_series(path)


def read_sequences(path: Path):
    from rnnlab.data.sequences import load_sequences

    return load_sequences(str(path), "TRAIN")


def read_corpus(path: Path):
    from rnnlab.data.text import load_corpus

    return load_corpus(str(path), 10_000)


def read_pairs(path: Path):
    from rnnlab.data.parallel import read_parallel

    return read_parallel(str(path))


def read_strokes(path: Path):
    from rnnlab.data.strokes import load_strokes

    return load_strokes(str(path))


def read_captions(path: Path):
    from rnnlab.data.images import load_captions

    _png(path.parent / "a.png")
    _png(path.parent / "b.png", (0, 0, 255))
    return load_captions(str(path), size=8)


def read_melody(path: Path):
    from rnnlab.data.music import load_melody

    return load_melody(str(path))


READERS = {  # file name -> reader
    "forecast.csv": read_forecast,
    "series.ts": read_sequences, "series.arff": read_sequences, "series.tsv": read_sequences,
    "series.txt": read_sequences, "long.csv": read_sequences, "wide.csv": read_sequences,
    "corpus.txt": read_corpus,
    "pairs.tsv": read_pairs, "pairs.csv": read_pairs,
    "strokes.jsonl": read_strokes, "strokes.xml": read_strokes,
    "captions.txt": read_captions, "captions.csv": read_captions, "captions.json": read_captions,
    "melody.abc": read_melody,
}
NEEDS = {"captions.txt": "PIL", "captions.csv": "PIL", "captions.json": "PIL", "melody.abc": "music21",
         "series.arff": "aeon", "series.ts": "aeon"}


def check(reader, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        reader(path)
    except InputError as e:
        assert str(e).strip(), "an InputError without a message"


def _run(name: str, examples: int, tmp_path_factory) -> None:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    reader = READERS[name]
    VALID_NAME = name.split(".")[0]  # noqa: N806

    # the valid seed itself loads
    seed_dir = tmp_path_factory.mktemp("seed")
    target = seed_dir / name
    target.write_text(VALID[name], encoding="utf-8")
    reader(target)

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(data=contents(name))
    def prop(data):
        d = tmp_path_factory.mktemp(VALID_NAME)
        check(reader, d / name, data)

    prop()


@pytest.mark.parametrize("name", list(READERS))
def test_reader_loads_or_raises_input_error(name, tmp_path_factory):
    _run(name, 15 if name != "melody.abc" else 5, tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(READERS))
def test_reader_loads_or_raises_input_error_200_examples(name, tmp_path_factory):
    _run(name, 200, tmp_path_factory)


# ------------------------------------------------------------------ structured generators
ARRAYS = st.one_of(
    st.builds(lambda shape, dt: np.zeros(shape, dtype=dt),
              st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple),
              st.sampled_from(["float32", "float64", "int64", "int8", "bool", "U3", "complex64", "float16"])),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=12).map(lambda v: np.array(v)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrays=st.dictionaries(st.sampled_from(["X", "y", "lengths", "x", "labels"]), ARRAYS, max_size=4),
       corrupt=st.booleans())
def test_npz_of_any_arrays_loads_or_raises_input_error(tmp_path, arrays, corrupt):
    from rnnlab.data.sequences import load_sequences

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if corrupt:
        data = data[: len(data) // 2]
    path = tmp_path / "data.npz"
    path.write_bytes(data)
    try:
        load_sequences(str(path), "TRAIN")
    except InputError:
        pass


def test_npz_with_object_arrays_is_refused_without_unpickling(tmp_path):
    from rnnlab.data.sequences import load_sequences

    path = tmp_path / "obj.npz"
    np.savez(path, X=np.array([np.zeros((2, 1)), np.zeros((3, 1))], dtype=object), y=np.array(["a", "b"]))
    with pytest.raises(InputError, match="pickle"):
        load_sequences(str(path), "TRAIN")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(JSON | st.fixed_dictionaries({"text": JSON, "strokes": JSON}), min_size=1, max_size=4))
def test_stroke_jsonl_of_any_json_loads_or_raises_input_error(tmp_path, lines):
    path = tmp_path / "s.jsonl"
    check(read_strokes, path, "\n".join(json.dumps(v) for v in lines).encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.fixed_dictionaries({"images": JSON, "annotations": JSON}) | JSON)
def test_coco_json_of_any_json_loads_or_raises_input_error(tmp_path, doc):
    pytest.importorskip("PIL")
    path = tmp_path / "captions.json"
    check(read_captions, path, json.dumps(doc).encode())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 200), junk=st.binary(max_size=40))
def test_a_damaged_image_in_a_caption_directory_is_an_input_error(tmp_path, cut, junk):
    pytest.importorskip("PIL")
    from rnnlab.data.images import read_image

    good = tmp_path / "good.png"
    _png(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:cut] + junk)
    try:
        read_image(bad, 8)
    except InputError:
        pass


def test_a_zip_bomb_like_npz_member_is_not_read_whole(tmp_path):
    """An .npz whose member claims an absurd shape: refused or read, never a crash."""
    from rnnlab.data.sequences import load_sequences

    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w") as z:
        header = b"\x93NUMPY\x01\x00" + (b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 2, 1), }"
                                          .ljust(118) + b"\n")
        z.writestr("X.npy", header + b"\x00" * 16)
        z.writestr("y.npy", header)
    with pytest.raises(InputError):
        load_sequences(str(path), "TRAIN")


@pytest.mark.parametrize("app,name,content", [
    ("forecast", "bad.csv", b"date,value\n2020-01,1\n2020-02,x\n"),
    ("classify", "bad.csv", b"series,label,\n"),
    ("textgen", "bad.txt", b"\x00\x01binary"),
    ("translate", "bad.tsv", b"only one column\n"),
    ("handwriting", "bad.jsonl", b'{"text": "a", "strokes": 5}\n'),
    ("caption", "captions.json", b'{"images": 3}'),
])
def test_a_bad_file_exits_2_naming_it_and_leaves_no_run_directory(tmp_path, cli, app, name, content):
    if app == "caption":
        pytest.importorskip("PIL")
    bad = tmp_path / name
    bad.write_bytes(content)
    out = tmp_path / "run"
    code, _, err = cli(app, "train", "--quick", "--data", str(bad), "--out", str(out))
    assert code == 2, err
    assert str(bad) in err and err.count("\n") == 1, err
    assert not out.exists()
