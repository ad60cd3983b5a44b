"""fernn.showcase.viz: figures are valid plotly, animate every panel together, and GIFs decode."""

from __future__ import annotations

import base64
import dataclasses
import io
import json

import imageio.v3 as iio
import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

import fernn
from fernn import showcase
from fernn.records import RingAccuracy
from fernn.showcase import viz
from fernn.showcase.viz.panels import label_band
from fernn.showcase.viz.style import DIGIT_COLORSCALE, ERROR_COLORSCALE
from fernn.flows.words import words


@pytest.fixture(scope="module")
def classification() -> showcase.Classification:
    torch.manual_seed(0)
    small = dict(hidden_channels=3, head_layers=1, head_channels=4)
    models = {"G-RNN": fernn.build_classifier("grnn", **small).eval(),
              "FERNN": fernn.build_classifier("fernn", max_speed=1, **small).eval()}
    digit = showcase.mnist_scene([3], velocities=[(3, -1)])[0]
    return showcase.classify(models, showcase.flicker_scene(digit, seed=1), true_class=5)


def ring_series(accuracies: dict[str, list[float]]) -> tuple[showcase.RingSeries, ...]:
    """One series per label ("MODEL, ..."; widened when the label says so), intervals ±0.05."""
    series = []
    for label, values in accuracies.items():
        rings = RingAccuracy(tuple(range(len(values))), tuple(values), tuple(v - 0.05 for v in values),
                                      tuple(v + 0.05 for v in values))
        series.append(showcase.RingSeries(label, label.split(",")[0], "widened" in label, rings))
    return tuple(series)


@pytest.fixture(scope="module")
def comparison() -> showcase.Comparison:
    torch.manual_seed(0)
    models = {
        "G-RNN": fernn.build_model("grnn", hidden_channels=3, decoder_layers=1).eval(),
        "FERNN": fernn.build_model("fernn", hidden_channels=3, decoder_layers=1, max_speed=1).eval(),
    }
    digits = showcase.mnist_scene([4, 9], velocities=[(0, 0), (2, -1)])
    return showcase.compare(models, digits, context_frames=4, predict_frames=3)


def decoded(trace) -> tuple[np.ndarray, np.ndarray]:
    """An image trace's PNG, read back with Pillow alone: its values (palette entry 1..255 ->
    0..1 of the colour range, NaN where transparent) and its RGBA pixels, ``(H, W)`` and ``(H, W, 4)``."""
    header, data = trace.source.split(",", 1)
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.mode == "P"  # 8 bits a pixel
    index = np.asarray(image).astype(np.float64)
    values = np.where(index == 0, np.nan, (index - 1) / 254)
    return values, np.asarray(image.convert("RGBA"))


def assert_same_picture(trace, expected: np.ndarray, colorscale: list) -> None:
    """The image shows ``expected`` (NaN: transparent) to within one of its 255 levels, in the
    colours plotly would give a heat map of it on ``colorscale``."""
    values, rgba = decoded(trace)
    assert values.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    shown = ~np.isnan(expected)
    np.testing.assert_allclose(values[shown], np.clip(expected[shown], 0, 1), atol=0.5 / 254 + 1e-6)
    assert (rgba[~shown, 3] == 0).all() and (rgba[shown, 3] == 255).all()
    reference = np.array([[float(c) for c in color[4:-1].split(",")]
                          for color in pc.sample_colorscale(colorscale, np.clip(expected[shown], 0, 1).tolist())])
    assert np.abs(rgba[shown, :3] - reference).max() <= 2.5


def assert_valid(fig: go.Figure) -> dict:
    """The figure survives plotly's full validation (the builders skip it for speed)."""
    spec = fig.to_dict()
    go.Figure(spec)  # raises on any invalid property
    assert fig.to_json()
    return spec


def test_upscale_is_nearest_neighbour():
    image = np.array([[0.0, 1.0], [0.5, 0.25]])
    big = viz.upscale(image, 3)
    assert big.shape == (6, 6)
    np.testing.assert_array_equal(big[:3, 3:], 1.0)
    with pytest.raises(ValueError):
        viz.upscale(image, 0)


