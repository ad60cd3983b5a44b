"""What a loaded model's checkpoint says about it: its training and evaluation record, and
whether its weights can give meaningful output at all."""

from __future__ import annotations

import torch

from ..checkpoints import CheckpointRecord
from ..models import Forecaster

__all__ = ["is_evaluated", "record", "training_max_speed", "weights_problem"]


def record(model: Forecaster) -> CheckpointRecord:
    """The checkpoint's training and evaluation record (empty for a model built in code)."""
    return CheckpointRecord.from_metrics(getattr(model, "metrics", None))


def weights_problem(model: Forecaster) -> str:
    """Why a model's weights cannot give meaningful output (NaN or inf), or ``""``."""
    bad = [name for name, tensor in model.state_dict().items() if not torch.isfinite(tensor).all()]
    if bad:
        return f"its weights hold NaN or infinite values ({', '.join(bad[:3])}); the training run that made it diverged"
    return ""


def is_evaluated(model: Forecaster) -> bool:
    """Whether the checkpoint recorded an evaluation; without one its numbers are not results."""
    return record(model).evaluated


def training_max_speed(model: Forecaster) -> int | None:
    """The per-axis speed limit of the model's training data, as its checkpoint records it."""
    return record(model).training_max_speed
