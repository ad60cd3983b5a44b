"""What every section measures: the app's canvas and frame counts, the shipped models' configuration."""

from __future__ import annotations

from pathlib import Path

SHIPPED = {"G-RNN": Path("pretrained/grnn"), "FERNN": Path("pretrained/fernn")}
# The step and training benches' width: the first shipped pair's (hidden 16), kept so that their
# figures compare across dates (docs/performance.md).
SHIPPED_HIDDEN, SHIPPED_DECODER_LAYERS, SHIPPED_MAX_SPEED = 16, 4, 2
# The demo pair's width (pretrained/grnn, pretrained/fernn), used when its files are not there.
DEMO_HIDDEN = 24
# The rotation pair (preset rot-*): C_12, 4 fields (48 channels), the FERNN-R with V = {-2..2} steps.
SHIPPED_ROTATION = {"G-RNN": Path("pretrained/rotation/grnn"), "FERNN": Path("pretrained/rotation/fernn")}
ROTATION_ORDER, ROTATION_HIDDEN = 12, 48
CANVAS = 28
CONTEXT, PREDICT = 10, 10
# The shipped world models (preset world-*), the app's World motion; its row is left out without them.
SHIPPED_WORLD = {"FERNN": Path("pretrained/world/fernn"), "G-RNN": Path("pretrained/world/grnn")}
# The app rows' pair of each flow, by the flow's registry name: (hidden width of the fallback build, shipped files).
SHAPES = {"translation": (DEMO_HIDDEN, SHIPPED), "rotation": (ROTATION_HIDDEN, SHIPPED_ROTATION)}
