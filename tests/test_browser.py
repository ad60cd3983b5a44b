"""One real-browser end-to-end test: ``streamlit run app.py`` driven by Playwright and Chromium.

Draws a digit with the mouse, pushes its velocity to (2, 2), beyond the training range, and checks that
both models' predictions and the hidden-state view appear with no error on the page, then saves a
screenshot: to ``FERNN_SCREENSHOT`` if set; to ``assets/screenshot.png`` (the README's) when the
run uses real checkpoints through ``FERNN_CHECKPOINT_DIR``; else to the test's temporary folder,
so a run on fixture models never overwrites the README picture.

Runs only with ``-m browser``-style selection or by name; needs ``/usr/bin/chromium`` (or
``FERNN_CHROMIUM``) and ``pip install playwright`` (the system Chromium is used: no
``playwright install``). Uses fixture checkpoints unless ``FERNN_CHECKPOINT_DIR`` is set, e.g.
``FERNN_CHECKPOINT_DIR=pretrained pytest -m browser`` for a README screenshot of real models.
"""

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
import torch

import fernn

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("FERNN_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
README_SCREENSHOT = ROOT / "assets" / "screenshot.png"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("FERNN_CHECKPOINT_DIR")
    if chosen:
        return Path(chosen).resolve()
    folder = tmp_path_factory.mktemp("browser-checkpoints")
    torch.manual_seed(0)
    fernn.save_checkpoint(folder / "grnn.pt", fernn.build_model("grnn", hidden_channels=4, decoder_layers=2))
    fernn.save_checkpoint(folder / "fernn.pt", fernn.build_model("fernn", hidden_channels=4, decoder_layers=2))
    return folder


@pytest.fixture(scope="module")
def server(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FERNN_CHROMIUM)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, FERNN_CHECKPOINT_DIR=str(checkpoint_dir))
    log = (tmp_path_factory.mktemp("streamlit") / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def screenshot_path(fallback: Path) -> Path:
    if os.environ.get("FERNN_SCREENSHOT"):
        return Path(os.environ["FERNN_SCREENSHOT"])
    return README_SCREENSHOT if os.environ.get("FERNN_CHECKPOINT_DIR") else fallback / "screenshot.png"


def test_draw_push_past_training_range_and_inspect(server: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1050})
            page.set_default_timeout(90_000)
            page.goto(server)
            page.get_by_text("Draw", exact=True).click()
            expect(page.get_by_text("Draw a digit on the canvas to start.").first).to_be_visible()

            # A "7": a top bar and a diagonal, drawn with the mouse on the drawing canvas.
            canvas = page.locator("canvas").last
            box = canvas.bounding_box()
            assert box is not None and box["width"] > 100
            strokes = [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]]
            for stroke in strokes:
                x0, y0 = stroke[0]
                page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
                page.mouse.down()
                for (xa, ya), (xb, yb) in zip(stroke, stroke[1:]):
                    for step in range(1, 13):
                        f = step / 12
                        page.mouse.move(box["x"] + (xa + f * (xb - xa)) * box["width"],
                                        box["y"] + (ya + f * (yb - ya)) * box["height"])
                page.mouse.up()
            expect(page.get_by_text("drawn", exact=True)).to_be_visible()  # the prepared 28x28 preview
            expect(page.get_by_test_id("stMetric").first).to_be_visible()

            # Digit 1's dy slider: 1 -> 2 px/frame, so (2, 2): beyond the training range of 1, inside the
            # FERNN's velocity set |v| <= 2.
            slider = page.get_by_role("slider").first
            slider.focus()
            slider.press("ArrowRight")
            expect(page.get_by_text("(2, 2) is", exact=False).first).to_be_visible()
            expect(page.get_by_text("is beyond the training range", exact=False).first).to_be_visible()

            # Both predictions: one synchronised animation, labelled per model.
            expect(page.get_by_text("G-RNN: prediction").first).to_be_visible()
            expect(page.get_by_text("FERNN: prediction").first).to_be_visible()
            expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
            time.sleep(2)  # let plotly finish drawing before the picture is taken
            target = screenshot_path(tmp_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target))

            page.get_by_role("tab", name="Inside the models").click()
            expect(page.get_by_text("FERNN · ch 0").first).to_be_visible()
            expect(page.get_by_text("G-RNN · ch 0").first).to_be_visible()
            expect(page.get_by_text("Velocity read-out", exact=False).first).to_be_visible()

            assert page.get_by_test_id("stException").count() == 0
            body = page.inner_text("body")
            assert "Traceback" not in body
            assert page.get_by_test_id("stAlertContentError").count() == 0
        finally:
            browser.close()
