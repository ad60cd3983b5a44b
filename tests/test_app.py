"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Every test points the app at small fixture checkpoints through ``FERNN_CHECKPOINT_DIR``, so
nothing depends on ``pretrained/``. "No traceback" means: no exception element on the page.
"""

from __future__ import annotations

import fractions
import io
import json
import re
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import fernn
import fernn.datasets.digits
import tiny
from uploads import jpeg_claiming, png_bytes
import fernn.showcase.owndigit
import fernn.showcase.serving

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60
GRID = {"speeds": [-3, -2, -1, 0, 1, 2, 3],
        "mse": [[0.001 * (1 + abs(dy) + abs(dx)) for dx in range(-3, 4)] for dy in range(-3, 4)]}
ROTATION_GRID = {"speeds": [-3, -2, -1, 0, 1, 2, 3], "mse": [[0.002 * (1 + abs(k)) for k in range(-3, 4)]]}


def rings(*accuracies: float) -> list[dict]:
    return [{"speed": speed, "accuracy": value, "interval": [value - 0.04, value + 0.04], "total": 500}
            for speed, value in enumerate(accuracies)]


def write_classifiers(folder: Path) -> None:
    """The model folders classify/{grnn,fernn,single-frame} as the app reads them: small, with recorded evaluations."""
    settings = {"training_max_speed": 1}
    tiny.write_app_classifiers(folder, {
        "grnn": {"evaluation": {
            "settings": settings, "test_accuracy": 0.9, "rings": rings(0.9, 0.88, 0.5, 0.3, 0.2)}},
        "fernn": {"evaluation": {
            "settings": settings, "test_accuracy": 0.93, "rings": rings(0.93, 0.92, 0.6, 0.35, 0.25),
            "widened_rings": rings(0.93, 0.92, 0.91, 0.9, 0.9), "widened_max_speed": 4}},
        "single-frame": {
            "train": {"config": {"data": {"context_frames": 1}}},
            "evaluation": {"settings": settings, "test_accuracy": 0.3, "rings": rings(0.3, 0.3, 0.3, 0.3, 0.3)}}})


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model folders grnn and fernn (evaluated, |V| = 25 as shipped), plus the awkward cases (two older
    .pt files among them)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    small = tiny.APP_FORECASTER
    evaluation = {"evaluation": {"velocity_grid": GRID, "test_mse": 0.01,
                                 "settings": {"data_max_speed": 1}}}
    tiny.write_app_pair(folder, {"grnn": evaluation, "fernn": evaluation})
    fernn.save_pretrained(folder / "untrained", fernn.build_model("fernn", max_speed=1, **small))
    # 192 channels: a 289-copy rollout with 20 context frames plans about 2.4 GiB.
    fernn.save_pretrained(folder / "wide", fernn.build_model("fernn", max_speed=1, hidden_channels=192,
                                                              decoder_layers=1))
    broken = fernn.build_model("fernn", max_speed=1, **small)
    with torch.no_grad():
        broken.cell.recurrent_conv.weight[0, 0, 0, 0] = float("nan")
    fernn.save_pretrained(folder / "nan", broken, evaluation)
    (folder / "corrupt.pt").write_bytes(b"this is not a checkpoint" * 10)
    torch.save({"x": fractions.Fraction(1, 3)}, folder / "foreign.pt")  # torch's refusal is in ANSI bold
    write_classifiers(folder / "classify")
    # rotation/: a small C_12 pair (12 channels: one field), evaluated, trained on |k| <= 1.
    tiny.write_app_rotation_pair(folder / "rotation", {"evaluation": {
        "velocity_grid": ROTATION_GRID, "test_mse": 0.02, "settings": {"data_max_speed": 1}}})
    return folder


@pytest.fixture
def app(checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(checkpoint_dir))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def shared_link(at: AppTest) -> str:
    """The link the sidebar offers to copy (its Copy link button carries it)."""
    import html

    bodies = [str(element.value) for element in at.sidebar.get("html") if "Copy link" in str(element.value)]
    assert len(bodies) == 1, bodies
    return html.unescape(re.search(r'data-link="([^"]*)"', bodies[0]).group(1))


def assert_clean(at: AppTest) -> None:
    assert not at.exception, texts(at.exception)
    assert not at.error, texts(at.error)


def metric(at: AppTest, label_start: str) -> str:
    for item in at.metric:
        if item.label.startswith(label_start):
            return item.value
    raise AssertionError(f"no metric {label_start!r} in {[m.label for m in at.metric]}")




def link_value(at: AppTest, key: str) -> str | None:
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def headline(at: AppTest) -> str:
    for item in at.markdown:
        if "px/frame**" in str(item.value):
            return str(item.value)
    raise AssertionError(f"no headline in {texts(at.markdown)[:5]}")


def test_default_run_states_the_message_with_both_errors(app: AppTest):
    at = app.run()
    assert_clean(at)
    text = headline(at)
    assert "(1, 2) px/frame" in text and "2× the fastest training motion (1 px/frame)" in text
    assert "lower error" in text or "about as well" in text
    assert metric(at, "G-RNN mean MSE") and metric(at, "FERNN mean MSE")
    assert any("arxiv.org/abs/2507.14793" in text for text in texts(at.caption))
    assert not any("State drift" in text for text in texts(at.markdown))  # a closed tab is not drawn
    at.query_params["tab"] = "Inside"
    at.run()
    drift = next(text for text in texts(at.markdown) if "State drift" in text)
    assert "FERNN **0.00**" in drift  # the copy moving with the digit is exactly equivariant


def test_a_fast_digit_is_covered_by_the_auto_velocity_set(app: AppTest):
    app.query_params.update({"vy1": "4", "vx1": "4"})
    at = app.run()
    assert_clean(at)
    assert at.selectbox(key="vset").value == "auto"
    assert "4× the fastest training motion" in headline(at)
    assert "outside the FERNN's velocity set" not in headline(at)
    at.selectbox(key="vset").set_value("as trained").run()
    assert "(4, 4) is outside the FERNN's velocity set" in headline(at)
    at.query_params["tab"] = "Inside"  # the read-out's warning is drawn where the read-out is
    at.run()
    assert any("outside this run's velocity set" in text for text in texts(at.warning))


def test_links_already_shared_keep_working(app: AppTest):
    app.query_params.update({"source": "MNIST", "digits": "2", "digit1": "12", "digit2": "40", "vy1": "-3",
                             "vx1": "2", "vset": "as trained", "predict": "15", "tab": "Inside the models",
                             "model_a": "grnn.pt", "model_b": "fernn.pt"})  # the models' names before safetensors
    at = app.run()
    assert_clean(at)
    assert (at.selectbox(key="model_a").value, at.selectbox(key="model_b").value) == ("grnn", "fernn")
    assert not at.sidebar.info  # read silently, as a renamed tab is
    assert at.number_input(key="digit1").value == 12 and at.number_input(key="digit2").value == 40
    assert at.selectbox(key="vset").value == "as trained"
    assert at.slider(key="predict").value == 15
    assert "Digit 1 moves at **(-3, 2) px/frame**" in headline(at)


def test_a_drawn_digits_link_reproduces_it(app: AppTest):
    image = np.zeros((28, 28), dtype=np.float32)
    image[6:22, 12:16] = 1.0
    app.query_params.update({"source": "Draw", "d1": fernn.showcase.owndigit.encode_digit(image)})
    at = app.run()
    assert_clean(at)
    assert any("from the link" in text for text in texts(at.caption))
    assert metric(at, "FERNN mean MSE")
    link = shared_link(at)
    assert "d1=" in link and "source=Draw" in link


def test_the_link_has_a_button_that_copies_it_and_a_phone_gets_its_sidebar_closed(app: AppTest):
    """st.code's copy button shows on hover only: the link is shown as text beside a button that a
    finger can press, carrying the very link shown; the sidebar's closing script (for phones) is sent once."""
    import html

    at = app.run()
    assert_clean(at)
    link = shared_link(at)
    bodies = [str(element.value) for element in at.sidebar.get("html")]
    copy = [body for body in bodies if "Copy link" in body]
    escaped = html.escape(link, quote=True)
    assert len(copy) == 1 and f'data-link="{escaped}"' in copy[0]
    assert '<div class="fernn-link"' in copy[0] and f">{escaped}</div>" in copy[0]  # shown as text too
    assert not at.code  # no st.code: its syntax highlighter cost every first visit 0.3 s
    assert sum("stSidebarCollapseButton" in body for body in bodies) == 1


