"""What every section measures: the app's canvas and frame counts, the shipped models' configuration."""

from __future__ import annotations

from pathlib import Path

SHIPPED = {"G-RNN": Path("pretrained/grnn.pt"), "FERNN": Path("pretrained/fernn.pt")}
# The shipped models' configuration, used when the checkpoint files are not there.
SHIPPED_HIDDEN, SHIPPED_DECODER_LAYERS, SHIPPED_MAX_SPEED = 16, 4, 2
# The rotation pair (preset rot-*): C_12, 4 fields (48 channels), the FERNN-R with V = {-2..2} steps.
SHIPPED_ROTATION = {"G-RNN": Path("pretrained/rotation/grnn.pt"), "FERNN": Path("pretrained/rotation/fernn.pt")}
ROTATION_ORDER, ROTATION_HIDDEN = 12, 48
CANVAS = 28
CONTEXT, PREDICT = 10, 10
