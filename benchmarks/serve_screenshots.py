"""The pictures of docs/serve.md: ``rnnlab serve`` over the demo's runs, each panel filled
and run in headless Chromium (Debian's chromium, driven by Playwright), its answer
photographed.

    rnnlab demo
    python benchmarks/serve_screenshots.py --runs runs/demo --out docs/img/serve
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def inputs(tmp: Path) -> dict[str, tuple[dict[str, str], Path | None]]:
    """Each panel's fields and upload: the melody is a Bach chorale's soprano (music21's
    corpus), the image a generated shape, the series the JapaneseVowels test file."""
    from music21 import corpus
    from PIL import Image

    from rnnlab.data.images import shape_images
    from rnnlab.data.sequences import bundled_path

    melody = tmp / "bwv66.6-soprano.musicxml"
    corpus.parse("bach/bwv66.6").parts[0].write("musicxml", fp=str(melody))
    shape = shape_images(1, seed=5)[0]
    image = tmp / "shape.png"
    Image.fromarray((shape.image.transpose(1, 2, 0) * 255).astype("uint8")).resize((128, 128)).save(image)
    return {
        "translate": ({"#f-text": "Saturday, March 5, 2011"}, None),
        "textgen": ({"#f-prime": "def ", "#f-length": "400", "#f-temperature": "0.7"}, None),
        "docs": ({"#f-text": "Shares in the bank fell sharply after it reported lower profits. Analysts said the "
                             "market had expected a loss. The chief executive will meet investors on Monday."}, None),
        "forecast": ({}, None),
        "classify": ({}, bundled_path("JapaneseVowels", "TEST")),
        "caption": ({}, image),
        "handwriting": ({"#f-text": "recurrent", "#f-bias": "2"}, None),
        "chords": ({}, melody),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs/demo")
    ap.add_argument("--out", default="docs/img/serve")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "rnnlab", "serve", args.runs, "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(base + "/api/runs", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(base + "/")
            page.wait_for_selector("nav a")
            for app, (fields, upload) in inputs(Path(tmp)).items():
                page.click(f"nav a[data-run$='{app}']")
                page.wait_for_selector("#panel-form")
                for selector, value in fields.items():
                    page.fill(selector, value)
                if upload is not None:
                    page.set_input_files("#f-file", str(upload))
                page.click("#run-button")
                page.wait_for_selector("#working", state="detached")
                if app == "textgen":
                    page.wait_for_selector("#done, #result .error")
                if page.locator("#result .error").count():
                    sys.exit(f"{app}: {page.inner_text('#result .error')}")
                page.locator("#panel").scroll_into_view_if_needed()
                page.locator("#panel").screenshot(path=str(out / f"{app}.png"))
                print(out / f"{app}.png")
            page.click("nav a[data-run$='lab']")
            page.wait_for_selector("[data-file$='.md'] table")
            page.locator("#run-files").screenshot(path=str(out / "lab.png"))
            page.click("#home")
            page.wait_for_selector("table.overview")
            page.screenshot(path=str(out / "page.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
