"""Inside the models: hidden channels over time, and a FERNN's activity per velocity copy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from ..showcase.analysis import motion_stabilise
from ..showcase.results import Comparison, ModelRun
from .comparison import animate_comparison
from .panels import LABEL_BAND, image_axes, mosaic, mosaic_heatmap, panel_labels, upscale
from .style import DIGIT_COLORSCALE, HIDDEN_COLORSCALE, TEXT_COLOR

__all__ = ["hidden_animation", "velocity_activity_animation"]


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
        out = [mosaic_heatmap(mosaic([truth[t]], columns), DIGIT_COLORSCALE, hover="input")]
        for index, (run, stack, peak) in enumerate(zip(runs, stacks, peaks), start=1):
            tiles = [stack[t, k] / peak for k in range(len(channels))]
            if columns > len(channels):
                tiles.append(_activity_tile(run, t, size[0]))
            bar = dict(title=dict(text=f"{run.name}<br>÷ {peak:.2g}", side="right"), y=1 - (index + 0.5) / rows,
                       len=0.9 / rows, x=1.0)
            out.append(mosaic_heatmap(mosaic(tiles, columns), HIDDEN_COLORSCALE, y0=index * row_height,
                                       hover="activation ÷ model max", colorbar=bar))
        return out

    what = "max over copies" if view == "pooled" else "read-out copy"
    labels = [f"input{' (stabilised)' if stabilised else ''}"]
    notes = panel_labels(labels, columns, size)
    for index, run in enumerate(runs, start=1):
        names = [f"{run.name} ch {c}" for c in channels]
        if columns > len(channels):
            names.append("copies (dy, dx)" if len(run.velocities) > 1 else "")
        notes += panel_labels(names, columns, size, y0=index * row_height)
    notes.append(dict(text=f"hidden state: {what}{', motion-stabilised' if stabilised else ''}", showarrow=False,
                      xref="paper", yref="paper", x=1.0, y=1.0, xanchor="right", yanchor="bottom",
                      font=dict(size=12, color=TEXT_COLOR)))
    width = columns * (size[1] + 1) - 1
    layout = dict(height=rows * height_per_row + 140, margin=dict(l=4, r=70, t=56, b=84), annotations=notes,
                  **image_axes(width, rows * row_height - 1))
    return animate_comparison(comparison, traces, layout)


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
    return animate_comparison(comparison, traces, layout, controls_y=-0.12)
