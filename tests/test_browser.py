"""Real-browser end-to-end tests: ``streamlit run app.py`` driven by Playwright and Chromium.

The headline on arrival, a (4, 4) digit with the default velocity set, both models' predictions and
the hidden-state view appear with no error on the page; the layout is measured at a 390 px phone
(390x844) and a 1440x900 desktop: the first screen, the sidebar out of the result's way after a
change, titles and labels apart, no toolbar over a title, maps wide enough, a link a finger can copy.
Screenshots go to ``FERNN_SCREENSHOT_DIR`` if set; to ``assets/`` (the README's) when the run uses
real checkpoints through ``FERNN_CHECKPOINT_DIR``; else to the test's temporary folder, so a run on
fixture models never overwrites the README pictures.

Runs only with ``-m browser``-style selection or by name; needs ``/usr/bin/chromium`` (or
``FERNN_CHROMIUM``) and ``pip install playwright`` (the system Chromium is used: no
``playwright install``). Uses fixture checkpoints unless ``FERNN_CHECKPOINT_DIR`` is set, e.g.
``FERNN_CHECKPOINT_DIR=pretrained pytest -m browser`` for a README screenshot of real models.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import tiny
from fernn.showcase.appserver import start_app, stop_app
from tiny_world import write_world_pair

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("FERNN_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
README_SCREENSHOT = ROOT / "assets" / "screenshot.png"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("FERNN_CHECKPOINT_DIR")
    if chosen:
        return Path(chosen).resolve()
    folder = tmp_path_factory.mktemp("browser-checkpoints")
    torch.manual_seed(0)
    speeds = list(range(-4, 5))

    def grid(inside: float, outside: float, **extra) -> dict:
        """A recorded 9x9 velocity grid (the Velocities tab): ``inside`` where |v| <= 1."""
        return dict(speeds=speeds, mse=[[inside if max(abs(dy), abs(dx)) <= 1 else outside for dx in speeds]
                                        for dy in speeds], **extra)

    tiny.write_app_pair(folder, {
        "grnn": {"evaluation": {"velocity_grid": grid(0.007, 0.2)}},
        "fernn": {"evaluation": {"velocity_grid": grid(0.002, 0.2),
                                    "widened_velocity_grid": grid(0.002, 0.0021, max_speed=4)},
                  # The About tab's card draws a validation curve: 3e-2 down to 1.8e-3, as the shipped FERNN's.
                  "train": {"step": 600, "wall_time": 60.0,
                            "history": [{"step": s, "wall_time": s / 10, "val_mse": 0.03 * (100 / s) ** 1.57}
                                        for s in (100, 200, 300, 400, 500, 600)]}}})
    settings = {"training_max_speed": 1}

    def rings(*accuracies: float) -> list[dict]:
        return [{"speed": s, "accuracy": a, "interval": [a - 0.03, a + 0.03]} for s, a in enumerate(accuracies)]

    tiny.write_app_classifiers(folder / "classify", {
        "grnn": {"evaluation": {"settings": settings, "rings": rings(0.9, 0.85, 0.45, 0.25, 0.18)}},
        "fernn": {"evaluation": {
            "settings": settings, "rings": rings(0.93, 0.9, 0.55, 0.3, 0.2), "widened_max_speed": 4,
            "widened_rings": rings(0.93, 0.9, 0.9, 0.89, 0.88)}},
        "single-frame": {
            "train": {"config": {"data": {"context_frames": 1}}},
            "evaluation": {"settings": settings, "rings": rings(0.35, 0.34, 0.35, 0.34, 0.35)}}}, pooling="peak")
    grid = {"speeds": list(range(-4, 5)), "mse": [[0.002 * (1 + k * k) for k in range(-4, 5)]]}
    tiny.write_app_rotation_pair(folder / "rotation", {"evaluation": {  # one C_12 field each
        "velocity_grid": grid, "test_mse": 0.01, "settings": {"data_max_speed": 1}}})
    write_world_pair(folder)  # world/{grnn,fernn}: the World motion's pair
    return folder


SERVER_PIDS: dict[str, int] = {}


@pytest.fixture(scope="module")
def server_pid(server: str) -> int:
    return SERVER_PIDS[server]


@pytest.fixture(scope="module")
def server(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FERNN_CHROMIUM)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    env = dict(os.environ, FERNN_CHECKPOINT_DIR=str(checkpoint_dir))
    log = (tmp_path_factory.mktemp("streamlit") / "streamlit.log").open("w")
    process, url = start_app(ROOT, log, env=env, timeout=90.0)
    try:
        SERVER_PIDS[url] = process.pid
        yield url
    finally:
        stop_app(process)
        log.close()


def screenshot_path(fallback: Path, name: str = "screenshot.png") -> Path:
    """Where a screenshot goes: ``FERNN_SCREENSHOT_DIR``, else ``assets/`` when the run uses real
    checkpoints (the README's pictures), else the test's temporary folder."""
    if os.environ.get("FERNN_SCREENSHOT_DIR"):
        return Path(os.environ["FERNN_SCREENSHOT_DIR"]) / name
    return ROOT / "assets" / name if os.environ.get("FERNN_CHECKPOINT_DIR") else fallback / name


def assert_no_error(page) -> None:
    assert page.get_by_test_id("stException").count() == 0
    assert "Traceback" not in page.inner_text("body")
    assert page.get_by_test_id("stAlertContentError").count() == 0


def wait_until_idle(page) -> None:
    """Wait until the script run has finished (Streamlit's running indicator is gone) and every
    plotly chart on screen has drawn its SVG: the state a screenshot or a layout check needs."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=WAIT_MS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')]"
        ".filter(chart => chart.offsetParent !== null).every(chart => chart.querySelector('.main-svg'))",
        timeout=WAIT_MS)


def draw_seven(page) -> None:
    """A "7" drawn with the mouse on the drawing canvas: a top bar and a diagonal, on fabric's
    interactive layer (the upper canvas, made with its mouse handlers; the lower ones come first)."""
    canvas = page.locator("canvas.upper-canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100
    stroke = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]
    page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
    page.mouse.down()
    for (xa, ya), (xb, yb) in zip(stroke, stroke[1:]):
        for step in range(1, 13):
            f = step / 12
            page.mouse.move(box["x"] + (xa + f * (xb - xa)) * box["width"],
                            box["y"] + (ya + f * (yb - ya)) * box["height"])
    page.mouse.up()


# Every visible text box: the SVG ``text`` of plotly charts (titles, annotations, ticks, cells,
# legends, buttons, slider labels) and Streamlit's widget labels, with their page boxes.
VISIBLE_TEXTS = """() => {
    const boxes = [];
    const add = (element, text) => {
        const box = element.getBoundingClientRect();
        const style = getComputedStyle(element);
        if (!text.trim() || box.width < 1 || box.height < 1 || style.visibility === 'hidden' ||
            style.display === 'none' || Number(style.opacity) === 0 || box.right <= 0 || box.left >= innerWidth)
            return;
        boxes.push({text: text.trim(), x: box.left + scrollX, y: box.top + scrollY, width: box.width,
                    height: box.height});
    };
    for (const chart of document.querySelectorAll('.js-plotly-plot'))
        if (chart.offsetParent !== null && !chart.closest('details:not([open])'))  // not in a closed card
            for (const text of chart.querySelectorAll('svg text')) add(text, text.textContent || '');
    for (const label of document.querySelectorAll('[data-testid="stWidgetLabel"]'))
        if (label.offsetParent !== null) add(label, label.innerText || '');
    return boxes;
}"""


def overlapping_texts(page) -> tuple[list[tuple[str, str]], int]:
    """Pairs of visible text boxes (:data:`VISIBLE_TEXTS`) that overlap by more than a pixel each
    way, and how many boxes were compared."""
    boxes = page.evaluate(VISIBLE_TEXTS)
    pairs = []
    for index, a in enumerate(boxes):
        for b in boxes[index + 1:]:
            if a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1 and \
                    a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1:
                pairs.append((a["text"], b["text"]))
    return pairs, len(boxes)


def overlapping_labels(page) -> list[tuple[str, str]]:
    """Pairs of plotly annotation texts whose boxes overlap, in every chart on the page."""
    pairs = []
    for chart in page.locator(".js-plotly-plot").all():
        boxes = [(text.text_content() or "", text.bounding_box()) for text in chart.locator("g.annotation").all()]
        boxes = [(label, box) for label, box in boxes if box and label.strip()]
        for index, (first, a) in enumerate(boxes):
            for second, b in boxes[index + 1:]:
                if a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1 and \
                        a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1:
                    pairs.append((first, second))
    return pairs


# On a loaded 2-core machine a run can take tens of seconds: every wait is on the state the test
# needs, bounded generously, never a fixed short timeout (Playwright's ``expect`` defaults to 5 s).
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield instance
        finally:
            instance.close()


PHONE, DESKTOP = (390, 844), (1440, 900)  # an iPhone 12-15's screen, a laptop's


def open_page(browser, url: str, width: int = 1440, height: int = 1050, **options):
    """A fresh context (no cookies, no stored sidebar state) at ``width`` x ``height``; a phone-sized
    one takes touches. ``options``: more of Playwright's context options."""
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=width < 600, **options)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return context, page


