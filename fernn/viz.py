"""Frames and hidden states -> plotly figures and GIF bytes, for the demo app and notebooks.

Every figure here is self-contained (one slider and one play button drive all of its panels)
and theme-neutral: images are white digits on black whatever the page theme. No streamlit
import: the app passes these figures to ``st.plotly_chart``.

Image panels show arrays of shape ``(H, W)`` with row 0 at the top and ``dy`` pointing down,
the orientation of :mod:`fernn.flows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import imageio.v3 as iio
import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import torch

from .showcase.analysis import motion_stabilise
from .showcase.results import Comparison, ModelRun

__all__ = [
    "ERROR_COLORSCALE",
    "comparison_animation",
    "comparison_panels",
    "comparison_gif",
    "hidden_animation",
    "mse_figure",
    "mse_floor",
    "upscale",
    "velocity_activity_animation",
    "velocity_grid_figure",
]



def _scale(colors: Sequence[str]) -> list[list]:
    """Explicit ``[[position, "rgb(r, g, b)"], ...]`` from hex colours.

    Explicit, because plotly.js knows only a few colorscale names and these figures skip the
    validation that would expand plotly.py's. ``rgb()`` strings, because Streamlit's chart theme
    rewrites the hex colours ``#000001``..``#000040`` (its placeholders; inferno starts at
    ``#000004``) to theme colours.
    """
    return [[index / (len(colors) - 1), "rgb({}, {}, {})".format(*pc.hex_to_rgb(color))]
            for index, color in enumerate(colors)]


DIGIT_COLORSCALE = _scale(["#000000", "#FFFFFF"])
ERROR_COLORSCALE = _scale(pc.sequential.Inferno)
HIDDEN_COLORSCALE = _scale(pc.sequential.Viridis)
MSE_COLORSCALE = _scale(pc.sequential.Magma)
# Plotly's default qualitative colours, one per model, and a neutral one for the baseline.
MODEL_COLORS = ("#EF553B", "#636EFA", "#00CC96", "#AB63FA")
BASELINE_COLOR = "#9E9E9E"
FRAME_MS = 250
LOOPS = 20  # times the play button runs through the frames before it stops
TEXT_COLOR = "#444444"  # panel and plot titles: 9.7:1 contrast on white, legible on dark too
LABEL_BAND = 3  # empty mosaic rows above each row of panels, where the panel labels go


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(H, W[, C])`` by an integer ``factor`` (crisp pixels)."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def _frame_titles(comparison: Comparison) -> list[str]:
    context, total = comparison.context_frames, comparison.num_frames
    return [f"frame {t}: INPUT {t + 1}/{context} (the models read it)" if t < context
            else f"frame {t}: prediction {t - context + 1}/{comparison.predict_frames}" for t in range(total)]


def _figure(data: list[dict], layout: dict, frames: list[dict]) -> go.Figure:
    """A figure from plain dicts, skipping plotly's per-property validation.

    Validation costs about ten times the build itself; everything here is built from fixed
    dicts that the tests render, so it buys nothing.
    """
    return go.Figure(dict(data=data, layout=layout, frames=frames), _validate=False)


def _animated(comparison: Comparison, traces: Callable[[int], list[dict]], layout: dict, *,
              controls_y: float = 0.0) -> go.Figure:
    """The one animation skeleton: a frame per time step, one slider and a looping play button
    for every panel, opening on the first prediction (the context frames come before it)."""
    total, start = comparison.num_frames, min(comparison.context_frames, comparison.num_frames - 1)
    names, titles = [str(t) for t in range(total)], _frame_titles(comparison)
    frames = [dict(name=names[t], data=traces(t), layout=dict(title=dict(text=titles[t]))) for t in range(total)]
    still = dict(frame=dict(duration=0, redraw=True), transition=dict(duration=0), mode="immediate")
    play = dict(frame=dict(duration=FRAME_MS, redraw=True), transition=dict(duration=0), mode="immediate",
                fromcurrent=True)
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    looped = names[start:] + names * LOOPS  # plotly.js has no loop option: the play list repeats
    layout = dict(
        layout,
        title=dict(text=titles[start], x=0.0, xanchor="left", font=dict(size=15, color=TEXT_COLOR)),
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.0, y=controls_y, xanchor="left",
                          yanchor="top", pad=dict(r=8, t=28),
                          buttons=[dict(label="▶ Play", method="animate", args=[looped, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(active=start, x=0.25, len=0.75, y=controls_y, yanchor="top", pad=dict(t=20),
                      steps=[dict(method="animate", label=name, args=[[name], still]) for name in names],
                      currentvalue=dict(prefix="frame ", visible=True, xanchor="right"))],
    )
    return _figure(traces(start), layout, frames)


def _mosaic(tiles: Sequence[np.ndarray], columns: int, gap: int = 1, band: int = LABEL_BAND) -> np.ndarray:
    """Tile ``(H, W)`` maps row-major into one ``float32`` image with NaN (transparent) gaps.

    Every row of tiles has ``band`` empty rows above it, room for the panel labels: plotly
    hides annotations placed outside the axis range. A ``None`` tile stays empty.
    """
    height, width = next(t for t in tiles if t is not None).shape
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (band + height + gap) - gap, columns * (width + gap) - gap), np.nan, dtype=np.float32)
    for index, tile in enumerate(tiles):
        if tile is None:
            continue
        top, left = band + (index // columns) * (band + height + gap), (index % columns) * (width + gap)
        out[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
    return out


def _mosaic_heatmap(z: np.ndarray, colorscale: list, *, y0: float = 0.0, zmax: float = 1.0, hover: str,
                    colorbar: dict | None = None) -> dict:
    trace = dict(type="heatmap", z=z, x0=0, dx=1, y0=y0, dy=1, colorscale=colorscale, zmin=0.0, zmax=zmax,
                 showscale=colorbar is not None, hoverongaps=False, hovertemplate=hover + ": %{z:.3f}<extra></extra>")
    if colorbar is not None:
        trace["colorbar"] = dict(thickness=10, len=colorbar.pop("len", 0.5), **colorbar)
    return trace


def _image_axes(width: float, height: float) -> dict:
    """Axes for a mosaic: square pixels, row 0 on top, no ticks."""
    common = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", constrain="domain")
    return dict(xaxis=dict(common, range=[-0.5, width - 0.5]),
                yaxis=dict(common, range=[height - 0.5, -0.5], scaleanchor="x"),
                plot_bgcolor="rgba(0, 0, 0, 0)")  # gaps between panels show the page, light or dark


def _panel_labels(labels: Sequence[str], columns: int, size: tuple[int, int], gap: int = 1, y0: float = 0.0,
                  band: int = LABEL_BAND) -> list[dict]:
    """One annotation in the label band above each mosaic tile, in data coordinates."""
    height, width = size
    notes = []
    for index, label in enumerate(labels):
        row, column = index // columns, index % columns
        notes.append(dict(text=label, showarrow=False, xref="x", yref="y", yanchor="bottom",
                          font=dict(size=13, color=TEXT_COLOR), x=column * (width + gap) + (width - 1) / 2,
                          y=y0 + band + row * (band + height + gap) - 0.6))
    return notes


def comparison_panels(comparison: Comparison, t: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The panels at frame ``t``: digits ``[truth, prediction per run]`` in ``[0, 1]`` and errors
    ``[|prediction - truth| per run]``. During the context every panel shows the input frame and
    the errors are zero: the models read the input, they predict nothing yet."""
    truth = comparison.truth[t]
    if t < comparison.context_frames:
        return [truth] * (1 + len(comparison.runs)), [np.zeros_like(truth)] * len(comparison.runs)
    predictions = [run.prediction[t - comparison.context_frames] for run in comparison.runs]
    return [truth, *predictions], [np.abs(p - truth) for p in predictions]


