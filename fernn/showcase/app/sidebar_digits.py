"""The sidebar's digits and their motion: 1 · Input (MNIST test digits, or one drawn or uploaded)
and 2 · Motion (translate or rotate; each digit's velocity and start), in the flow's own terms.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import fernn.showcase as showcase
from fernn.flows import Flow
from fernn.showcase import viz
from fernn.showcase.app import resources
from fernn.showcase.app.shared import (BIND, DEFAULT_PAIRS, DIGITS, MAX_DIGIT_SPEED, MODEL_A, MODEL_B, MOTION, MOTIONS,
                                       MOTION_FLOWS, SEED, SOURCE, TRANSLATE)
from fernn.showcase.app.sidebar_own_digit import own_digit
from fernn.flows.words import words


# What a first visit shows (and what a fresh server computes before it, fernn.showcase.app.warmup):
# MNIST test digits #7 and #3, moving (1, 2) and (-1, 1) px/frame, or turning 2 and -1 rotation steps.
DEFAULT_MNIST = (7, 3)
DEFAULT_VELOCITIES = ((1, 2), (-1, 1))
DEFAULT_ROTATIONS = (2, -1)


def mnist_digit(index: int) -> tuple[np.ndarray, str]:
    """MNIST test digit ``index`` as the demo shows it: ``float32`` in ``[0, 1]``, and its label."""
    images, labels = resources.test_digits()
    return images[index].astype(np.float32) / 255.0, f"MNIST #{index} (a {labels[index]})"


def translated_digit(item: tuple[np.ndarray, str], slot: int, count: int, velocity: tuple[int, int], *,
                     shift: tuple[int, int] = (0, 0), flow: Flow = MOTION_FLOWS[TRANSLATE]) -> showcase.Digit:
    """Digit ``item`` of slot ``slot`` (1-based) of ``count``, moving ``velocity``, started at its
    slot's default place moved by ``shift`` (down, right)."""
    start = showcase.default_starts(count)[slot - 1]
    return showcase.Digit(item[0], velocity, (start[0] + shift[0], start[1] + shift[1]), item[1], flow)


def _random_digits() -> None:
    """"Random test digits": a new pair for both slots, a function of the seed and the press count."""
    draws = st.session_state["random_draws"] = st.session_state.get("random_draws", 0) + 1
    rng = np.random.default_rng([int(st.session_state.get(SEED, 0)), draws])
    st.session_state[DIGITS[0]], st.session_state[DIGITS[1]] = map(
        int, rng.integers(0, len(resources.test_digits()[0]), size=2))


def choose_digits() -> tuple[list[tuple[np.ndarray, str] | None], str, str]:
    """One ``(image, label)`` per digit slot (``None`` where there is none yet), why not, and how
    loudly to say it (``"error"`` or ``"info"``)."""
    st.header("1 · Input")
    source = st.radio("Digit source", ("MNIST", "Draw", "Upload"), key=SOURCE, bind=BIND, horizontal=True)
    count = st.radio("Number of digits", (1, 2), key="digits", bind=BIND, horizontal=True)
    last = len(resources.test_digits()[0]) - 1

    def mnist(slot: int) -> tuple[np.ndarray, str]:
        return mnist_digit(st.number_input(f"MNIST test digit #{slot} (0–{last})", 0, last, DEFAULT_MNIST[slot - 1],
                                           key=DIGITS[slot - 1], bind=BIND))

    chosen, problem = [], ""
    if source == "MNIST":
        chosen.append(mnist(1))
    else:
        digit, problem = own_digit(source, slots=resources.server()[1])
        chosen.append(None if digit is None else (digit, "drawn" if source == "Draw" else "uploaded"))
    if count == 2:
        chosen.append(mnist(2))
    if source == "MNIST" or count == 2:
        st.button("Random test digits", on_click=_random_digits)
    if not problem:
        for column, (image, label) in zip(st.columns(2), chosen):
            column.image(viz.upscale(image, 4), caption=label, clamp=True)
    else:
        chosen[0] = None
    return chosen, problem, "error" if problem.startswith(("Cannot", "This link")) else "info"


def _open_motion_pair() -> None:
    """On a change of motion: open that motion's shipped pair where both files are there."""
    pair, files = DEFAULT_PAIRS.get(st.session_state[MOTION]), resources.checkpoint_files()
    if pair is not None and all(name in files for name in pair):  # World runs its own pair
        st.session_state[MODEL_A], st.session_state[MODEL_B] = pair


def choose_motion_kind() -> str:
    """Translate, Rotate or World; a change opens that motion's shipped pair of models."""
    st.header("2 · Motion")
    return st.radio("Motion", MOTIONS, key=MOTION, bind=BIND, horizontal=True, on_change=_open_motion_pair,
                    help="Translate: digits slide across the canvas (it wraps). Rotate: digits turn about its centre. "
                         "World: digits move in a larger world; an observer sees a window of it and moves.")


