"""The Classify tab: digit 1 of the sidebar, at its velocity, through a flicker (a few pixels per
frame), and every shipped classifier's answer after each frame, with the recorded accuracy per
speed. The shipped classifiers read translating digits only.

Not a fragment: the flicker seed is in the link, and only a full run redraws the sidebar's link.
"""

from __future__ import annotations

import streamlit as st

import fernn.showcase as showcase
from fernn.showcase import serving, viz
from fernn.showcase.app import resources
from fernn.datasets import flicker
from fernn.showcase.app.shared import (BIND, CHART, DIGITS, FLICKER, MOTION_FLOWS, SOURCE, VELOCITY_CHOICES,
                                       WAITING)


def reads(motion: str) -> bool:
    """Whether the classifiers read digits moving under ``motion`` (they were trained on Flickering MNIST's flow)."""
    return MOTION_FLOWS[motion].name == flicker.FLOW.name


def show(motion: str, models: dict, versions: tuple, digit: showcase.Digit | None, problem: str, severity: str, *,
         shipped: bool) -> None:
    """The view for the ``models`` loaded from the classifiers' folder (``shipped``: any file was
    there), or what to change first: the motion, the classifiers' files, or the digit."""
    if not reads(motion):
        st.info("The shipped classifiers read translating digits: choose **Translate** under 2 · Motion.")
        return
    if not models:  # none shipped yet (said plainly), or each file's problem is shown above the tabs
        if not shipped:
            st.info(showcase.classifiers_missing(f"{resources.checkpoint_dir().name}/{resources.classify_dir().name}"))
        return
    left, middle, right = st.columns([3, 3, 2], vertical_alignment="bottom")
    choice = left.selectbox("FERNN velocity set", VELOCITY_CHOICES, key="cvset", bind=BIND,
                            help="'as trained' keeps the classifier's own set; 'auto' widens it to the digit's speed "
                                 "(a peak-pooled FERNN: one trained radius beyond, so its window is whole).")
    seed = middle.number_input("Flicker seed", 0, 2**31 - 1, key=FLICKER, bind=BIND,
                               help="Which pixels each frame shows; the link keeps it.")
    right.button("New flicker", key="new_flicker", on_click=lambda: st.session_state.update(
        {FLICKER: (int(st.session_state.get(FLICKER, 0)) + 1) % 2**31}))
    peak = choice == showcase.AUTO and any(showcase.peak_pooled(model) for model in models.values())
    reach = " A peak-pooled FERNN reaches one trained radius further, so its window around the digit is whole." if peak else ""
    st.caption(f"{showcase.describe_velocity_choice(choice)}{reach} Digit 1 of the sidebar, at its velocity.")
    if problem or digit is None:
        getattr(st, severity)(problem or "Choose a digit in the sidebar.")
        return
    labels, index = resources.test_digits()[1], st.session_state.get(DIGITS[0])
    truth = int(labels[index]) if st.session_state.get(SOURCE) == "MNIST" and index is not None else None
    key = ("classify", versions, digit.image.tobytes(), digit.velocity, digit.start, seed, choice, truth)
    notice = st.empty()  # the queue's notice, gone when the answer comes
    try:
        result = serving.run_cached(*resources.server(), key, lambda: showcase.classify(
            models, showcase.flicker_scene(digit, seed=int(seed)), velocities=showcase.velocity_choice(choice),
            true_class=truth), on_wait=lambda: notice.info(WAITING))
    except (ValueError, RuntimeError, MemoryError) as error:  # DemoError is a ValueError
        notice.error(f"Cannot classify this digit: {error}")
        return
    notice.empty()
    st.markdown(showcase.classify_headline(result))
    with st.container(horizontal=True):  # side by side while they fit, even on a phone
        for run in result.runs:
            st.metric(f"{run.name} says", f"{run.answer}{result.mark(run)}", f"{run.confidence:.0%} sure", "gray",
                      delta_arrow="off", help=f"It reads {run.reading} ({run.seconds * 1000:.0f} ms).",
                      width="content")
    st.plotly_chart(viz.classification_animation(result), key="classify_animation", **CHART)
    if series := showcase.ring_series(models):
        st.markdown("Recorded held-out accuracy per speed (every test digit once per ring |v| = 0, 1, …).")
        st.plotly_chart(viz.ring_accuracy_figure(series, training_speed=result.training_max_speed,
                                                 digit_speed=result.flow.speed(digit.velocity)), key="rings", **CHART)
