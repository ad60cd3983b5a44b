"""A model card per loaded forecaster: what it is (parameters, flow, velocity set), how it was
trained (data range, steps, wall time, validation curve), what its checkpoint records on held-out
data (test MSE with its interval, the velocity grid inside and beyond the training range), and the
paper's number beside them where one applies, marked as the paper's.

Everything comes from the model and its checkpoint's record: nothing here runs the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import fernn.paper as paper
from fernn.flows import Flow
from fernn.models import Forecaster
from fernn.records import ForecasterEvaluation, TrainingRecord, VelocityGrid, record_of
from fernn.showcase.planning import set_radius
from fernn.flows.words import words

__all__ = ["GridSummary", "ModelCard", "PaperNumber", "model_card", "paper_number"]



@dataclass(frozen=True)
class PaperNumber:
    """The paper's test MSE for a model of this one's part, and whether this checkpoint's recorded
    evaluation drew its data as the paper did (only then are the two numbers on the same data)."""

    role: str  # "FERNN-V1 (Table 1, Translating MNIST)"
    test_mse: float
    data: str  # the paper's test data in words
    same_data: bool | None  # None: this checkpoint records no evaluation to set beside it
    source: str = paper.SOURCE


@dataclass(frozen=True)
class GridSummary:
    """A recorded velocity grid in two numbers: mean MSE over the cells inside the training range
    (speed <= ``training_max_speed``) and over those beyond it (``None`` where there are none)."""

    title: str  # "velocity grid" or "widened to V = {-4..4}^2"
    radius: int  # the grid holds every velocity of speed <= radius
    inside_mse: float | None
    beyond_mse: float | None


@dataclass(frozen=True)
class ModelCard:
    """One forecaster's card; ``None`` (or empty) for whatever its checkpoint does not record."""

    name: str
    kind: str  # "G-RNN" or "FERNN"
    flow: Flow
    parameters: int
    velocity_set: str  # the set it was trained with, as its flow writes it
    copies: int
    training_max_speed: int | None
    training_steps: int | None
    training_seconds: float | None
    curve_steps: tuple[int, ...]  # the validation curve: step -> validation MSE
    curve_mse: tuple[float, ...]
    evaluated: bool
    test_mse: float | None
    test_interval: tuple[float, float] | None  # 95%, normal approximation over test sequences
    test_sequences: int | None
    test_data_speed: int | None  # the held-out data's per-digit speed limit
    grids: tuple[GridSummary, ...]
    paper: PaperNumber | None
    training: TrainingRecord = TrainingRecord()  # the selected step, the run's length and wall times, frames

    @property
    def best_validation_mse(self) -> float | None:
        return min(self.curve_mse) if self.curve_mse else None

    def rows(self) -> list[tuple[str, str]]:
        """The card as ``(label, value)`` lines (Markdown), in reading order."""
        flow = self.flow
        rows = [("Model", f"{self.kind}, {flow.name} ({words(flow).unit})"),
                ("Parameters", f"{self.parameters:,}"),
                ("Velocity set", f"{self.velocity_set} ({self.copies} cop{'y' if self.copies == 1 else 'ies'})"),
                ("Training data", _speeds(flow, self.training_max_speed) if self.training_max_speed is not None
                 else "not recorded")]
        rows.append(("Training", _training_text(self.training, self.best_validation_mse)))
        if self.training.context_frames is not None and self.training.predict_frames is not None:
            rows.append(("Trained on", _frames_text(self.training)))
        if self.test_mse is not None:
            spread = (f" (95%: {self.test_interval[0]:.2e}…{self.test_interval[1]:.2e})"
                      if self.test_interval else " (no interval recorded)")
            over = f" over {self.test_sequences:,} held-out sequences" if self.test_sequences else ""
            data = f", {_speeds(flow, self.test_data_speed)}" if self.test_data_speed is not None else ""
            rows.append(("Test MSE", f"{self.test_mse:.2e}{spread}{over}{data}"))
        else:
            rows.append(("Test MSE", "no evaluation recorded: treat its numbers as untrained"
                         if not self.evaluated else "not recorded"))
        limit = self.training_max_speed
        for grid in self.grids:
            inside = f"inside the training range {_mse(grid.inside_mse)}" if limit is not None else ""
            beyond = f"beyond it {_mse(grid.beyond_mse)}" if limit is not None else ""
            parts = [part for part in (inside, beyond) if part] or [f"mean {_mse(grid.inside_mse)}"]
            rows.append((grid.title[:1].upper() + grid.title[1:], f"{' · '.join(parts)} (speeds up to {grid.radius})"))
        if self.paper is not None:
            paper = self.paper
            same = {True: "the same data as this checkpoint's evaluation",
                    False: "other data than this checkpoint's evaluation: compare the ordering, not the values",
                    None: "this checkpoint records no evaluation to set beside it"}[paper.same_data]
            rows.append(("From the paper", (f"{paper.role}: test MSE {paper.test_mse:.1e} on {paper.data}; "
                                            f"{same} (the paper's number, from {paper.source})")))
        return rows


