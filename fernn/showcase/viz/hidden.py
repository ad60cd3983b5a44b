"""Inside the models: hidden channels over time, and a FERNN's activity per velocity copy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from fernn.flows import Flow, GridAxes, Velocity
from fernn.showcase.results import Comparison, ModelRun
from fernn.showcase.viz.comparison import animate_comparison
from fernn.showcase.viz.panels import (CONTROLS_HEIGHT, colorbar_trace, image_axes, label_band, mosaic, mosaic_image,
                                       panel_labels, upscale)
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
    width = columns * (size[1] + 1) - 1
    band = label_band(width)
    row_height = band + size[0] + 1
    truth = _stabilised_input(comparison) if stabilised else comparison.truth
    rows = len(runs) + 1

    def traces(t: int) -> list[dict]:
        out = [mosaic_image(mosaic([truth[t]], columns, band=band), DIGIT_COLORSCALE)]
        for index, (run, stack, peak) in enumerate(zip(runs, stacks, peaks), start=1):
            tiles = [stack[t, k] / peak for k in range(len(channels))]
            if columns > len(channels):
                tiles.append(_activity_tile(run, t, size[0], comparison.flow))
            out.append(mosaic_image(mosaic(tiles, columns, band=band), HIDDEN_COLORSCALE, y0=index * row_height))
        return out

    # One colour bar per model (its maps are divided by its own peak), drawn once, not per frame.
    bars = tuple(colorbar_trace(HIDDEN_COLORSCALE, dict(title=dict(text=f"{run.name}<br>÷ {peak:.2g}", side="right"),
                                                          y=1 - (index + 0.5) / rows, len=0.9 / rows, x=1.0))
                 for index, (run, peak) in enumerate(zip(runs, peaks), start=1))

    # Short tile labels ("ch 0", "copies") fit a phone's 60 px tiles; each row's model is named
    # once, upright in the left margin, and the input's label alone in its row starts at its tile.
    notes = panel_labels([f"input{' (stabilised)' if stabilised else ''}"], columns, size, band=band, align="left")
    for index, run in enumerate(runs, start=1):
        names = [f"ch {c}" for c in channels]
        if columns > len(channels):
            names.append("copies" if len(run.velocities) > 1 else "")
        notes += panel_labels(names, columns, size, y0=index * row_height, band=band)
        notes.append(dict(text=run.name, showarrow=False, xref="paper", yref="y", x=0.0, xanchor="right", xshift=-2,
                          y=index * row_height + band + size[0] / 2, textangle=-90,
                          font=dict(size=12, color=TEXT_COLOR)))
    what = "max over copies" if view == "pooled" else "read-out copy"
    about = [f"hidden state: {what}{', motion-stabilised' if stabilised else ''}"]
    if columns > len(channels):
        about.append(f"copies: activity of each velocity copy on the {_copies_axes(comparison.flow)} grid")
    notes.append(dict(text="<br>".join(about), showarrow=False, xref="paper", yref="paper", x=0.0, y=1.0,
                      xanchor="left", yanchor="bottom", align="left", yshift=4, font=dict(size=12, color=TEXT_COLOR)))
    layout = dict(height=rows * (height_per_row + 3 * (band - 3)) + 90 + CONTROLS_HEIGHT,
                  margin=dict(l=20, r=70, t=36 + 16 * len(about), b=CONTROLS_HEIGHT), annotations=notes,
                  **image_axes(width, rows * row_height - 1, align="left"))
    return animate_comparison(comparison, traces, layout, static=bars)


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