def test_comparison_animation_has_one_slider_for_all_panels(comparison):
    fig = viz.comparison_animation(comparison)
    spec = assert_valid(fig)
    total, context = comparison.num_frames, comparison.context_frames
    assert len(spec["frames"]) == total
    assert len(spec["layout"]["sliders"]) == 1 and len(spec["layout"]["sliders"][0]["steps"]) == total
    # It opens on the last prediction (the difference in plain sight), and play loops from the first.
    assert spec["layout"]["sliders"][0]["active"] == total - 1
    assert spec["layout"]["title"]["text"] == f"frame {total - 1}: prediction {comparison.predict_frames}/" \
        f"{comparison.predict_frames}"
    play = spec["layout"]["updatemenus"][0]["buttons"][0]["args"][0]
    assert play[0] == str(context) and len(play) > 10 * total
    texts = [note["text"] for note in spec["layout"]["annotations"]]
    assert texts == ["Truth", "G-RNN", "FERNN", "", "G-RNN |error|", "FERNN |error|"]
    band = label_band(86)  # three 28-pixel panels and their gaps
    row = band + 29
    assert band * 300 >= 86 * 18  # an 18 px label fits its band on a 300 px wide plot
    last = fig.frames[-1]
    truth, runs = comparison.truth[-1], comparison.runs
    digits = np.full((band + 28, 86), np.nan)
    digits[band:, :28], digits[band:, 29:57], digits[band:, 58:] = truth, runs[0].prediction[-1], runs[1].prediction[-1]
    assert_same_picture(last.data[0], digits, DIGIT_COLORSCALE)
    errors = np.full((band + 28, 86), np.nan)
    errors[band:, 29:57], errors[band:, 58:] = (np.abs(run.prediction[-1] - truth) for run in runs)
    assert_same_picture(last.data[1], errors, ERROR_COLORSCALE)
    assert last.data[1].y0 == row  # the error row sits under the digits (narrow screens keep 3 columns)
    # Context frames show the input in every digit panel, marked as input in the title.
    first, _ = decoded(fig.frames[0].data[0])
    np.testing.assert_allclose(first[band:, 29:57], comparison.truth[0], atol=0.5 / 254 + 1e-6)
    assert "INPUT" in fig.frames[0].layout.title.text and "prediction" in fig.frames[-1].layout.title.text


def test_colours_avoid_streamlit_theme_placeholders(comparison, classification):
    """Streamlit rewrites hex colours #000001..#000040 to theme colours: use none of them."""
    text = ""
    for fig in (viz.comparison_animation(comparison), viz.velocity_activity_animation(comparison, comparison.runs[1]),
                viz.hidden_animation(comparison, [0]), viz.mse_figure(comparison),
                viz.classification_animation(classification),
                viz.ring_accuracy_figure(ring_series({"G-RNN": [0.9, 0.5]}), training_speed=1, digit_speed=3)):
        fig.layout.template = None  # the page's theme template, not the figure's own colours
        text += fig.to_json()
    for code in range(1, 41):
        assert f'"#0000{code:02d}"' not in text.lower()


def test_mse_figure_marks_the_boundary_and_keeps_a_readable_axis(comparison):
    fig = viz.mse_figure(comparison)
    spec = assert_valid(fig)
    names = [trace["name"] for trace in spec["data"]]
    assert names == ["G-RNN", "FERNN", "copy last context frame"]
    assert list(fig.data[0].x) == list(range(4, 7))
    assert spec["layout"]["shapes"][0]["x1"] == 3.5
    # A baseline of ~0 (a digit back where it started) sits on the floor instead of stretching the axis.
    dropped = dataclasses.replace(comparison, baseline_mse=np.array([1e-13, 0.1, 0.2]))
    spec = viz.mse_figure(dropped).to_dict()
    low = spec["layout"]["yaxis"]["range"][0]
    floor = viz.mse_floor(dropped)
    assert low >= np.log10(floor) - 0.2 and floor >= min(run.mse.min() for run in comparison.runs) / 10 * 0.99
    assert viz.mse_figure(dropped).data[2].customdata[0] == 1e-13  # the hover keeps the true value


