"""A model card's validation curve: a small line chart, readable in a phone's width."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from fernn.showcase.viz.style import MODEL_COLORS, TEXT_COLOR

__all__ = ["validation_curve_figure"]


def validation_curve_figure(steps: Sequence[int], mse: Sequence[float], *, name: str, color_index: int = 0,
                            height: int = 200) -> go.Figure:
    """Validation MSE (log scale) against the training step, one line, for ``name``'s card."""
    if len(steps) != len(mse) or not steps:
        raise ValueError(f"a validation curve needs as many steps as MSEs, at least one; got {len(steps)} and {len(mse)}")
    if not isinstance(color_index, int) or isinstance(color_index, bool) or color_index < 0:
        raise ValueError(f"color_index must be a whole number >= 0, got {color_index!r}")
    fig = go.Figure(go.Scatter(x=list(steps), y=list(mse), mode="lines+markers", marker=dict(size=4),
                               line=dict(color=MODEL_COLORS[color_index % len(MODEL_COLORS)], width=2),
                               hovertemplate="step %{x:,}: validation MSE %{y:.2e}<extra>" + name + "</extra>"))
    # The title in a top margin of its own, clear of the axis's top label.
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=40, b=8), showlegend=False,
                      title=dict(text="Validation MSE during training", font=dict(size=13, color=TEXT_COLOR), x=0.0,
                                 xanchor="left", y=1.0, yref="container", yanchor="top", pad=dict(t=6)))
    fig.update_xaxes(title=dict(text="step", standoff=2))
    # At 200 px high plotly's own labels (every digit 2..9 of a decade) run together, and past one
    # decade even 2 and 5 run into the powers of ten and the title: 1-2-5 within a decade, whole
    # decades beyond.
    positive = [value for value in mse if value > 0]
    span = math.log10(max(positive) / min(positive)) if positive else 0.0
    fig.update_yaxes(type="log", exponentformat="power", dtick="D2" if span <= 1 else 1)
    return fig
