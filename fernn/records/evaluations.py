"""How a model did on held-out data, as its checkpoint records it (``metrics["evaluation"]``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fernn.flows import TRANSLATION, Flow
from fernn.records.pieces import Interval, LongRollout, RingAccuracy, VelocityGrid
from fernn.records.values import EMPTY, fraction, integer, mapping, number, numbers

__all__ = ["ClassifierEvaluation", "ForecasterEvaluation", "WorldEvaluation"]


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
        summaries = {key: {name: v for name, v in evaluation[key].items() if name.endswith("_mse") and number(v) is not None}
                     for key in ("velocity_grid", "widened_velocity_grid") if isinstance(evaluation.get(key), dict)}
        summaries = {key: MappingProxyType(value) for key, value in summaries.items() if value}
        reference = evaluation.get("reference_batch") if isinstance(evaluation.get("reference_batch"), dict) else {}
        baselines = evaluation.get("baselines") if isinstance(evaluation.get("baselines"), dict) else {}
        equivariance = evaluation.get("equivariance") if isinstance(evaluation.get("equivariance"), list) else []
        return cls(
            test_mse=number(evaluation.get("test_mse")),
            interval=Interval.parse(evaluation.get("test_mse_interval")),
            step_mse=numbers(evaluation.get("test_step_mse")),
            baselines=MappingProxyType({k: v for k, v in baselines.items() if number(v) is not None}),
            velocity_grid=VelocityGrid.parse(evaluation.get("velocity_grid"), flow),
            widened_velocity_grid=VelocityGrid.parse(evaluation.get("widened_velocity_grid"), flow),
            widened_max_speed=integer(widened.get("max_speed")),
            grid_summaries=MappingProxyType(summaries),
            long_rollout=LongRollout.parse(evaluation.get("length")),
            equivariance=tuple(mapping(item) for item in equivariance if isinstance(item, dict)),
            reference_mse=number(reference.get("mse")),
            data_max_speed=integer(settings.get("data_max_speed")),
            test_sequences=integer(settings.get("test_sequences")),
            seconds=number(evaluation.get("seconds")),
            settings=mapping(settings),
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
        bounds = tuple(fraction(v) for v in interval) if isinstance(interval, list) and len(interval) == 2 else None
        steps = evaluation.get("step_accuracy")
        steps = tuple(fraction(v) for v in steps) if isinstance(steps, list) else ()
        reference = evaluation.get("reference_batch") if isinstance(evaluation.get("reference_batch"), dict) else {}
        speed = integer(settings.get("training_max_speed"))
        return cls(
            test_accuracy=fraction(evaluation.get("test_accuracy")),
            test_interval=bounds if bounds and None not in bounds else None,
            test_sequences=integer(evaluation.get("test_sequences")),
            step_accuracy=steps if None not in steps else (),
            rings=RingAccuracy.parse(evaluation.get("rings")),
            widened_rings=RingAccuracy.parse(evaluation.get("widened_rings")),
            widened_max_speed=integer(evaluation.get("widened_max_speed")),
            training_max_speed=speed if speed is not None and speed >= 0 else None,
            reference_logits=numbers(reference.get("mean_logits")),
            seconds=number(evaluation.get("seconds")),
            settings=mapping(settings),
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


@dataclass(frozen=True)
class WorldEvaluation:
    """A world model's held-out evaluation (``fernn.experiments.world_eval.evaluate_world_model``):
    in distribution (10 -> 10 on held-out digits), the look-away-and-back and chase protocols, a
    30-frame rollout, objects at ``|v| = 2`` and the self-motion / object-flow duality errors."""

    test_mse: float | None = None
    interval: Interval | None = None
    step_mse: tuple[float, ...] = ()
    look_away_mse: float | None = None  # over all predicted frames of the protocol
    look_away_last_mse: float | None = None  # over its last frames, the digit back in view
    look_away_last_interval: Interval | None = None
    look_away_step_mse: tuple[float, ...] = ()
    chase_mse: float | None = None
    long_step_mse: tuple[float, ...] = ()
    speed2_mse: float | None = None  # objects at |v| = 2 (a FERNN run with a set that covers them)
    speed2_velocity_radius: int | None = None  # that set's radius; None for a model without copies
    # Objects at |v| = 1 drawn the same way, with the widened set and with the model's own: what
    # widening alone costs, apart from the speed and the data.
    speed1_same_set_mse: float | None = None
    speed1_own_set_mse: float | None = None
    equivariance: tuple[Mapping, ...] = ()  # {"shift", "error", "compared"} per shift, float64
    seconds: float | None = None
    settings: Mapping = field(default_factory=lambda: EMPTY, compare=False)  # as stored (read-only)

    @property
    def equivariance_error(self) -> float | None:
        """The largest duality error over the shifts measured."""
        errors = [number(item.get("error")) for item in self.equivariance]
        errors = [e for e in errors if e is not None]
        return max(errors) if errors else None

    @classmethod
    def parse(cls, evaluation: Mapping) -> WorldEvaluation:
        def part(key: str) -> dict:
            return evaluation.get(key) if isinstance(evaluation.get(key), dict) else {}

        settings, away, chase, fast = part("settings"), part("look_away"), part("chase"), part("speed_2")
        equivariance = evaluation.get("equivariance") if isinstance(evaluation.get("equivariance"), list) else []
        return cls(
            test_mse=number(evaluation.get("test_mse")),
            interval=Interval.parse(evaluation.get("test_mse_interval")),
            step_mse=numbers(evaluation.get("test_step_mse")),
            look_away_mse=number(away.get("mse")),
            look_away_last_mse=number(away.get("last_mse")),
            look_away_last_interval=Interval.parse(away.get("last_interval")),
            look_away_step_mse=numbers(away.get("step_mse")),
            chase_mse=number(chase.get("mse")),
            long_step_mse=numbers(evaluation.get("long_step_mse")),
            speed2_mse=number(fast.get("mse")),
            speed2_velocity_radius=integer(fast.get("velocity_radius")),
            speed1_same_set_mse=number(fast.get("speed_1_same_set_mse")),
            speed1_own_set_mse=number(fast.get("speed_1_own_set_mse")),
            equivariance=tuple(mapping(item) for item in equivariance if isinstance(item, dict)),
            seconds=number(evaluation.get("seconds")),
            settings=mapping(settings),
        )

    def to_dict(self) -> dict:
        """The stored form (``metrics["evaluation"]``), from the fields alone."""
        def kept(values: dict) -> dict | None:
            values = {key: value for key, value in values.items() if value is not None and value != []}
            return values or None

        away = kept({"mse": self.look_away_mse, "last_mse": self.look_away_last_mse,
                     "last_interval": None if self.look_away_last_interval is None
                     else self.look_away_last_interval.to_dict(), "step_mse": list(self.look_away_step_mse)})
        stored = {"settings": dict(self.settings), "test_mse": self.test_mse,
                  "test_mse_interval": None if self.interval is None else self.interval.to_dict(),
                  "test_step_mse": list(self.step_mse) or None, "look_away": away,
                  "chase": kept({"mse": self.chase_mse}), "long_step_mse": list(self.long_step_mse) or None,
                  "speed_2": kept({"mse": self.speed2_mse, "velocity_radius": self.speed2_velocity_radius,
                                   "speed_1_same_set_mse": self.speed1_same_set_mse,
                                   "speed_1_own_set_mse": self.speed1_own_set_mse}),
                  "equivariance": [dict(item) for item in self.equivariance] or None, "seconds": self.seconds}
        return {key: value for key, value in stored.items() if value is not None}
