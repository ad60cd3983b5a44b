"""Streamlit demo of fernn: push digits past the training velocities, compare G-RNN and FERNN.

Run with ``streamlit run app.py``. This file wires the page: one call per sidebar section and per
view, each a module of :mod:`fernn.showcase.app`; every computation lives in :mod:`fernn.showcase`
and every figure in :mod:`fernn.showcase.viz`.
"""

from __future__ import annotations

import streamlit as st

import fernn.paper as paper
import fernn.showcase as showcase
from fernn.showcase.app import (page_scripts, resources, sidebar_digits, sidebar_link, sidebar_models, sidebar_world,
                                view_about, view_classify, view_comparison, view_inside, view_velocities, view_world,
                                warmup)
from fernn.showcase.app.shared import BIND, TABS, WORLD


def main() -> None:
    st.set_page_config(page_title="FERNN vs G-RNN", page_icon="🌀", layout="wide")
    if not resources.server_ready():
        return
    sidebar_link.check_on_arrival()
    st.title("FERNN vs G-RNN: digits faster than any in training")
    st.caption("A G-RNN (conv RNN) against a FERNN with the same weights' shapes, from [Keller, *Flow Equivariant "
               f"Recurrent Neural Networks*, NeurIPS 2025]({paper.URL}). Set digits and speeds in the sidebar.")
    top = st.empty()  # progress, queue and errors: where the eye is
    sidebar_link.show_notes()
    input_box, motion_box, settings_box = st.sidebar.container(), st.sidebar.container(), st.sidebar.container()
    with motion_box:  # read first: the motion picks the default models
        motion = sidebar_digits.choose_motion_kind()
    link_box, alerts = st.sidebar.container(), st.container()  # alerts: checkpoint problems, above the tabs
    with link_box:  # on a phone the sidebar closes itself after a change, so the result is in view
        page_scripts.close_sidebar_after_change()
    comparison_tab, inside_tab, grid_tab, classify_tab, about_tab = st.tabs(TABS, key="tab", bind=BIND)
    classifying = classify_tab.open is True and view_classify.reads(motion)  # only the open tab's content runs
    with input_box:
        chosen, problem, severity = sidebar_digits.choose_digits()
    if motion == WORLD:  # its own models, controls and views
        with motion_box:
            choice = sidebar_world.choose_world(chosen)
        result = view_world.run(top, choice, problem, severity)
        for tab in (inside_tab, grid_tab, classify_tab):
            tab.caption("World shows everything in the Comparison tab; the other tabs read Translate and Rotate.")
        if about_tab.open is not False:
            with about_tab:
                view_about.show(view_world.world_models())
        if result is not None and comparison_tab.open is not False:
            with comparison_tab:
                view_world.show(result)
        with link_box:
            sidebar_link.share(motion)
        return
    with settings_box:
        settings = sidebar_models.choose_settings(motion)
    classifiers = resources.classifier_paths()
    with alerts:
        models, versions = (sidebar_models.load_models(classifiers, showcase.CLASSIFIER_FILES) if classifying
                            else sidebar_models.load_models(settings.paths))
    flow = sidebar_digits.motion_flow(motion, models)
    with motion_box:  # drawn second, shown second: it needs the models' training range
        digits = sidebar_digits.choose_motion(chosen, showcase.shared_training_speed(models), flow)
    if classify_tab.open is True:
        with classify_tab:
            view_classify.show(motion, models, versions, digits[0] if chosen[0] is not None else None, problem,
                               severity, shipped=bool(classifiers))
    else:  # only the open tab is drawn and sent: the hidden-state animation alone is megabytes
        if about_tab.open is not False:
            with about_tab:
                view_about.show(models)
        if grid_tab.open is not False:
            with grid_tab:
                view_velocities.show(models, flow)
        comparison = view_comparison.run(top, models, versions, digits, settings, flow=flow, problem=problem,
                                         severity=severity)
        if comparison is not None and comparison_tab.open is not False:
            with comparison_tab:
                view_comparison.show(comparison, models, versions, settings)
        if comparison is not None and inside_tab.open is not False:
            with inside_tab:
                view_inside.show(comparison)
    with link_box:  # last: every widget of this run has written its value to the link
        sidebar_link.share(motion)


if __name__ == "__main__":  # each visitor's run of the page
    main()
else:  # `streamlit run app.py` imports this file to serve it: through st.App, warm before it listens
    app = st.App(__file__, lifespan=warmup.lifespan)
