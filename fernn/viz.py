"""Frames and hidden states -> plotly figures and GIF bytes, for the demo app and notebooks.

Every figure here is self-contained (one slider and one play button drive all of its panels)
and theme-neutral: images are white digits on black whatever the page theme. No streamlit
import: the app passes these figures to ``st.plotly_chart``.

Image panels show arrays of shape ``(H, W)`` with row 0 at the top and ``dy`` pointing down,
the orientation of :mod:`fernn.flows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import imageio.v3 as iio
import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .demo import Comparison, ModelRun

__all__ = [
    "ERROR_COLORSCALE",
    "comparison_animation",
    "comparison_gif",
    "hidden_animation",
    "mse_figure",
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
LABEL_BAND = 3  # empty mosaic rows above each row of panels, where the panel labels go


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(H, W[, C])`` by an integer ``factor`` (crisp pixels)."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def _frame_titles(comparison: Comparison) -> list[str]:
    context, total = comparison.context_frames, comparison.num_frames
    titles = []
    for t in range(total):
        if t < context:
            titles.append(f"frame {t}: context {t + 1}/{context}, the models read the input")
        else:
            titles.append(f"frame {t}: prediction {t - context + 1}/{comparison.predict_frames}")
    return titles


def _frame_labels(comparison: Comparison) -> list[str]:
    """Slider labels: the frame index."""
    return [str(t) for t in range(comparison.num_frames)]


def _figure(data: list[dict], layout: dict, frames: list[dict]) -> go.Figure:
    """A figure from plain dicts, skipping plotly's per-property validation.

    Validation costs about ten times the build itself; everything here is built from fixed
    dicts that the tests render, so it buys nothing.
    """
    return go.Figure(dict(data=data, layout=layout, frames=frames), _validate=False)


def _mosaic(tiles: Sequence[np.ndarray], columns: int, gap: int = 1, band: int = LABEL_BAND) -> np.ndarray:
    """Tile ``(H, W)`` maps row-major into one ``float32`` image with NaN (transparent) gaps.

    Every row of tiles has ``band`` empty rows above it, room for the panel labels: plotly
    hides annotations placed outside the axis range.
    """
    height, width = tiles[0].shape
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (band + height + gap) - gap, columns * (width + gap) - gap), np.nan, dtype=np.float32)
    for index, tile in enumerate(tiles):
        top, left = band + (index // columns) * (band + height + gap), (index % columns) * (width + gap)
        out[top:top + height, left:left + width] = tile
    return out


def _mosaic_heatmap(z: np.ndarray, colorscale: list, *, x0: float = 0.0, zmax: float = 1.0, hover: str) -> dict:
    return dict(type="heatmap", z=z, x0=x0, dx=1, y0=0, dy=1, colorscale=colorscale, zmin=0.0, zmax=zmax,
                showscale=False, hoverongaps=False, hovertemplate=hover + ": %{z:.3f}<extra></extra>")


def _image_axes(width: float, height: float) -> dict:
    """Axes for a mosaic: square pixels, row 0 on top, no ticks."""
    common = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", constrain="domain")
    return dict(xaxis=dict(common, range=[-0.5, width - 0.5]),
                yaxis=dict(common, range=[height - 0.5, -0.5], scaleanchor="x"),
                plot_bgcolor="rgba(0, 0, 0, 0)")  # gaps between panels show the page, light or dark


def _panel_labels(labels: Sequence[str], columns: int, size: tuple[int, int], gap: int = 1,
                  x0: float = 0.0, band: int = LABEL_BAND) -> list[dict]:
    """One annotation in the label band above each mosaic tile, in data coordinates."""
    height, width = size
    notes = []
    for index, label in enumerate(labels):
        row, column = index // columns, index % columns
        notes.append(dict(text=label, showarrow=False, xref="x", yref="y", yanchor="bottom", font=dict(size=12),
                          x=x0 + column * (width + gap) + (width - 1) / 2,
                          y=band + row * (band + height + gap) - 0.6))
    return notes


def _animation_controls(names: list[str], labels: list[str], active: int, prefix: str, y: float = 0.0) -> dict:
    """One slider and one play/pause pair driving every panel of a figure."""
    still = dict(frame=dict(duration=0, redraw=True), transition=dict(duration=0), mode="immediate")
    play = dict(frame=dict(duration=FRAME_MS, redraw=True), transition=dict(duration=0), mode="immediate",
                fromcurrent=False)
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    steps = [dict(method="animate", label=label, args=[[name], still]) for name, label in zip(names, labels)]
    return dict(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.0, y=y, xanchor="left",
                          yanchor="top", pad=dict(r=8, t=28),
                          buttons=[dict(label="▶ Play", method="animate", args=[names, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(active=active, steps=steps, x=0.2, len=0.8, y=y, yanchor="top", pad=dict(t=20),
                      currentvalue=dict(prefix=prefix, visible=True, xanchor="right"))],
    )


def comparison_animation(comparison: Comparison, *, height: int = 380) -> go.Figure:
    """Ground truth, every model's prediction and every model's absolute error, in one animation.

    Panels: truth, then one prediction per run (white on black), then one
    ``|prediction - truth|`` map per run (inferno, 0 to 1); one animation frame per time step
    ``0..T+S-1``, prediction and error panels blank while the models read the context. One
    slider and one play button drive all panels. The figure opens on the last predicted frame.
    """
    runs = comparison.runs
    truth = comparison.truth  # (T+S, H, W)
    context, total = comparison.context_frames, comparison.num_frames
    size = truth.shape[1:]
    blank = np.zeros_like(truth[0])
    digit_columns = 1 + len(runs)
    offset = digit_columns * (size[1] + 1) + 2  # the error mosaic starts after a wider gap

    def traces(t: int) -> list[dict]:
        predictions = [run.prediction[t - context] if t >= context else blank for run in runs]
        errors = [np.abs(p - truth[t]) if t >= context else blank for p in predictions]
        return [_mosaic_heatmap(_mosaic([truth[t], *predictions], digit_columns), DIGIT_COLORSCALE, hover="intensity"),
                _mosaic_heatmap(_mosaic(errors, len(runs)), ERROR_COLORSCALE, x0=offset, hover="|error|")]

    labels = ["Ground truth"] + [f"{run.name}: prediction" for run in runs]
    notes = _panel_labels(labels, digit_columns, size)
    notes += _panel_labels([f"{run.name}: |error|" for run in runs], len(runs), size, x0=offset)
    names, titles = [str(t) for t in range(total)], _frame_titles(comparison)
    frames = [dict(name=names[t], data=traces(t), traces=[0, 1], layout=dict(title=dict(text=titles[t])))
              for t in range(total)]
    width = offset + len(runs) * (size[1] + 1) - 1
    height_px = LABEL_BAND + size[0]
    layout = dict(
        title=dict(text=titles[-1], x=0.0, xanchor="left", font=dict(size=14)),
        height=height, margin=dict(l=8, r=8, t=72, b=96), annotations=notes,
        **_image_axes(width, height_px),
        **_animation_controls(names, _frame_labels(comparison), total - 1, "frame "),
    )
    return _figure(traces(total - 1), layout, frames)


def mse_figure(comparison: Comparison, *, height: int = 330) -> go.Figure:
    """Per-step MSE of every model and of copying the last context frame, on a log axis.

    x is the frame index; the context frames (no predictions) are shaded and the boundary
    between context and prediction is marked.
    """
    context, total = comparison.context_frames, comparison.num_frames
    steps = np.arange(context, total)
    data = []
    for index, run in enumerate(comparison.runs):
        data.append(dict(type="scatter", x=steps, y=np.maximum(run.mse, 1e-12), mode="lines+markers", name=run.name,
                         line=dict(color=MODEL_COLORS[index % len(MODEL_COLORS)], width=2.5),
                         hovertemplate="MSE %{y:.2e}<extra>" + run.name + "</extra>"))
    data.append(dict(type="scatter", x=steps, y=np.maximum(comparison.baseline_mse, 1e-12), mode="lines",
                     name="copy last context frame", line=dict(color=BASELINE_COLOR, dash="dash", width=2),
                     hovertemplate="MSE %{y:.2e}<extra>copy last frame</extra>"))
    layout = dict(
        height=height, margin=dict(l=8, r=8, t=40, b=8), hovermode="x unified",
        xaxis=dict(title=dict(text="frame"), range=[-0.5, total - 0.5]),
        yaxis=dict(title=dict(text="MSE per frame (log)"), type="log", dtick="D2", exponentformat="power"),
        legend=dict(orientation="h", y=-0.25, x=0),
        shapes=[dict(type="rect", xref="x", yref="paper", x0=-0.5, x1=context - 0.5, y0=0, y1=1,
                     fillcolor="rgba(128,128,128,0.15)", line=dict(width=0), layer="below"),
                dict(type="line", xref="x", yref="paper", x0=context - 0.5, x1=context - 0.5, y0=0, y1=1,
                     line=dict(color="rgba(128,128,128,0.9)", dash="dot", width=1.5))],
        annotations=[dict(x=(context - 1) / 2, y=1.0, xref="x", yref="paper", text="context (input)",
                          showarrow=False, yanchor="bottom"),
                     dict(x=context - 0.5, y=1.0, xref="x", yref="paper", text=" prediction →", showarrow=False,
                          xanchor="left", yanchor="bottom")],
    )
    return _figure(data, layout, [])


def hidden_animation(
    comparison: Comparison,
    channels: Sequence[int],
    *,
    stabilised: bool = False,
    view: str = "pooled",
    height_per_row: int = 190,
) -> go.Figure:
    """Animated hidden-state channels, one row per model, one column per channel.

    view: ``"pooled"`` (the max/mean over velocity copies that the decoder reads) or ``"copy"``
    (the single copy read out as the input velocity; identical for a G-RNN). ``stabilised``
    shows every map rolled back by the input's accumulated motion. Each panel is divided by
    its own maximum over time, so colours run from 0 to 1 in every panel.
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
        if view == "pooled":
            return run.hidden_stabilised if stabilised else run.hidden
        return run.copy_hidden_stabilised if stabilised else run.copy_hidden

    def describe(run: ModelRun) -> str:
        if view == "copy" and len(run.velocities) > 1:
            return f"{run.name} copy {run.ranking[0]}"
        return run.name

    stacks = []
    for run in runs:
        stack = maps(run)[:, channels]  # (T+S, K, H, W)
        peak = np.maximum(stack.max(axis=(0, 2, 3), keepdims=True), 1e-6)  # (1, K, 1, 1)
        stacks.append(stack / peak)
    size = stacks[0].shape[2:]
    columns, total = len(channels), comparison.num_frames

    def traces(t: int) -> list[dict]:
        tiles = [stack[t, k] for stack in stacks for k in range(columns)]
        return [_mosaic_heatmap(_mosaic(tiles, columns), HIDDEN_COLORSCALE, hover="activation ÷ panel max")]

    labels = [f"{describe(run)} · ch {c}" for run in runs for c in channels]
    names, titles = [str(t) for t in range(total)], _frame_titles(comparison)
    frames = [dict(name=names[t], data=traces(t), traces=[0], layout=dict(title=dict(text=titles[t])))
              for t in range(total)]
    mosaic = traces(total - 1)[0]["z"]
    layout = dict(
        title=dict(text=titles[-1], x=0.0, xanchor="left", font=dict(size=14)),
        height=len(runs) * height_per_row + 170, margin=dict(l=8, r=8, t=72, b=96),
        annotations=_panel_labels(labels, columns, size),
        **_image_axes(mosaic.shape[1], mosaic.shape[0]),
        **_animation_controls(names, _frame_labels(comparison), total - 1, "frame "),
    )
    return _figure(traces(total - 1), layout, frames)


