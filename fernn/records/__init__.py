"""Typed records of what a checkpoint says about its model: how it was trained, how it did on
held-out data, and its velocity grids.

A checkpoint stores them as plain JSON-ready values (``model.metrics``: ``{"train": ...,
"evaluation": ...}``, written by ``python -m fernn.train --export`` and ``python -m fernn.evaluate
--write-metrics``). :func:`record_of` parses them once into frozen dataclasses; every reader uses
those fields. Parsing is lenient by design: anything missing or malformed becomes ``None`` (or
empty), never an exception, so a checkpoint without records still runs. Records built in code are
stored with :meth:`ModelRecord.to_metrics`.

    ModelRecord            training (TrainingRecord | None) + evaluation (one of the two below | None)
    TrainingRecord         preset, the selected step and its wall time, the run's planned steps and
                           wall time, training data (speed, frames), the validation curve, settings
    ForecasterEvaluation   test MSE with its interval, per-step MSE, baselines, velocity grids, long
                           rollout, equivariance, reference batch, the evaluation's settings
    ClassifierEvaluation   test accuracy with its interval, accuracy per frame and per speed ring
    WorldEvaluation        a world model's: test MSE with its interval, look away and back, chase,
                           a long rollout, objects at |v| = 2, the duality errors
    VelocityGrid           test MSE at fixed velocities, laid out as the flow lays them
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

from fernn.flows import TRANSLATION, Flow
from fernn.records.evaluations import ClassifierEvaluation, ForecasterEvaluation, WorldEvaluation
from fernn.records.pieces import CurvePoint, Interval, LongRollout, RingAccuracy, VelocityGrid
from fernn.records.training import TrainingRecord
from fernn.records.values import EMPTY, integer, mapping

__all__ = ["RECORD_VERSION", "ClassifierEvaluation", "CurvePoint", "ForecasterEvaluation", "Interval", "LongRollout",
           "ModelRecord", "RingAccuracy", "TrainingRecord", "VelocityGrid", "WorldEvaluation", "record_of"]

# The records' own version: a reader that meets a newer one still parses what it knows.
RECORD_VERSION = 1


@dataclass(frozen=True)
class ModelRecord:
    """Everything a checkpoint records about its model; empty for a model built in code."""

    training: TrainingRecord | None = None
    evaluation: ForecasterEvaluation | ClassifierEvaluation | WorldEvaluation | None = None
    version: int = RECORD_VERSION
    metrics: Mapping = field(default_factory=lambda: EMPTY, repr=False, compare=False)  # the stored values, read-only

    @property
    def evaluated(self) -> bool:
        """Whether the checkpoint records an evaluation; without one its numbers are not results."""
        return self.evaluation is not None

    @property
    def training_max_speed(self) -> int | None:
        """The per-axis speed limit of the training data: from the training settings, else from the
        evaluation's (a classifier's ``training_max_speed``, a forecaster's held-out data speed)."""
        if self.training is not None and self.training.data_max_speed is not None:
            return self.training.data_max_speed
        if isinstance(self.evaluation, ClassifierEvaluation):
            return self.evaluation.training_max_speed
        if isinstance(self.evaluation, ForecasterEvaluation):
            return self.evaluation.data_max_speed
        return None

    @classmethod
    def parse(cls, metrics: object, flow: Flow = TRANSLATION, *, classifier: bool = False,
              world: bool = False) -> ModelRecord:
        """The record of a checkpoint's ``metrics``; lenient (see the module docstring). ``classifier``
        and ``world`` say which evaluation record a classifier's or a world model's checkpoint holds."""
        if classifier and world:
            raise ValueError("a model is a classifier or a world model, not both")
        metrics = metrics if isinstance(metrics, dict) else {}
        evaluation = metrics.get("evaluation") if isinstance(metrics.get("evaluation"), dict) else None
        if evaluation is not None:
            evaluation = (ClassifierEvaluation.parse(evaluation) if classifier else WorldEvaluation.parse(evaluation)
                          if world else ForecasterEvaluation.parse(evaluation, flow))
        version = integer(metrics.get("record_version"), RECORD_VERSION)
        return cls(TrainingRecord.parse(metrics.get("train")), evaluation, version, mapping(metrics))

    def to_metrics(self) -> dict:
        """The stored form (``model.metrics``, what ``save_checkpoint`` writes), from the fields alone."""
        stored = {"record_version": self.version,
                  "train": None if self.training is None else self.training.to_dict(),
                  "evaluation": None if self.evaluation is None else self.evaluation.to_dict()}
        return {key: value for key, value in stored.items() if value is not None}


def record_of(model: object) -> ModelRecord:
    """The record of ``model``'s checkpoint, parsed once per ``model.metrics`` object (assign a new
    dict to change it: edits inside the old one are not seen)."""
    metrics = getattr(model, "metrics", None)
    cached = _PARSED.get(model)
    if cached is not None and cached[0] is metrics:
        return cached[1]
    # Each head names the evaluation record its checkpoint holds (EncodedModel.evaluation_kind).
    kind = getattr(model, "evaluation_kind", "forecaster")
    record = ModelRecord.parse(metrics, getattr(model, "flow", TRANSLATION), classifier=kind == "classifier",
                               world=kind == "world")
    _PARSED[model] = (metrics, record)
    return record


# Beside the models, not on them: a model stays copyable and picklable as before.
_PARSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