def motion_flow(motion: str, models: dict) -> Flow:
    """The flow the digits move by under ``motion``: the loaded models' flow of that kind (a rotation
    model's own group), else the shipped one (:data:`~fernn.showcase.app.shared.MOTION_FLOWS`)."""
    shipped = MOTION_FLOWS[motion]
    return next((model.flow for model in models.values() if model.flow.name == shipped.name), shipped)


def choose_motion(chosen: list[tuple[np.ndarray, str] | None], training_speed: int | None,
                  flow: Flow) -> list[showcase.Digit]:
    """Each slot's velocity and start (sliders even for a slot still waiting for its digit), in
    ``flow``'s terms: ``(dy, dx)`` pixels per frame, or degrees per frame in whole rotation steps."""
    return MOTION_CONTROLS[flow.name](chosen, training_speed, flow)


def velocity_sliders(slot: int, *, limit: int, default: tuple[int, int], keys: tuple[str, str],
                     training_speed: int | None, flow: Flow) -> tuple[int, int]:
    """A digit's (dy, dx) sliders side by side, in -limit..limit px/frame, with a warning when the
    velocity is beyond the training range ``training_speed`` (none when it is not recorded)."""
    left, right = st.columns(2)
    dy = left.slider(f"dy ↓ digit {slot}", -limit, limit, default[0], key=keys[0], bind=BIND)
    dx = right.slider(f"dx → digit {slot}", -limit, limit, default[1], key=keys[1], bind=BIND)
    if training_speed is not None and flow.speed((dy, dx)) > training_speed:
        st.markdown(f":orange[⚠ {words(flow).label((dy, dx))} is **beyond the training range**]")
    return dy, dx


def _translation_motion(chosen: list[tuple[np.ndarray, str] | None], training_speed: int | None,
                        flow: Flow) -> list[showcase.Digit]:
    """:func:`choose_motion` for a translation: each slot's (dy, dx) in px/frame and its start shift."""
    trained = f"−{training_speed}…{training_speed}" if training_speed is not None else "not recorded"
    st.caption(f"px/frame; **training range {trained}** on each axis. dy moves down, dx right; the canvas wraps.")
    digits = []
    for slot, item in enumerate(chosen, start=1):
        dy, dx = velocity_sliders(slot, limit=MAX_DIGIT_SPEED, default=DEFAULT_VELOCITIES[slot - 1],
                                  keys=(f"vy{slot}", f"vx{slot}"), training_speed=training_speed, flow=flow)
        with st.expander(f"Start position of digit {slot}"):
            y = st.slider("shift down", -14, 13, 0, key=f"y{slot}", bind=BIND)
            x = st.slider("shift right", -14, 13, 0, key=f"x{slot}", bind=BIND)
        if item is not None:
            digits.append(translated_digit(item, slot, len(chosen), (dy, dx), shift=(y, x), flow=flow))
    return digits


def _rotation_motion(chosen: list[tuple[np.ndarray, str] | None], training_speed: int | None,
                     flow: Flow) -> list[showcase.Digit]:
    """:func:`choose_motion` for a rotation: each slot's angular velocity and start angle in degrees."""
    step = flow.step_degrees
    trained = f"±{training_speed * step:g}°" if training_speed is not None else "not recorded"
    st.caption(f"°/frame, counter-clockwise positive, in steps of {step:g}°; **training range {trained}**. "
               "Digits turn about the centre and overlap, as in Rotating MNIST.")
    speeds = [round(k * step) for k in range(-MAX_DIGIT_SPEED, MAX_DIGIT_SPEED + 1)]
    angles = [round(k * step) for k in range(flow.order)]
    digits = []
    for slot, item in enumerate(chosen, start=1):
        degrees = st.select_slider(f"ω digit {slot} (°/frame)", speeds, round(DEFAULT_ROTATIONS[slot - 1] * step),
                                   key=f"w{slot}", bind=BIND)
        velocity = round(degrees / step)
        if training_speed is not None and flow.speed(velocity) > training_speed:
            st.markdown(f":orange[⚠ {words(flow).rate(velocity)} is **beyond the training range**]")
        with st.expander(f"Start angle of digit {slot}"):
            start = st.select_slider("start angle (°)", angles, 0, key=f"a{slot}", bind=BIND)
        if item is not None:
            digits.append(showcase.Digit(item[0], velocity, round(start / step), item[1], flow))
    return digits


# Each flow's motion controls, by the flow's registry name.
MOTION_CONTROLS = {"translation": _translation_motion, "rotation": _rotation_motion}
