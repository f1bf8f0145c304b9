"""rnnlab serve over HTTP (FastAPI's TestClient, in process): every panel answers with
its app's verbs on small trained runs, every bad input is a message and the next request
works, uploads are bounded, no request path is opened, one model's requests do not block
another's. The page itself is driven in a real browser in test_serve_browser.py."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import wave

import numpy as np
import pytest
from serve_runs import build_run

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from rnnlab.apps import load_apps  # noqa: E402
from rnnlab.errors import InputError  # noqa: E402
from rnnlab.serve import find_runs, make_server  # noqa: E402
from rnnlab.serve.audio import Note, synthesize  # noqa: E402

# one worker runs this file: the runs are trained once (pyproject's --dist loadgroup)
pytestmark = pytest.mark.xdist_group("serve")

APPS = ("translate", "textgen", "docs", "forecast", "classify", "caption", "handwriting", "chords", "lab")


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-runs")
    for app in APPS:
        build_run(app, root)
    return root


@pytest.fixture(scope="module")
def served(runs_root):
    apps, missing = load_apps()
    runs = find_runs([runs_root], apps, missing)
    return runs, TestClient(make_server(runs, max_upload=1 << 20, quiet=True))


def post(client, app, files=None, **fields):
    return client.post(f"/api/runs/{_id(client, app)}/panel", data={k: str(v) for k, v in fields.items()}, files=files)


def _id(client, app):
    return next(r["id"] for r in client.get("/api/runs").json()["runs"] if r["app"] == app)


def melody_bytes(fmt: str = "musicxml") -> bytes:
    from music21 import converter

    part = converter.parse("tinyNotation: 4/4 c4 d4 e4 f4 g2 e2 d4 c4 d4 e4 c1")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m.{'mid' if fmt == 'midi' else fmt}"
        part.write(fmt, fp=str(path))
        return path.read_bytes()


def png_bytes(size: int = 40) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- the listing
def test_runs_are_listed_with_app_data_metrics_and_files(served):
    runs, client = served
    listed = client.get("/api/runs").json()["runs"]
    assert sorted(r["app"] for r in listed) == sorted(APPS)
    tr = next(r for r in listed if r["app"] == "translate")
    assert tr["data"] == "dates" and "bleu" in tr["metrics"]
    names = {f["name"]: f["kind"] for f in tr["files"]}
    assert names["training_curve.png"] == "image" and names["attention_1.png"] == "image"
    assert "config.json" not in names and "model.safetensors" not in names  # machinery is not served
    lab = next(r for r in listed if r["app"] == "lab")
    assert {"memory.md": "markdown", "memory.png": "image"}.items() <= {f["name"]: f["kind"]
                                                                      for f in lab["files"]}.items()
    got = client.get(f"/api/runs/{lab['id']}/files/memory.md")
    assert got.status_code == 200 and "| adding |" in got.text


def test_page_and_its_files_come_from_this_server_only(served):
    _, client = served
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/app.js\">" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        body = client.get(f"/static/{name}").text
        assert "http://" not in body and "https://" not in body and "@import" not in body
    assert "http" not in page.text.replace('http-equiv', '')


@pytest.mark.parametrize("url", ["/api/runs/{id}/files/..%2Fconfig.json", "/api/runs/{id}/files/config.json",
                                 "/api/runs/{id}/files/model.safetensors", "/api/runs/{id}/files/%2Fetc%2Fpasswd",
                                 "/api/runs/..%2F..%2Fetc/files/passwd", "/static/..%2Fpanels.py",
                                 "/static/index.html"])
def test_no_request_path_reaches_the_disk(served, url):
    _, client = served
    got = client.get(url.format(id=_id(client, "translate")))
    assert got.status_code == 404


# ------------------------------------------------------------------------------ the panels
def test_translate_gives_a_translation_and_its_heatmap(served):
    _, client = served
    got = post(client, "translate", text="March 5, 2001", beam=2, length_penalty=0.6)
    assert got.status_code == 200, got.text
    a = got.json()
    att = a["attention"]
    assert isinstance(a["translation"], str) and len(att["source"]) == len("March 5, 2001")  # characters
    w = np.array(att["weights"])
    assert w.shape == (len(att["output"]), len(att["source"])) and np.allclose(w.sum(1), 1, atol=1e-3)
    assert a["notes"] == []


def test_textgen_streams_the_text(served):
    _, client = served
    with client.stream("POST", f"/api/runs/{_id(client, 'textgen')}/panel",
                       data={"prime": "ROMEO:", "length": "40", "temperature": "0.5", "top_k": "5"}) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
        pieces = list(res.iter_text())
    assert len("".join(pieces)) >= 40 and len(pieces) >= 2  # pieces as they were written, not one block


def test_docs_gives_probabilities_and_attention_shading(served):
    _, client = served
    a = post(client, "docs", text="The bank shares rose. The market rate and the loan profit fell.").json()
    probs = dict(a["probabilities"])
    assert set(probs) == {"sport", "money", "film"} and abs(sum(probs.values()) - 1) < 1e-5
    assert "<span style='background:rgba" in a["explain_html"]


def test_forecast_of_the_run_series_and_of_an_upload(served, runs_root):
    runs, client = served
    a = post(client, "forecast").json()
    horizon = next(r for r in runs.values() if r.app_name == "forecast").loaded().plan.horizon
    assert a["header"][:3] == ["step", "target", "forecast"] and len(a["rows"]) == horizon
    assert a["plot_png"] and a["csv"].count("\n") == horizon + 1
    from rnnlab.data.timeseries import load_series

    series = load_series("sunspots")  # the run's own data, as a user's file (season 11 kept from training)
    csv = "YEAR,SUNACTIVITY\n" + "".join(f"{k},{v}\n" for k, v in zip(series.index, series.values[:, 0] * 0.5))
    got = post(client, "forecast", files={"file": ("half.csv", csv.encode(), "text/csv")})
    assert got.status_code == 200, got.text
    assert len(got.json()["rows"]) == horizon


def test_forecast_of_a_panel_gives_quantiles_for_every_series(tmp_path):
    from rnnlab.apps.forecast import APP as FORECAST
    from rnnlab.data.panel import write_seasonal_panel

    data = write_seasonal_panel(tmp_path / "panel.csv", n_series=6, length=40)
    run = FORECAST.train(data=str(data), quick=True, out=tmp_path / "run", verbose=False,
                         overrides=["train.epochs=1", "horizon=4", "hidden_size=8"])
    apps, missing = load_apps()
    client = TestClient(make_server(find_runs([run], apps, missing), quiet=True))
    a = post(client, "forecast").json()
    assert a["header"] == ["unique_id", "ds", "forecast", "q0.1", "q0.5", "q0.9"] and len(a["rows"]) == 6 * 4
    assert all(float(r[3]) <= float(r[4]) <= float(r[5]) for r in a["rows"])  # quantiles do not cross
    assert a["plot_png"]
    got = post(client, "forecast", files={"file": ("mine.csv", data.read_bytes(), "text/csv")})
    assert got.status_code == 200 and len(got.json()["rows"]) == 6 * 4


def test_classify_labels_every_series_of_an_upload(served):
    _, client = served
    from rnnlab.data.sequences import bundled_path

    data = bundled_path("JapaneseVowels", "TEST").read_bytes()
    a = post(client, "classify", files={"file": ("vowels.ts", data, "text/plain")}).json()
    assert len(a["rows"]) == 370 and a["header"][:2] == ["series", "predicted"]
    assert all(abs(sum(r[2:]) - 1) < 1e-4 for r in a["rows"])


def test_caption_and_its_attention_map(served):
    _, client = served
    a = post(client, "caption", files={"file": ("x.png", png_bytes(), "image/png")}).json()
    assert isinstance(a["caption"], str) and a["attention_png"]


def test_handwriting_image_and_strokes(served):
    _, client = served
    a = post(client, "handwriting", text="hello", bias=2).json()
    assert a["png"] and a["points"] > 5
    import base64

    strokes = json.loads(base64.b64decode(a["strokes"]))
    assert strokes["text"] == "hello" and strokes["strokes"]


@pytest.mark.parametrize("fmt", ["musicxml", "midi"])
def test_chords_beat_by_beat_with_downloads_and_audio(served, fmt):
    _, client = served
    name = "melody.mid" if fmt == "midi" else "melody.musicxml"
    a = post(client, "chords", files={"file": (name, melody_bytes(fmt), "application/octet-stream")}).json()
    assert len(a["beats"]) == 16 and a["beats"][0]["melody"] == "C4"
    assert all(b["chord"] for b in a["beats"])
    import base64

    assert base64.b64decode(a["midi"])[:4] == b"MThd" and b"<score-partwise" in base64.b64decode(a["musicxml"])
    with wave.open(io.BytesIO(base64.b64decode(a["wav"]))) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(8.0, abs=0.01)  # 16 beats at 120 a minute


# ------------------------------------------------------------------------------ bad inputs
BAD = [
    ("translate", {"text": ""}, None, "empty"),
    ("translate", {"text": "x", "beam": "two"}, None, "beam size: 'two' is not a number"),
    ("translate", {"text": "x", "beam": "0"}, None, "from 1 to 16"),
    ("translate", {"text": "x" * 3000}, None, "at most 2,000"),
    ("textgen", {"prime": "€uro"}, None, "never saw: '€'"),
    ("textgen", {"prime": "ROMEO", "temperature": "-1"}, None, "temperature"),
    ("docs", {"text": "   "}, None, "empty"),
    ("docs", {"text": "zzz qqq"}, None, "none of its words"),
    ("handwriting", {"text": "héllo"}, None, "not in the model's alphabet"),
    ("forecast", {}, ("other.csv", b"year,other\n" + b"".join(b"%d,%d\n" % (1800 + i, i) for i in range(100))),
     "other.csv"),
    ("forecast", {}, ("bad.tsf", b"\x00\x01garbage"), "bad.tsf"),
    ("classify", {}, ("x.csv", b"not,a\nseries,file\n"), "x.csv"),
    ("classify", {}, None, "no file chosen"),
    ("caption", {}, ("fake.png", b"hello, not a PNG"), "not an image"),
    ("caption", {}, ("melody.abc", b"X:1"), "this panel takes .png"),
    ("chords", {}, ("corrupt.mid", b"MThd\x00\x00\x00\x06garbage" * 10), "corrupt.mid"),
    ("chords", {}, ("empty.musicxml", b""), "empty"),
]


@pytest.mark.parametrize("app, fields, upload, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_message_and_the_next_request_works(served, app, fields, upload, message):
    _, client = served
    files = {"file": (upload[0], upload[1], "application/octet-stream")} if upload else None
    got = post(client, app, files=files, **fields)
    assert got.status_code in (400, 413), got.text
    error = got.json()["error"]
    assert message in error
    assert "rnnlab-serve-" not in error and "upload." not in error  # the user's file name, not the temporary one
    assert post(client, "translate", text="March 5, 2001").status_code == 200


def test_starlette_refusals_have_the_same_shape(served):
    _, client = served
    two = [("file", ("a.ts", b"x", "text/plain")), ("file", ("b.ts", b"y", "text/plain"))]
    got = client.post(f"/api/runs/{_id(client, 'classify')}/panel", files=two)
    assert got.status_code == 400 and "Too many files" in got.json()["error"]
    assert client.get("/api/nothing").json()["error"] == "Not Found"
    got = post(client, "handwriting", text="hello", seed="-1")
    assert got.json()["error"] == "seed: -1 — give a whole number from 0 to 2,147,483,647"


def test_uploads_and_pastes_over_the_limit_are_refused(served):
    _, client = served
    got = post(client, "docs", text="word " * 300_000)  # 1.5 MB over a 1 MB limit
    assert got.status_code == 413 and "at most 1 MB" in got.json()["error"]
    got = post(client, "classify", files={"file": ("big.csv", b"1," * 600_000, "text/csv")})
    assert got.status_code == 413
    assert post(client, "translate", text="March 5, 2001").status_code == 200


def test_requests_to_one_model_do_not_block_another(served):
    runs, client = served
    translate = next(r for r in runs.values() if r.app_name == "translate")
    done = threading.Event()

    def slow_translate():
        post(client, "translate", text="March 5, 2001")
        done.set()

    with translate.lock:  # as if a long translation were running
        threading.Thread(target=slow_translate, daemon=True).start()
        t = time.perf_counter()
        assert post(client, "docs", text="The match and the goal of the team.").status_code == 200
        assert client.get("/api/runs").status_code == 200
        assert not done.is_set() and time.perf_counter() - t < 30
    assert done.wait(30)  # and the translation goes on once the model is free


# ------------------------------------------------------------------------- runs and the CLI
def test_find_runs_names_what_is_wrong(tmp_path, runs_root):
    apps, missing = load_apps()
    with pytest.raises(InputError, match="no such run directory"):
        find_runs([tmp_path / "nope"], apps, missing)
    with pytest.raises(InputError, match="no runs under"):
        find_runs([tmp_path], apps, missing)
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text('{"app": "spreadsheet", "config": {}}')
    with pytest.raises(InputError, match="'spreadsheet' is not one of rnnlab's"):
        find_runs([tmp_path / "odd"], apps, missing)
    runs = find_runs([runs_root / "translate", runs_root], apps, missing)  # named twice: listed once
    assert len(runs) == len(APPS) and len(set(runs)) == len(APPS)


def test_cli_refuses_a_bad_folder_or_a_taken_port(cli, runs_root):
    code, _, err = cli("serve", "/no/such/runs")
    assert code == 2 and "no such run directory" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, _, err = cli("serve", str(runs_root / "translate"), "--port", str(s.getsockname()[1]))
    assert code == 2 and "cannot listen there" in err


# ------------------------------------------------------------------------------- the audio
def test_synthesizer_plays_the_notes_at_their_pitch_and_time():
    rate = 16_000
    wav, rendered, total = synthesize([Note(0, 0.0, 2.0, (69,), "A4"), Note(1, 2.0, 2.0, (60, 64, 67), "C E G")],
                                      rate=rate)
    assert rendered == total == 2.0
    with wave.open(io.BytesIO(wav)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    first = x[: rate // 2]  # the A alone: its strongest frequency is 440 Hz
    spectrum = np.abs(np.fft.rfft(first * np.hanning(len(first))))
    assert abs(np.argmax(spectrum) * rate / len(first) - 440) < 3
    second = x[rate + 100: rate + rate // 2]
    spectrum = np.abs(np.fft.rfft(second * np.hanning(len(second))))
    peaks = np.fft.rfftfreq(len(second), 1 / rate)[np.argsort(spectrum)[-3:]]
    assert sorted(round(p / 2) * 2 for p in peaks) == pytest.approx([262, 330, 392], abs=4)  # C4 E4 G4
    _, rendered, total = synthesize([Note(0, 0.0, 400.0, (60,), "C4")], max_seconds=10)
    assert rendered == 10 and total == 200