def test_a_damaged_digit_link_says_so(app: AppTest):
    app.query_params.update({"source": "Draw", "d1": "z1.AAAA"})
    at = app.run()
    assert not at.exception
    assert any("link's digit" in text for text in texts(at.error)), texts(at.error)
    assert not at.metric


def test_missing_checkpoint_folder_gives_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(tmp_path / "nowhere"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "No models in the folder `nowhere`" in errors and str(tmp_path) not in errors


def test_corrupt_and_nan_checkpoints_give_plain_messages(app: AppTest):
    at = app.run()
    at.selectbox(key="model_b").set_value("corrupt.pt").run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "corrupt.pt" in errors and "weights_only" not in errors
    at.selectbox(key="model_b").set_value("nan").run()
    assert not at.exception
    assert any("NaN" in text and "`nan`" in text for text in texts(at.error))


def test_unevaluated_checkpoint_is_labelled(app: AppTest):
    at = app.run()
    at.selectbox(key="model_b").set_value("untrained").run()
    assert_clean(at)
    assert any("no recorded evaluation" in text for text in texts(at.warning))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("noise.png", b"\x89PNG\r\n\x1a\n not really a png", "not a readable PNG or JPEG image"),
        ("huge.png", png_bytes(np.zeros((8, 5000), dtype=np.uint8)), "at most 4096 pixels"),
        ("blank.png", png_bytes(np.full((40, 40), 255, dtype=np.uint8)), "blank"),
        ("claims-4096.jpg", None, "4096x4096 pixels (16.8 MP); the limit is 1.0 MP"),
    ],
)
def test_bad_uploads_give_a_message(app: AppTest, name: str, content: bytes | None, message: str):
    content = jpeg_claiming(4096) if content is None else content
    at = app.run()
    at.radio(key="source").set_value("Upload").run()
    assert any("Upload a PNG or JPEG" in text for text in texts(at.info))
    at.file_uploader(key="upload").set_value((name, content, "image/png")).run()
    assert not at.exception
    shown = " ".join(texts(at.error) + texts(at.info))
    assert message in shown and " at 0x" not in shown, shown
    assert at.slider(key="vy1").value == 1  # nothing the user set is lost