def comparison_animation(comparison: Comparison, *, height: int = 540) -> go.Figure:
    """Ground truth and every model's prediction (top row) and absolute error (bottom row).

    Digits are white on black, errors inferno from 0 to 1. One animation frame per time step;
    the context frames show the input in every panel (titled INPUT), predictions follow; the
    figure opens on the first prediction and its play button loops.
    """
    runs = comparison.runs
    size = comparison.truth.shape[1:]
    columns = 1 + len(runs)
    row_height = LABEL_BAND + size[0] + 1

    def traces(t: int) -> list[dict]:
        digits, errors = comparison_panels(comparison, t)
        return [_mosaic_heatmap(_mosaic(digits, columns), DIGIT_COLORSCALE, hover="intensity"),
                _mosaic_heatmap(_mosaic([None, *errors], columns), ERROR_COLORSCALE, y0=row_height, hover="|error|")]

    notes = _panel_labels(["Truth", *(run.name for run in runs)], columns, size)
    notes += _panel_labels(["", *(f"{run.name} |error|" for run in runs)], columns, size, y0=row_height)
    width = columns * (size[1] + 1) - 1
    layout = dict(height=height, margin=dict(l=4, r=4, t=56, b=84), annotations=notes,
                  **_image_axes(width, 2 * row_height - 1))
    return _animated(comparison, traces, layout)


