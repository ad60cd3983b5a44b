"""The figures' shared look: colour scales, model colours, text colour and animation timing."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.colors as pc

__all__ = ["BASELINE_COLOR", "DIGIT_COLORSCALE", "ERROR_COLORSCALE", "FRAME_MS", "HIDDEN_COLORSCALE", "LOOPS",
           "MODEL_COLORS", "MSE_COLORSCALE", "TEXT_COLOR", "explicit_scale"]


def explicit_scale(colors: Sequence[str]) -> list[list]:
    """Explicit ``[[position, "rgb(r, g, b)"], ...]`` from hex colours.

    Explicit, because plotly.js knows only a few colorscale names and these figures skip the
    validation that would expand plotly.py's. ``rgb()`` strings, because Streamlit's chart theme
    rewrites the hex colours ``#000001``..``#000040`` (its placeholders; inferno starts at
    ``#000004``) to theme colours.
    """
    return [[index / (len(colors) - 1), "rgb({}, {}, {})".format(*pc.hex_to_rgb(color))]
            for index, color in enumerate(colors)]


DIGIT_COLORSCALE = explicit_scale(["#000000", "#FFFFFF"])
ERROR_COLORSCALE = explicit_scale(pc.sequential.Inferno)
HIDDEN_COLORSCALE = explicit_scale(pc.sequential.Viridis)
MSE_COLORSCALE = explicit_scale(pc.sequential.Magma)
# Plotly's default qualitative colours, one per model, and a neutral one for the baseline.
MODEL_COLORS = ("#EF553B", "#636EFA", "#00CC96", "#AB63FA")
BASELINE_COLOR = "#9E9E9E"
FRAME_MS = 250
LOOPS = 20  # times the play button runs through the frames before it stops
TEXT_COLOR = "#444444"  # panel and plot titles: 9.7:1 contrast on white, legible on dark too