def test_good_upload_runs_and_travels_in_the_link(app: AppTest):
    image = np.zeros((60, 60), dtype=np.uint8)
    image[10:50, 28:34] = 255  # a white "1" on black
    at = app.run()
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("one.png", png_bytes(image), "image/png")).run()
    assert_clean(at)
    assert metric(at, "FERNN mean MSE")
    assert fernn.showcase.owndigit.decode_digit(at.query_params["d1"][0] if isinstance(at.query_params["d1"], list)
                                   else at.query_params["d1"]).shape == (28, 28)


def test_blank_canvas_asks_for_a_drawing(app: AppTest):
    at = app.run()
    at.radio(key="source").set_value("Draw").run()
    assert_clean(at)
    assert any("Draw a digit" in text for text in texts(at.info))
    assert not at.metric


def test_oversized_velocity_set_is_refused_before_running(app: AppTest):
    app.query_params.update({"model_b": "wide", "vset": "8", "context": "20"})
    at = app.run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "289 velocity copies" in errors and "choose a smaller velocity set" in errors
    assert not at.metric
    assert at.selectbox(key="vset").value == "8"  # kept for the user to change


def test_velocity_generalisation_tab_shows_recorded_grids(app: AppTest):
    app.query_params.update({"tab": "Velocity generalisation"})  # a link from before the short tab names
    at = app.run()
    assert_clean(at)
    assert any("training range |v| ≤ 1" in text for text in texts(at.markdown))


def test_explanation_is_present(app: AppTest):
    app.query_params.update({"tab": "About"})
    at = app.run()
    assert any("What the FERNN does instead" in text for text in texts(at.markdown))


def test_sixteen_bit_and_transparent_uploads_are_read(app: AppTest):
    sixteen = np.zeros((40, 40), dtype=np.uint16)
    sixteen[8:32, 18:22] = 60000
    buffer = io.BytesIO()
    Image.fromarray(sixteen).save(buffer, format="PNG")
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[8:32, 18:22, 3] = 255  # black ink on a transparent background: the opacity is the ink
    for name, content in (("sixteen.png", buffer.getvalue()), ("ink.png", png_bytes(rgba))):
        at = app.run()
        at.radio(key="source").set_value("Upload").run()
        at.file_uploader(key="upload").set_value((name, content, "image/png")).run()
        assert_clean(at)
        assert metric(at, "FERNN mean MSE"), name


# ----------------------------------------------------------------------------- links, state, messages

HUGE = "1" * 100_000