def test_headline_states_the_message_on_arrival(server: str, browser, tmp_path: Path):
    """At 1440x900 the first screen holds the headline, the metrics and the animation down to its
    Play button, opened on the last prediction: nothing to scroll for before the story is told."""
    from playwright.sync_api import expect

    context, page = open_page(browser, server, *DESKTOP)
    try:
        expect(page.get_by_text("px/frame", exact=False).first).to_be_visible()
        expect(page.get_by_text("lower error", exact=False).first.or_(
            page.get_by_text("about as well", exact=False).first)).to_be_visible()
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        expect(page.get_by_text("FERNN mean MSE", exact=False).first).to_be_visible()
        expect(page.locator("a[href*='arxiv.org/abs/2507.14793']").first).to_be_visible()
        expect(page.get_by_text("FERNN |error|").first).to_be_visible()
        wait_until_idle(page)  # plotly has drawn before the picture is taken
        assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
        fold = DESKTOP[1]
        headline = page.get_by_text("moves at", exact=False).first.bounding_box()
        metrics = [box for box in (m.bounding_box() for m in page.get_by_test_id("stMetricValue").all()) if box]
        play = page.locator(".js-plotly-plot").first.locator(".updatemenu-button").first.bounding_box()
        assert len(metrics) == 3 and headline["y"] >= 0
        for name, box in [("headline", headline), ("Play", play)] + [("metric", box) for box in metrics]:
            assert box["y"] + box["height"] <= fold, f"{name} ends at {box['y'] + box['height']:.0f} px, below {fold}"
        title = page.evaluate(f"() => {FIRST_CHART}.querySelector('.gtitle').textContent")
        assert title.startswith("frame 19: prediction 10/10")  # the last prediction, where a lost digit shows
        target = screenshot_path(tmp_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target))
        assert_no_error(page)
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_page_follows_the_viewers_light_or_dark_preference(server: str, browser, scheme: str):
    """The config resizes Streamlit's own light and dark themes (a [theme] table alone would fix one)."""
    from playwright.sync_api import expect

    context, page = open_page(browser, server, *DESKTOP, color_scheme=scheme)
    try:
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        red, green, blue = map(int, page.evaluate(
            "() => getComputedStyle(document.querySelector('.stApp')).backgroundColor").strip("rgba()").split(",")[:3])
        assert (max(red, green, blue) < 64) if scheme == "dark" else (min(red, green, blue) > 192), (red, green, blue)
        size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
        assert size == 32  # the title's 2rem: one line at 1440 px
    finally:
        context.close()


