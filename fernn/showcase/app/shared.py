"""The app's shared names: the session and widget keys read or written in more than one place, the
link binding, and the constants that several sections and views use.

A widget made with ``bind=BIND`` mirrors its value in the URL, so a link reproduces the view;
:func:`fernn.showcase.links.demo_link_fields` repeats those widgets' ranges and options (a test
checks that they agree).
"""

from __future__ import annotations

import fernn.showcase as showcase
from fernn.flows import TRANSLATION, Rotation

BIND = "query-params"
CHART = dict(config={"displayModeBar": False, "responsive": True})  # plotly's toolbar would cover the titles
# The comparison animation's height in px: at 1440x900 its Play button sits above the fold under the
# title, headline and metrics (its panels 126 px); on a 390 px phone (panels bound by the width) the
# first row of panels ends at the bottom of the first screen.
ANIMATION_HEIGHT = 470
WAITING = "⏳ Waiting for a free slot: other visitors' runs are ahead."
TABS = ("Comparison", "Inside", "Velocities", "Classify", "About")  # short: all five fit a 420 px phone
RENAMED_TABS = {"Inside the models": "Inside", "Velocity generalisation": "Velocities", "What am I looking at?": "About"}

MAX_DIGIT_SPEED = 4  # per-digit velocity sliders: -4..4 px/frame on each axis, or -4..4 rotation steps
# The motions a visitor can push digits with, and the checkpoint pair each opens with.
TRANSLATE, ROTATE, WORLD = "Translate", "Rotate", "World"
MOTIONS = (TRANSLATE, ROTATE, WORLD)
DEFAULT_PAIRS = {TRANSLATE: ("grnn", "fernn"), ROTATE: ("rotation/grnn", "rotation/fernn")}  # model folders
ROTATION = Rotation(order=12)  # the shipped rotation models' group (30-degree steps): the link's angle grid
# The flow each motion moves digits by when no loaded model names its own (a rotation model's group).
MOTION_FLOWS = {TRANSLATE: TRANSLATION, ROTATE: ROTATION, WORLD: TRANSLATION}
# World: the world models' torus (MNIST World's), and the digits' velocity sliders (training: -1..1).
WORLD_SIZE, WORLD_DIGIT_SPEED = 48, 2
ANGULAR_VELOCITIES = tuple(str(round(k * ROTATION.step_degrees)) for k in range(-MAX_DIGIT_SPEED, MAX_DIGIT_SPEED + 1))
START_ANGLES = tuple(str(round(k * ROTATION.step_degrees)) for k in range(ROTATION.order))
VELOCITY_CHOICES = (showcase.AUTO, showcase.AS_TRAINED, *map(str, range(showcase.MAX_SET_SPEED + 1)))

# Session and widget keys. The digit inputs are written by "Random test digits" too, the model
# slots by a change of motion, the seed and source read by other sections.
SOURCE = "source"
DIGITS = ("digit1", "digit2")  # the MNIST test digit of slot 1 and slot 2
MOTION = "motion"
MODEL_A, MODEL_B, MODEL_C = "model_a", "model_b", "model_c"
MODEL_UPLOAD = "model_upload"
SEED = "seed"
FLICKER = "flicker"
LINK_CHECKED, LINK_NOTES = "link_checked", "link_notes"

NONE = "(none)"  # an empty model slot
# (widget key, label): the paper compares three models (G-RNN, FERNN-V1, FERNN-V2); the third is optional.
SLOTS = ((MODEL_A, "Model 1"), (MODEL_B, "Model 2"), (MODEL_C, "Model 3 (optional)"))
MAX_OWN = 3  # own checkpoints a session holds at once
OWN = "⬆ "  # marks a visitor's own checkpoint in the model lists
