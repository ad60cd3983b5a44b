"""How a model was trained, as its checkpoint records it (``metrics["train"]``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fernn.records.pieces import CurvePoint
from fernn.records.values import EMPTY, integer, mapping, number

__all__ = ["TrainingRecord"]


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
            score = number(point.get("val_mse", point.get("val_error")))
            if score is not None:
                curve.append(CurvePoint(integer(point.get("step"), 0), number(point.get("wall_time")) or 0.0, score))
        history = [p for p in train.get("history", []) if isinstance(p, dict)] if isinstance(train.get("history"), list) else []
        predict = integer(data.get("predict_frames"))
        return cls(
            preset=train.get("preset") if isinstance(train.get("preset"), str) else None,
            selected_step=integer(train.get("step")),
            selected_seconds=number(train.get("wall_time")),
            planned_steps=integer(config.get("steps")),
            last_step=max((s for p in history if (s := integer(p.get("step"))) is not None), default=None),
            run_seconds=max((w for p in history if (w := number(p.get("wall_time"))) is not None), default=None),
            data_max_speed=integer(data.get("max_speed"), integer(config.get("data_max_speed"))),
            context_frames=integer(data.get("context_frames")),
            predict_frames=predict,
            final_predict_frames=integer(config.get("final_predict_frames"), predict) or predict,
            precision=train.get("precision") if isinstance(train.get("precision"), str) else None,
            curve=tuple(curve),
            settings=mapping(config),
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