def test_a_digit_at_4_4_is_tracked_with_the_default_velocity_set(server: str, browser):
    from playwright.sync_api import expect

    context, page = open_page(browser, f"{server}/?vy1=4&vx1=4")
    try:
        expect(page.get_by_text("(4, 4) px/frame", exact=False).first).to_be_visible()
        expect(page.get_by_text("auto: the smallest", exact=False).first).to_be_visible()
        assert page.get_by_text("outside the FERNN's velocity set", exact=False).count() == 0
        page.get_by_role("tab", name="Inside").click()
        expect(page.get_by_text("State drift", exact=False).first).to_be_visible()
        expect(page.get_by_text("copies", exact=True).filter(visible=True).first).to_be_visible()
        assert_no_error(page)
    finally:
        context.close()


def test_a_drawn_digits_link_opens_in_a_fresh_browser(server: str, browser):
    from playwright.sync_api import expect

    context, page = open_page(browser, server)
    try:
        page.get_by_text("Draw", exact=True).click()
        expect(page.get_by_text("Draw a digit on the canvas to start.").first).to_be_visible()
        draw_seven(page)
        expect(page.get_by_text("drawn", exact=True)).to_be_visible()  # the prepared 28x28 preview
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        page.wait_for_function("() => window.location.search.includes('d1=')")
        wait_until_idle(page)
        link = page.url
        headline = page.get_by_text("moves at", exact=False).first.inner_text()
        values = page.get_by_test_id("stMetricValue").all_inner_texts()
    finally:
        context.close()
    fresh, page = open_page(browser, link)  # a new context: no cookies, no session state
    try:
        expect(page.get_by_text("from the link", exact=False).first).to_be_visible()
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        wait_until_idle(page)
        assert page.get_by_text("moves at", exact=False).first.inner_text() == headline
        assert page.get_by_test_id("stMetricValue").all_inner_texts() == values  # the same digit, the same run
        assert_no_error(page)
    finally:
        fresh.close()


