"""Recorded test error over a grid of input velocities: one heat map per model, one figure each
(so a page can set them side by side on a desktop and one under another on a phone)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from fernn.records import VelocityGrid
from fernn.flows import Flow, GridAxes
from fernn.showcase.viz.panels import figure
from fernn.showcase.viz.style import MSE_COLORSCALE, TEXT_COLOR
from fernn.flows.words import words

__all__ = ["velocity_grid_figures"]

MAX_TEXT_COLUMNS = 9  # cells print their MSE up to 9 columns (|v| <= 4): wider grids' cells are too narrow
TRAINING_LINE = dict(color="#00E5FF", width=3, dash="dash")
SET_LINE = dict(color="#39FF14", width=4)  # green: visible on all of magma


def short_number(value: float) -> str:
    """One significant digit in at most 5 characters for a cell: "2e-3", "0.2", "1"."""
    if value >= 0.1:
        return f"{value:.1g}"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _log_ticks(low: float, high: float) -> list[float]:
    """Colour-bar ticks between ``10**low`` and ``10**high``: the powers of ten, and 2 and 5 of
    each decade too when the range spans under two decades (else one tick or none would show)."""
    steps = (1, 2, 5) if high - low < 2 else (1,)
    decades = range(int(np.floor(low)), int(np.ceil(high)) + 1)
    return [m * 10.0**d for d in decades for m in steps if low - 1e-9 <= np.log10(m * 10.0**d) <= high + 1e-9]


def _speed_box(axes: GridAxes, flow: Flow, speed: int) -> dict | None:
    """The rectangle, in the grid's coordinates, around every cell whose velocity has
    ``flow.speed(v) <= speed`` (a square for translation, a run of columns for rotation)."""
    inside = [axes.coordinates(v) for v in axes.flat() if flow.speed(v) <= speed]
    if not inside:
        return None
    rows, columns = zip(*inside)
    return dict(x0=min(columns) - 0.5, x1=max(columns) + 0.5, y0=min(rows) - 0.5, y1=max(rows) + 0.5)


def _column_ticks(axes: GridAxes, flow: Flow) -> dict:
    """Every column ticked: by its value on a two-axis grid, by the flow's label of its velocity
    on a one-axis grid (rotation: "+30°", whose column values count steps)."""
    if axes.row_name:
        return dict(dtick=1)
    return dict(tickvals=list(axes.column_values), ticktext=[words(flow).label(v) for v in axes.velocities[0]])


def velocity_grid_figures(
    grids: Mapping[str, VelocityGrid],
    *,
    flow: Flow,
    training_speed: int | None = None,
    model_speeds: Mapping[str, int | None] | None = None,
    height: int | None = None,
) -> list[go.Figure]:
    """Test MSE over a grid of input velocities: one figure per entry of ``grids`` (its title
    the key), all on one log colour scale.

    grids: title -> a :class:`~fernn.records.VelocityGrid`, ``mse[i][j]`` at the velocity
    ``axes.velocities[i][j]`` of ``flow``'s grid (translation: rows ``dy``, columns ``dx``). A
    dashed box marks the training range ``flow.speed(v) <= training_speed``; a solid box a
    FERNN's velocity set ``flow.speed(v) <= r`` when ``model_speeds[title] = r``. Cells print
    their MSE while the grid has at most :data:`MAX_TEXT_COLUMNS` columns; hover always does.
    height: px, by default enough for square cells (a one-row grid, e.g. rotation's, is low).
    """
    if not grids:
        raise ValueError("give at least one velocity grid")
    model_speeds = dict(model_speeds or {})
    arrays = {title: np.asarray(grid.mse, dtype=np.float64) for title, grid in grids.items()}
    for title, grid in grids.items():
        if arrays[title].shape != grid.axes.shape:
            raise ValueError(f"grid {title!r}: mse has shape {arrays[title].shape}, its axes {grid.axes.shape}")
    positive = np.concatenate([a[a > 0].ravel() for a in arrays.values()])
    positive = positive if positive.size else np.array([1e-6])
    low, high = np.log10(positive.min()), np.log10(max(positive.max(), positive.min() * 10))
    ticks = _log_ticks(low, high)
    figures = []
    for title, grid in grids.items():
        axes, mse = grid.axes, arrays[title]
        where = f"{axes.row_name} %{{y}}, {axes.column_name} %{{x}}" if axes.row_name else f"{axes.column_name} %{{x}}"
        trace = dict(type="heatmap", z=np.round(np.log10(np.maximum(mse, 1e-12)), 3), x=list(axes.column_values),
                     y=list(axes.row_values), customdata=mse, colorscale=MSE_COLORSCALE, zmin=low, zmax=high,
                     hovertemplate=f"{where}: MSE %{{customdata:.2e}}<extra>{title}</extra>",
                     colorbar=dict(orientation="h", thickness=10, len=1.0, x=0.0, xanchor="left", y=-0.16,
                                   yanchor="top", title=dict(text="MSE", side="top"),
                                   tickvals=np.log10(ticks).tolist(), ticktext=[short_number(t) for t in ticks]))
        if axes.shape[1] <= MAX_TEXT_COLUMNS:
            trace.update(text=[[short_number(value) for value in row] for row in mse], texttemplate="%{text}",
                         textfont=dict(size=10))
        boxes = [(training_speed, TRAINING_LINE)] if training_speed is not None else []
        if model_speeds.get(title):  # a G-RNN (None) or a one-copy set (0) has no set to mark
            boxes.append((int(model_speeds[title]), SET_LINE))
        shapes = [dict(type="rect", xref="x", yref="y", line=line, **box) for speed, line in boxes
                  if (box := _speed_box(axes, flow, speed)) is not None]
        layout = dict(
            height=height or (430 if axes.shape[0] > 1 else 230), margin=dict(l=8, r=8, t=36, b=8),
            title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15, color=TEXT_COLOR)),
            xaxis=dict(title=dict(text=f"{axes.column_name} ({words(flow).unit})", standoff=4), constrain="domain",
                       showgrid=False, fixedrange=True, **_column_ticks(axes, flow)),
            yaxis=dict(title=dict(text=axes.row_name), dtick=1, autorange="reversed", scaleanchor="x",
                       constrain="domain", showgrid=False, fixedrange=True, showticklabels=bool(axes.row_name)),
            shapes=shapes,
        )
        figures.append(figure([trace], layout, []))
    return figures
