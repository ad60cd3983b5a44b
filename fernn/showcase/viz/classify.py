"""Classifying a flickering digit: the frames as the models see them and every model's class
probabilities, animated together, and the recorded accuracy per velocity ring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from fernn.showcase.classify import Classification, RingSeries
from fernn.showcase.viz.panels import CONTROLS_HEIGHT, animated, figure
from fernn.showcase.viz.style import BASELINE_COLOR, DIGIT_COLORSCALE, MODEL_COLORS, TEXT_COLOR

__all__ = ["classification_animation", "ring_accuracy_figure", "tracked_class"]

TRUE_CLASS_FILL = "rgba(0, 204, 150, 0.18)"  # behind the true class's bars: visible on light and dark pages
BARS_LEFT = 0.4  # where the bar chart starts: room for its tick labels right of the frame, even at 420 px


def tracked_class(result: Classification) -> tuple[int, str]:
    """The class whose probability the line chart follows, and how to name it: the true class
    when known, else the first model's final answer."""
    if result.true_class is not None:
        return result.true_class, f"the true class, {result.true_class}"
    first = result.runs[0]
    return first.answer, f"{first.answer}, the {first.name}'s answer"


def _panel_title(text: str, x: float, y: float) -> dict:
    return dict(text=text, showarrow=False, xref="paper", yref="paper", x=x, y=y, xanchor="left", yanchor="bottom",
                align="left", font=dict(size=13, color=TEXT_COLOR))


