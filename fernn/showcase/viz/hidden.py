"""Inside the models: hidden channels over time, and a FERNN's activity per velocity copy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from fernn.flows import Flow, GridAxes, Velocity
from fernn.showcase.results import Comparison, ModelRun
from fernn.showcase.viz.comparison import animate_comparison
from fernn.showcase.viz.panels import (CONTROLS_HEIGHT, image_axes, label_band, mosaic, mosaic_image, panel_labels,
                                       upscale)
from fernn.showcase.viz.style import DIGIT_COLORSCALE, HIDDEN_COLORSCALE, TEXT_COLOR
from fernn.flows.words import words

__all__ = ["hidden_animation", "velocity_activity_animation"]


def _activity_tile(run: ModelRun, t: int, size: int, flow: Flow) -> np.ndarray | None:
    """A FERNN's per-copy activity at step ``t`` on its flow's velocity grid, divided by the most
    active copy's, upscaled to about ``size`` pixels; ``None`` for a single-copy model."""
    if len(run.velocities) == 1:
        return None
    axes, rows, cols = _velocity_grid(run.velocities, flow)
    grid = np.full(axes.shape, np.nan, dtype=np.float32)
    grid[rows, cols] = run.activity[t] / max(float(run.activity[t].max()), 1e-12)
    return upscale(grid, max(1, size // max(axes.shape)))


TILES_PER_ROW = 3  # a model's maps wrap after three: three maps over 100 px wide fit a 390 px phone


def hidden_animation(
    comparison: Comparison,
    channels: Sequence[int],
    *,
    stabilised: bool = False,
    view: str = "pooled",
    tile_px: int = 112,
) -> go.Figure:
    """The input and each model's hidden channels over time, in one animation.

    Rows: the input frame (stabilised too when ``stabilised``), then each model's block: its
    channels and, for a FERNN, the activity of every velocity copy on the ``(dy, dx)`` grid
    (divided by the most active copy's), :data:`TILES_PER_ROW` maps a row. view: ``"pooled"``
    (the max over velocity copies) or ``"copy"`` (the copy read out as the input's velocity; the
    same for a G-RNN). Each model's maps are divided by that model's largest value over the shown
    channels and frames (its peak, beside its name); one colour strip under the maps, drawn in the
    mosaic's own units (a plotly colour bar would take a phone's width, or move the margins), serves all.
    ``tile_px``: a map's height where the figure's height bounds it (a wide screen); a phone's
    width bounds it there.
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
    copies = any(len(run.velocities) > 1 for run in runs)
    tiles = len(channels) + (1 if copies else 0)  # a model's maps
    columns = min(tiles, TILES_PER_ROW)
    block = -(-tiles // columns)  # rows of maps per model
    width = columns * (size[1] + 1) - 1
    band = label_band(width)
    row_height = band + size[0] + 1
    truth = _stabilised_input(comparison) if stabilised else comparison.truth

    def traces(t: int) -> list[dict]:
        out = [mosaic_image(mosaic([truth[t]], columns, band=band), DIGIT_COLORSCALE)]
        for index, (run, stack, peak) in enumerate(zip(runs, stacks, peaks)):
            shown = [stack[t, k] / peak for k in range(len(channels))]
            if copies:
                shown.append(_activity_tile(run, t, size[0], comparison.flow))
            out.append(mosaic_image(mosaic(shown, columns, band=band), HIDDEN_COLORSCALE,
                                    y0=(1 + index * block) * row_height))
        return out

    # The colour strip, one map wide and sent once (not per frame), under the last row of maps.
    strip_top = len(runs) * block * row_height + row_height + 2
    strip = np.tile(np.linspace(0.0, 1.0, size[1], dtype=np.float32), (2, 1))  # (2, W)
    bar = mosaic_image(strip, HIDDEN_COLORSCALE, y0=strip_top)
    height = strip_top + strip.shape[0] + band  # the mosaic and the strip with its labels, in mosaic pixels

    # Short tile labels ("ch 0", "copies") fit a phone's tiles; each model is named once with its
    # peak, upright in the left margin beside its block, and the input's label starts at its tile.
    notes = panel_labels([f"input{' (stabilised)' if stabilised else ''}"], columns, size, band=band, align="left")
    for index, (run, peak) in enumerate(zip(runs, peaks)):
        names = [f"ch {c}" for c in channels]
        if copies:
            names.append("copies" if len(run.velocities) > 1 else "")
        top = (1 + index * block) * row_height
        notes += panel_labels(names, columns, size, y0=top, band=band)
        notes.append(dict(text=f"{run.name} (peak {peak:.2g})", showarrow=False, xref="paper", yref="y", x=0.0,
                          xanchor="right", xshift=-2, y=top + (block * row_height + band) / 2, textangle=-90,
                          font=dict(size=12, color=TEXT_COLOR)))
    notes += [dict(text=text, showarrow=False, xref="x", yref="y", x=x, xanchor=anchor, y=strip_top + strip.shape[0],
                   yanchor="top", font=dict(size=12, color=TEXT_COLOR))
              for text, x, anchor in (("0", -0.5, "left"), ("peak", size[1] - 0.5, "right"))]  # under the strip's ends
    what = "max over copies" if view == "pooled" else "read-out copy"
    about = [f"hidden state: {what}{', motion-stabilised' if stabilised else ''}"]
    if copies:
        about.append(f"copies: activity of each velocity copy on the {_copies_axes(comparison.flow)} grid")
    notes.append(dict(text="<br>".join(about), showarrow=False, xref="paper", yref="paper", x=0.0, y=1.0,
                      xanchor="left", yanchor="bottom", align="left", yshift=4, font=dict(size=12, color=TEXT_COLOR)))
    top_margin = 36 + 16 * len(about)
    plot_height = round(height * tile_px / size[0])
    axes = image_axes(width, height - 1, align="left")
    # A phone's width bounds the maps: the blank goes above them, the colour strip stays under them.
    axes["yaxis"] = dict(axes["yaxis"], constraintoward="bottom")
    layout = dict(height=plot_height + top_margin + CONTROLS_HEIGHT, annotations=notes, **axes,
                  margin=dict(l=20, r=8, t=top_margin, b=CONTROLS_HEIGHT))
    return animate_comparison(comparison, traces, layout, static=(bar,))


def _stabilised_input(comparison: Comparison) -> np.ndarray:
    """The input frames, frame ``t`` moved back by ``t`` times the first digit's velocity:
    ``(T + S, H, W)``. The flow moves a plain map (:meth:`~fernn.flows.Flow.move`): an input
    frame has no orientation channels for a rotation to turn."""
    flow, velocity = comparison.flow, comparison.stabilise_velocity
    frames = torch.from_numpy(np.ascontiguousarray(comparison.truth, dtype=np.float32))  # (T+S, H, W)
    return np.stack([flow.move(frame, flow.scale(velocity, -t)).numpy() for t, frame in enumerate(frames)])


def _copies_axes(flow: Flow) -> str:
    """The activity tile's axes as the flow names them, e.g. "(dy, dx)", or "ω" for one axis."""
    axes = flow.grid(1)
    return f"({axes.row_name}, {axes.column_name})" if axes.row_name else axes.column_name


def _velocity_grid(velocities: Sequence[Velocity], flow: Flow) -> tuple[GridAxes, np.ndarray, np.ndarray]:
    """The flow's grid spanning a velocity set and the (row, column) of each copy on it."""
    axes = flow.grid(max(flow.speed(v) for v in velocities))
    cells = np.array([axes.cell(v) for v in velocities], dtype=np.int64).reshape(-1, 2)
    return axes, cells[:, 0], cells[:, 1]


def velocity_activity_animation(comparison: Comparison, run: ModelRun, *, height: int = 460) -> go.Figure:
    """A FERNN's per-copy activity on its flow's velocity grid over time, with the read-out.

    Each frame shows every copy's RMS activation divided by the most active copy's at that
    step (1 = brightest). Circles mark the digits' true velocities, a cross the read-out (the
    most active copy). Velocities outside the set are blank.
    """
    flow = comparison.flow
    # The grid wide enough for the set and the digits' true velocities, as the flow lays it out.
    axes = flow.grid(max(flow.speed(v) for v in (*run.velocities, *comparison.digit_velocities)))
    cells = np.array([axes.cell(v) for v in run.velocities], dtype=np.int64).reshape(-1, 2)
    truth = np.array([axes.coordinates(v) for v in comparison.digit_velocities], dtype=np.float64).reshape(-1, 2)
    where = f"{axes.row_name} %{{y}}, {axes.column_name} %{{x}}" if axes.row_name else f"{axes.column_name} %{{x}}"
    truth_trace = dict(type="scatter", x=truth[:, 1], y=truth[:, 0], mode="markers", name="true velocity",
                       marker=dict(symbol="circle-open", size=30, line=dict(width=3), color="#00E5FF"),
                       hovertemplate=f"true velocity ({where})<extra></extra>")

    def traces(t: int) -> list[dict]:
        z = np.full(axes.shape, np.nan, dtype=np.float32)
        z[cells[:, 0], cells[:, 1]] = run.activity[t] / max(float(run.activity[t].max()), 1e-12)
        # The most active copy's velocity (none at a step where every copy is alike).
        readout = axes.coordinates(run.velocities[run.readout[t]]) if run.readout[t] >= 0 else (np.nan, np.nan)
        return [
            dict(type="heatmap", z=z, x=list(axes.column_values), y=list(axes.row_values), colorscale=HIDDEN_COLORSCALE,
                 zmin=0, zmax=1, hoverongaps=False, colorbar=dict(title=dict(text="activity<br>÷ max"), thickness=12),
                 hovertemplate=f"copy ({where}): %{{z:.2f}}<extra></extra>"),
            dict(type="scatter", x=[readout[1]], y=[readout[0]], mode="markers", name="read-out (most active copy)",
                 marker=dict(symbol="x-thin", size=22, line=dict(width=4, color="#FF4081"), color="#FF4081"),
                 hovertemplate=f"read-out ({where})<extra></extra>"),
            truth_trace,
        ]

    span = [axes.column_values[0] - 0.5, axes.column_values[-1] + 0.5]
    span_y = [axes.row_values[-1] + 0.5, axes.row_values[0] - 0.5]
    row_title = f"{axes.row_name} ({words(flow).unit}, down)" if axes.row_name else ""
    layout = dict(
        height=height, margin=dict(l=8, r=8, t=72, b=130),
        xaxis=dict(title=dict(text=f"{axes.column_name} ({words(flow).unit})"), dtick=1, range=span, constrain="domain",
                   showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text=row_title), dtick=1, range=span_y, scaleanchor="x",
                   constrain="domain", showgrid=False, zeroline=False),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1.0, xanchor="right"),
    )
    return animate_comparison(comparison, traces, layout, controls_y=-0.12)