@pytest.mark.parametrize(
    ("params", "key", "value", "note"),
    [
        ({"digit1": "9999"}, "digit1", 499, "`digit1=9999` is outside 0..499; using 499"),
        ({"digit1": "inf"}, "digit1", 7, "`digit1=inf` is not a whole number; using the default"),
        ({"digit1": "-inf"}, "digit1", 7, "`digit1=-inf` is not a whole number"),
        ({"digit1": "1e309"}, "digit1", 7, "`digit1=1e309` is not a whole number"),
        ({"digit1": "nan"}, "digit1", 7, "`digit1=nan` is not a whole number"),
        ({"digit1": HUGE}, "digit1", 499, "(100,000 characters)` is outside 0..499; using 499"),
        ({"digit1": ""}, "digit1", 7, "`digit1` is empty; using the default"),
        ({"digit1": ["12", "40"]}, "digit1", 40, "`digit1` is given 2 times; using the last"),
        ({"digits": "2", "digit2": "-inf"}, "digit2", 3, "`digit2=-inf` is not a whole number"),
        ({"seed": "inf"}, "seed", 0, "`seed=inf` is not a whole number"),
        ({"seed": HUGE}, "seed", 2**31 - 1, f"using {2**31 - 1}"),
        ({"vy1": "9"}, "vy1", 4, "Link value `vy1=9` is outside -4..4; using 4."),
        ({"vset": "99"}, "vset", "auto", "`vset=99` is not one of the 11 choices; using the default"),
        ({"predict": "500"}, "predict", 70, "`predict=500` is outside 1..70; using 70"),
    ],
)
def test_a_bad_link_value_is_replaced_with_a_visible_note(app: AppTest, params: dict, key: str, value, note: str):
    app.query_params.update(params)
    at = app.run()
    assert_clean(at)
    widget = at.selectbox(key=key) if key == "vset" else next(
        w for w in (*at.number_input, *at.slider) if w.key == key)
    assert widget.value == value
    notes = " ".join(texts(at.sidebar.info))
    assert note in notes, notes
    assert len(notes) < 300  # a 100,000-character value is not echoed
    assert at.slider(key="vy1") and at.selectbox(key="model_a")  # the sidebar is all there
    assert metric(at, "FERNN mean MSE")  # and the page runs


def test_several_bad_values_in_one_link_each_get_a_note_and_good_ones_stay(app: AppTest):
    app.query_params.update({"digits": "2", "digit2": "1e309", "vx1": "-3", "context": "0", "stabilised": "maybe",
                             "source": "Camera", "model_b": "../../etc/passwd"})
    at = app.run()
    assert_clean(at)
    notes = " ".join(texts(at.sidebar.info))
    for part in ("digit2=1e309", "context=0", "stabilised=maybe", "source=Camera", "model_b=..?..?etc?passwd"):
        assert part in notes, (part, notes)
    assert at.slider(key="vx1").value == -3 and at.slider(key="context").value == 1
    assert at.selectbox(key="model_b").value == "fernn"
    assert link_value(at, "vx1") == "-3" and link_value(at, "digit2") is None  # the link is cleaned too


def test_a_clean_link_shows_no_note(app: AppTest):
    app.query_params.update({"vy1": "-3", "digit1": "12"})
    at = app.run()
    assert_clean(at)
    assert not at.sidebar.info


def test_link_fields_agree_with_the_widgets(app: AppTest, checkpoint_dir: Path):
    """fernn.showcase.links.demo_link_fields repeats the widgets' ranges and options: they must agree."""
    from fernn.showcase.app import resources, shared as constants
    app.query_params.update({"digits": "2"})
    at = app.run()
    assert_clean(at)
    fields = fernn.showcase.links.demo_link_fields(
        test_digits=500, checkpoints=resources.checkpoint_files(),
        velocity_choices=constants.VELOCITY_CHOICES, tabs=constants.TABS, renamed_tabs=constants.RENAMED_TABS,
        max_digit_speed=constants.MAX_DIGIT_SPEED, motions=constants.MOTIONS,
        angular_velocities=constants.ANGULAR_VELOCITIES, start_angles=constants.START_ANGLES)
    assert "rotation/fernn" in fields["model_b"].options and "classify/fernn" not in fields["model_b"].options
    assert ("rotation/fernn.pt", "rotation/fernn") in fields["model_b"].aliases  # older links name the .pt file
    widgets = {w.key: w for w in (*at.slider, *at.number_input, *at.radio, *at.selectbox, *at.multiselect,
                                  *at.toggle)}
    for tab in ("Inside", "Classify"):  # only the open tab's widgets are drawn
        at.query_params["tab"] = tab
        at.run()
        assert_clean(at)
        widgets.update({w.key: w for w in (*at.number_input, *at.selectbox, *at.multiselect, *at.toggle, *at.radio)})
    at.radio(key="motion").set_value("Rotate").run()  # the rotation sliders replace the translation ones
    assert_clean(at)
    widgets.update({w.key: w for w in at.select_slider})
    compared = 0
    for key, field in fields.items():
        if key == "tab":
            assert [tab.label for tab in at.tabs] == list(field.options)
        elif isinstance(field, fernn.showcase.links.WholeNumber):
            assert (widgets[key].min, widgets[key].max) == (field.low, field.high), key
        elif isinstance(field, fernn.showcase.links.Choice):
            assert [str(o) for o in widgets[key].options] == list(field.options), key
        elif isinstance(field, fernn.showcase.links.NumberSet):
            assert widgets[key].max_selections == field.max_items
        else:
            assert widgets[key].value in (True, False)
        compared += 1
    assert compared == len(fields) == 30


