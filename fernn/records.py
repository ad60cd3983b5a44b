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
    VelocityGrid           test MSE at fixed velocities, laid out as the flow lays them
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fernn.classifier import Classifier
from fernn.flows import TRANSLATION, Flow, GridAxes, Velocity

__all__ = ["RECORD_VERSION", "ClassifierEvaluation", "CurvePoint", "ForecasterEvaluation", "Interval", "LongRollout",
           "ModelRecord", "RingAccuracy", "TrainingRecord", "VelocityGrid", "record_of"]

# The records' own version: a reader that meets a newer one still parses what it knows.
RECORD_VERSION = 1
EMPTY: Mapping = MappingProxyType({})


# ----------------------------------------------------------------------------- plain values


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)  # an int too large for a float raises OverflowError
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _integer(value: object, default: int | None = None) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def _fraction(value: object) -> float | None:
    number = _number(value)
    return number if number is not None and 0 <= number <= 1 else None


def _mapping(value: object) -> Mapping:
    return MappingProxyType(dict(value)) if isinstance(value, dict) else EMPTY


def _numbers(value: object) -> tuple[float, ...]:
    """A list of finite numbers as a tuple; empty if any entry is not one."""
    if not isinstance(value, list):
        return ()
    numbers = tuple(_number(v) for v in value)
    return () if None in numbers else numbers