def mse_floor(comparison: Comparison) -> float:
    """The lowest MSE the chart shows: a tenth of the best model's lowest, so a baseline that
    drops to ~0 (a digit back at its start) cannot squash the models' curves."""
    values = np.concatenate([run.mse for run in comparison.runs] or [comparison.baseline_mse])
    positive = values[values > 0]
    return float(positive.min() / 10) if positive.size else 1e-6


def mse_figure(comparison: Comparison, *, height: int = 330) -> go.Figure:
    """Per-step MSE of every model and of copying the last context frame, on a log axis.

    x is the frame index; the context frames (no predictions) are shaded. Values under
    :func:`mse_floor` are drawn on the floor (the hover text keeps the true value).
    """
    context, total = comparison.context_frames, comparison.num_frames
    steps = np.arange(context, total)
    floor = mse_floor(comparison)
    series = [(run.name, run.mse, dict(color=MODEL_COLORS[i % len(MODEL_COLORS)], width=2.5), "lines+markers")
              for i, run in enumerate(comparison.runs)]
    series.append(("copy last context frame", comparison.baseline_mse, dict(color=BASELINE_COLOR, dash="dash", width=2),
                   "lines"))
    data = [dict(type="scatter", x=steps, y=np.maximum(values, floor), customdata=values, mode=mode, name=name,
                 line=line, hovertemplate="MSE %{customdata:.2e}<extra>" + name + "</extra>")
            for name, values, line, mode in series]
    top = max(float(np.max([values.max() for _, values, _, _ in series])), floor * 10)
    layout = dict(
        height=height, margin=dict(l=8, r=8, t=40, b=8), hovermode="x unified",
        xaxis=dict(title=dict(text="frame"), range=[-0.5, total - 0.5]),
        yaxis=dict(title=dict(text="MSE per frame (log)"), type="log", exponentformat="power",
                   range=[np.log10(floor) - 0.1, np.log10(top) + 0.2]),
        legend=dict(orientation="h", y=-0.25, x=0),
        shapes=[dict(type="rect", xref="x", yref="paper", x0=-0.5, x1=context - 0.5, y0=0, y1=1,
                     fillcolor="rgba(128,128,128,0.15)", line=dict(width=0), layer="below")],
        annotations=[dict(x=(context - 1) / 2, y=1.0, xref="x", yref="paper", text="input (context)",
                          showarrow=False, yanchor="bottom"),
                     dict(x=context - 0.5, y=1.0, xref="x", yref="paper", text=" prediction →", showarrow=False,
                          xanchor="left", yanchor="bottom")],
    )
    return _figure(data, layout, [])