def test_mse_axis_labels_1_2_5_a_decade_over_two_decades_at_most(comparison):
    def ticks(low: float, high: float):
        runs = tuple(dataclasses.replace(run, mse=np.array([low, high, high])) for run in comparison.runs)
        chart = dataclasses.replace(comparison, runs=runs, baseline_mse=np.array([high] * 3))
        return viz.mse_figure(chart).to_dict()["layout"]["yaxis"]["dtick"]

    assert ticks(1e-2, 1e-1) == "D2"  # floor 1e-3: two decades
    assert ticks(1e-4, 1e-1) == 1  # five: the 2s and 5s would run into the powers of ten


@pytest.mark.parametrize("view", ["pooled", "copy"])
@pytest.mark.parametrize("stabilised", [False, True])
def test_hidden_animation(comparison, view, stabilised):
    fig = viz.hidden_animation(comparison, [0, 2], stabilised=stabilised, view=view)
    spec = assert_valid(fig)
    assert len(spec["frames"]) == comparison.num_frames
    labels = [note["text"] for note in spec["layout"]["annotations"]]
    first = "input (stabilised)" if stabilised else "input"
    # Each model's maps are divided by its largest value over the shown channels and frames.
    peaks = []
    for run in comparison.runs:
        views = run.hidden
        maps = ((views.pooled_stabilised if stabilised else views.pooled) if view == "pooled"
                else (views.copy_stabilised if stabilised else views.copy))[:, [0, 2]].astype(np.float32)
        peaks.append(max(float(maps.max()), 1e-6))
    # Short tile labels (a phone's tiles), each model named once beside its row with its peak, the
    # colour strip's ends.
    assert labels[:-1] == [first, "ch 0", "ch 2", "", f"G-RNN (peak {peaks[0]:.2g})", "ch 0", "ch 2", "copies",
                           f"FERNN (peak {peaks[1]:.2g})", "0", "peak"]
    assert "the (dy, dx) grid" in labels[-1]  # the copies' axes, as the flow names them
    # The input row and one image per model, then the colour strip, sent once: 0 to 1 from left to right.
    assert [trace.type for trace in fig.data] == ["image"] * 4
    assert all(len(frame.data) == 3 for frame in fig.frames)
    strip, _ = decoded(fig.data[3])
    np.testing.assert_allclose(strip, np.tile(np.linspace(0, 1, 28), (2, 1)), atol=0.5 / 254 + 1e-6)
    run = comparison.runs[0]
    views = run.hidden
    maps = ((views.pooled_stabilised if stabilised else views.pooled) if view == "pooled"
            else (views.copy_stabilised if stabilised else views.copy))[:, [0, 2]].astype(np.float32)
    t, band = comparison.num_frames - 1, label_band(3 * 29 - 1)  # channels 0 and 2, the copies
    values, _ = decoded(fig.frames[t].data[1])
    expected = maps[t] / peaks[0]
    np.testing.assert_allclose(values[band:, :28], expected[0], atol=0.5 / 254 + 1e-3)
    np.testing.assert_allclose(values[band:, 29:57], expected[1], atol=0.5 / 254 + 1e-3)
    # The input row: the frame as read, or rolled back by the first digit's motion so far.
    frames = comparison.truth
    if stabilised:
        frames = showcase.motion_stabilise(torch.from_numpy(frames[:, None]), comparison.stabilise_velocity,
                                           range(comparison.num_frames))[:, 0].numpy()
    shown, _ = decoded(fig.frames[t].data[0])
    np.testing.assert_allclose(shown[band:, :28], np.clip(frames[t], 0, 1), atol=0.5 / 254 + 1e-6)
    # The FERNN row ends with its per-copy activity, moving with the same slider.
    fernn_row, _ = decoded(fig.frames[-1].data[2])
    assert np.nanmax(fernn_row[:, 2 * 29:]) == pytest.approx(1.0)