@pytest.mark.parametrize(("width", "height", "name"), [(*PHONE, "screenshot-390px.png"),
                                                       (420, 900, "screenshot-420px.png")])
def test_phone_width_layout_keeps_labels_apart(server: str, browser, tmp_path: Path, width: int, height: int,
                                               name: str):
    """A phone's first screen: the sidebar closed, the headline in view, labels apart, tabs and the
    animation within the width."""
    from playwright.sync_api import expect

    context, page = open_page(browser, server, width=width, height=height)
    try:
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        expect(page.get_by_text("FERNN |error|").first).to_be_visible()
        wait_until_idle(page)
        assert overlapping_labels(page) == []
        assert page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true"
        headline = page.get_by_text("moves at", exact=False).first.bounding_box()
        assert 0 <= headline["y"] and headline["y"] + headline["height"] <= height
        for tab_name in ("Comparison", "Inside", "Velocities", "Classify", "About"):
            tab = page.get_by_role("tab", name=tab_name)
            box = tab.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, tab_name
        chart = page.locator(".js-plotly-plot").first.bounding_box()
        assert chart["x"] >= 0 and chart["x"] + chart["width"] <= width
        target = screenshot_path(tmp_path, name)  # the first screen, as a phone opens it
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target))
        assert_no_error(page)
    finally:
        context.close()


SIDEBAR_STATE = "() => document.querySelector('[data-testid=\"stSidebar\"]').dataset.collapsed"


@pytest.mark.parametrize(("width", "height"), [PHONE, DESKTOP])
def test_a_change_shows_its_result_with_the_sidebar_out_of_the_way(server: str, browser, tmp_path: Path, width: int,
                                                                   height: int):
    """A phone: open the sidebar, tap + on the digit, and the sidebar closes by itself: the new
    numbers and the animation are in view, nothing over them. A desktop: the sidebar stays open
    beside the result."""
    from playwright.sync_api import expect

    phone = width < 768  # Streamlit's md breakpoint: under it the sidebar lies over the page
    context, page = open_page(browser, server, width, height)
    try:
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        wait_until_idle(page)
        values = page.get_by_test_id("stMetricValue").all_inner_texts()
        sidebar = page.get_by_test_id("stSidebar")
        if phone:
            assert page.evaluate(SIDEBAR_STATE) == "true"
            page.get_by_test_id("stExpandSidebarButton").tap()
            page.wait_for_function(f"() => ({SIDEBAR_STATE})() === 'false'")
            sidebar.get_by_test_id("stNumberInputStepUp").first.tap()  # MNIST test digit #7 -> #8
        else:
            sidebar.get_by_test_id("stNumberInputStepUp").first.click()
        page.wait_for_function("values => JSON.stringify([...document.querySelectorAll("
                               "'[data-testid=\"stMetricValue\"]')].map(e => e.innerText)) !== JSON.stringify(values)",
                               arg=values)
        if phone:  # closed, and its slide out over
            page.wait_for_function(f"() => ({SIDEBAR_STATE})() === 'true' && document.querySelector("
                                   "'[data-testid=\"stSidebar\"]').getBoundingClientRect().right <= 0")
        else:
            time.sleep(2.5)  # over a second: a narrow screen's sidebar would have closed by now
            assert page.evaluate(SIDEBAR_STATE) == "false"
        wait_until_idle(page)
        expect(page.get_by_text("MNIST #8", exact=False).first).to_be_attached()
        cover = sidebar.bounding_box()
        cover_right = cover["x"] + cover["width"] if cover and cover["width"] > 0 else 0
        assert cover_right <= (0 if phone else 300)
        headline = page.get_by_text("moves at", exact=False).first.bounding_box()
        chart = page.locator(".js-plotly-plot").first.bounding_box()
        for name, box in (("headline", headline), ("chart", chart)):
            assert box["x"] >= cover_right, f"the sidebar covers the {name}"
        assert 0 <= headline["y"] and headline["y"] + headline["height"] <= height
        shown = min(chart["y"] + chart["height"], height) - max(chart["y"], 0)
        assert shown >= 150, f"only {shown:.0f} px of the animation in view"
        if phone:
            target = screenshot_path(tmp_path, "screenshot-390px-after-change.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target))
        assert_no_error(page)
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [PHONE, DESKTOP])
def test_the_link_is_copied_by_a_tap_or_a_click(server: str, browser, width: int, height: int):
    """The link's Copy button, a finger's size, copies the very link shown."""
    from playwright.sync_api import expect

    phone = width < 768
    context, page = open_page(browser, server, width, height, permissions=["clipboard-read", "clipboard-write"])
    try:
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        wait_until_idle(page)
        if phone:
            page.get_by_test_id("stExpandSidebarButton").tap()
            page.wait_for_function(f"() => ({SIDEBAR_STATE})() === 'false'")
        sidebar = page.get_by_test_id("stSidebar")
        link = sidebar.locator(".fernn-link").inner_text().strip()
        button = sidebar.get_by_role("button", name="Copy link")
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box["height"] >= 40 and box["width"] >= 80  # a finger's target
        assert 0 <= box["y"] and box["y"] + box["height"] <= height and box["x"] + box["width"] <= width
        button.tap() if phone else button.click()
        expect(sidebar.get_by_text("Copied ✓")).to_be_visible()
        assert page.evaluate("() => navigator.clipboard.readText()") == link
        assert link.startswith(server)
        assert_no_error(page)
    finally:
        context.close()


