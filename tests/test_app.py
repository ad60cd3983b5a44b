"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Every test points the app at small fixture checkpoints through ``FERNN_CHECKPOINT_DIR``, so
nothing depends on ``pretrained/``. "No traceback" means: no exception element on the page.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import fernn

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60
GRID = {"speeds": [-3, -2, -1, 0, 1, 2, 3],
        "mse": [[0.001 * (1 + abs(dy) + abs(dx)) for dx in range(-3, 4)] for dy in range(-3, 4)]}


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """grnn.pt and fernn.pt (evaluated, |V| = 25 as shipped), plus the awkward cases."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    small = dict(hidden_channels=4, decoder_layers=2)
    evaluation = {"evaluation": {"velocity_grid": GRID, "test_mse": 0.01}}
    fernn.save_checkpoint(folder / "grnn.pt", fernn.build_model("grnn", **small), evaluation)
    fernn.save_checkpoint(folder / "fernn.pt", fernn.build_model("fernn", max_speed=2, **small), evaluation)
    fernn.save_checkpoint(folder / "untrained.pt", fernn.build_model("fernn", max_speed=1, **small))
    # 64 channels: a 289-copy rollout of 80 frames would need about 5 GiB of hidden states.
    fernn.save_checkpoint(folder / "wide.pt", fernn.build_model("fernn", max_speed=1, hidden_channels=64,
                                                                 decoder_layers=1))
    (folder / "corrupt.pt").write_bytes(b"this is not a checkpoint" * 10)
    return folder


@pytest.fixture
def app(checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(checkpoint_dir))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, texts(at.exception)
    assert not at.error, texts(at.error)


def metric(at: AppTest, label_start: str) -> str:
    for item in at.metric:
        if item.label.startswith(label_start):
            return item.value
    raise AssertionError(f"no metric {label_start!r} in {[m.label for m in at.metric]}")


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_default_run_compares_both_models(app: AppTest):
    at = app.run()
    assert_clean(at)
    assert metric(at, "G-RNN mean MSE")
    assert metric(at, "FERNN mean MSE")
    assert metric(at, "G-RNN ÷ FERNN").endswith("×")
    assert len(at.get("plotly_chart")) == 2  # the synchronised animation and the MSE curves
    assert not at.warning  # both fixture checkpoints are evaluated
    assert any("MNIST #7" in caption for image in at.image for caption in image.captions)
    assert any("beyond the training range" in text for text in texts(at.markdown))  # default (1, 2)


def test_mnist_digits_by_index_and_at_random(app: AppTest):
    at = app.run()
    first = metric(at, "FERNN mean MSE")
    at.number_input(key="digit1").set_value(42).run()
    assert_clean(at)
    assert any("MNIST #42" in caption for image in at.image for caption in image.captions)
    assert metric(at, "FERNN mean MSE") != first
    at.radio(key="digits").set_value(2).run()
    assert_clean(at)
    before = (at.number_input(key="digit1").value, at.number_input(key="digit2").value)
    at.button[0].click().run()
    assert_clean(at)
    after = (at.number_input(key="digit1").value, at.number_input(key="digit2").value)
    assert after != before
    assert len([c for image in at.image for c in image.captions]) == 2


def test_velocity_beyond_training_range_and_widened_set(app: AppTest):
    app.query_params.update({"tab": "Inside the models"})
    at = app.run()
    at.slider(key="vy1").set_value(4).run()
    at.slider(key="vx1").set_value(0).run()
    assert_clean(at)
    assert any("(4, 0) is **beyond the training range**" in text for text in texts(at.markdown))
    assert any("outside this run's velocity set" in text for text in texts(at.warning))
    assert metric(at, "True velocity") == "(4, 0)"
    at.selectbox(key="vset").set_value("4").run()
    assert_clean(at)
    assert any("81 copies" in text for text in texts(at.caption))
    assert not any("outside this run's velocity set" in text for text in texts(at.warning))
    assert "81 copies" in " ".join(texts(at.caption))
    assert metric(at, "Velocity read-out")
    assert at.get("plotly_chart")  # hidden states and the velocity-copy activity


def test_query_parameters_set_the_widgets(app: AppTest):
    app.query_params.update({"digit1": "42", "vy1": "-3", "vx1": "4", "vset": "3", "predict": "20",
                             "context": "6", "digits": "2", "digit2": "5", "device": "cpu", "seed": "9"})
    at = app.run()
    assert_clean(at)
    assert at.number_input(key="digit1").value == 42
    assert at.number_input(key="digit2").value == 5
    assert (at.slider(key="vy1").value, at.slider(key="vx1").value) == (-3, 4)
    assert at.slider(key="predict").value == 20 and at.slider(key="context").value == 6
    assert at.selectbox(key="vset").value == "3"
    assert at.radio(key="device").value == "cpu"
    assert at.number_input(key="seed").value == 9


def test_missing_checkpoint_folder_gives_a_message(app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(tmp_path / "nowhere"))
    at = app.run()
    assert not at.exception
    assert any("does not exist" in text for text in texts(at.error))
    assert any("No model loaded" in text for text in texts(at.info))


def test_corrupt_checkpoint_gives_a_message(app: AppTest):
    at = app.run()
    at.selectbox(key="model_b").set_value("corrupt.pt").run()
    assert not at.exception
    assert any("corrupt.pt" in text and "cannot be used" in text for text in texts(at.error))
    assert metric(at, "G-RNN mean MSE")  # the other model still runs


def test_unevaluated_checkpoint_is_labelled(app: AppTest):
    at = app.run()
    at.selectbox(key="model_b").set_value("untrained.pt").run()
    assert_clean(at)
    assert any("no recorded evaluation" in text for text in texts(at.warning))
    assert metric(at, "FERNN mean MSE (unevaluated)")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("noise.png", b"\x89PNG\r\n\x1a\n not really a png", "Cannot use noise.png"),
        ("huge.png", png_bytes(np.zeros((8, 5000), dtype=np.uint8)), "at most 4096 pixels"),
        ("blank.png", png_bytes(np.full((40, 40), 255, dtype=np.uint8)), "blank"),
    ],
)
def test_bad_uploads_give_a_message(app: AppTest, name: str, content: bytes, message: str):
    at = app.run()
    at.radio(key="source").set_value("Upload").run()
    assert any("Upload a PNG or JPEG" in text for text in texts(at.info))
    at.file_uploader(key="upload").set_value((name, content, "image/png")).run()
    assert not at.exception
    assert any(message in text for text in texts(at.error)), texts(at.error)
    assert at.slider(key="vy1").value == 1  # nothing the user set is lost


def test_good_upload_runs(app: AppTest):
    image = np.zeros((60, 60), dtype=np.uint8)
    image[10:50, 28:34] = 255  # a white "1" on black
    at = app.run()
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("one.png", png_bytes(image), "image/png")).run()
    assert_clean(at)
    assert any("upload one.png" in caption for image in at.image for caption in image.captions)
    assert metric(at, "FERNN mean MSE")


def test_blank_canvas_asks_for_a_drawing(app: AppTest):
    at = app.run()
    at.radio(key="source").set_value("Draw").run()
    assert_clean(at)
    assert any("Draw a digit" in text for text in texts(at.info))
    assert not at.metric


def test_oversized_velocity_set_is_refused_before_running(app: AppTest):
    app.query_params.update({"model_b": "wide.pt", "vset": "8", "predict": "70"})
    at = app.run()
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "289 copies" in errors and "limit" in errors
    assert not at.metric
    assert at.selectbox(key="vset").value == "8"  # kept for the user to change


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_falls_back_to_cpu(app: AppTest):
    at = app.run()
    at.radio(key="device").set_value("cuda").run()
    assert_clean(at)
    assert any("CUDA is not available" in text for text in texts(at.warning))
    assert "on cpu" in " ".join(texts(at.caption))


def test_velocity_generalisation_tab_shows_recorded_grids(app: AppTest):
    app.query_params.update({"tab": "Velocity generalisation"})
    at = app.run()
    assert_clean(at)
    assert at.get("plotly_chart")
    at.selectbox(key="model_b").set_value("untrained.pt").run()
    assert any("no recorded velocity grid" in text for text in texts(at.info))


def test_explanation_is_present(app: AppTest):
    at = app.run()
    assert any("What the FERNN does instead" in text for text in texts(at.markdown))


def test_live_velocity_grid_recomputes_with_progress(app: AppTest):
    pytest.importorskip("fernn.evaluate", reason="fernn.evaluate is not available")
    app.query_params.update({"tab": "Velocity generalisation"})
    at = app.run()
    at.select_slider(key="grid_speed").set_value(1)
    at.select_slider(key="grid_sequences").set_value(1).run()
    charts = len(at.get("plotly_chart"))
    at.button(key="grid_run").click().run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == charts + 1
    assert any("Live numbers use few sequences" in text for text in texts(at.caption))
