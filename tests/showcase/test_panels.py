"""The figure that keeps its animation frames plain: what it sends is what plotly's own figure
sends, and reading it as plotly objects works as on any figure."""

from __future__ import annotations

import copy
import io
import json
import pickle
import base64

import numpy as np
import plotly.graph_objects as go
import plotly.io
import plotly.tools
from PIL import Image

from fernn.showcase.viz.panels import Figure, animated, figure, mosaic_image, png_source
from fernn.showcase.viz.style import DIGIT_COLORSCALE, ERROR_COLORSCALE


def spec() -> tuple[list[dict], dict, list[dict]]:
    """Two image frames and a heat map frame holding an array (plotly sends arrays as base64)."""
    rng = np.random.default_rng(0)
    frames = [dict(name=str(t), data=[mosaic_image(rng.random((6, 9)), DIGIT_COLORSCALE)],
                   layout=dict(title=dict(text=f"frame {t}"))) for t in range(2)]
    frames.append(dict(name="2", data=[dict(type="heatmap", z=rng.random((3, 4)))]))
    return [mosaic_image(rng.random((6, 9)), ERROR_COLORSCALE)], dict(height=200, title=dict(text="t")), frames


def sent(fig) -> dict:
    """What ``st.plotly_chart`` sends for ``fig``, as JSON read back."""
    return json.loads(plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True),
                                        validate=False))


def test_it_sends_what_plotlys_own_figure_sends():
    data, layout, frames = spec()
    reference = go.Figure(dict(data=data, layout=layout, frames=copy.deepcopy(frames)), _validate=False)
    fig = figure(data, layout, frames)
    assert isinstance(fig, go.Figure)
    assert fig.__dict__["_plain_frames"], "sending must not build the frames as objects"
    assert sent(fig) == sent(reference)
    assert fig.__dict__["_plain_frames"], "to_dict built the frames"
    assert sent(fig) == sent(reference)  # twice: the first send changed nothing it holds


def test_reading_the_frames_builds_them_once_and_keeps_what_it_sends():
    data, layout, frames = spec()
    fig = figure(data, layout, frames)
    before = sent(fig)
    assert [frame.name for frame in fig.frames] == ["0", "1", "2"]
    assert fig.frames[0].layout.title.text == "frame 0"
    assert fig.frames[0] is fig.frames[0]  # built once
    assert sent(fig) == before


def test_frames_set_later_replace_the_plain_ones():
    data, layout, frames = spec()
    fig = figure(data, layout, frames)
    fig.frames = [go.Frame(name="only", data=[dict(type="scatter", x=[1], y=[2])])]
    assert [frame["name"] for frame in fig.to_dict()["frames"]] == ["only"]
    fig.frames = []
    assert "frames" not in fig.to_dict()


def test_it_copies_and_pickles_as_a_figure():
    data, layout, frames = spec()
    fig = figure(data, layout, frames)
    for twin in (pickle.loads(pickle.dumps(fig)), Figure(fig.to_dict()), go.Figure(fig)):
        assert sent(twin) == sent(fig)


def test_the_animation_skeleton_sends_every_frame():
    fig = animated(lambda t: [dict(type="scatter", x=[t], y=[t])], dict(height=100), titles=["a", "b", "c"],
                   start=2, play_from=1)
    frames = sent(fig)["frames"]
    assert [frame["name"] for frame in frames] == ["0", "1", "2"]
    assert [frame["data"][0]["x"] for frame in frames] == [[0], [1], [2]]


def test_png_pixels_are_the_palette_entries_of_the_values():
    z = np.array([[0.0, 0.5, 1.0], [np.nan, 2.0, -1.0]], dtype=np.float32)
    source = png_source(z, DIGIT_COLORSCALE)
    image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    assert image.mode == "P"
    assert np.asarray(image).tolist() == [[1, 128, 255], [0, 255, 1]]
    assert image.info["transparency"] in (0, b"\x00")


def test_a_cards_validation_curve_labels_a_decade_1_2_5_and_more_by_whole_decades():
    from fernn.showcase.viz.cards import validation_curve_figure

    short = validation_curve_figure([1, 2, 3], [0.02, 0.01, 0.008], name="m")
    long = validation_curve_figure([1, 2, 3], [0.5, 0.01, 0.002], name="m")
    assert short.layout.yaxis.dtick == "D2" and long.layout.yaxis.dtick == 1
    assert short.layout.yaxis.type == long.layout.yaxis.type == "log"


def test_it_is_built_from_another_figure_and_keeps_a_subplot_grid_through_a_copy():
    data, layout, frames = spec()
    fig = figure(data, layout, frames)
    assert sent(Figure(fig)) == sent(fig) and sent(Figure(go.Figure(fig))) == sent(fig)
    fig.set_subplots(1, 2)
    copy.deepcopy(fig).add_trace(go.Scatter(x=[1], y=[1]), row=1, col=2)  # the grid came along
    framed = figure([], {}, [go.Frame(name="q", data=[go.Scatter(x=[1], y=[2])])])  # plotly frames become dicts
    assert framed.to_dict()["frames"] == [{"name": "q", "data": [{"type": "scatter", "x": [1], "y": [2]}]}]