def model_card(name: str, model: Forecaster) -> ModelCard:
    """The card of ``model`` (shown as ``name``), from its config and its checkpoint's record."""
    flow, config = model.flow, model.config
    record = record_of(model)
    training = record.training or TrainingRecord()
    found = record.evaluation if isinstance(record.evaluation, ForecasterEvaluation) else ForecasterEvaluation()
    radius = set_radius(config.velocities, flow)
    grids = []
    if found.velocity_grid is not None:
        grids.append(_grid_summary("velocity grid", found.velocity_grid, flow, record.training_max_speed))
    if found.widened_velocity_grid is not None and found.widened_max_speed:
        grids.append(_grid_summary(f"widened to {words(flow).set_label(found.widened_max_speed)}",
                                   found.widened_velocity_grid, flow, record.training_max_speed))
    return ModelCard(
        name=name,
        kind=config.kind.label,
        flow=flow,
        parameters=config.parameter_count(),
        velocity_set=words(flow).set_label(radius) if radius is not None else f"{len(config.velocities)} chosen velocities",
        copies=len(config.velocities),
        training_max_speed=record.training_max_speed,
        training_steps=training.selected_step,
        training_seconds=training.selected_seconds,
        curve_steps=tuple(point.step for point in training.curve),
        curve_mse=tuple(point.validation for point in training.curve),
        evaluated=record.evaluated,
        test_mse=found.test_mse,
        test_interval=found.interval.bounds() if found.interval is not None and found.test_mse is not None else None,
        test_sequences=found.test_sequences,
        test_data_speed=found.data_max_speed,
        grids=tuple(grids),
        paper=paper_number(model, found.data_max_speed if record.evaluated else None, evaluated=record.evaluated),
        training=training,
    )


def paper_number(model: Forecaster, test_data_speed: int | None = None, *, evaluated: bool = True) -> PaperNumber | None:
    """The paper's test MSE for a model of ``model``'s part, or ``None`` where the paper has none:
    Translating MNIST (Table 1: G-RNN, FERNN-V1 ``{-1..1}^2``, FERNN-V2 ``{-2..2}^2``) and Rotating
    MNIST (G-RNN, FERNN-V4 ``{-4..4}`` steps of 10 degrees). ``test_data_speed``: the per-digit
    speed limit of this checkpoint's held-out data, to say whether the data match (``evaluated``:
    whether it records an evaluation at all)."""
    if not isinstance(evaluated, bool):
        raise ValueError(f"evaluated must be True or False, got {evaluated!r}")
    if not isinstance(model, Forecaster):  # a world model's task is not in the paper (FloWM's is another)
        return None
    reader = PAPER_NUMBERS.get(model.flow.name)
    return None if reader is None else reader(model, test_data_speed if evaluated else None, evaluated)


