"""rnnlab serve in a real browser: Debian's chromium driven by Playwright. The test trains
small runs of every app, starts ``rnnlab serve`` on a free loopback port in a second
process, and for each panel fills the inputs, presses the button and checks what appears
(text, an image of non-zero size, a table with the right number of rows, the message for
a bad input). A screenshot of each panel is saved under the test's temporary folder (and
under $RNNLAB_SCREENSHOTS when set: the docs page's pictures come from there). Every
request the page makes must go to the server itself."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from serve_runs import build_run
from test_serve import APPS, melody_bytes, png_bytes

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-browser")]


def _need_browser():
    missing = [why for why, ok in (("Debian's chromium (apt-get install chromium)", Path(CHROMIUM).exists()),
                                   ("playwright (pip install playwright)", _has("playwright"))) if not ok]
    if missing:
        if os.environ.get("RNNLAB_REQUIRE_BROWSER"):  # CI installs both: a missing one is a failure there
            pytest.fail("browser tests need " + " and ".join(missing))
        pytest.skip("needs " + " and ".join(missing))


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    root = tmp_path_factory.mktemp("browser-runs")
    for app in APPS:
        build_run(app, root)
    port = _free_port()
    log = open(root / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab", "serve", str(root), "--port", str(port),
                             "--max-upload-mb", "2"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/api/runs", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("rnnlab serve did not start:\n" + (root / "serve.log").read_text())
            time.sleep(0.3)
    yield base, root
    proc.terminate()
    proc.wait(30)
    log.close()
    assert "Traceback" not in (root / "serve.log").read_text()  # bad inputs were messages, not crashes


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server, tmp_path):
    base, _ = server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url))
    pg.goto(base + "/")
    pg.wait_for_selector("nav a")
    yield pg
    assert not outside, f"the page asked the network for {outside}"
    context.close()


def open_run(page, app: str):
    page.click(f"nav a[data-run$='-{app}']")
    page.wait_for_selector("#run-head h2")
    assert app in page.inner_text("#run-head h2")


def fill_and_press(page, fields: dict[str, str]):
    for selector, value in fields.items():
        page.fill(selector, value)
    press(page)


def press(page):
    page.click("#run-button")
    page.wait_for_selector("#working", state="detached")  # (wait_for_function would need the eval CSP forbids)


def shot(page, tmp_path, name: str):
    path = tmp_path / f"serve-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    target = os.environ.get("RNNLAB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def image_ok(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 50 && img.naturalHeight > 50")


def wait_until(check, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def error_text(page) -> str:
    page.wait_for_selector("#result .error")
    return page.inner_text("#result .error")


def test_the_runs_list_and_a_lab_run(page, tmp_path):
    assert page.locator("nav a").count() == len(APPS)
    page.wait_for_selector("table.overview")
    assert page.locator("table.overview tbody tr").count() == len(APPS)
    assert "bleu" in page.inner_text("table.overview")  # key metrics beside each run
    shot(page, tmp_path, "overview")
    open_run(page, "lab")
    page.wait_for_selector("[data-file='memory.md'] table")
    assert page.locator("[data-file='memory.md'] table tbody tr").count() >= 1
    wait_until(lambda: image_ok(page, "[data-file='memory.png'] img"))
    assert page.locator("#panel").count() == 0  # a lab has results to browse, no panel
    shot(page, tmp_path, "lab")


def test_translate(page, tmp_path):
    open_run(page, "translate")
    page.fill("#f-text", "")
    press(page)
    assert "empty" in error_text(page)
    fill_and_press(page, {"#f-text": "March 5, 2001", "#f-beam": "2"})
    assert page.inner_text("#translation").strip()
    cells = page.locator("table.heatmap tr").nth(1).locator("td")
    assert cells.count() == len("March 5, 2001")  # a column per source character
    assert page.locator("table.heatmap tr").count() >= 2
    shot(page, tmp_path, "translate")


def test_textgen_streams(page, tmp_path):
    open_run(page, "textgen")
    fill_and_press(page, {"#f-prime": "ROMEO:\nthe", "#f-length": "120"})  # a newline: browsers send it as CRLF
    page.wait_for_selector("#done")
    assert len(page.inner_text("#generated")) >= len("ROMEO:\nthe") + 100
    shot(page, tmp_path, "textgen")
    page.fill("#f-prime", "€€€")
    press(page)
    assert "never saw" in error_text(page)


def test_docs(page, tmp_path):
    open_run(page, "docs")
    text = "The bank shares rose today. The market rate and the loan profit fell. A coach won."
    fill_and_press(page, {"#f-text": text})
    page.wait_for_selector("table.probs")
    assert page.locator("table.probs tbody tr").count() == 3
    assert page.locator("#shading span").count() >= 10
    shot(page, tmp_path, "docs")


def test_forecast_own_series_and_upload(page, server, tmp_path):
    open_run(page, "forecast")
    press(page)
    page.wait_for_selector("img[alt='forecast plot']")
    assert image_ok(page, "img[alt='forecast plot']")
    rows = page.locator("table.forecast tbody tr").count()
    assert rows >= 1
    shot(page, tmp_path, "forecast")
    csv = tmp_path / "no-target.csv"
    csv.write_text("year,other\n" + "".join(f"{1700 + i},{i % 11}\n" for i in range(200)))
    page.set_input_files("#f-file", str(csv))
    press(page)
    assert "no-target.csv" in error_text(page) and "not the model's" in error_text(page)


def test_classify_upload(page, tmp_path):
    from rnnlab.data.sequences import bundled_path

    open_run(page, "classify")
    page.set_input_files("#f-file", str(bundled_path("JapaneseVowels", "TEST")))
    press(page)
    page.wait_for_selector("table.probs")
    assert page.locator("table.probs tbody tr").count() == 50  # the first 50 shown, all 370 in the download
    counts = page.locator("table.counts tbody tr td:nth-child(2)").all_inner_texts()
    assert sum(int(c) for c in counts) == 370
    with page.expect_download() as info:
        page.click("text=download all predictions (CSV)")
    info.value.save_as(str(tmp_path / "p.csv"))
    assert len((tmp_path / "p.csv").read_text().strip().splitlines()) == 371
    shot(page, tmp_path, "classify")


def test_caption_upload_and_a_file_that_is_not_an_image(page, tmp_path):
    open_run(page, "caption")
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"this is text, not a PNG")
    page.set_input_files("#f-file", str(fake))
    press(page)
    assert "photo.png" in error_text(page) and "not an image" in error_text(page)
    image = tmp_path / "image.png"
    image.write_bytes(png_bytes(64))
    page.set_input_files("#f-file", str(image))
    press(page)
    assert page.inner_text("#caption").strip()
    assert image_ok(page, "img[alt='attention map']")
    shot(page, tmp_path, "caption")


def test_handwriting(page, tmp_path):
    open_run(page, "handwriting")
    fill_and_press(page, {"#f-text": "hello", "#f-bias": "2"})
    page.wait_for_selector("img[alt='handwriting']")
    assert image_ok(page, "img[alt='handwriting']")
    shot(page, tmp_path, "handwriting")
    page.fill("#f-text", "naïve")
    press(page)
    assert "alphabet" in error_text(page)


def test_chords_upload_audio_and_downloads(page, tmp_path):
    open_run(page, "chords")
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage" * 10)
    page.set_input_files("#f-file", str(bad))
    press(page)
    assert "broken.mid" in error_text(page)
    melody = tmp_path / "melody.musicxml"
    melody.write_bytes(melody_bytes("musicxml"))
    page.set_input_files("#f-file", str(melody))
    press(page)
    page.wait_for_selector("table.beats")
    chords_row = page.locator("table.beats tr").nth(2).locator("td")
    assert chords_row.count() == 16 and all(t.strip() for t in chords_row.all_inner_texts())
    duration = page.eval_on_selector("#audio", "a => new Promise(ok => a.readyState >= 1 ? ok(a.duration) : "
                                               "a.addEventListener('loadedmetadata', () => ok(a.duration)))")
    assert abs(duration - 8.0) < 0.05
    with page.expect_download() as info:
        page.click("text=download MIDI")
    midi = tmp_path / "got.mid"
    info.value.save_as(str(midi))
    assert midi.read_bytes()[:4] == b"MThd"
    shot(page, tmp_path, "chords")


def test_an_upload_over_the_limit_is_a_message(page, tmp_path):
    open_run(page, "classify")
    big = tmp_path / "big.csv"
    big.write_bytes(b"1," * ((3 << 20) // 2))  # 3 MB over the 2 MB limit
    page.set_input_files("#f-file", str(big))
    press(page)
    assert "at most 2 MB" in error_text(page)