class FakeCanvas:
    """Stands in for streamlit-drawable-canvas, which AppTest cannot draw on."""

    def __init__(self) -> None:
        self.image = np.zeros((224, 224, 4), dtype=np.uint8)

    def __call__(self, **_options) -> SimpleNamespace:
        return SimpleNamespace(image_data=self.image.copy())


def test_an_emptied_canvas_takes_the_digit_out_of_use_and_out_of_the_link(app: AppTest,
                                                                            monkeypatch: pytest.MonkeyPatch):
    import streamlit_drawable_canvas

    canvas = FakeCanvas()
    monkeypatch.setattr(streamlit_drawable_canvas, "st_canvas", canvas)
    shared = np.zeros((28, 28), dtype=np.float32)
    shared[6:22, 12:16] = 1.0
    app.query_params.update({"source": "Draw", "d1": fernn.showcase.owndigit.encode_digit(shared)})
    at = app.run()
    assert_clean(at)
    assert any("from the link" in text for text in texts(at.caption)) and metric(at, "FERNN mean MSE")
    canvas.image[40:180, 60:170, :] = 255  # the visitor draws
    at.run()
    drawn = link_value(at, "d1")
    assert drawn and drawn != fernn.showcase.owndigit.encode_digit(shared)
    assert not any("from the link" in text for text in texts(at.caption))
    canvas.image[:] = 0  # reset (or undo every stroke)
    at.run()
    assert not at.exception
    assert link_value(at, "d1") is None
    assert any("Draw a digit" in text for text in texts(at.info)) and not at.metric
    assert not any("from the link" in text for text in texts(at.caption))


def test_a_failed_upload_takes_the_previous_digit_out_of_use_and_out_of_the_link(app: AppTest):
    image = np.zeros((60, 60), dtype=np.uint8)
    image[10:50, 28:34] = 255
    at = app.run()
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("one.png", png_bytes(image), "image/png")).run()
    assert_clean(at)
    assert link_value(at, "d1") and metric(at, "FERNN mean MSE")
    at.file_uploader(key="upload").set_value(("huge.jpg", jpeg_claiming(4096), "image/jpeg")).run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "Cannot use huge.jpg" in errors and "No digit is in use" in errors and "1024x1024" in errors
    assert link_value(at, "d1") is None and not at.metric
    assert not any("from the link" in text for text in texts(at.caption))


def test_checkpoint_errors_name_files_only_and_carry_no_torch_advice(app: AppTest, checkpoint_dir: Path):
    at = app.run()
    for name in ("corrupt.pt", "foreign.pt"):
        at.selectbox(key="model_b").set_value(name).run()
        assert not at.exception
        errors = " ".join(texts(at.error))
        assert f"`{name}` cannot be used: {name} is not a readable checkpoint" in errors, errors
        assert str(checkpoint_dir) not in errors and "weights_only" not in errors and "\x1b" not in errors
    assert "fractions.Fraction, which fernn never loads" in errors


@pytest.mark.parametrize(("variable", "value"), [("FERNN_RUN_SLOTS", "0"), ("FERNN_CACHE_MB", "lots"),
                                                 ("FERNN_TORCH_THREADS", "-2")])
def test_a_misconfigured_server_says_so_on_the_page(app: AppTest, monkeypatch: pytest.MonkeyPatch, variable: str,
                                                    value: str):
    monkeypatch.setenv(variable, value)
    at = app.run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "This server is misconfigured" in errors and f"{variable}={value} must be a whole number" in errors


# ----------------------------------------------------------------------------- the Classify view


def answers(at: AppTest) -> dict[str, str]:
    return {item.label: f"{item.value}, {item.delta}" for item in at.metric if item.label.endswith(" says")}


