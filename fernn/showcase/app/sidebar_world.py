"""The sidebar's World controls (2 · Motion when the motion is World): each digit's velocity and
start on the world's torus, and the observer's path (look away and back, chase, sweep, circle, or
moves of the visitor's own)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

import fernn.showcase.world as world
from fernn.flows import TRANSLATION, Velocity
from fernn.showcase.scenes import Digit
from fernn.showcase.app.shared import BIND, WORLD_DIGIT_SPEED, WORLD_SIZE
from fernn.showcase.app.sidebar_digits import velocity_sliders

# Digit 1 sits in the first window (the look-away protocol's placement); digit 2 elsewhere, moving.
DEFAULT_STARTS, DEFAULT_VELOCITIES = ((0, 0), (26, 24)), ((0, 0), (1, 0))

# MNIST World's training data: every digit at |v| <= 1 px/frame.
WORLD_TRAINING_SPEED = 1


@dataclass(frozen=True)
class WorldChoice:
    """What the World controls chose: the digits (those with an image), the path and its moves, or why
    the moves cannot be read."""

    digits: tuple[Digit, ...]
    path: str
    moves: tuple[Velocity, ...]
    problem: str


def choose_world(chosen: list[tuple[np.ndarray, str] | None]) -> WorldChoice:
    """Each slot's velocity and start in world pixels (sliders even while its digit is missing), then
    the observer's path."""
    st.caption(f"A {WORLD_SIZE}x{WORLD_SIZE} world that wraps; the observer sees a 28x28 window (its top-left "
               "at the world's, still while the models read 10 frames). px/frame; **training range −1…1**.")
    digits = []
    for slot, item in enumerate(chosen, start=1):
        dy, dx = velocity_sliders(slot, limit=WORLD_DIGIT_SPEED, default=DEFAULT_VELOCITIES[slot - 1],
                                  keys=(f"wvy{slot}", f"wvx{slot}"), training_speed=WORLD_TRAINING_SPEED,
                                  flow=TRANSLATION)
        with st.expander(f"Start of digit {slot} in the world"):
            y = st.slider("row", 0, WORLD_SIZE - 1, DEFAULT_STARTS[slot - 1][0], key=f"wy{slot}", bind=BIND)
            x = st.slider("column", 0, WORLD_SIZE - 1, DEFAULT_STARTS[slot - 1][1], key=f"wx{slot}", bind=BIND)
        if item is not None:
            digits.append(Digit(item[0], (dy, dx), (y, x), item[1], TRANSLATION))
    path = st.selectbox("Observer's path", world.PATHS, key="path", bind=BIND,
                        help="Look away and back: 12 frames right at 2 px/frame, 12 back. Chase: still for 12 "
                             "frames, then twice digit 1's velocity until caught up. Sweep: one lap right. Circle: "
                             "a square loop home. Own moves: dy,dx per frame, e.g. 0,2 x12; 0,-2 x12.")
    own, problem, moves = world.DEFAULT_MOVES, "", ()
    if path == world.OWN:
        own = st.text_input("Moves (dy,dx xN; …)", world.DEFAULT_MOVES, key="moves", bind=BIND,
                            max_chars=world.MAX_MOVES_CHARS)
    try:
        chased = digits[0].velocity if digits else (0, 1)
        moves = tuple(world.world_actions(path, chased=chased, own=own))
    except ValueError as error:
        problem = f"Cannot read these moves: {error}."
    return WorldChoice(tuple(digits), path, moves, problem)