def _table1_number(model: Forecaster, test_data_speed: int | None, evaluated: bool) -> PaperNumber | None:
    """Table 1, Translating MNIST: G-RNN, FERNN-V1 ``{-1..1}^2``, FERNN-V2 ``{-2..2}^2``."""
    radius = set_radius(model.config.velocities, model.flow)
    role = "grnn" if not model.config.kind.lifted else {1: "fernn-v1", 2: "fernn-v2"}.get(radius)
    if role is None:
        return None
    label = {"grnn": "G-RNN", "fernn-v1": "FERNN-V1", "fernn-v2": "FERNN-V2"}[role]
    speed = paper.TABLE1_MAX_SPEED
    return PaperNumber(f"{label} (Table 1, Translating MNIST)", paper.TABLE1_TEST_MSE[role],
                       f"two digits with per-digit velocities in {{-{speed}..{speed}}}^2, 10 → 10 frames",
                       test_data_speed == speed if evaluated else None)


def _rotation_number(model: Forecaster, test_data_speed: int | None, evaluated: bool) -> PaperNumber | None:
    """Rotating MNIST: G-RNN, FERNN-V4 (``{-4..4}`` steps of 10 degrees)."""
    flow = model.flow
    radius = set_radius(model.config.velocities, flow)
    paper_set = radius == paper.ROTATION_MAX_SPEED and flow.options().get("order") == paper.ROTATION_ORDER
    role = "grnn" if not model.config.kind.lifted else "fernn-v4" if paper_set else None
    if role is None:
        return None
    same = (flow.options().get("order") == paper.ROTATION_ORDER and test_data_speed == paper.ROTATION_MAX_SPEED
            if evaluated else None)
    degrees = paper.ROTATION_MAX_SPEED * 360 // paper.ROTATION_ORDER
    return PaperNumber(f"{'G-RNN' if role == 'grnn' else 'FERNN-V4'} (Rotating MNIST)", paper.ROTATION_TEST_MSE[role],
                       f"two digits rotating at up to ±{degrees}°/frame in 10° steps, 10 → 10 frames", same)


# The paper's number for a model of each flow, by the flow's registry name.
PAPER_NUMBERS = {"translation": _table1_number, "rotation": _rotation_number}


def _grid_summary(title: str, grid: VelocityGrid, flow: Flow, limit: int | None) -> GridSummary:
    """Mean grid MSE inside the training range and beyond it (all cells count as inside when the
    range is not recorded); cells with no number (NaN) are left out."""
    speeds = np.array([[flow.speed(v) for v in row] for row in grid.axes.velocities])  # the grid's shape
    mse = np.array(grid.mse, dtype=np.float64)
    inside = speeds <= (limit if limit is not None else speeds.max())
    return GridSummary(title, int(speeds.max()), _mean(mse[inside]), _mean(mse[~inside]))


def _training_text(training: TrainingRecord, best: float | None) -> str:
    """The selected step and when the run reached it, then the whole run: both steps and both wall times."""
    if training.selected_step is None:
        return "not recorded"
    text = f"step {training.selected_step:,} selected (the best validation score"
    text += f", MSE {best:.2e})" if best is not None else ")"
    if training.selected_seconds is not None:
        text += f", reached after {_duration(training.selected_seconds)}"
    last = training.last_step if training.last_step is not None else training.planned_steps
    if last is not None and last != training.selected_step:
        took = f" in {_duration(training.run_seconds)}" if training.run_seconds is not None else ""
        text += f"; the run went on to step {last:,}{took}"
    return text + " (wall times as logged)"


def _frames_text(training: TrainingRecord) -> str:
    """The frames a model was trained to read and predict, with its curriculum's end."""
    text = f"{training.context_frames} context → {training.predict_frames} predicted frames"
    final = training.final_predict_frames
    if final is not None and final != training.predict_frames:
        text += f", then up to {final} predicted (a curriculum)"
    return text


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _mse(value: float | None) -> str:
    return f"{value:.2e}" if value is not None else "—"


def _speeds(flow: Flow, speed: int) -> str:
    """A data range in the flow's words, e.g. "velocities in {-1..1}^2"."""
    return "still digits" if speed == 0 else f"velocities in {words(flow).set_label(speed).removeprefix('V = ')}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{math.floor(minutes / 60)} h {minutes % 60:.0f} min"
