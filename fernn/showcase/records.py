"""What a loaded model's checkpoint says about it: its training and evaluation record, and
whether its weights can give meaningful output at all."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from fernn.models import Forecaster
from fernn.records import ForecasterEvaluation, VelocityGrid, record_of
from fernn.showcase.planning import set_radius

__all__ = ["frames_notes", "is_evaluated", "recorded_grids", "recorded_test_mse", "shared_training_speed", "training_max_speed",
           "weights_problem"]


def weights_problem(model: Forecaster) -> str:
    """Why a model's weights cannot give meaningful output (NaN or inf), or ``""``."""
    bad = [name for name, tensor in model.state_dict().items() if not torch.isfinite(tensor).all()]
    if bad:
        return f"its weights hold NaN or infinite values ({', '.join(bad[:3])}); the training run that made it diverged"
    return ""


def is_evaluated(model: Forecaster) -> bool:
    """Whether the checkpoint recorded an evaluation; without one its numbers are not results."""
    return record_of(model).evaluated


def training_max_speed(model: Forecaster) -> int | None:
    """The per-axis speed limit of the model's training data, as its checkpoint records it: in
    its training settings or, for a classifier, in its evaluation's (``training_max_speed``)."""
    return record_of(model).training_max_speed


def shared_training_speed(models: Mapping[str, Forecaster]) -> int | None:
    """The fastest training speed any of ``models`` records (``None`` when none does)."""
    speeds = {training_max_speed(model) for model in models.values()} - {None}
    return max(speeds) if speeds else None


def recorded_grids(models: Mapping[str, Forecaster]) -> dict[str, tuple[VelocityGrid, int | None]]:
    """Every velocity grid the models' checkpoints record, by panel title, each with the radius of
    the velocity set it ran with (``None`` for a G-RNN): a FERNN's own grid and its widened one."""
    panels = {}
    for name, model in models.items():
        found = record_of(model).evaluation
        if not isinstance(found, ForecasterEvaluation):
            continue
        own = set_radius(model.velocities, model.flow) if model.config.kind.lifted else None
        if found.velocity_grid is not None:
            panels[name] = (found.velocity_grid, own)
        if found.widened_velocity_grid is not None and found.widened_max_speed:
            r = found.widened_max_speed
            panels[f"{name}, V = {{−{r}…{r}}}²"] = (found.widened_velocity_grid, r)
    return panels


def frames_notes(models: Mapping[str, Forecaster], *, context_frames: int, predict_frames: int) -> list[str]:
    """A note (Markdown) for each model that this run asks for more than it was trained on: more
    predicted frames than its training reached, or another number of context frames. Speeds beyond
    the training range are said by the headline."""
    notes = []
    for name, model in models.items():
        training = record_of(model).training
        if training is None or training.predict_frames is None:
            continue
        reached = max(training.predict_frames, training.final_predict_frames or 0)
        if predict_frames > reached:
            notes.append(f"**{name}** was trained to predict up to {reached} frames; this run predicts "
                         f"{predict_frames}, so every frame after the {reached}th is beyond its training.")
        if training.context_frames is not None and context_frames != training.context_frames:
            notes.append(f"**{name}** was trained on {training.context_frames} context frames; this run gives it "
                         f"{context_frames}.")
    return notes


def recorded_test_mse(model: Forecaster) -> float | None:
    """The model's recorded held-out test MSE (velocities inside its training range), or ``None``."""
    evaluation = record_of(model).evaluation
    return evaluation.test_mse if isinstance(evaluation, ForecasterEvaluation) else None
