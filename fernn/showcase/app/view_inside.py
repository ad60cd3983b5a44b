"""The Inside tab: the models' hidden states over time (pooled or the digit's copy, optionally
motion-stabilised), the state drift of the copy moving with digit 1, and the velocity read-out."""

from __future__ import annotations

import streamlit as st

import fernn.showcase as showcase
from fernn.showcase import viz
from fernn.showcase.app.shared import BIND, CHART
from fernn.flows.words import words


def show(comparison: showcase.Comparison) -> None:
    """The hidden-state animation of the chosen channels, the drift and the read-out's notes."""
    channels = st.multiselect("Hidden channels", list(range(min(r.hidden_channels for r in comparison.runs))),
                              default=list(range(min(4, *(r.hidden_channels for r in comparison.runs)))),
                              key="channels", bind=BIND, max_selections=8)
    if note := words(comparison.flow).describe_channels(channels):  # a state with a group axis: which field, which angle
        st.caption(note)
    left, right = st.columns(2)
    view = left.radio("FERNN state", ("pooled", "copy"), key="view", bind=BIND, horizontal=True,
                      help="pooled: max over the velocity copies. copy: the copy read out as the input's velocity.")
    stabilised = right.toggle("Motion-stabilised", value=True, key="stabilised", bind=BIND,
                              help="Move every map back by the first digit's motion so far (for rotation: turn it back).")
    st.markdown("State drift of the copy moving with digit 1 (0 = it moves exactly with the digit): "
                + showcase.drift_summary(comparison),
                help="Mean over the context frames of ‖its motion-stabilised state − the state of the same scene "
                     "seen from the digit's moving frame‖ ÷ ‖that state‖. A FERNN copy whose velocity is the "
                     "digit's gives 0 (flow equivariance); a G-RNN, or a velocity outside the set, drifts by O(1).")
    if channels:
        st.plotly_chart(viz.hidden_animation(comparison, channels, stabilised=stabilised, view=view), key="hidden",
                        **CHART)
    for note, warning in showcase.readout_notes(comparison):
        (st.warning if warning else st.markdown)(note)