def annotation_box(chart, start: str) -> dict:
    """The page box of the plotly annotation in ``chart`` whose text starts with ``start``."""
    box = chart.locator("g.annotation").filter(has_text=start).first.bounding_box()
    assert box is not None, start
    return box


@pytest.mark.parametrize(("width", "height", "name"), [(1440, 1050, "classify.png"), (*PHONE, "classify-390px.png")])
def test_a_digit_at_speed_3_is_classified_by_the_widened_fernn(server: str, browser, tmp_path: Path,
                                                                checkpoint_dir: Path, width: int, height: int,
                                                                name: str):
    from playwright.sync_api import expect

    if not (checkpoint_dir / "classify" / "fernn").is_dir():
        pytest.skip(f"no classifiers in {checkpoint_dir}/classify/ yet")
    context, page = open_page(browser, f"{server}/?tab=Classify&vy1=3&vx1=0&digit1=12", width, height)
    try:
        expect(page.get_by_text("(3, 0) px/frame", exact=False).first).to_be_visible()
        expect(page.get_by_text("auto: the smallest", exact=False).first).to_be_visible()
        expect(page.get_by_text("A peak-pooled FERNN reaches one trained radius further", exact=False).first
               ).to_be_visible()  # the shipped FERNN pools by peak: auto gives it V_4 for a digit at speed 3
        for model in ("FERNN says", "G-RNN says"):
            expect(page.get_by_test_id("stMetricLabel").filter(has_text=model).first).to_be_visible()
        expect(page.get_by_text("class probabilities").first).to_be_visible()  # the animation has drawn
        wait_until_idle(page)
        assert overlapping_labels(page) == []
        # The frame's and the bars' titles, side by side above their panels: apart, not run together.
        animation = page.locator(".js-plotly-plot").first
        frame, bars = annotation_box(animation, "as the models"), annotation_box(animation, "class probabilities")
        assert frame["x"] + frame["width"] + 8 <= bars["x"], (frame, bars)
        for chart in page.locator(".js-plotly-plot").all():
            box = chart.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert page.get_by_text("mean MSE", exact=False).count() == 0  # the forecasting run waits for its tab
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        target = screenshot_path(tmp_path, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), full_page=True)
        assert_no_error(page)
    finally:
        context.close()


FIRST_CHART = "document.querySelector('.js-plotly-plot')"


def test_play_moves_the_image_frames(server: str, browser):
    """The animation's frames are PNG images: it opens on the last prediction (the difference in sight),
    and Play moves the title and swaps the pictures."""
    from playwright.sync_api import expect

    context, page = open_page(browser, server)
    try:
        expect(page.get_by_text("FERNN |error|").first).to_be_visible()
        wait_until_idle(page)
        state = (f"() => [{FIRST_CHART}.querySelector('.gtitle').textContent, "
                 f"[...{FIRST_CHART}.querySelectorAll('.imagelayer image')].map(i => i.getAttribute('href'))]")
        title, images = page.evaluate(state)
        assert title.startswith("frame 19: prediction 10/10") and len(images) == 2
        assert all(image.startswith("data:image/png") for image in images)
        page.locator(".updatemenu-button").first.click()  # ▶ Play
        page.wait_for_function(f"() => !{FIRST_CHART}.querySelector('.gtitle').textContent.startsWith('frame 19:')")
        page.locator(".updatemenu-button").nth(1).click()  # ❚❚ Pause
        later, moved = page.evaluate(state)
        assert later != title and moved[0] != images[0]  # another frame, another picture
        assert_no_error(page)
    finally:
        context.close()


# Each tab, and a text that shows once its content has drawn (Velocities: a recorded grid's title).
TAB_CONTENT = {"Comparison": "FERNN |error|", "Inside": "copies", "Velocities": "FERNN, V = {−4…4}²",
               "Classify": "class probabilities", "About": "A flow moves a whole image"}

