"""What a visitor waits for, measured in a real browser on freshly started servers.

    python scripts/visit_latency.py --rounds 3

Per round: start ``streamlit run app.py`` (:func:`fernn.showcase.appserver.start_app`, the shipped
checkpoints) and time until it answers (it warms itself first); then, in Chromium at 1440x900,
the first visitor (page open -> title, -> first animation frame drawn), a second visitor in a new
browser context, and one drawn stroke (mouse up -> the animation shows a new picture, the second
stroke of a digit drawn on the Draw canvas). Prints a Markdown table of the medians and each
round's values. Run it with nothing else on the machine; Chromium and the server share its cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fernn.showcase.appserver import start_app, stop_app  # noqa: E402

CHROMIUM = os.environ.get("FERNN_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WAIT_MS = 120_000
FIRST_IMAGE = "document.querySelector('.js-plotly-plot image')"
DRAWN = f"() => {{ const i = {FIRST_IMAGE}; return i && i.getAttribute('href') }}"


def visit(browser, url: str) -> tuple[float, float]:
    """A new visitor: seconds from page open to the title, and to the first animation frame drawn."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    started = time.perf_counter()
    page.goto(url)
    page.get_by_role("heading", name="FERNN vs G-RNN", exact=False).first.wait_for()
    title = time.perf_counter() - started
    page.wait_for_function(DRAWN, timeout=WAIT_MS)
    frame = time.perf_counter() - started
    context.close()
    return title, frame


def stroke(page, points: list[tuple[float, float]]) -> None:
    """One mouse stroke through ``points`` (fractions of the drawing canvas)."""
    box = page.locator("canvas").last.bounding_box()
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        for step in range(1, 13):
            f = step / 12
            page.mouse.move(box["x"] + (xa + f * (xb - xa)) * box["width"], box["y"] + (ya + f * (yb - ya)) * box["height"])
    page.mouse.up()


def drawn_stroke(browser, url: str) -> float:
    """Seconds from the mouse going up after a digit's second stroke to a new animation picture."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}/?source=Draw")
    page.locator("canvas").last.wait_for()
    stroke(page, [(0.25, 0.2), (0.75, 0.2)])  # a "7": its top bar, then its diagonal
    page.wait_for_function(DRAWN, timeout=WAIT_MS)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS)
    before = page.evaluate(DRAWN)
    stroke(page, [(0.75, 0.2), (0.45, 0.85)])
    started = time.perf_counter()
    page.wait_for_function(f"(before) => {{ const i = {FIRST_IMAGE}; return i && i.getAttribute('href') !== before }}",
                           arg=before, timeout=WAIT_MS)
    seconds = time.perf_counter() - started
    context.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose app.py is served (default: this one), e.g. an older worktree")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not (args.root / "app.py").is_file():
        parser.error(f"no app.py in {args.root}")
    from playwright.sync_api import sync_playwright

    rows: dict[str, list[float]] = {name: [] for name in (
        "server start to answering (warm-up included)", "first visitor: title", "first visitor: first animation frame",
        "second visitor: first animation frame", "drawn stroke to a new picture")}
    names = list(rows)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for round_ in range(args.rounds):
            with open(Path(folder) / f"server-{round_}.log", "w") as log:
                started = time.perf_counter()
                process, url = start_app(args.root.resolve(), log)
                rows[names[0]].append(time.perf_counter() - started)
                try:
                    title, frame = visit(browser, url)
                    rows[names[1]].append(title)
                    rows[names[2]].append(frame)
                    rows[names[3]].append(visit(browser, url)[1])
                    rows[names[4]].append(drawn_stroke(browser, url))
                finally:
                    stop_app(process)
            print(f"round {round_ + 1}: " + ", ".join(f"{values[-1]:.2f} s" for values in rows.values()),
                  file=sys.stderr, flush=True)
        browser.close()
    print(f"Visits in Chromium at 1440x900, fresh server each round ({args.root.resolve().name}), median of "
          f"{args.rounds} (seconds)\n")
    print("| what | median | rounds |")
    print("|---|---:|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