def _activity_tile(run: ModelRun, t: int, size: int) -> np.ndarray | None:
    """A FERNN's per-copy activity at step ``t`` on its ``(dy, dx)`` grid, divided by the most
    active copy's, upscaled to about ``size`` pixels; ``None`` for a single-copy model."""
    if len(run.velocities) == 1:
        return None
    dys, dxs, rows, cols = _velocity_grid(run.velocities)
    grid = np.full((len(dys), len(dxs)), np.nan, dtype=np.float32)
    grid[rows, cols] = run.activity[t] / max(float(run.activity[t].max()), 1e-12)
    return upscale(grid, max(1, size // max(len(dys), len(dxs))))


def hidden_animation(
    comparison: Comparison,
    channels: Sequence[int],
    *,
    stabilised: bool = False,
    view: str = "pooled",
    height_per_row: int = 150,
) -> go.Figure:
    """The input and each model's hidden channels over time, in one animation.

    Rows: the input frame (stabilised too when ``stabilised``), then one row per model: its
    channels and, for a FERNN, the activity of every velocity copy on the ``(dy, dx)`` grid
    (divided by the most active copy's). view: ``"pooled"`` (the max over velocity copies) or
    ``"copy"`` (the copy read out as the input's velocity; the same for a G-RNN). Each model's
    maps share one colour scale (divided by that model's largest value over the shown channels
    and frames), with a colour bar.
    """
    if view not in ("pooled", "copy"):
        raise ValueError(f"view must be 'pooled' or 'copy', got {view!r}")
    runs = comparison.runs
    channels = [int(c) for c in channels]
    if not channels:
        raise ValueError("choose at least one channel")
    for run in runs:
        bad = [c for c in channels if not 0 <= c < run.hidden_channels]
        if bad:
            raise ValueError(f"{run.name} has channels 0..{run.hidden_channels - 1}; got {bad}")

    def maps(run: ModelRun) -> np.ndarray:
        views = run.hidden
        chosen = (views.pooled_stabilised if stabilised else views.pooled) if view == "pooled" else (
            views.copy_stabilised if stabilised else views.copy)
        return chosen[:, channels].astype(np.float32)  # (T+S, K, H, W)

    stacks = [maps(run) for run in runs]
    peaks = [max(float(stack.max()), 1e-6) for stack in stacks]
    size = comparison.truth.shape[1:]
    columns = len(channels) + (1 if any(len(run.velocities) > 1 for run in runs) else 0)
    row_height = LABEL_BAND + size[0] + 1
    steps = np.arange(comparison.num_frames)  # the input frame t, rolled back by t * velocity
    truth = comparison.truth
    if stabilised:
        truth = motion_stabilise(torch.from_numpy(truth[:, None]), comparison.stabilise_velocity, steps,
                                 comparison.flow)[:, 0].numpy()
    rows = len(runs) + 1

    def traces(t: int) -> list[dict]:
        out = [_mosaic_heatmap(_mosaic([truth[t]], columns), DIGIT_COLORSCALE, hover="input")]
        for index, (run, stack, peak) in enumerate(zip(runs, stacks, peaks), start=1):
            tiles = [stack[t, k] / peak for k in range(len(channels))]
            if columns > len(channels):
                tiles.append(_activity_tile(run, t, size[0]))
            bar = dict(title=dict(text=f"{run.name}<br>÷ {peak:.2g}", side="right"), y=1 - (index + 0.5) / rows,
                       len=0.9 / rows, x=1.0)
            out.append(_mosaic_heatmap(_mosaic(tiles, columns), HIDDEN_COLORSCALE, y0=index * row_height,
                                       hover="activation ÷ model max", colorbar=bar))
        return out

    what = "max over copies" if view == "pooled" else "read-out copy"
    labels = [f"input{' (stabilised)' if stabilised else ''}"]
    notes = _panel_labels(labels, columns, size)
    for index, run in enumerate(runs, start=1):
        names = [f"{run.name} ch {c}" for c in channels]
        if columns > len(channels):
            names.append("copies (dy, dx)" if len(run.velocities) > 1 else "")
        notes += _panel_labels(names, columns, size, y0=index * row_height)
    notes.append(dict(text=f"hidden state: {what}{', motion-stabilised' if stabilised else ''}", showarrow=False,
                      xref="paper", yref="paper", x=1.0, y=1.0, xanchor="right", yanchor="bottom",
                      font=dict(size=12, color=TEXT_COLOR)))
    width = columns * (size[1] + 1) - 1
    layout = dict(height=rows * height_per_row + 140, margin=dict(l=4, r=70, t=56, b=84), annotations=notes,
                  **_image_axes(width, rows * row_height - 1))
    return _animated(comparison, traces, layout)


def _velocity_grid(velocities: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid axes spanning a velocity set and the (row, column) of each copy on it."""
    array = np.asarray(velocities, dtype=np.int64).reshape(-1, 2)
    dys = np.arange(array[:, 0].min(), array[:, 0].max() + 1)
    dxs = np.arange(array[:, 1].min(), array[:, 1].max() + 1)
    return dys, dxs, array[:, 0] - dys[0], array[:, 1] - dxs[0]


def velocity_activity_animation(comparison: Comparison, run: ModelRun, *, height: int = 460) -> go.Figure:
    """A FERNN's per-copy activity on the ``(dy, dx)`` grid over time, with the read-out.

    Each frame shows every copy's RMS activation divided by the most active copy's at that
    step (1 = brightest). Circles mark the digits' true velocities, a cross the read-out (the
    most active copy). Velocities outside the set are blank.
    """
    dys, dxs, rows, cols = _velocity_grid(run.velocities)
    truth = np.asarray(comparison.digit_velocities, dtype=np.float64).reshape(-1, 2)
    truth_trace = dict(type="scatter", x=truth[:, 1], y=truth[:, 0], mode="markers", name="true velocity",
                       marker=dict(symbol="circle-open", size=30, line=dict(width=3), color="#00E5FF"),
                       hovertemplate="true velocity (%{y}, %{x})<extra></extra>")

    def traces(t: int) -> list[dict]:
        z = np.full((len(dys), len(dxs)), np.nan, dtype=np.float32)
        z[rows, cols] = run.activity[t] / max(float(run.activity[t].max()), 1e-12)
        readout = run.readout[t]
        return [
            dict(type="heatmap", z=z, x=dxs, y=dys, colorscale=HIDDEN_COLORSCALE, zmin=0, zmax=1, hoverongaps=False,
                 colorbar=dict(title=dict(text="activity<br>÷ max"), thickness=12),
                 hovertemplate="copy (dy %{y}, dx %{x}): %{z:.2f}<extra></extra>"),
            dict(type="scatter", x=[readout[1]], y=[readout[0]], mode="markers", name="read-out (most active copy)",
                 marker=dict(symbol="x-thin", size=22, line=dict(width=4, color="#FF4081"), color="#FF4081"),
                 hovertemplate="read-out (%{y}, %{x})<extra></extra>"),
            truth_trace,
        ]

    span = [min(dxs[0], truth[:, 1].min()) - 0.5, max(dxs[-1], truth[:, 1].max()) + 0.5]
    span_y = [max(dys[-1], truth[:, 0].max()) + 0.5, min(dys[0], truth[:, 0].min()) - 0.5]
    layout = dict(
        height=height, margin=dict(l=8, r=8, t=72, b=130),
        xaxis=dict(title=dict(text="dx (px/frame)"), dtick=1, range=span, constrain="domain", showgrid=False,
                   zeroline=False),
        yaxis=dict(title=dict(text="dy (px/frame, down)"), dtick=1, range=span_y, scaleanchor="x",
                   constrain="domain", showgrid=False, zeroline=False),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1.0, xanchor="right"),
    )
    return _animated(comparison, traces, layout, controls_y=-0.12)


def velocity_grid_figure(
    grids: Mapping[str, dict],
    *,
    training_speed: int = 1,
    model_speeds: Mapping[str, int | None] | None = None,
    height: int = 400,
) -> go.Figure:
    """Test MSE over a grid of input velocities, one heat map per model, on one log colour scale.

    grids: model name -> ``{"speeds": [...], "mse": [[...]]}`` with ``mse[i][j]`` at
    ``dy = speeds[i]``, ``dx = speeds[j]``. A dashed box marks the training range
    ``|v| <= training_speed``; a solid box marks a FERNN's velocity set ``|v| <= r`` when
    ``model_speeds[name] = r``.
    """
    if not grids:
        raise ValueError("give at least one velocity grid")
    model_speeds = dict(model_speeds or {})
    names = list(grids)
    arrays = {name: np.asarray(grids[name]["mse"], dtype=np.float64) for name in names}
    positive = np.concatenate([a[a > 0].ravel() for a in arrays.values()])
    positive = positive if positive.size else np.array([1e-6])
    low, high = np.log10(positive.min()), np.log10(max(positive.max(), positive.min() * 10))
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    for column, name in enumerate(names, start=1):
        speeds = [int(s) for s in grids[name]["speeds"]]
        mse = arrays[name]
        text = [[f"{value:.1g}" for value in row] for row in mse]  # short: 9 columns fit a phone
        fig.add_trace(
            go.Heatmap(z=np.log10(np.maximum(mse, 1e-12)), x=speeds, y=speeds, text=text, texttemplate="%{text}",
                       textfont=dict(size=10), colorscale=MSE_COLORSCALE, zmin=low, zmax=high,
                       showscale=column == len(names),
                       colorbar=dict(title=dict(text="log10 MSE"), thickness=12),
                       hovertemplate="dy %{y}, dx %{x}: MSE %{text}<extra>" + name + "</extra>"),
            row=1, col=column,
        )
        axis = "" if column == 1 else str(column)
        boxes = [(training_speed, dict(color="#00E5FF", width=3, dash="dash"))]
        if model_speeds.get(name):
            boxes.append((int(model_speeds[name]), dict(color="#39FF14", width=4)))  # green: visible on all of magma
        for speed, line in boxes:
            fig.add_shape(type="rect", xref=f"x{axis}", yref=f"y{axis}", x0=-speed - 0.5, x1=speed + 0.5,
                          y0=-speed - 0.5, y1=speed + 0.5, line=line)
        fig.layout[f"xaxis{axis}"].update(title="dx (px/frame)", dtick=1, constrain="domain", showgrid=False)
        fig.layout[f"yaxis{axis}"].update(title="dy" if column == 1 else None, dtick=1, autorange="reversed",
                                          scaleanchor=f"x{axis}", constrain="domain", showgrid=False)
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=40, b=8))
    fig.update_annotations(font=dict(size=15, color=TEXT_COLOR))  # the subplot titles
    return fig


# A few points of matplotlib's "inferno", enough for a smooth error colormap in GIFs.
_INFERNO = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                     [250, 193, 39], [252, 255, 164]], dtype=np.float64)


def _inferno(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` in ``[0, 1]`` -> ``uint8 (H, W, 3)``."""
    stops = np.linspace(0.0, 1.0, len(_INFERNO))
    flat = np.clip(values, 0.0, 1.0).ravel()
    channels = [np.interp(flat, stops, _INFERNO[:, k]) for k in range(3)]
    return np.stack(channels, axis=-1).reshape(*values.shape, 3).astype(np.uint8)


def _gray(values: np.ndarray) -> np.ndarray:
    level = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=-1)


def _label_strip(labels: Sequence[str], width: int, gap: int, height: int) -> np.ndarray:
    """A row of panel labels drawn with Pillow's built-in bitmap font: ``uint8 (height, W, 3)``."""
    from PIL import Image, ImageDraw, ImageFont

    total = len(labels) * width + (len(labels) - 1) * gap
    strip = Image.new("RGB", (total, height), (24, 24, 24))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    for index, label in enumerate(labels):
        text = label if len(label) <= 18 else label[:17] + "…"
        draw.text((index * (width + gap) + 3, 2), text, fill=(230, 230, 230), font=font)
    return np.asarray(strip)


def comparison_gif(comparison: Comparison, *, scale: int = 4, frame_ms: int = 300) -> bytes:
    """The comparison animation as an animated GIF: one frame per time step ``0..T+S-1``.

    Panels as in :func:`comparison_animation` (truth, predictions, errors) with a label row on
    top and a timeline bar below (grey: context, orange: prediction). The bar also makes every
    frame distinct, so GIF encoders never merge two of them.
    """
    runs = comparison.runs
    truth = comparison.truth
    context, total = comparison.context_frames, comparison.num_frames
    size = truth.shape[-1] * scale
    gap, bar = 2, 6
    labels = ["truth"] + [run.name for run in runs] + [f"{run.name} error" for run in runs]
    header = _label_strip(labels, size, gap, 14)
    width = header.shape[1]
    frames = []
    for t in range(total):
        digits, errors = comparison_panels(comparison, t)
        tiles = [_gray(d) for d in digits] + [_inferno(e) for e in errors]
        row = np.full((size, width, 3), 60, dtype=np.uint8)
        for index, tile in enumerate(tiles):
            left = index * (size + gap)
            row[:, left:left + size] = upscale(tile, scale)
        timeline = np.full((bar, width, 3), 40, dtype=np.uint8)
        filled = int(round(width * (t + 1) / total))
        colour = (150, 150, 150) if t < context else (255, 150, 40)
        timeline[:, :filled] = colour
        frames.append(np.concatenate([header, row, timeline], axis=0))
    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=frame_ms, loop=0)