# The toolbars that show over a chart under the pointer (plotly's modebar, Streamlit's element
# toolbar), as page boxes, where they are visible.
TOOLBARS = """() => [...document.querySelectorAll('.modebar, [data-testid="stElementToolbar"]')].filter(bar => {
    const box = bar.getBoundingClientRect(), style = getComputedStyle(bar);
    let opacity = 1;
    for (let node = bar; node instanceof Element; node = node.parentElement)
        opacity *= Number(getComputedStyle(node).opacity);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && opacity > 0;
}).map(bar => { const box = bar.getBoundingClientRect();
                return {x: box.left + scrollX, y: box.top + scrollY, width: box.width, height: box.height}; })"""


def toolbars_over_texts(page) -> tuple[list[str], int]:
    """With the pointer on each visible chart in turn (its top right, where toolbars sit, then its
    middle), the chart's texts that a visible toolbar covers; and how many charts were hovered."""
    covered, hovered = [], 0
    for chart in page.locator(".js-plotly-plot").filter(visible=True).all():
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        for x, y in ((box["width"] - 12, 12), (box["width"] / 2, box["height"] / 2)):
            chart.hover(position={"x": x, "y": y})
            time.sleep(0.3)  # toolbars fade in
            bars = page.evaluate(TOOLBARS)
            for text in chart.locator("svg text").all():
                label, where = (text.text_content() or "").strip(), text.bounding_box()
                if not label or not where:
                    continue
                if any(b["x"] < where["x"] + where["width"] and where["x"] < b["x"] + b["width"] and
                       b["y"] < where["y"] + where["height"] and where["y"] < b["y"] + b["height"] for b in bars):
                    covered.append(label)
        hovered += 1
    return covered, hovered


def map_width(chart) -> float:
    """A hidden-state map's width on screen: the distance between the centres of the "ch 0" and
    "ch 1" labels (centred on neighbouring 28 px maps, 1 px apart) is 29 map pixels."""
    first, second = annotation_box(chart, "ch 0"), annotation_box(chart, "ch 1")
    step = (second["x"] + second["width"] / 2) - (first["x"] + first["width"] / 2)
    assert step > 0
    return step * 28 / 29


@pytest.mark.parametrize(("width", "height"), [PHONE, DESKTOP])
def test_every_tab_keeps_its_texts_apart(server: str, browser, checkpoint_dir: Path, tmp_path: Path, width: int,
                                         height: int):
    """At phone and desktop width, no two visible texts overlap on any tab: chart titles, panel
    labels, ticks, grid cells, legends, play buttons and slider labels, and widget labels; no
    toolbar over a chart's text with the pointer on it; Inside's maps at least 100 px wide."""
    from playwright.sync_api import expect

    context, page = open_page(browser, f"{server}/?digits=2&vy1=4&vx1=-4&vy2=-4&vx2=4", width, height)
    try:
        expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible()
        for name, content in TAB_CONTENT.items():
            if name == "Classify" and not (checkpoint_dir / "classify" / "fernn").is_dir():
                continue
            page.get_by_role("tab", name=name).click()
            expect(page.get_by_text(content, exact=False).filter(visible=True).first).to_be_visible()
            if name == "About":  # a model card's validation curve
                page.locator("[data-testid='stExpander'] summary").filter(has_text="FERNN").first.click()
                expect(page.get_by_text("Validation MSE during training").filter(visible=True).first).to_be_visible()
                # The expander opens with an animation: measure once the curve is drawn at its full height
                # and wholly inside the opened card (a longer card, the shipped models', takes longer).
                page.wait_for_function(
                    "() => { const c = [...document.querySelectorAll('.js-plotly-plot')].find(p => "
                    "p.textContent.includes('Validation MSE during training') && p.closest('details')?.open); "
                    "if (!c) return false; "
                    "const r = c.getBoundingClientRect(), d = c.closest('details').getBoundingClientRect(); "
                    "return r.height >= 190 && r.bottom <= d.bottom + 1; }", timeout=WAIT_MS)
            wait_until_idle(page)
            overlaps, compared = overlapping_texts(page)
            assert compared > 5, name  # a chart's texts were found and compared (About: its card's curve)
            if overlaps:
                page.screenshot(path=str(tmp_path / f"overlap-{name}-{width}.png"), full_page=True)
            assert overlaps == [], f"{name} at {width} px: {overlaps[:5]} (screenshot in {tmp_path})"
            widest = page.evaluate("() => Math.max(0, ...[...document.querySelectorAll('.js-plotly-plot')]"
                                   ".filter(c => c.offsetParent !== null).map(c => c.getBoundingClientRect().right))")
            assert widest <= width, name  # no chart wider than the page
            covered, hovered = toolbars_over_texts(page)
            assert hovered > 0 and covered == [], f"{name} at {width} px: a toolbar covers {covered[:5]}"
            if name == "Inside":
                hidden = page.locator(".js-plotly-plot").filter(visible=True).first
                assert map_width(hidden) >= 100, f"Inside's maps are {map_width(hidden):.0f} px wide at {width} px"
            assert_no_error(page)
    finally:
        context.close()


