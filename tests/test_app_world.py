"""The app's World motion, driven headless with AppTest on tiny fixture world models (written in a
temporary folder and named by ``FERNN_CHECKPOINT_DIR``), and its computations without streamlit."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import fernn
import fernn.showcase.links as links
import fernn.showcase.world as world
import tiny
from fernn.datasets.digits import load_digits
from fernn.flows import TRANSLATION
from fernn.showcase import viz
from fernn.showcase.scenes import Digit
from tiny_world import world_pair, write_world_pair

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def with_world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("world-app")
    evaluation = {"evaluation": {"test_mse": 0.01, "settings": {"data_max_speed": 1}}}
    tiny.write_app_pair(folder, {"grnn": evaluation, "fernn": evaluation})
    write_world_pair(folder)
    return folder


@pytest.fixture(scope="module")
def without_world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("no-world")
    evaluation = {"evaluation": {"test_mse": 0.01, "settings": {"data_max_speed": 1}}}
    tiny.write_app_pair(folder, {"grnn": evaluation, "fernn": evaluation})
    return folder


def run_world(folder: Path, monkeypatch, **params) -> AppTest:
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"motion": "World", **params})
    at.run()
    assert not at.exception, [str(e.value) for e in at.exception]
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_world_runs_look_away_and_back_by_default(with_world, monkeypatch):
    at = run_world(with_world, monkeypatch)
    assert not at.error, [str(e.value) for e in at.error]
    assert at.selectbox(key="path").value == world.LOOK_AWAY
    assert "The observer looked away" in markdown(at) and "FERNN" in markdown(at)
    assert {m.label for m in at.metric} == {"FERNN mean MSE", "G-RNN mean MSE"}
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "G-RNN memory:** none to show" in captions and "nothing of the world beyond its view" in captions
    assert [b.label for b in at.get("download_button")] == ["⬇ GIF", "⬇ Raw arrays (.npz)"]
    assert at.radio(key="motion").value == "World"


def test_every_path_runs_and_own_moves_are_read_or_refused(with_world, monkeypatch):
    at = run_world(with_world, monkeypatch, path=world.CIRCLE)
    assert not at.error and "MSE" in markdown(at)
    at.selectbox(key="path").set_value(world.OWN).run()
    assert not at.error and at.text_input(key="moves").value == world.DEFAULT_MOVES
    at.text_input(key="moves").set_value("0,9 x3").run()
    assert "at most 4 px a frame" in str(at.error[0].value)
    at.text_input(key="moves").set_value("1,1 x5; 0,-1").run()
    assert not at.error and not at.exception


def test_a_bad_link_value_is_replaced_with_a_note(with_world, monkeypatch):
    at = run_world(with_world, monkeypatch, path="Teleport", wvy1="99", moves="rm -rf")
    assert at.selectbox(key="path").value == world.LOOK_AWAY and at.slider(key="wvy1").value == 2
    notes = "\n".join(str(i.value) for i in at.info)
    assert "`path=Teleport`" in notes and "outside -2..2" in notes


def test_the_world_link_fields_agree_with_the_widgets(with_world, monkeypatch):
    from fernn.showcase.app import shared

    at = run_world(with_world, monkeypatch, digits="2", path=world.OWN)
    fields = links.demo_link_fields(test_digits=10, checkpoints=["grnn"], velocity_choices=(), tabs=shared.TABS,
                                    renamed_tabs={}, max_digit_speed=shared.MAX_DIGIT_SPEED,
                                    world_paths=world.PATHS, world_speed=shared.WORLD_DIGIT_SPEED,
                                    world_size=shared.WORLD_SIZE, moves_chars=world.MAX_MOVES_CHARS)
    widgets = {w.key: w for w in (*at.slider, *at.selectbox, *at.text_input)}
    compared = 0
    for key in ("path", "moves", "wvy1", "wvx1", "wvy2", "wvx2", "wy1", "wx1", "wy2", "wx2"):
        field, widget = fields[key], widgets[key]
        if isinstance(field, links.WholeNumber):
            assert (widget.min, widget.max) == (field.low, field.high), key
        elif isinstance(field, links.Choice):
            assert list(widget.options) == list(field.options), key
        else:
            assert widget.max_chars == field.max_chars and field.read(world.DEFAULT_MOVES) == (world.DEFAULT_MOVES, "")
        compared += 1
    assert compared == 10


def test_the_app_says_plainly_that_the_world_models_are_not_shipped(without_world, monkeypatch):
    at = run_world(without_world, monkeypatch)
    assert any("world models are not shipped yet" in str(i.value) for i in at.info)
    assert not at.error and not at.metric


# -- the computations, without streamlit ------------------------------------------------------------
@pytest.fixture(scope="module")
def seven():
    return load_digits("test")[0][0].astype(np.float32) / 255.0  # a 7


def test_paths_and_moves():
    for path in world.PATHS[:-1]:
        moves = world.world_actions(path, chased=(0, 1))
        assert len(moves) == world.PREDICT_FRAMES
        if path != world.CHASE:
            assert np.asarray(moves).sum(axis=0).tolist() in ([0, 0], [0, 48])  # home, or one lap of the world
    assert world.world_actions(world.CHASE, chased=(0, 1))[-1] == (0, 2)
    assert world.parse_moves("0,2 x2; -1,0\n1,1") == [(0, 2), (0, 2), (-1, 0), (1, 1)]
    for bad, message in (("", "at least one"), ("a,b", "cannot read"), ("5,0", "at most 4"), ("0,1 x61", "1 to 60")):
        with pytest.raises(ValueError, match=message):
            world.parse_moves(bad)


def test_compare_world_headline_figure_gif_and_npz(seven):
    models = {"FERNN": world_pair()["fernn"], "G-RNN": world_pair()["grnn"]}
    result = world.compare_world(models, [Digit(seven, (0, 0), (0, 0), "a 7", TRANSLATION)],
                                 world.world_actions(world.LOOK_AWAY))
    assert result.num_frames == 34 and result.visible[:10].min() == 1.0 and result.visible[21] < 0.5
    fernn_run, grnn_run = result.runs
    assert fernn_run.prediction.shape == (24, 28, 28) and fernn_run.memory.shape == (24, 48, 48)
    assert grnn_run.memory is None and "beyond its view" in grnn_run.memory_note
    text = world.world_headline(result)
    assert "looked away" in text and "frames" in text and "FERNN" in text and "G-RNN" in text
    figure = viz.world_animation(result)
    assert len(figure.frames) == 34 and figure.layout.sliders[0].active == 33  # opens on the last prediction
    assert figure.layout.updatemenus[0].buttons[0].args[0][0] == "10"  # Play runs from the first
    assert any("holds nothing" in a.text for a in figure.layout.annotations)
    gif = viz.world_gif(result)
    assert gif[:6] == b"GIF89a"
    arrays = np.load(io.BytesIO(world.world_npz(result)))
    assert arrays["world"].shape == (34, 48, 48) and "model1_memory" not in arrays and "model0_memory" in arrays
    assert result.nbytes > 0


def test_the_world_models_are_not_listed_as_forecasters(with_world, monkeypatch):
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(with_world))
    from fernn.showcase.app import resources
    assert not any(name.startswith("world/") for name in resources.checkpoint_files())
    assert isinstance(fernn.load_checkpoint(with_world / "world" / "fernn"), fernn.world.WorldFERNN)


def test_the_about_tab_carries_the_world_models_cards(with_world, monkeypatch):
    at = run_world(with_world, monkeypatch, tab="About")
    titles = [e.label for e in at.expander]
    assert any(title.startswith("**FERNN**: FERNN") for title in titles), titles
    assert any(title.startswith("**G-RNN**: G-RNN") for title in titles), titles
    cards = markdown(at)
    assert "Model cards" in "\n".join(str(h.value) for h in at.subheader)
    assert "Table 1" not in cards  # a world model's task is FloWM's: no paper row


def test_without_world_models_the_about_tab_has_no_cards(without_world, monkeypatch):
    at = run_world(without_world, monkeypatch, tab="About")
    assert not [e for e in at.expander if e.label.startswith("**")]  # the sidebar's start expander only
    assert "Model cards" not in "\n".join(str(h.value) for h in at.subheader)