def test_classify_view_shows_every_models_answer_over_time(app: AppTest, checkpoint_dir: Path):
    app.query_params.update({"tab": "Classify", "vy1": "3", "vx1": "0", "digit1": "12", "flicker": "5"})
    at = app.run()
    assert_clean(at)
    shown = answers(at)
    assert set(shown) == {"G-RNN says", "FERNN says", "single frame says"}
    assert not any("mean MSE" in m.label for m in at.metric)  # the forecasting run waits for its tab
    label = int(fernn.datasets.digits.load_digits("test")[1][12])
    text = " ".join(texts(at.markdown))
    assert "**(3, 0) px/frame**, 3× the fastest training motion (1 px/frame)" in text and f"(it is a {label})" in text
    # The page shows what the library computes for the same digit, motion, flicker and velocity set.
    digit = fernn.showcase.mnist_scene([12], velocities=[(3, 0)])[0]
    models = {name: fernn.load_checkpoint(checkpoint_dir / "classify" / file)
              for file, name in fernn.showcase.CLASSIFIER_FILES.items()}
    expected = fernn.showcase.classify(models, fernn.showcase.flicker_scene(digit, seed=5), true_class=label)
    for run in expected.runs:
        assert shown[f"{run.name} says"] == f"{run.answer}{expected.mark(run)}, {run.confidence:.0%} sure"
    assert expected.run("FERNN").velocities == fernn.flows.TRANSLATION.velocity_set(3)  # auto: widened to |v| = 3
    assert expected.run("single frame").one_frame
    helps = {item.label: item.help for item in at.metric}
    assert "49 velocity copies" in helps["FERNN says"] and "each frame alone" in helps["single frame says"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the animation and the recorded accuracy per ring
    assert any("training range −1…1" in text for text in texts(at.sidebar.caption))


def test_classify_view_says_plainly_when_the_classifiers_are_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fernn.save_pretrained(tmp_path / "grnn", fernn.build_model("grnn", **tiny.APP_FORECASTER))
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["tab"] = "Classify"
    at.run()
    assert_clean(at)
    assert not at.warning
    notes = " ".join(texts(at.info))
    assert "classifiers are not here yet" in notes and f"{tmp_path.name}/classify/" in notes and "`fernn`" in notes
    assert not answers(at) and not at.get("plotly_chart")


def test_a_broken_classifier_is_named_and_the_others_still_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_classifiers(tmp_path / "classify")
    (tmp_path / "classify" / "fernn" / "model.safetensors").write_bytes(b"not a checkpoint" * 10)
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["tab"] = "Classify"
    at.run()
    assert not at.exception
    assert any("`fernn` cannot be used" in text for text in texts(at.error)), texts(at.error)
    assert set(answers(at)) == {"G-RNN says", "single frame says"} and not at.info  # not "missing": it is broken


def test_a_classify_link_reproduces_the_view(app: AppTest):
    app.query_params.update({"tab": "Classify", "digit1": "40", "vy1": "-2", "vx1": "3", "cvset": "as trained"})
    at = app.run()
    at.button(key="new_flicker").click().run()
    at.button(key="new_flicker").click().run()
    assert_clean(at)
    assert at.number_input(key="flicker").value == 2
    shown = answers(at)
    shared = shared_link(at)  # the link the page offers to copy
    link = {key: values[-1] for key, values in urllib.parse.parse_qs(shared.split("?", 1)[1]).items()}
    assert link == {"tab": "Classify", "digit1": "40", "vy1": "-2", "vx1": "3", "cvset": "as trained", "flicker": "2"}
    fresh = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a new session: only the link travels
    fresh.query_params.update(link)
    fresh.run()
    assert_clean(fresh)
    assert answers(fresh) == shown and fresh.selectbox(key="cvset").value == "as trained"
    assert fresh.number_input(key="flicker").value == 2
    helps = {item.label: item.help for item in fresh.metric}
    assert "9 velocity copies" in helps["FERNN says"]  # as trained: V_1, although the digit moves at 3
    assert seen_frames(fresh) == seen_frames(at)  # the same masked frames, pixel for pixel
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.query_params.update(dict(link, flicker="3"))
    other.run()
    assert_clean(other)
    assert seen_frames(other) != seen_frames(at)  # another flicker seed shows other pixels


def seen_frames(at: AppTest) -> list:
    """The masked frames of the Classify animation, as the page's figure carries them."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [frame["data"][0]["z"] for frame in spec["frames"]]


def rotation_headline(at: AppTest) -> str:
    for item in at.markdown:
        if "°/frame**" in str(item.value):
            return str(item.value)
    raise AssertionError(f"no rotation headline in {texts(at.markdown)[:5]}")


def test_rotate_opens_the_rotation_pair_and_turns_the_digit_beyond_training(app: AppTest):
    at = app.run()
    at.radio(key="motion").set_value("Rotate").run()
    assert_clean(at)
    assert (at.selectbox(key="model_a").value, at.selectbox(key="model_b").value) == ("rotation/grnn",
                                                                                      "rotation/fernn")
    text = rotation_headline(at)
    assert "turns at **+60°/frame**, 2× the fastest training motion (30°/frame)" in text
    assert metric(at, "G-RNN mean MSE") and metric(at, "FERNN mean MSE")
    assert any("training range ±30°" in caption for caption in texts(at.sidebar.caption))
    for tab in ("Inside", "About", "Velocities"):
        at.query_params["tab"] = tab
        at.run()
        assert_clean(at)
    assert any("angular velocity ω" in text for text in texts(at.markdown))  # the Velocities view, in its terms
    at.query_params["tab"] = "Classify"
    at.run()
    assert any("choose **Translate**" in text for text in texts(at.info))


def test_a_rotation_link_reproduces_the_view(app: AppTest):
    app.query_params.update({"motion": "Rotate", "model_a": "rotation/grnn", "model_b": "rotation/fernn",
                             "w1": "-120", "a1": "90"})
    at = app.run()
    assert_clean(at)
    assert "turns at **-120°/frame**, 4× the fastest training motion" in rotation_headline(at)
    assert "outside the FERNN's velocity set" not in rotation_headline(at)  # auto widens the set to ±4 steps
    assert at.select_slider(key="a1").value == 90


def test_an_angle_off_the_rotation_steps_in_a_link_gets_a_note(app: AppTest):
    app.query_params.update({"motion": "Rotate", "w1": "45"})
    at = app.run()
    assert_clean(at)
    assert any("`w1=45` is not one of" in text for text in texts(at.sidebar.info))
    assert at.select_slider(key="w1").value == 60  # the default


def test_rotating_digits_with_translation_models_say_what_to_change(app: AppTest):
    app.query_params.update({"motion": "Rotate", "model_a": "grnn", "model_b": "rotation/fernn"})
    at = app.run()
    assert not at.exception
    assert any("is a translation model and the digits move by rotation" in text for text in texts(at.error))


# --- models: three slots, own checkpoints, cards, "Evaluate these settings" ------------------------


def own_checkpoint_bytes(tmp_path: Path, name: str = "mine.safetensors") -> bytes:
    """A small FERNN checkpoint with a training record, as ``python -m fernn.train --export`` writes one."""
    history = [{"step": 10, "wall_time": 1.0, "val_mse": 0.2}, {"step": 20, "wall_time": 2.0, "val_mse": 0.1}]
    path = fernn.save_checkpoint(tmp_path / name, fernn.build_model("fernn", max_speed=1, hidden_channels=3,
                                                                    decoder_layers=2),
                                 {"train": {"step": 20, "wall_time": 2.5, "history": history,
                                            "config": {"data_max_speed": 1}}})
    return path.read_bytes()


def test_an_own_checkpoint_joins_as_a_third_model_with_its_card(app: AppTest, checkpoint_dir: Path, tmp_path: Path):
    before = sorted(p.name for p in checkpoint_dir.rglob("*"))
    at = app.run()
    assert at.selectbox(key="model_c").value == "(none)" and len(at.metric) == 3  # two models and the baseline
    at.file_uploader(key="model_upload").set_value(("mine.safetensors", own_checkpoint_bytes(tmp_path),
                                                    "application/octet-stream"))
    at.run()
    assert not at.exception and not at.sidebar.error
    assert at.selectbox(key="model_c").value == "⬆ mine.safetensors"  # a new upload goes to the empty slot
    assert metric(at, "G-RNN mean MSE") and metric(at, "FERNN mean MSE") and metric(at, "FERNN (mine) mean MSE")
    assert "**FERNN (mine)**" in headline(at) and "the FERNN" not in headline(at)
    assert "⬆ mine.safetensors" in at.selectbox(key="model_a").options  # selectable in every slot
    at.query_params["tab"] = "About"
    at.run()
    assert [e.label for e in at.expander if "FERNN (mine)" in e.label]
    card = next(text for text in texts(at.markdown) if "**Parameters:**" in text and "step 20 selected" in text)
    assert "V = {-1..1}^2 (9 copies)" in card and "From the paper" in card
    at.file_uploader(key="model_upload").set_value(None)
    at.query_params["tab"] = "Comparison"
    at.run()
    assert_clean(at)
    assert at.selectbox(key="model_c").value == "(none)" and "⬆ mine.safetensors" not in at.selectbox(key="model_a").options
    assert sorted(p.name for p in checkpoint_dir.rglob("*")) == before  # nothing was written to the server's disk


def test_an_unusable_own_checkpoint_gets_one_line(app: AppTest, tmp_path: Path):
    at = app.run()
    at.file_uploader(key="model_upload").set_value(("notes.pt", b"this is not a checkpoint" * 10, "text/plain"))
    at.run()
    assert not at.exception
    (error,) = texts(at.sidebar.error)
    assert error == ("Cannot use notes.pt: this file is neither a safetensors model file (python -m fernn.convert "
                     "MODEL --output NAME.safetensors) nor a checkpoint written by torch.save.")
    assert at.selectbox(key="model_c").value == "(none)" and metric(at, "FERNN mean MSE")


def test_evaluate_these_settings_scores_each_model_over_held_out_sequences(app: AppTest):
    at = app.run()
    assert_clean(at)
    at.number_input(key="study_sequences").set_value(3)
    at.selectbox(key="study_grid").set_value("1")
    at.number_input(key="study_cell").set_value(1)
    at.button(key="study_run").click().run()
    assert_clean(at)
    table = next(text for text in texts(at.markdown) if text.startswith("| Model | mean MSE"))
    assert "| G-RNN |" in table and "| FERNN |" in table and "| copy last frame |" in table
    assert any("Over **3 held-out sequences**" in text for text in texts(at.markdown))
    assert any("Live velocity grid" in text for text in texts(at.markdown))
    at.slider(key="predict").set_value(3).run()  # another setting: the old numbers are not shown as these
    assert not any(text.startswith("| Model | mean MSE") for text in texts(at.markdown))
    assert any("settings have changed" in text for text in texts(at.caption))


def test_no_client_message_resets_the_run_slots_or_the_comparison_cache(monkeypatch: pytest.MonkeyPatch):
    """Streamlit's clear_cache message, which any visitor can send, empties every st.cache_resource:
    the server's run slots and comparison cache live outside it, one per process and settings."""
    import streamlit as st

    from fernn.showcase.app import resources

    monkeypatch.setenv("FERNN_RUN_SLOTS", "3")
    cache, slots = resources.server()
    with slots.hold():
        st.cache_resource.clear()  # what the clear_cache message does
        st.cache_data.clear()
        again_cache, again_slots = resources.server()
        assert again_slots is slots and again_cache is cache and slots.slots == 3
    monkeypatch.setenv("FERNN_RUN_SLOTS", "1")
    assert resources.server()[1].slots == 1  # other settings: their own slots


def test_the_waiting_notice_goes_when_the_classifiers_answer(app: AppTest, monkeypatch: pytest.MonkeyPatch):
    """A visitor queued behind another run sees the notice while waiting, and the answer alone after."""
    import threading
    import time

    from fernn.showcase.app import resources

    monkeypatch.setenv("FERNN_RUN_SLOTS", "1")
    monkeypatch.setenv("FERNN_CACHE_MB", "0")  # nothing cached: this visit must run, so it must queue
    _, slots = resources.server()
    holding, release = threading.Event(), threading.Event()

    def other_visitor() -> None:
        with slots.hold():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other_visitor)
    thread.start()
    holding.wait(10)
    threading.Timer(1.0, release.set).start()  # the other run ends while this visit waits
    started = time.perf_counter()
    app.query_params.update({"tab": "Classify", "digit1": "12", "flicker": "7"})
    at = app.run()
    thread.join()
    assert time.perf_counter() - started >= 0.9, "the visit did not wait for the slot"
    assert_clean(at)
    assert any("says" in str(metric.label) for metric in at.metric), "the classifiers did not answer"
    assert not any("Waiting for a free slot" in text for text in texts(at.info))


