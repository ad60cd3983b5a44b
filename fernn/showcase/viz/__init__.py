"""Frames, hidden states and classifications -> plotly figures and GIF bytes, for the demo app and notebooks.

Every figure here is self-contained (one slider and one play button drive all of its panels)
and theme-neutral: images are white digits on black whatever the page theme. No streamlit
import: the app passes these figures to ``st.plotly_chart``.

Image panels show arrays of shape ``(H, W)`` with row 0 at the top and ``dy`` pointing down,
the orientation of :mod:`fernn.flows`.

One module per job; a module imports only those listed above it:

    style        colour scales, model colours, text colour, animation timing
    panels       figures from plain dicts with their frames kept plain (Figure), the animation skeleton
                 (animated), image mosaics as 8-bit PNGs (png_source), upscale, log-axis ticks, the
                 JSON a figure is sent as (wire_json)
    comparison   comparison_animation, mse_figure (the forecasting comparison)
    hidden       hidden_animation, velocity_activity_animation (inside the models)
    grids        velocity_grid_figures (recorded test error per velocity, one figure per model)
    gif          comparison_gif (and its gray tiles, label strips)
    world        world_animation, world_gif (the World motion: the world, views, predictions, memories)
    classify     classification_animation, ring_accuracy_figure (classifying a flickering digit)
    cards        validation_curve_figure (a model card's curve)
"""

from __future__ import annotations

from fernn.showcase.viz.classify import classification_animation, ring_accuracy_figure, tracked_class
from fernn.showcase.viz.comparison import comparison_animation, comparison_panels, mse_figure, mse_floor
from fernn.showcase.viz.gif import comparison_gif
from fernn.showcase.viz.grids import velocity_grid_figures
from fernn.showcase.viz.hidden import hidden_animation, velocity_activity_animation
from fernn.showcase.viz.panels import LABEL_BAND, upscale
from fernn.showcase.viz.style import ERROR_COLORSCALE, MODEL_COLORS
from fernn.showcase.viz.world import world_animation, world_gif

__all__ = [
    "ERROR_COLORSCALE",
    "LABEL_BAND",
    "MODEL_COLORS",
    "classification_animation",
    "comparison_animation",
    "comparison_gif",
    "comparison_panels",
    "hidden_animation",
    "mse_figure",
    "mse_floor",
    "ring_accuracy_figure",
    "tracked_class",
    "upscale",
    "velocity_activity_animation",
    "velocity_grid_figures",
    "world_animation",
    "world_gif",
]