def _velocity_grid(velocities: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid axes spanning a velocity set and the (row, column) of each copy on it."""
    array = np.asarray(velocities, dtype=np.int64).reshape(-1, 2)
    dys = np.arange(array[:, 0].min(), array[:, 0].max() + 1)
    dxs = np.arange(array[:, 1].min(), array[:, 1].max() + 1)
    return dys, dxs, array[:, 0] - dys[0], array[:, 1] - dxs[0]


def velocity_activity_animation(comparison: Comparison, run: ModelRun, *, height: int = 500) -> go.Figure:
    """A FERNN's per-copy activity on the ``(dy, dx)`` grid over time.

    Each frame shows every copy's RMS activation divided by the most active copy's at that
    step (1 = brightest). Circles mark the digits' true velocities, a cross the read-out (the
    most active copy). Velocities outside the set are blank.
    """
    dys, dxs, rows, cols = _velocity_grid(run.velocities)
    total = comparison.num_frames
    truth = np.asarray(comparison.digit_velocities, dtype=np.float64).reshape(-1, 2)

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
        ]

    truth_trace = dict(type="scatter", x=truth[:, 1], y=truth[:, 0], mode="markers", name="true velocity",
                       marker=dict(symbol="circle-open", size=30, line=dict(width=3), color="#00E5FF"),
                       hovertemplate="true velocity (%{y}, %{x})<extra></extra>")
    names, titles = [str(t) for t in range(total)], _frame_titles(comparison)
    frames = [dict(name=names[t], data=traces(t), traces=[0, 1], layout=dict(title=dict(text=titles[t])))
              for t in range(total)]
    span = [min(dxs[0], truth[:, 1].min()) - 0.5, max(dxs[-1], truth[:, 1].max()) + 0.5]
    span_y = [max(dys[-1], truth[:, 0].max()) + 0.5, min(dys[0], truth[:, 0].min()) - 0.5]
    layout = dict(
        title=dict(text=titles[-1], x=0.0, xanchor="left", font=dict(size=14)),
        height=height, margin=dict(l=8, r=8, t=72, b=130),
        xaxis=dict(title=dict(text="dx (px/frame)"), dtick=1, range=span, constrain="domain", showgrid=False,
                   zeroline=False),
        yaxis=dict(title=dict(text="dy (px/frame, down)"), dtick=1, range=span_y, scaleanchor="x",
                   constrain="domain", showgrid=False, zeroline=False),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1.0, xanchor="right"),
        **_animation_controls(names, _frame_labels(comparison), total - 1, "frame ", y=-0.12),
    )
    return _figure([*traces(total - 1), truth_trace], layout, frames)


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
    positive = np.concatenate([a[a > 0].ravel() for a in arrays.values()] + [np.array([1e-6])])
    low, high = np.log10(positive.min()), np.log10(max(positive.max(), positive.min() * 10))
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    for column, name in enumerate(names, start=1):
        speeds = [int(s) for s in grids[name]["speeds"]]
        mse = arrays[name]
        text = [[f"{value:.1e}" for value in row] for row in mse]
        fig.add_trace(
            go.Heatmap(z=np.log10(np.maximum(mse, 1e-12)), x=speeds, y=speeds, text=text, texttemplate="%{text}",
                       textfont=dict(size=10), colorscale=MSE_COLORSCALE, zmin=low, zmax=high,
                       showscale=column == len(names),
                       colorbar=dict(title=dict(text="log10 MSE"), thickness=12),
                       hovertemplate="dy %{y}, dx %{x}: MSE %{text}<extra>" + name + "</extra>"),
            row=1, col=column,
        )
        axis = "" if column == 1 else str(column)
        boxes = [(training_speed, dict(color="#00E5FF", width=2, dash="dash"))]
        if model_speeds.get(name):
            boxes.append((int(model_speeds[name]), dict(color="#FFFFFF", width=2)))
        for speed, line in boxes:
            fig.add_shape(type="rect", xref=f"x{axis}", yref=f"y{axis}", x0=-speed - 0.5, x1=speed + 0.5,
                          y0=-speed - 0.5, y1=speed + 0.5, line=line)
        fig.layout[f"xaxis{axis}"].update(title="dx (px/frame)", dtick=1, constrain="domain", showgrid=False)
        fig.layout[f"yaxis{axis}"].update(title="dy" if column == 1 else None, dtick=1, autorange="reversed",
                                          scaleanchor=f"x{axis}", constrain="domain", showgrid=False)
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=40, b=8))
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
        predictions = [run.prediction[t - context] if t >= context else np.zeros_like(truth[t]) for run in runs]
        tiles = [_gray(truth[t])] + [_gray(p) for p in predictions]
        tiles += [_inferno(np.abs(p - truth[t])) if t >= context else _gray(np.zeros_like(p)) for p in predictions]
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
