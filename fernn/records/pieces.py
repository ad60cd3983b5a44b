"""The pieces records are made of: velocity grids, intervals, curve points, long rollouts, accuracy rings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fernn.flows import TRANSLATION, Flow, GridAxes, Velocity
from fernn.records.values import fraction, integer, number, numbers

__all__ = ["CurvePoint", "Interval", "LongRollout", "RingAccuracy", "VelocityGrid"]


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
        radius = integer(value.get("grid_max_speed"))
        if radius is None:  # records before flows were values list the speeds -r..r
            if not isinstance(speeds, list) or not speeds or not all(integer(s) is not None for s in speeds):
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
            rows.append(tuple(float("nan") if (v := number(x)) is None else v for x in row))
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
        if not isinstance(value, dict) or all(number(value.get(key)) is None for key in ("mean", "low", "high")):
            return None
        return cls(number(value.get("mean")), number(value.get("low")), number(value.get("high")),
                   number(value.get("confidence")) or 0.95, integer(value.get("sequences")),
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
        if not isinstance(value, dict) or not numbers(value.get("mse")):
            return None
        return cls(*(numbers(value.get(key)) for key in ("mse", "copy_last", "intensity", "truth_intensity")))

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
            speed, accuracy, interval = integer(ring.get("speed")), fraction(ring.get("accuracy")), ring.get("interval")
            if speed is None or speed < 0 or accuracy is None:
                return None
            bounds = [fraction(v) for v in interval] if isinstance(interval, list) and len(interval) == 2 else [None]
            low, high = (accuracy, accuracy) if None in bounds else bounds
            rows.append((speed, accuracy, low, high))
        rows.sort()
        return cls(*(tuple(column) for column in zip(*rows)))

    def to_list(self) -> list[dict]:
        return [{"speed": s, "accuracy": a, "interval": [lo, hi]}
                for s, a, lo, hi in zip(self.speeds, self.accuracy, self.low, self.high)]