def classification_animation(result: Classification, *, height: int = 620) -> go.Figure:
    """One animation frame per input frame ``t``: the masked frame as the models read it (top
    left), every model's class probabilities after reading frames ``0..t`` (top right, the true
    class shaded when known), and the probability of the tracked class (:func:`tracked_class`)
    after every frame, with the current frame marked (bottom). Opens on the last frame (the
    final answers); play runs from the first frame and loops.
    """
    runs, seen = result.runs, result.scene.seen
    total, classes = seen.shape[0], runs[0].probabilities.shape[1]
    frames_read = np.arange(1, total + 1)
    tracked, tracked_name = tracked_class(result)
    colors = {run.name: MODEL_COLORS[i % len(MODEL_COLORS)] for i, run in enumerate(runs)}

    def traces(t: int) -> list[dict]:
        out = [dict(type="heatmap", z=seen[t], colorscale=DIGIT_COLORSCALE, zmin=0.0, zmax=1.0, showscale=False,
                    xaxis="x", yaxis="y", hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra>seen</extra>")]
        for run in runs:
            out.append(dict(type="bar", x=np.arange(classes), y=run.probabilities[t], name=run.name,
                            legendgroup=run.name, marker=dict(color=colors[run.name]), xaxis="x2", yaxis="y2",
                            hovertemplate="p(%{x}) = %{y:.0%}<extra>" + run.name + "</extra>"))
        for run in runs:
            out.append(dict(type="scatter", x=frames_read, y=run.probabilities[:, tracked], mode="lines",
                            line=dict(color=colors[run.name], width=2.5), legendgroup=run.name, showlegend=False,
                            xaxis="x3", yaxis="y3",
                            hovertemplate=f"after frame %{{x}}: p({tracked}) = %{{y:.0%}}<extra>{run.name}</extra>"))
        out.append(dict(type="scatter", x=[t + 1] * len(runs), y=[run.probabilities[t, tracked] for run in runs],
                        mode="markers", marker=dict(size=10, color=[colors[run.name] for run in runs],
                                                    line=dict(width=1.5, color="white")),
                        showlegend=False, hoverinfo="skip", xaxis="x3", yaxis="y3"))
        out.append(dict(type="scatter", x=[t + 1, t + 1], y=[0, 1], mode="lines", showlegend=False, hoverinfo="skip",
                        line=dict(color=BASELINE_COLOR, width=1, dash="dot"), xaxis="x3", yaxis="y3"))
        return out

    hidden_axis = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    size = seen.shape[-1]
    ticks = [f"<b>{c}</b>" if c == result.true_class else str(c) for c in range(classes)]
    shapes = []
    if result.true_class is not None:
        shapes.append(dict(type="rect", xref="x2", yref="y2", x0=result.true_class - 0.5, x1=result.true_class + 0.5,
                           y0=0, y1=1, fillcolor=TRUE_CLASS_FILL, line=dict(width=0), layer="below"))
    chance = 1 / classes
    shapes.append(dict(type="line", xref="x3", yref="y3", x0=0.5, x1=total + 0.5, y0=chance, y1=chance,
                       line=dict(color=BASELINE_COLOR, width=1, dash="dash")))
    layout = dict(
        height=height, margin=dict(l=8, r=44, t=100, b=40 + CONTROLS_HEIGHT), barmode="group", bargap=0.2,
        bargroupgap=0.05,
        plot_bgcolor="rgba(0, 0, 0, 0)",
        # Each axis is anchored to its partner: plotly's default puts every x axis under the first y axis.
        xaxis=dict(hidden_axis, domain=[0.0, 0.28], range=[-0.5, size - 0.5], constrain="domain", anchor="y",
                   constraintoward="left"),  # the square frame sits under its title, level with the bars' top
        yaxis=dict(hidden_axis, domain=[0.55, 1.0], range=[size - 0.5, -0.5], scaleanchor="x", constrain="domain",
                   anchor="x", constraintoward="top"),
        xaxis2=dict(domain=[BARS_LEFT, 1.0], tickvals=list(range(classes)), ticktext=ticks, anchor="y2",
                    range=[-0.5, classes - 0.5], title=dict(text="class", standoff=4), fixedrange=True),
        # Its ticks on the right: on a phone the left ones run into the frame's title.
        yaxis2=dict(domain=[0.55, 1.0], range=[0, 1], tickformat=".0%", dtick=0.5, anchor="x2", fixedrange=True,
                    side="right"),
        xaxis3=dict(domain=[0.0, 1.0], range=[0.5, total + 0.5], dtick=1 if total <= 20 else None, anchor="y3",
                    title=dict(text="frames read", standoff=4), fixedrange=True),
        yaxis3=dict(domain=[0.0, 0.32], range=[0, 1.02], tickformat=".0%", dtick=0.5, anchor="x3", fixedrange=True),
        shapes=shapes,
        # The frame's title on two lines: on one it runs into the bars' title on a 390 px phone.
        annotations=[_panel_title("as the models<br>see it", 0.0, 1.0),
                     _panel_title("class probabilities", BARS_LEFT, 1.0),
                     _panel_title(f"p({tracked_name}) after each frame", 0.0, 0.33),
                     dict(text="chance", showarrow=False, xref="x3", yref="y3", x=0.5, y=chance,
                          xanchor="left", yanchor="bottom", font=dict(size=11, color=TEXT_COLOR))],
        # The legend on a row of its own under the title, clear of the controls at the bottom.
        legend=dict(orientation="h", x=0.0, xanchor="left", yref="container", y=1 - 32 / height, yanchor="top"),
    )
    titles = [f"after frame {t + 1} of {total}" for t in range(total)]
    plot_height = height - layout["margin"]["t"] - layout["margin"]["b"]
    return animated(traces, layout, titles=titles, start=total - 1, play_from=0, controls_y=-40 / plot_height,
                    labels=[str(t + 1) for t in range(total)])


def ring_accuracy_figure(series: Sequence[RingSeries], *, training_speed: int | None = None,
                         digit_speed: int | None = None, chance: float = 0.1, height: int = 380) -> go.Figure:
    """Recorded held-out accuracy per velocity ring ``|v| = 0, 1, ...``: one line per series with
    its 95% interval, one colour per model (dashed: a FERNN widened at inference). Shaded: the
    training range ``|v| <= training_speed``; dotted: the current digit's speed; dashed: chance."""
    if not series:
        raise ValueError("give at least one series of ring accuracies")
    models = list(dict.fromkeys(item.model for item in series))
    data = []
    for item in series:
        rings = item.rings
        accuracy = np.asarray(rings.accuracy)
        color = MODEL_COLORS[models.index(item.model) % len(MODEL_COLORS)]
        data.append(dict(type="scatter", x=list(rings.speeds), y=accuracy, name=item.label, mode="lines+markers",
                         line=dict(color=color, width=2.5, dash="dash" if item.widened else "solid"),
                         marker=dict(size=8, symbol="diamond" if item.widened else "circle"),
                         error_y=dict(type="data", symmetric=False, array=np.asarray(rings.high) - accuracy,
                                      arrayminus=accuracy - np.asarray(rings.low), thickness=1.5, width=4),
                         customdata=np.stack([rings.low, rings.high], axis=1),
                         hovertemplate="|v| = %{x}: %{y:.1%} (95%: %{customdata[0]:.1%}–%{customdata[1]:.1%})"
                                       f"<extra>{item.label}</extra>"))
    top = max(max(item.rings.speeds) for item in series)
    shapes = [dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=chance, y1=chance,
                   line=dict(color=BASELINE_COLOR, width=1, dash="dash"))]
    notes = [dict(text="chance", showarrow=False, xref="paper", yref="y", x=1.0, y=chance, xanchor="right",
                  yanchor="bottom", font=dict(size=11, color=TEXT_COLOR))]
    if training_speed is not None:
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=-0.5, x1=training_speed + 0.5, y0=0, y1=1,
                           fillcolor="rgba(128, 128, 128, 0.15)", line=dict(width=0), layer="below"))
        notes.append(dict(text=f"training |v| ≤ {training_speed}", showarrow=False, xref="x", yref="paper", x=-0.45,
                          y=0.02, xanchor="left", yanchor="bottom", font=dict(size=11, color=TEXT_COLOR)))
    if digit_speed is not None:
        shapes.append(dict(type="line", xref="x", yref="paper", x0=digit_speed, x1=digit_speed, y0=0, y1=1,
                           line=dict(color=TEXT_COLOR, width=1.5, dash="dot")))
        notes.append(dict(text="your digit", showarrow=False, xref="x", yref="paper", x=digit_speed, y=1.0,
                          yanchor="bottom", font=dict(size=11, color=TEXT_COLOR)))
    layout = dict(
        height=height, margin=dict(l=8, r=8, t=28, b=8), hovermode="closest",
        xaxis=dict(title=dict(text="speed |v| (px/frame, the larger axis)"), dtick=1,
                   range=[-0.5, max(top, digit_speed or 0) + 0.5], fixedrange=True),
        yaxis=dict(title=dict(text="held-out accuracy"), range=[0, 1.02], tickformat=".0%", fixedrange=True),
        legend=dict(orientation="h", x=0.0, y=-0.22, xanchor="left", yanchor="top"),
        shapes=shapes, annotations=notes,
    )
    return figure(data, layout, [])
