"""fernn: Flow Equivariant Recurrent Neural Networks (Keller, arXiv 2507.14793) in PyTorch.

Shape glossary, used in every docstring and shape comment:

    B  batch             T  time (frames)          V  velocity copies (|V|)
    C  channels          H  height (rows, dy)      W  width (columns, dx)

Hidden states are ``(B, V, C, H, W)`` per step and ``(B, T, V, C, H, W)`` over a run; frames
are ``(B, T, 1, H, W)``. Velocities are ``(dy, dx)`` integer pairs, positive toward larger
indices (see :mod:`fernn.flows`).
"""

from fernn import devices, flows, testing
from fernn.cells import FlowRNNCell
from fernn.checkpoints import (CheckpointError, from_pretrained, load_checkpoint, register_model, save_checkpoint,
                               save_pretrained)
from fernn.classifier import Classifier, ClassifierConfig, build_classifier
from fernn.devices import resolve_device
from fernn.flows import velocity_set
from fernn.models import Forecast, Forecaster, ModelConfig, build_model
from fernn.research import load_research_checkpoint
from fernn.testing import flow_equivariance_error
from fernn.world import WorldConfig, WorldFERNN, WorldGRNN, build_world_model

# The heads fernn ships beyond the forecaster and the classifier: checkpoints name them by these kinds.
# Registered here, where the package is assembled (importing any fernn module runs this first), so the
# world models need not import the checkpoint format.
register_model("world-fernn", WorldFERNN)
register_model("world-grnn", WorldGRNN)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "Classifier",
    "ClassifierConfig",
    "FlowRNNCell",
    "Forecast",
    "Forecaster",
    "ModelConfig",
    "WorldConfig",
    "WorldFERNN",
    "WorldGRNN",
    "build_classifier",
    "build_model",
    "build_world_model",
    "devices",
    "flow_equivariance_error",
    "flows",
    "from_pretrained",
    "load_checkpoint",
    "load_research_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "save_pretrained",
    "testing",
    "velocity_set",
]