def test_hidden_maps_wrap_three_a_row_and_are_over_100_px_on_a_390_px_phone(comparison):
    """Three channels and the copies: each model's four maps in rows of three, so that on a 390 px
    phone (a 358 px chart, less the figure's side margins) every map is over 100 px wide."""
    fig = viz.hidden_animation(comparison, [0, 1, 2], stabilised=True)
    spec = assert_valid(fig)
    band = label_band(3 * 29 - 1)
    grnn, _ = decoded(fig.frames[-1].data[1])
    fernn, _ = decoded(fig.frames[-1].data[2])
    assert grnn.shape == fernn.shape == (2 * (band + 29) - 1, 3 * 29 - 1)  # two rows of three maps
    # The second row holds the copies: none for the G-RNN, the FERNN's under its channel 0.
    assert np.isnan(grnn[band + 29:]).all() and not np.isnan(fernn[2 * band + 29:, :28]).all()
    layout = spec["layout"]
    plot_width = 358 - layout["margin"]["l"] - layout["margin"]["r"]
    x_range = layout["xaxis"]["range"]
    assert plot_width / (x_range[1] - x_range[0]) * 28 >= 100
    # The wide screen's maps are bound by the figure's height: as tall as asked.
    y_range = layout["yaxis"]["range"]
    plot_height = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    assert plot_height / (y_range[0] - y_range[1]) * 28 == pytest.approx(112, abs=1)


def test_hidden_animation_rejects_bad_channels(comparison):
    with pytest.raises(ValueError, match="channels"):
        viz.hidden_animation(comparison, [7])
    with pytest.raises(ValueError, match="at least one"):
        viz.hidden_animation(comparison, [])
    with pytest.raises(ValueError, match="view"):
        viz.hidden_animation(comparison, [0], view="other")


def test_velocity_activity_animation(comparison):
    run = comparison.runs[1]
    fig = viz.velocity_activity_animation(comparison, run)
    spec = assert_valid(fig)
    assert len(spec["frames"]) == comparison.num_frames
    grid = np.asarray(fig.data[0].z, dtype=float)
    assert grid.shape == (len(set(v[0] for v in run.velocities)),) * 2 and np.nanmax(grid) == pytest.approx(1.0)
    truth = fig.data[2]
    assert list(truth.x) == [0, -1] and list(truth.y) == [0, 2]


def test_velocity_grid_figures_one_per_model_on_one_colour_scale():
    from fernn.records import VelocityGrid
    from fernn.flows import TRANSLATION

    grid = VelocityGrid(TRANSLATION.grid(1), ((0.1, 0.01, 0.1), (0.01, 0.001, 0.01), (0.1, 0.01, 0.1)))
    low = VelocityGrid(TRANSLATION.grid(1), ((0.01, 0.002, 0.01),) * 3)
    figures = viz.velocity_grid_figures({"G-RNN": grid, "FERNN": low}, flow=TRANSLATION, training_speed=1,
                                        model_speeds={"FERNN": 1, "G-RNN": None})
    specs = [assert_valid(fig) for fig in figures]
    assert [spec["layout"]["title"]["text"] for spec in specs] == ["G-RNN", "FERNN"]
    assert {(spec["data"][0]["zmin"], spec["data"][0]["zmax"]) for spec in specs} == {(-3.0, -1.0)}  # shared
    assert len(specs[0]["layout"]["shapes"]) == 1 and len(specs[1]["layout"]["shapes"]) == 2  # set box: FERNN
    training = specs[0]["layout"]["shapes"][0]
    assert (training["x0"], training["x1"], training["y0"], training["y1"]) == (-1.5, 1.5, -1.5, 1.5)
    assert figures[0].data[0].text[1][1] == "1e-3" and figures[1].data[0].text[0][1] == "2e-3"  # short: no overlap
    assert list(figures[0].data[0].colorbar.ticktext) == ["1e-3", "1e-2", "0.1"]  # two decades: powers of ten
    np.testing.assert_allclose(figures[0].data[0].customdata, grid.mse)  # hover: the recorded value
    wide = VelocityGrid(TRANSLATION.grid(5), ((0.01,) * 11,) * 11)
    (fig,) = viz.velocity_grid_figures({"FERNN": wide}, flow=TRANSLATION)
    assert fig.data[0].text is None  # 11 columns: cells too narrow for numbers
    with pytest.raises(ValueError, match="at least one"):
        viz.velocity_grid_figures({}, flow=TRANSLATION)


