"""Bytes on the wire for one slider change in the demo app, and the cold-visit time.

Starts ``streamlit run app.py`` of a checkout on a free port, opens it in Chromium through
Playwright, and counts the bytes of the websocket frames the page receives while one sidebar
slider changes (press an arrow key on its thumb, wait until the rerun has finished and every
chart has drawn). For each setting: open the link, wait until the page is idle, change the
slider, print the bytes. Also prints the cold-visit time: from opening the first page on the
fresh server to the first animation frame drawn (a plotly chart titled "frame ...").

    python scripts/wire_bytes.py                          # this checkout
    python scripts/wire_bytes.py --root /tmp/wire-before  # another checkout, e.g. main's

Needs ``pip install playwright`` and a Chromium at ``/usr/bin/chromium`` (``--chromium``); the
system browser is used, never ``playwright install``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fernn.showcase.appserver import start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 300_000  # a loaded 2-core machine can take a minute per run
QUIET_S = 3.0  # no websocket frame for this long (and no running indicator): the rerun is over
# (name, link, the slider's label, key): each link opens one step below the setting named, the
# key press moves the slider onto it. Two digits at (4, -4) and (-4, 4), 70 predicted frames.
FAST = "digits=2&vy1=3&vx1=-4&vy2=-4&vx2=4&predict=70"
SETTINGS = (
    ("default view, Comparison (vy1 1 -> 2)", "", "dy ↓ digit 1", "ArrowRight"),
    ("2 digits (4,-4) (-4,4), 70 predicted, Comparison", FAST, "dy ↓ digit 1", "ArrowRight"),
    ("2 digits (4,-4) (-4,4), 70 predicted, Inside", FAST + "&tab=Inside", "dy ↓ digit 1", "ArrowRight"),
    ("default view, Inside (vy1 1 -> 2)", "tab=Inside", "dy ↓ digit 1", "ArrowRight"),
)
FIRST_FRAME = """() => [...document.querySelectorAll('.js-plotly-plot')].some(chart =>
    chart.offsetParent !== null &&
    [...chart.querySelectorAll('.gtitle')].some(t => t.textContent.startsWith('frame')))"""
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]') &&
    [...document.querySelectorAll('.js-plotly-plot')].filter(c => c.offsetParent !== null)
        .every(c => c.querySelector('.main-svg'))"""


class WireCounter:
    """Bytes of the websocket frames a page receives, with the time of the latest frame."""

    def __init__(self, page) -> None:
        self.total, self.frames, self.last = 0, 0, time.monotonic()
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload) -> None:
        self.total += len(payload.encode() if isinstance(payload, str) else payload)
        self.frames += 1
        self.last = time.monotonic()

    def settle(self, page) -> None:
        """Wait until the run is over: no running indicator, charts drawn, and a quiet spell."""
        while True:
            page.wait_for_function(IDLE, timeout=WAIT_MS)
            quiet = time.monotonic() - self.last
            if quiet >= QUIET_S:
                return
            page.wait_for_timeout(int((QUIET_S - quiet) * 1000) + 100)


def measure(browser, url: str, setting: tuple[str, str, str, str], width: int) -> tuple[int, int]:
    """Bytes and frames received for one slider change, after the link has settled."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    name, link, label, key = setting
    context = browser.new_context(viewport={"width": width, "height": 1050})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        counter = WireCounter(page)
        page.goto(f"{url}/?{link}" if link else url)
        page.wait_for_function(FIRST_FRAME, timeout=WAIT_MS) if "Inside" not in name else \
            page.get_by_text("State drift").first.wait_for(timeout=WAIT_MS)
        counter.settle(page)
        before, frames = counter.total, counter.frames
        slider = page.locator(f'input[type="range"][aria-label="{label}"]')  # the slider's hidden input
        slider.focus()
        page.keyboard.down(key)  # the slider commits its value on key up, not on a too-quick press
        page.wait_for_timeout(300)
        page.keyboard.up(key)
        try:
            page.locator('[data-testid="stStatusWidget"]').wait_for(timeout=10_000)
        except PlaywrightTimeout:
            print(f"  ({name}: no running indicator seen; the quiet spell bounds the run)", flush=True)
        counter.settle(page)
        if page.get_by_test_id("stException").count() or page.get_by_test_id("stAlertContentError").count():
            raise SystemExit(f"{name}: the page shows an error after the change")
        return counter.total - before, counter.frames - frames
    finally:
        context.close()


def first_frame_seconds(browser, url: str, width: int) -> float:
    """Seconds from opening the page in a new browser context to the first animation frame drawn."""
    context = browser.new_context(viewport={"width": width, "height": 1050})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        started = time.monotonic()
        page.goto(url)
        page.wait_for_function(FIRST_FRAME, timeout=WAIT_MS)
        return time.monotonic() - started
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py runs (default: this one)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1440, help="browser viewport width in px")
    args = parser.parse_args()
    root = args.root.resolve()
    if not (root / "app.py").is_file():
        parser.error(f"no app.py in {root}")
    if not Path(args.chromium).exists():
        parser.error(f"no Chromium at {args.chromium}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        parser.error("playwright is not installed (pip install playwright)")
    with tempfile.NamedTemporaryFile("w", prefix="wire-bytes-", suffix=".log", delete=False) as log:
        try:
            process, url = start_app(root, log)
        except (RuntimeError, TimeoutError) as error:
            raise SystemExit(str(error)) from None
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=FLAGS)
                try:
                    cold, warm = (first_frame_seconds(browser, url, args.width) for _ in range(2))
                    print(f"app: {root} on {url}")
                    print(f"cold visit to the first animation frame drawn: {cold:.1f} s "
                          f"(fresh server; a second visitor, the comparison cached: {warm:.1f} s)")
                    print(f"{'setting':<52} {'bytes':>12} {'frames':>7}")
                    for setting in SETTINGS:
                        received, frames = measure(browser, url, setting, args.width)
                        print(f"{setting[0]:<52} {received:>12,} {frames:>7}", flush=True)
                finally:
                    browser.close()
        finally:
            stop_app(process)


if __name__ == "__main__":
    main()
