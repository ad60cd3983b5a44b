"""A model card's validation curve: a small line chart, readable in a phone's width."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from fernn.showcase.viz.panels import log_ticks
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
    # 200 px high: past one decade even the 2s and 5s run into the powers of ten.
    positive = [value for value in mse if value > 0] or [1.0]
    fig.update_yaxes(type="log", exponentformat="power", dtick=log_ticks(min(positive), max(positive), decades=1))
    return fig