def test_velocity_grid_figures_follow_a_one_axis_flow():
    from fernn.records import VelocityGrid
    from fernn.flows import Rotation

    flow = Rotation(order=12)
    grid = VelocityGrid(flow.grid(2), ((0.1, 0.05, 0.01, 0.05, 0.1),))
    (fig,) = viz.velocity_grid_figures({"FERNN-R": grid}, flow=flow, training_speed=1, model_speeds={"FERNN-R": 2})
    spec = assert_valid(fig)
    assert list(fig.data[0].x) == [-2, -1, 0, 1, 2] and list(fig.data[0].y) == [0]
    boxes = [(s["x0"], s["x1"], s["y0"], s["y1"]) for s in spec["layout"]["shapes"]]
    assert boxes == [(-1.5, 1.5, -0.5, 0.5), (-2.5, 2.5, -0.5, 0.5)]  # one row, the columns |ω| <= r
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("ω")
    assert spec["layout"]["xaxis"]["ticktext"] == [words(flow).label(v) for v in (-2, -1, 0, 1, 2)]
    assert list(fig.data[0].colorbar.ticktext) == ["1e-2", "2e-2", "5e-2", "0.1"]  # one decade: 1, 2, 5 too


def test_gif_decodes_to_one_frame_per_step(comparison):
    data = viz.comparison_gif(comparison, scale=2)
    frames = iio.imread(data, index=None, extension=".gif")
    assert frames.shape[0] == comparison.num_frames
    assert frames.shape[2] == 5 * 56 + 4 * 2  # five panels at scale 2, 2-pixel gaps


def test_gif_keeps_identical_looking_frames(comparison):
    """A standing digit gives identical panels; the timeline bar keeps every frame distinct."""
    model = {"G-RNN": fernn.build_model("grnn", hidden_channels=2, decoder_layers=1).eval()}
    still = showcase.compare(model, showcase.mnist_scene([1], velocities=[(0, 0)]), context_frames=5, predict_frames=5)
    frames = iio.imread(viz.comparison_gif(still, scale=1), index=None, extension=".gif")
    assert frames.shape[0] == 10


def test_classification_animation_plays_every_frame_with_every_models_probabilities(classification):
    fig = viz.classification_animation(classification)
    spec = assert_valid(fig)
    seen, runs = classification.scene.seen, classification.runs
    assert len(spec["frames"]) == len(seen) == 16
    # It opens on the last frame (the final answers); play starts from the first frame.
    assert spec["layout"]["sliders"][0]["active"] == 15 and fig.layout.title.text == "after frame 16 of 16"
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["args"][0][0] == "0"
    for t in (0, 9):
        data = fig.frames[t].data
        np.testing.assert_array_equal(np.asarray(data[0].z), seen[t])  # the masked frame, as the models read it
        for index, run in enumerate(runs, start=1):
            assert data[index].name == run.name
            np.testing.assert_allclose(np.asarray(data[index].y), run.probabilities[t])
        markers = data[1 + 2 * len(runs)]
        np.testing.assert_allclose(markers.y, [run.probabilities[t, 5] for run in runs])  # p(true class) at t
        assert list(markers.x) == [t + 1] * len(runs)
    lines = fig.data[1 + len(runs):1 + 2 * len(runs)]
    for line, run in zip(lines, runs):
        np.testing.assert_allclose(np.asarray(line.y), run.probabilities[:, 5])
    assert spec["layout"]["xaxis2"]["ticktext"][5] == "<b>5</b>"  # the true class, bold and shaded
    assert spec["layout"]["shapes"][0]["x0"] == 4.5 and spec["layout"]["shapes"][0]["x1"] == 5.5
    assert "the true class, 5" in " ".join(note["text"] for note in spec["layout"]["annotations"])


def test_without_a_true_class_the_lines_follow_the_first_models_answer(classification):
    unknown = dataclasses.replace(classification, true_class=None)
    tracked, name = viz.tracked_class(unknown)
    first = unknown.runs[0]
    assert tracked == first.answer and name == f"{first.answer}, the G-RNN's answer"
    spec = assert_valid(viz.classification_animation(unknown))
    assert not any(shape["type"] == "rect" for shape in spec["layout"]["shapes"])
    assert "<b>" not in "".join(spec["layout"]["xaxis2"]["ticktext"])