# ----------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class VelocityGrid:
    """Test MSE at fixed velocities, laid out as the flow lays them (``flow.grid``):
    ``mse[i][j]`` at ``axes.velocities[i][j]`` (NaN where no number was recorded)."""

    axes: GridAxes
    mse: tuple[tuple[float, ...], ...]

    @property
    def max_speed(self) -> int:
        return max(abs(v) for v in self.axes.column_values)

    @property
    def speeds(self) -> tuple[int, ...]:
        """The column labels (for translation: ``dx``; rows are the same speeds of ``dy``)."""
        return self.axes.column_values

    def at(self, velocity: Velocity) -> float | None:
        for row, velocities in enumerate(self.axes.velocities):
            if velocity in velocities:
                return self.mse[row][velocities.index(velocity)]
        return None

    def ring_mse(self, flow: Flow, low: int, high: int | None = None) -> float | None:
        """Mean MSE over the cells whose speed is in ``low..high`` (``high`` defaults to ``low``)."""
        high = low if high is None else high
        values = [mse for velocities, row in zip(self.axes.velocities, self.mse) for velocity, mse in zip(velocities, row)
                  if low <= flow.speed(velocity) <= high and math.isfinite(mse)]
        return sum(values) / len(values) if values else None

    @classmethod
    def parse(cls, value: object, flow: Flow = TRANSLATION) -> VelocityGrid | None:
        """A stored grid ``{"grid_max_speed" (or the older "speeds" -r..r), "mse"}``; ``None`` if malformed."""
        if not isinstance(value, dict):
            return None
        speeds, mse = value.get("speeds"), value.get("mse")
        radius = _integer(value.get("grid_max_speed"))
        if radius is None:  # records before flows were values list the speeds -r..r
            if not isinstance(speeds, list) or not speeds or not all(_integer(s) is not None for s in speeds):
                return None
            radius = max(abs(s) for s in speeds)
            if list(speeds) != list(range(-radius, radius + 1)):
                return None
        if radius < 0 or radius > 64 or not isinstance(mse, list):
            return None
        axes = flow.grid(radius)
        rows = []
        for row, velocities in zip(mse, axes.velocities):
            if not isinstance(row, list) or len(row) != len(velocities):
                return None
            rows.append(tuple(float("nan") if (v := _number(x)) is None else v for x in row))
        if len(rows) != len(axes.velocities) or len(mse) != len(rows):
            return None
        return cls(axes, tuple(rows))

    def to_dict(self) -> dict:
        return {"grid_max_speed": self.max_speed, "speeds": list(self.speeds), "mse": [list(row) for row in self.mse]}


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval over independent items (``fernn.measures.mean_interval``)."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    confidence: float = 0.95
    items: int | None = None
    method: str = ""

    @classmethod
    def parse(cls, value: object) -> Interval | None:
        if not isinstance(value, dict) or all(_number(value.get(key)) is None for key in ("mean", "low", "high")):
            return None
        return cls(_number(value.get("mean")), _number(value.get("low")), _number(value.get("high")),
                   _number(value.get("confidence")) or 0.95, _integer(value.get("sequences")),
                   value.get("method") if isinstance(value.get("method"), str) else "")

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "confidence": self.confidence,
                "sequences": self.items, "method": self.method}

    def bounds(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """``(low, high)`` at ``confidence``; ``None`` for one item or another confidence."""
        if self.confidence != confidence or self.low is None or self.high is None:
            return None
        return self.low, self.high


@dataclass(frozen=True)
class CurvePoint:
    step: int
    wall_seconds: float  # since the run started, as logged (pauses included)
    validation: float  # the validation score: MSE for forecasters, error rate for classifiers


@dataclass(frozen=True)
class LongRollout:
    """Per-step statistics of a long rollout (step ``k`` at index ``k - 1``)."""

    mse: tuple[float, ...]
    copy_last: tuple[float, ...] = ()
    intensity: tuple[float, ...] = ()
    truth_intensity: tuple[float, ...] = ()

    @classmethod
    def parse(cls, value: object) -> LongRollout | None:
        if not isinstance(value, dict) or not _numbers(value.get("mse")):
            return None
        return cls(*(_numbers(value.get(key)) for key in ("mse", "copy_last", "intensity", "truth_intensity")))

    def to_dict(self) -> dict:
        return {"steps": list(range(1, len(self.mse) + 1)), "mse": list(self.mse), "copy_last": list(self.copy_last),
                "intensity": list(self.intensity), "truth_intensity": list(self.truth_intensity)}


@dataclass(frozen=True)
class RingAccuracy:
    """Accuracy per speed ring ``|v| = speed`` with its interval, sorted by speed."""

    speeds: tuple[int, ...]
    accuracy: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    @classmethod
    def parse(cls, value: object) -> RingAccuracy | None:
        """``[{"speed", "accuracy", "interval": [low, high]}, ...]``; ``None`` if malformed."""
        if not isinstance(value, list) or not value:
            return None
        rows = []
        for ring in value:
            if not isinstance(ring, dict):
                return None
            speed, accuracy, interval = _integer(ring.get("speed")), _fraction(ring.get("accuracy")), ring.get("interval")
            if speed is None or speed < 0 or accuracy is None:
                return None
            bounds = [_fraction(v) for v in interval] if isinstance(interval, list) and len(interval) == 2 else [None]
            low, high = (accuracy, accuracy) if None in bounds else bounds
            rows.append((speed, accuracy, low, high))
        rows.sort()
        return cls(*(tuple(column) for column in zip(*rows)))

    def to_list(self) -> list[dict]:
        return [{"speed": s, "accuracy": a, "interval": [lo, hi]}
                for s, a, lo, hi in zip(self.speeds, self.accuracy, self.low, self.high)]


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingRecord:
    """How the model was trained. The exported weights are those of ``selected_step`` (the best
    validation score), reached after ``selected_seconds``; the run itself went on to ``last_step``
    of ``planned_steps`` in ``run_seconds`` (wall time as logged, pauses included)."""

    preset: str | None = None
    selected_step: int | None = None
    selected_seconds: float | None = None
    planned_steps: int | None = None
    last_step: int | None = None
    run_seconds: float | None = None
    data_max_speed: int | None = None  # per-axis |v| of the training data (px or steps per frame)
    context_frames: int | None = None
    predict_frames: int | None = None  # at the start of the curriculum
    final_predict_frames: int | None = None  # at its end (= predict_frames without a curriculum)
    precision: str | None = None
    curve: tuple[CurvePoint, ...] = ()
    settings: Mapping = field(default_factory=lambda: EMPTY, compare=False)  # the run's settings, as stored (read-only)

    @classmethod
    def parse(cls, train: object) -> TrainingRecord | None:
        if not isinstance(train, dict):
            return None
        config = train.get("config") if isinstance(train.get("config"), dict) else {}
        data = config.get("data") if isinstance(config.get("data"), dict) else config  # flat before codebase v3
        curve = []
        for point in train.get("history", []) if isinstance(train.get("history"), list) else []:
            if not isinstance(point, dict):
                continue
            score = _number(point.get("val_mse", point.get("val_error")))
            if score is not None:
                curve.append(CurvePoint(_integer(point.get("step"), 0), _number(point.get("wall_time")) or 0.0, score))
        history = [p for p in train.get("history", []) if isinstance(p, dict)] if isinstance(train.get("history"), list) else []
        predict = _integer(data.get("predict_frames"))
        return cls(
            preset=train.get("preset") if isinstance(train.get("preset"), str) else None,
            selected_step=_integer(train.get("step")),
            selected_seconds=_number(train.get("wall_time")),
            planned_steps=_integer(config.get("steps")),
            last_step=max((s for p in history if (s := _integer(p.get("step"))) is not None), default=None),
            run_seconds=max((w for p in history if (w := _number(p.get("wall_time"))) is not None), default=None),
            data_max_speed=_integer(data.get("max_speed"), _integer(config.get("data_max_speed"))),
            context_frames=_integer(data.get("context_frames")),
            predict_frames=predict,
            final_predict_frames=_integer(config.get("final_predict_frames"), predict) or predict,
            precision=train.get("precision") if isinstance(train.get("precision"), str) else None,
            curve=tuple(curve),
            settings=_mapping(config),
        )

    def to_dict(self) -> dict:
        """The stored form (``metrics["train"]``), from the fields alone."""
        data = {key: value for key, value in (("max_speed", self.data_max_speed), ("context_frames", self.context_frames),
                                              ("predict_frames", self.predict_frames)) if value is not None}
        if "data" in self.settings or not self.settings:
            config = dict(self.settings, data={**self.settings.get("data", {}), **data})
        else:  # a flat config, as runs before codebase v3 stored it
            config = {**self.settings, **{("data_max_speed" if key == "max_speed" else key): v for key, v in data.items()}}
        if self.planned_steps is not None:
            config["steps"] = self.planned_steps
        if self.final_predict_frames not in (None, self.predict_frames):  # else as stored (0: no curriculum)
            config["final_predict_frames"] = self.final_predict_frames
        history = [{"step": p.step, "wall_time": p.wall_seconds, "val_mse": p.validation} for p in self.curve]
        if self.last_step is not None and (not history or history[-1]["step"] != self.last_step):
            history.append({"step": self.last_step, "wall_time": self.run_seconds})
        stored = {"step": self.selected_step, "wall_time": self.selected_seconds, "preset": self.preset,
                  "precision": self.precision, "config": config, "history": history}
        return {key: value for key, value in stored.items() if value is not None}


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class ForecasterEvaluation:
    """A forecaster's held-out evaluation (``fernn.experiments.evaluate.evaluate_model``)."""

    test_mse: float | None = None
    interval: Interval | None = None
    step_mse: tuple[float, ...] = ()
    baselines: Mapping = field(default_factory=lambda: EMPTY)  # name -> mean MSE ("zeros", "copy_last")
    velocity_grid: VelocityGrid | None = None
    widened_velocity_grid: VelocityGrid | None = None  # a FERNN run with V = {-r..r}^2 at inference
    widened_max_speed: int | None = None
    grid_summaries: Mapping = field(default_factory=lambda: EMPTY)  # "velocity_grid" / "widened_velocity_grid" -> {"in_range_mse", "speed_r_mse"}
    long_rollout: LongRollout | None = None
    equivariance: tuple[Mapping, ...] = ()
    reference_mse: float | None = None
    data_max_speed: int | None = None  # per-digit speed limit of the held-out data
    test_sequences: int | None = None
    seconds: float | None = None
    settings: Mapping = field(default_factory=lambda: EMPTY, compare=False)  # as stored (read-only)

    @classmethod
    def parse(cls, evaluation: Mapping, flow: Flow = TRANSLATION) -> ForecasterEvaluation:
        settings = evaluation.get("settings") if isinstance(evaluation.get("settings"), dict) else {}
        widened = evaluation.get("widened_velocity_grid") if isinstance(evaluation.get("widened_velocity_grid"), dict) else {}
        summaries = {key: {name: v for name, v in evaluation[key].items() if name.endswith("_mse") and _number(v) is not None}
                     for key in ("velocity_grid", "widened_velocity_grid") if isinstance(evaluation.get(key), dict)}
        summaries = {key: MappingProxyType(value) for key, value in summaries.items() if value}
        reference = evaluation.get("reference_batch") if isinstance(evaluation.get("reference_batch"), dict) else {}
        baselines = evaluation.get("baselines") if isinstance(evaluation.get("baselines"), dict) else {}
        equivariance = evaluation.get("equivariance") if isinstance(evaluation.get("equivariance"), list) else []
        return cls(
            test_mse=_number(evaluation.get("test_mse")),
            interval=Interval.parse(evaluation.get("test_mse_interval")),
            step_mse=_numbers(evaluation.get("test_step_mse")),
            baselines=MappingProxyType({k: v for k, v in baselines.items() if _number(v) is not None}),
            velocity_grid=VelocityGrid.parse(evaluation.get("velocity_grid"), flow),
            widened_velocity_grid=VelocityGrid.parse(evaluation.get("widened_velocity_grid"), flow),
            widened_max_speed=_integer(widened.get("max_speed")),
            grid_summaries=MappingProxyType(summaries),
            long_rollout=LongRollout.parse(evaluation.get("length")),
            equivariance=tuple(_mapping(item) for item in equivariance if isinstance(item, dict)),
            reference_mse=_number(reference.get("mse")),
            data_max_speed=_integer(settings.get("data_max_speed")),
            test_sequences=_integer(settings.get("test_sequences")),
            seconds=_number(evaluation.get("seconds")),
            settings=_mapping(settings),
        )

    def to_dict(self) -> dict:
        """The stored form (``metrics["evaluation"]``), from the fields alone."""
        def grid(key: str, value: VelocityGrid | None, **extra) -> dict | None:
            return None if value is None else {**value.to_dict(), **self.grid_summaries.get(key, {}), **extra}

        settings = dict(self.settings)
        for key, value in (("data_max_speed", self.data_max_speed), ("test_sequences", self.test_sequences)):
            if value is not None:
                settings[key] = value
        widened = {"max_speed": self.widened_max_speed} if self.widened_max_speed is not None else {}
        stored = {"settings": settings, "test_mse": self.test_mse,
                  "test_mse_interval": None if self.interval is None else self.interval.to_dict(),
                  "test_step_mse": list(self.step_mse) or None, "baselines": dict(self.baselines) or None,
                  "reference_batch": None if self.reference_mse is None else {"mse": self.reference_mse},
                  "velocity_grid": grid("velocity_grid", self.velocity_grid),
                  "widened_velocity_grid": grid("widened_velocity_grid", self.widened_velocity_grid, **widened),
                  "length": None if self.long_rollout is None else self.long_rollout.to_dict(),
                  "equivariance": [dict(item) for item in self.equivariance] or None, "seconds": self.seconds}
        return {key: value for key, value in stored.items() if value is not None}


@dataclass(frozen=True)
class ClassifierEvaluation:
    """A classifier's held-out evaluation (``fernn.experiments.classification.evaluate_classifier``)."""

    test_accuracy: float | None = None
    test_interval: tuple[float, float] | None = None
    test_sequences: int | None = None
    step_accuracy: tuple[float, ...] = ()
    rings: RingAccuracy | None = None
    widened_rings: RingAccuracy | None = None
    widened_max_speed: int | None = None
    training_max_speed: int | None = None  # as the evaluation's settings record it
    reference_logits: tuple[float, ...] = ()
    seconds: float | None = None
    settings: Mapping = field(default_factory=lambda: EMPTY, compare=False)  # as stored (read-only)

    @classmethod
    def parse(cls, evaluation: Mapping) -> ClassifierEvaluation:
        settings = evaluation.get("settings") if isinstance(evaluation.get("settings"), dict) else {}
        interval = evaluation.get("test_interval")
        bounds = tuple(_fraction(v) for v in interval) if isinstance(interval, list) and len(interval) == 2 else None
        steps = evaluation.get("step_accuracy")
        steps = tuple(_fraction(v) for v in steps) if isinstance(steps, list) else ()
        reference = evaluation.get("reference_batch") if isinstance(evaluation.get("reference_batch"), dict) else {}
        speed = _integer(settings.get("training_max_speed"))
        return cls(
            test_accuracy=_fraction(evaluation.get("test_accuracy")),
            test_interval=bounds if bounds and None not in bounds else None,
            test_sequences=_integer(evaluation.get("test_sequences")),
            step_accuracy=steps if None not in steps else (),
            rings=RingAccuracy.parse(evaluation.get("rings")),
            widened_rings=RingAccuracy.parse(evaluation.get("widened_rings")),
            widened_max_speed=_integer(evaluation.get("widened_max_speed")),
            training_max_speed=speed if speed is not None and speed >= 0 else None,
            reference_logits=_numbers(reference.get("mean_logits")),
            seconds=_number(evaluation.get("seconds")),
            settings=_mapping(settings),
        )

    def to_dict(self) -> dict:
        """The stored form (``metrics["evaluation"]``), from the fields alone."""
        settings = dict(self.settings)
        if self.training_max_speed is not None:
            settings["training_max_speed"] = self.training_max_speed
        stored = {"settings": settings, "test_accuracy": self.test_accuracy,
                  "test_interval": None if self.test_interval is None else list(self.test_interval),
                  "test_sequences": self.test_sequences, "step_accuracy": list(self.step_accuracy) or None,
                  "rings": None if self.rings is None else self.rings.to_list(),
                  "widened_rings": None if self.widened_rings is None else self.widened_rings.to_list(),
                  "widened_max_speed": self.widened_max_speed,
                  "reference_batch": {"mean_logits": list(self.reference_logits)} if self.reference_logits else None,
                  "seconds": self.seconds}
        return {key: value for key, value in stored.items() if value is not None}


# ----------------------------------------------------------------------------- the whole record


@dataclass(frozen=True)
class ModelRecord:
    """Everything a checkpoint records about its model; empty for a model built in code."""

    training: TrainingRecord | None = None
    evaluation: ForecasterEvaluation | ClassifierEvaluation | None = None
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
    def parse(cls, metrics: object, flow: Flow = TRANSLATION, *, classifier: bool = False) -> ModelRecord:
        """The record of a checkpoint's ``metrics``; lenient (see the module docstring)."""
        metrics = metrics if isinstance(metrics, dict) else {}
        evaluation = metrics.get("evaluation") if isinstance(metrics.get("evaluation"), dict) else None
        if evaluation is not None:
            evaluation = ClassifierEvaluation.parse(evaluation) if classifier else ForecasterEvaluation.parse(evaluation, flow)
        version = _integer(metrics.get("record_version"), RECORD_VERSION)
        return cls(TrainingRecord.parse(metrics.get("train")), evaluation, version, _mapping(metrics))

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
    record = ModelRecord.parse(metrics, getattr(model, "flow", TRANSLATION), classifier=isinstance(model, Classifier))
    _PARSED[model] = (metrics, record)
    return record


# Beside the models, not on them: a model stays copyable and picklable as before.
_PARSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