def test_a_link_carries_only_its_motions_values(app: AppTest):
    """A rotation slider's value left in the URL (a switch of motion in a browser leaves it there) is not
    passed on: the link offered carries the translation's values only."""
    app.query_params.update({"motion": "Translate", "w1": "90", "vy1": "2"})
    at = app.run()
    assert_clean(at)
    assert at.query_params["w1"] == "90"  # still in this page's URL ...
    link = shared_link(at)
    assert "vy1=2" in link and "w1=" not in link  # ... but not in the link it offers


def test_a_link_note_can_be_dismissed(app: AppTest):
    app.query_params.update({"vset": "99"})
    at = app.run()
    assert "is not one of the 11 choices" in " ".join(texts(at.sidebar.info))
    at.button(key="dismiss_link_notes").click().run()
    assert_clean(at)
    assert not at.sidebar.info and not [b for b in at.button if b.key == "dismiss_link_notes"]


def test_a_model_run_past_its_training_frames_gets_a_note(app: AppTest, tmp_path: Path):
    """An own upload trained on 3 -> 2 frames, run 10 -> 10 as the page opens, gets a note; the fixture
    pair, which records no frames, gets none."""
    from fernn.records import ModelRecord, TrainingRecord

    at = app.run()
    assert not any("beyond its training" in text for text in texts(at.caption))
    record = ModelRecord(training=TrainingRecord(selected_step=20, context_frames=3, predict_frames=2)).to_metrics()
    path = fernn.save_checkpoint(tmp_path / "short.safetensors", fernn.build_model(
        "fernn", max_speed=1, hidden_channels=3, decoder_layers=2), record)
    at.file_uploader(key="model_upload").set_value(("short.safetensors", path.read_bytes(), "application/octet-stream"))
    at.run()
    assert_clean(at)
    notes = " ".join(texts(at.caption))
    assert "trained to predict up to 2 frames; this run predicts 10" in notes
    assert "trained on 3 context frames; this run gives it 10" in notes