def test_ring_accuracy_figure_marks_training_range_intervals_and_the_digit():
    series = ring_series({"G-RNN": [0.9, 0.88, 0.4], "FERNN, V_1": [0.95, 0.93, 0.5],
                          "FERNN, widened to V_4": [0.95, 0.93, 0.92]})
    fig = viz.ring_accuracy_figure(series, training_speed=1, digit_speed=2)
    spec = assert_valid(fig)
    assert [trace["name"] for trace in spec["data"]] == [item.label for item in series]
    fernn_lines = fig.data[1:]
    assert fernn_lines[0].line.color == fernn_lines[1].line.color != fig.data[0].line.color  # one colour per model
    assert fernn_lines[1].line.dash == "dash" and fernn_lines[0].line.dash == "solid"
    np.testing.assert_allclose(fig.data[0].error_y.array, [0.05, 0.05, 0.05])
    np.testing.assert_allclose(fig.data[0].error_y.arrayminus, [0.05, 0.05, 0.05])
    shapes = spec["layout"]["shapes"]
    training = next(shape for shape in shapes if shape["type"] == "rect")
    assert (training["x0"], training["x1"]) == (-0.5, 1.5)
    assert any(shape["type"] == "line" and shape.get("x0") == 2 == shape.get("x1") for shape in shapes)
    notes = [note["text"] for note in spec["layout"]["annotations"]]
    assert "training |v| ≤ 1" in notes and "your digit" in notes and "chance" in notes
    with pytest.raises(ValueError, match="at least one"):
        viz.ring_accuracy_figure(())


def test_three_models_draw_side_by_side_with_short_error_labels(comparison):
    import dataclasses

    third = dataclasses.replace(comparison.runs[1], name="FERNN (tiny-fernn)")
    three = dataclasses.replace(comparison, runs=(*comparison.runs, third))
    spec = assert_valid(viz.comparison_animation(three))
    texts = [note["text"] for note in spec["layout"]["annotations"]]
    # Each error panel sits under its model's name: a 420 px phone has no room to repeat three names.
    assert texts == ["Truth", "G-RNN", "FERNN", "FERNN (tiny-fernn)", "", "|error|", "|error|", "|error|"]
    assert len(assert_valid(viz.mse_figure(three))["data"]) == 4  # three models and the baseline
    assert_valid(viz.hidden_animation(three, [0, 1]))


def test_every_view_of_a_rotation_comparison_draws():
    """The GIF, the stabilised hidden states (copy view) and the activity of the copies, for rotation."""
    twelve = fernn.flows.Rotation(order=12)
    models = {"G-RNN": fernn.build_model("grnn", hidden_channels=12, decoder_layers=1, flow=twelve).eval(),
              "FERNN": fernn.build_model("fernn", hidden_channels=12, decoder_layers=1, max_speed=1, flow=twelve).eval()}
    comparison = showcase.compare(models, showcase.mnist_scene([7], velocities=[2], flow=twelve), context_frames=4,
                                  predict_frames=3)
    assert viz.comparison_gif(comparison)[:6] == b"GIF89a"
    figure = viz.hidden_animation(comparison, [0, 1, 11], stabilised=True, view="copy")
    assert len(figure.frames) == 7
    (fernn_run,) = [run for run in comparison.runs if len(run.velocities) > 1]
    assert len(viz.velocity_activity_animation(comparison, fernn_run).frames) == 7


@pytest.fixture(scope="module")
def fast_comparison() -> showcase.Comparison:
    """The widest view the app offers for two digits: (4, -4) and (-4, 4), 10 + 70 frames."""
    torch.manual_seed(0)
    models = {"G-RNN": fernn.build_model("grnn", hidden_channels=4, decoder_layers=1).eval(),
              "FERNN": fernn.build_model("fernn", hidden_channels=4, decoder_layers=1, max_speed=1).eval()}
    digits = showcase.mnist_scene([7, 3], velocities=[(4, -4), (-4, 4)])
    return showcase.compare(models, digits, context_frames=10, predict_frames=70)


