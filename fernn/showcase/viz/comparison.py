"""The forecasting comparison: truth, predictions and errors over time, and the error per step."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fernn.showcase.results import Comparison
from fernn.showcase.viz.panels import (CONTROLS_HEIGHT, animated, figure, image_axes, label_band, log_ticks, mosaic,
                                       mosaic_image, panel_labels)
from fernn.showcase.viz.style import BASELINE_COLOR, DIGIT_COLORSCALE, ERROR_COLORSCALE, MODEL_COLORS

__all__ = ["animate_comparison", "comparison_animation", "comparison_panels", "mse_figure", "mse_floor"]


def frame_titles(comparison: Comparison) -> list[str]:
    context, total = comparison.context_frames, comparison.num_frames
    return [f"frame {t}: INPUT {t + 1}/{context} (the models read it)" if t < context
            else f"frame {t}: prediction {t - context + 1}/{comparison.predict_frames}" for t in range(total)]


def animate_comparison(comparison: Comparison, traces, layout: dict, *, controls_y: float = 0.0,
                       static: tuple[dict, ...] = ()) -> go.Figure:
    """:func:`~fernn.showcase.viz.panels.animated` over a comparison's frames, opening on the last
    prediction (where a model that lost the digit shows it: the first screen tells the story before
    anyone presses Play) and playing from the first prediction."""
    first = min(comparison.context_frames, comparison.num_frames - 1)
    return animated(traces, layout, titles=frame_titles(comparison), start=comparison.num_frames - 1, play_from=first,
                    controls_y=controls_y, static=static)


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

    Digits are white on black, errors inferno from 0 to 1, each row one 8-bit PNG per frame
    (:func:`~fernn.showcase.viz.panels.png_source`). One animation frame per time step;
    the context frames show the input in every panel (titled INPUT), predictions follow; the
    figure opens on the first prediction and its play button loops.
    """
    runs = comparison.runs
    size = comparison.truth.shape[1:]
    columns = 1 + len(runs)
    width = columns * (size[1] + 1) - 1
    band = label_band(width)
    row_height = band + size[0] + 1

    def traces(t: int) -> list[dict]:
        digits, errors = comparison_panels(comparison, t)
        return [mosaic_image(mosaic(digits, columns, band=band), DIGIT_COLORSCALE),
                mosaic_image(mosaic([None, *errors], columns, band=band), ERROR_COLORSCALE, y0=row_height)]

    notes = panel_labels(["Truth", *(run.name for run in runs)], columns, size, band=band)
    # Three models and more: each error panel sits under its model's name; a phone has no room to repeat it.
    errors = [f"{run.name} |error|" if len(runs) < 3 else "|error|" for run in runs]
    notes += panel_labels(["", *errors], columns, size, y0=row_height, band=band)
    layout = dict(height=height, margin=dict(l=4, r=4, t=36, b=CONTROLS_HEIGHT), annotations=notes,
                  **image_axes(width, 2 * row_height - 1))
    return animate_comparison(comparison, traces, layout)


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
        # Over three decades the 2s ran into the powers of ten (2 px at 1440 px, 12 px at 390 px).
        yaxis=dict(title=dict(text="MSE per frame (log)"), type="log", exponentformat="power",
                   range=[np.log10(floor) - 0.1, np.log10(top) + 0.2], dtick=log_ticks(floor, top, decades=2)),
        legend=dict(orientation="h", y=-0.25, x=0),
        shapes=[dict(type="rect", xref="x", yref="paper", x0=-0.5, x1=context - 0.5, y0=0, y1=1,
                     fillcolor="rgba(128,128,128,0.15)", line=dict(width=0), layer="below")],
        annotations=[dict(x=(context - 1) / 2, y=1.0, xref="x", yref="paper", text="input (context)",
                          showarrow=False, yanchor="bottom"),
                     dict(x=context - 0.5, y=1.0, xref="x", yref="paper", text=" prediction →", showarrow=False,
                          xanchor="left", yanchor="bottom")],
    )
    return figure(data, layout, [])