WIDEST = "?digits=2&vset=8&context=20&predict=70&vy1=4&vx1=4&vy2=-4&vx2=3"


def _resident_bytes(pid: int) -> int:
    """Resident memory of the server process and its children (Linux /proc)."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.slow
def test_eight_sessions_at_the_widest_settings_all_finish_in_bounded_memory(server: str, browser, server_pid):
    """8 visitors at once at the widest settings: every page finishes without an error, server memory
    peaks under 4 GiB and falls under 1.5 GiB within 30 s of the pages closing. Prints the figures."""
    import threading

    from playwright.sync_api import expect

    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _resident_bytes(server_pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    contexts = []
    try:
        pages = []
        for index in range(8):
            context, page = open_page(browser, f"{server}/{WIDEST}&digit1={index}")
            contexts.append(context)
            pages.append(page)
        for page in pages:
            expect(page.get_by_text("G-RNN mean MSE", exact=False).first).to_be_visible(timeout=240_000)
            assert_no_error(page)
        finished = time.monotonic() - started
    finally:
        for context in contexts:
            context.close()
    closed = time.monotonic()
    after = _resident_bytes(server_pid)
    while time.monotonic() - closed < 30 and after > 1.5 * 2**30:
        time.sleep(1)
        after = _resident_bytes(server_pid)
    stop.set()
    sampler.join()
    print(f"\n8 sessions at the widest settings: all finished in {finished:.1f} s; server peak "
          f"{peak[0] / 2**30:.2f} GiB, {after / 2**30:.2f} GiB {time.monotonic() - closed:.0f} s after closing")
    assert peak[0] <= 4 * 2**30
    assert after <= 1.5 * 2**30


@pytest.fixture(scope="module")
def own_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained in seconds by the real command line, as a researcher would bring one."""
    folder = tmp_path_factory.mktemp("own-checkpoint")
    exported = folder / "tiny-fernn.safetensors"  # the one-file form the upload takes
    subprocess.run([sys.executable, "-m", "fernn.train", "--preset", "tiny-fernn", "--output", str(folder / "run"),
                    "--export", str(exported), "--threads", "1", "--device", "cpu"],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    return exported


def test_an_own_checkpoint_is_carded_compared_as_a_third_model_and_evaluated(server: str, browser, tmp_path: Path,
                                                                             own_checkpoint: Path):
    from playwright.sync_api import expect

    context, page = open_page(browser, server)
    try:
        expect(page.get_by_text("FERNN mean MSE", exact=False).first).to_be_visible()
        page.get_by_test_id("stSidebar").locator("input[type=file]").set_input_files(str(own_checkpoint))
        expect(page.get_by_test_id("stMetricLabel").filter(has_text="FERNN (tiny-fernn) mean MSE")).to_be_visible()
        for name in ("G-RNN mean MSE", "FERNN mean MSE"):  # three models side by side
            expect(page.get_by_test_id("stMetricLabel").filter(has_text=name).first).to_be_visible()
        headline = page.get_by_text("moves at", exact=False).first.inner_text()
        assert "FERNN (tiny-fernn)" in headline and "the FERNN (" not in headline
        page.set_viewport_size(dict(zip(("width", "height"), PHONE)))  # three models on a phone: labels apart, tabs fit
        expect(page.get_by_text("FERNN (tiny-fernn)", exact=True).first).to_be_visible()  # its panel's label
        wait_until_idle(page)
        assert overlapping_labels(page) == []
        for name in ("Comparison", "Inside", "Velocities", "Classify", "About"):
            box = page.get_by_role("tab", name=name).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], name
        page.set_viewport_size({"width": 1440, "height": 1050})
        page.get_by_role("tab", name="About").click()
        page.get_by_text("FERNN (tiny-fernn): FERNN", exact=False).first.click()  # its card's expander
        expect(page.get_by_text("step 20 selected", exact=False).first).to_be_visible()
        expect(page.get_by_text("Validation MSE during training").last).to_be_visible()
        wait_until_idle(page)
        page.get_by_role("tab", name="Comparison").click()
        page.get_by_label("Held-out sequences").fill("3")
        page.get_by_label("Sequences per cell").fill("1")
        page.get_by_label("Sequences per cell").press("Enter")
        wait_until_idle(page)
        page.get_by_role("button", name="Evaluate these settings").click()
        expect(page.get_by_text("Over 3 held-out sequences", exact=False).first).to_be_visible()
        for name in ("G-RNN", "FERNN", "FERNN (tiny-fernn)", "copy last frame"):  # the table's rows
            expect(page.get_by_role("cell", name=name, exact=True).first).to_be_visible()
        wait_until_idle(page)
        page.get_by_text("Over 3 held-out sequences", exact=False).first.scroll_into_view_if_needed()
        target = screenshot_path(tmp_path, "own-checkpoint.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), full_page=True)
        print(f"\nscreenshot: {target}")
        assert_no_error(page)
    finally:
        context.close()


def test_a_digit_turning_beyond_the_training_range_runs_in_every_view(server: str, browser, tmp_path: Path):
    """Rotate, chosen in the sidebar: the rotation pair opens, the digit turns at +60°/frame (twice
    the training range), the link says so, and Inside and Velocities draw in rotation's terms."""
    from playwright.sync_api import expect

    context, page = open_page(browser, server)
    try:
        expect(page.get_by_text("(1, 2) px/frame", exact=False).first).to_be_visible()
        page.get_by_test_id("stSidebar").get_by_text("Rotate", exact=True).click()
        expect(page.get_by_text("+60°/frame", exact=False).first).to_be_visible()
        expect(page.get_by_text("FERNN mean MSE", exact=False).first).to_be_visible()
        expect(page.get_by_text("motion=Rotate", exact=False).first).to_be_visible()  # the shared link
        wait_until_idle(page)
        page.screenshot(path=str(screenshot_path(tmp_path, "rotation.png")), full_page=False)
        page.get_by_role("tab", name="Inside").click()
        expect(page.get_by_text("State drift", exact=False).first).to_be_visible()
        expect(page.get_by_text("copies", exact=True).filter(visible=True).first).to_be_visible()
        expect(page.get_by_text("field 0, orientation 0°", exact=False).first).to_be_visible()  # the channels named
        page.get_by_role("tab", name="Velocities").click()
        expect(page.get_by_text("one fixed angular velocity ω", exact=False).first).to_be_visible()
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()  # the grids
        expect(page.get_by_text("+120°", exact=True).first).to_be_visible()  # a tick, in degrees
        wait_until_idle(page)
        page.screenshot(path=str(screenshot_path(tmp_path, "rotation-velocities.png")), full_page=False)
        assert_no_error(page)
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height", "name"), [(1440, 1050, "world.png"), (*PHONE, "world-390px.png")])
def test_the_observer_looks_away_and_back_in_the_world(server: str, browser, checkpoint_dir: Path, tmp_path: Path,
                                                       width: int, height: int, name: str):
    """World, chosen in the sidebar (on a phone: by link): look away and back runs by default, the
    headline says for how long digit 1 was out of view, and the animation shows the world with its
    window, each model's view and memory, with no label over another on a 390 px phone."""
    from playwright.sync_api import expect

    if not (checkpoint_dir / "world").is_dir():
        pytest.skip(f"no world models in {checkpoint_dir}")
    phone = width < 600
    context, page = open_page(browser, server + ("?motion=World" if phone else ""), width, height)
    try:
        if not phone:
            expect(page.get_by_text("(1, 2) px/frame", exact=False).first).to_be_visible()
            page.get_by_test_id("stSidebar").get_by_text("World", exact=True).click()
        expect(page.get_by_text("The observer looked away", exact=False).first).to_be_visible()
        expect(page.get_by_text("out of view for", exact=False).first).to_be_visible()
        expect(page.get_by_text("FERNN mean MSE", exact=False).first).to_be_visible()
        expect(page.get_by_text("World (window)", exact=True).first).to_be_visible()  # the animation's panels
        expect(page.get_by_text("FERNN memory", exact=True).first).to_be_visible()
        expect(page.get_by_text("motion=World", exact=False).first).to_be_visible()  # the shared link
        wait_until_idle(page)
        assert overlapping_labels(page) == []
        chart = page.locator(".js-plotly-plot").first
        assert chart.bounding_box()["width"] <= width
        chart.scroll_into_view_if_needed()
        time.sleep(1)
        page.screenshot(path=str(screenshot_path(tmp_path, name)), full_page=False)
        assert_no_error(page)
    finally:
        context.close()
