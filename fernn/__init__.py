"""fernn: Flow Equivariant Recurrent Neural Networks (Keller, arXiv 2507.14793) in PyTorch.

Shape glossary, used in every docstring and shape comment:

    B  batch             T  time (frames)          V  velocity copies (|V|)
    C  channels          H  height (rows, dy)      W  width (columns, dx)

Hidden states are ``(B, V, C, H, W)`` per step and ``(B, T, V, C, H, W)`` over a run; frames
are ``(B, T, 1, H, W)``. Velocities are ``(dy, dx)`` integer pairs, positive toward larger
indices (see :mod:`fernn.flows`).
"""

from . import data, devices, flows, testing
from .cells import FlowRNNCell
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .classifier import Classifier, ClassifierConfig, build_classifier
from .devices import resolve_device
from .flows import velocity_set
from .models import Forecast, Forecaster, ModelConfig, build_model
from .research import load_research_checkpoint
from .testing import flow_equivariance_error

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "Classifier",
    "ClassifierConfig",
    "FlowRNNCell",
    "Forecast",
    "Forecaster",
    "ModelConfig",
    "build_classifier",
    "build_model",
    "data",
    "devices",
    "flow_equivariance_error",
    "flows",
    "load_checkpoint",
    "load_research_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "testing",
    "velocity_set",
]
