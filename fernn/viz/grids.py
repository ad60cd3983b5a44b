"""Recorded test error over a grid of input velocities, one heat map per model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..flows import TRANSLATION, Flow
from .style import MSE_COLORSCALE, TEXT_COLOR

__all__ = ["velocity_grid_figure"]


def velocity_grid_figure(
    grids: Mapping[str, dict],
    *,
    training_speed: int = 1,
    model_speeds: Mapping[str, int | None] | None = None,
    height: int = 400,
    flow: Flow = TRANSLATION,
) -> go.Figure:
    """Test MSE over a grid of input velocities, one heat map per model, on one log colour scale.

    grids: model name -> ``{"speeds": [...], "mse": [[...]]}`` laid out as ``flow.grid`` lays its
    velocities (translation: ``dy = speeds[i]``, ``dx = speeds[j]``). A dashed box marks the training range
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
        axes = flow.grid(max(abs(int(s)) for s in grids[name]["speeds"]))
        rows, speeds = list(axes.row_values), list(axes.column_values)
        mse = arrays[name]
        where = f"{axes.row_name} %{{y}}, {axes.column_name} %{{x}}" if axes.row_name else f"{axes.column_name} %{{x}}"
        text = [[f"{value:.1g}" for value in row] for row in mse]  # short: 9 columns fit a phone
        fig.add_trace(
            go.Heatmap(z=np.log10(np.maximum(mse, 1e-12)), x=speeds, y=rows, text=text, texttemplate="%{text}",
                       textfont=dict(size=10), colorscale=MSE_COLORSCALE, zmin=low, zmax=high,
                       showscale=column == len(names),
                       colorbar=dict(title=dict(text="log10 MSE"), thickness=12),
                       hovertemplate=f"{where}: MSE %{{text}}<extra>{name}</extra>"),
            row=1, col=column,
        )
        axis = "" if column == 1 else str(column)
        boxes = [(training_speed, dict(color="#00E5FF", width=3, dash="dash"))]
        if model_speeds.get(name):
            boxes.append((int(model_speeds[name]), dict(color="#39FF14", width=4)))  # green: visible on all of magma
        for speed, line in boxes:  # a one-row grid (rotation) boxes its one row
            rise = speed if axes.row_name else 0
            fig.add_shape(type="rect", xref=f"x{axis}", yref=f"y{axis}", x0=-speed - 0.5, x1=speed + 0.5,
                          y0=-rise - 0.5, y1=rise + 0.5, line=line)
        fig.layout[f"xaxis{axis}"].update(title=f"{axes.column_name} ({flow.unit})", tickmode="array",
                                          tickvals=speeds, ticktext=list(axes.column_ticks), constrain="domain",
                                          showgrid=False)
        fig.layout[f"yaxis{axis}"].update(title=axes.row_name if column == 1 else None, dtick=1, autorange="reversed",
                                          showticklabels=bool(axes.row_name),  # one unnamed row: no tick
                                          scaleanchor=f"x{axis}", constrain="domain", showgrid=False)
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=40, b=8))
    fig.update_annotations(font=dict(size=15, color=TEXT_COLOR))  # the subplot titles
    return fig
