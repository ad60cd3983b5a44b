"""The Velocities tab: each loaded model's recorded held-out error at every fixed velocity, with
the training range and the velocity set the FERNN ran with marked."""

from __future__ import annotations

import streamlit as st

from fernn.models import Forecaster
import fernn.showcase as showcase
from fernn.flows import Flow
from fernn.showcase import viz
from fernn.showcase.app.shared import CHART
from fernn.flows.words import words


def show(models: dict[str, Forecaster], flow: Flow) -> None:
    """One velocity-grid chart per model that records one (stacked on a phone), or how to record one."""
    panels = showcase.recorded_grids(models)  # title -> (grid, radius of the set it ran with; None: a G-RNN)
    if not panels:
        st.info("No loaded checkpoint records a velocity grid (run `python -m fernn.evaluate --write-metrics`).")
        return
    trained = showcase.shared_training_speed(models) or 1
    st.markdown(f"Held-out test MSE when both digits move at {words(flow).one_velocity()}. Dashed box: the training range "
                f"{words(flow).range_text(trained)}; solid green box: the velocity set the FERNN ran with.")
    figures = viz.velocity_grid_figures({title: grid for title, (grid, _) in panels.items()}, flow=flow,
                                        training_speed=trained,
                                        model_speeds={title: radius for title, (_, radius) in panels.items()})
    for index, (column, figure) in enumerate(zip(st.columns(len(figures)), figures)):  # stacked on a phone
        column.plotly_chart(figure, key=f"grid{index}", **CHART)