def test_animations_at_70_predicted_frames_stay_light_on_the_wire(fast_comparison):
    """What a slider change sends is the figures' JSON: images, not float arrays, and no
    per-frame copy of what does not move (the measured app: scripts/wire_bytes.py)."""
    frames = fast_comparison.num_frames
    sizes = {"comparison": len(viz.comparison_animation(fast_comparison).to_json()),
             "hidden": len(viz.hidden_animation(fast_comparison, [0, 1, 2, 3], stabilised=True).to_json())}
    assert sizes["comparison"] <= frames * 8_000  # 2 PNG rows a frame; float arrays were 35 KB a frame
    assert sizes["hidden"] <= frames * 12_000  # 3 PNG rows a frame; float arrays were 85 KB a frame
    for fig in (viz.comparison_animation(fast_comparison), viz.hidden_animation(fast_comparison, [0, 1])):
        spec = json.loads(fig.to_json())
        assert all(trace["type"] == "image" and set(trace) >= {"source"} and "z" not in trace
                   for frame in spec["frames"] for trace in frame["data"])


@pytest.mark.parametrize("names", [("G-RNN",), ("G-RNN", "FERNN", "FERNN-2")])
def test_animations_draw_one_to_three_models(names):
    """One column (comparison) or row (hidden state) per model, whatever their number."""
    torch.manual_seed(0)
    kinds = {"G-RNN": dict(kind="grnn"), "FERNN": dict(kind="fernn", max_speed=1),
             "FERNN-2": dict(kind="fernn", max_speed=2)}
    models = {name: fernn.build_model(hidden_channels=2, decoder_layers=1, **kinds[name]).eval() for name in names}
    comparison = showcase.compare(models, showcase.mnist_scene([4], velocities=[(1, -1)]), context_frames=2,
                                  predict_frames=2)
    fig = viz.comparison_animation(comparison)
    texts = [note["text"] for note in assert_valid(fig)["layout"]["annotations"]]
    # Three models and more: each error panel sits under its model's column, labelled "|error|" alone.
    errors = [f"{name} |error|" if len(names) < 3 else "|error|" for name in names]
    assert texts == ["Truth", *names, "", *errors]
    columns = 1 + len(names)
    values, _ = decoded(fig.frames[-1].data[0])
    assert values.shape[1] == columns * 29 - 1
    band = label_band(columns * 29 - 1)
    for index, run in enumerate(comparison.runs, start=1):
        np.testing.assert_allclose(values[band:, index * 29:index * 29 + 28], np.clip(run.prediction[-1], 0, 1),
                                   atol=0.5 / 254 + 1e-6)
    hidden = viz.hidden_animation(comparison, [1])
    spec = assert_valid(hidden)
    assert [trace.type for trace in hidden.data] == ["image"] * (2 + len(names))  # input, models, colour strip
    rows = [note["text"] for note in spec["layout"]["annotations"] if note.get("textangle") == -90]
    assert [row.split(" (peak ")[0] for row in rows] == list(names)  # each model named once, beside its row


def test_animations_take_the_flow_from_the_comparison():
    """A rotation comparison (velocities: whole 30° steps, a one-row grid): nothing assumes (dy, dx)."""
    from fernn.flows import Rotation

    flow, frames, rng = Rotation(order=12), 6, np.random.default_rng(0)
    maps = rng.random((frames, 2, 28, 28)).astype(np.float16)
    views = showcase.HiddenViews(maps, maps, maps, maps, copy_velocity=1, drift=0.0)
    velocities = (-1, 0, 1)
    activity = rng.random((frames, 3))
    run = showcase.ModelRun("FERNN-R", "fernn", velocities, velocities, True, rng.random((3, 28, 28)), np.full(3, 0.1),
                            views, activity, activity.argmax(axis=1), velocities, 0.1, "cpu")
    comparison = showcase.Comparison(rng.random((frames, 28, 28)).astype(np.float32), 3, 3, (1,), (0,), ("a",), 1,
                                     np.full(3, 0.2), 1, (run,), flow)
    assert_valid(viz.comparison_animation(comparison))
    fig = viz.hidden_animation(comparison, [0, 1], stabilised=True)
    notes = [note["text"] for note in assert_valid(fig)["layout"]["annotations"]]
    assert "copies" in notes and "the ω grid" in notes[-1]
    values, _ = decoded(fig.frames[-1].data[1])
    copies = values[:, 2 * 29:]
    assert np.nanmax(copies) == pytest.approx(1.0) and np.isfinite(copies).any()
    activity_fig = viz.velocity_activity_animation(comparison, run)
    assert_valid(activity_fig)
    assert np.asarray(activity_fig.data[0].z, dtype=float).shape == (1, 3)  # one row: the steps -1, 0, 1
