"""Measures of the library's models, shared by the commands, the showcase and the tests.

Forecasters: per-step MSE (and intensities) over held-out sequences, the copy-last and zero
baselines, the velocity grid, long rollouts. Classifiers: accuracy (with its Wilson interval). Any
per-sequence number: its mean with a normal-approximation interval. Equivariance is measured by
:mod:`fernn.testing`. Every measure takes its sequences (or a source of them) from the caller: the
core draws no data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from statistics import NormalDist

import numpy as np
import torch

from fernn.classifier import Classifier
from fernn.flows import Flow, Velocity
from fernn.models import Forecaster

__all__ = ["INTERVAL_METHOD", "accuracy_interval", "baseline_step_mse", "classifier_accuracy", "grid_summary",
           "interval_bounds", "length_generalisation", "mean_interval", "step_mse", "step_statistics",
           "velocity_grid_mse"]

Progress = Callable[[int, int], None]

# How evaluations compute the test MSE's interval (said in every report that shows one).
INTERVAL_METHOD = ("normal approximation over test sequences: the mean of the per-sequence MSEs +- 1.96 standard "
                   "errors (sample standard deviation / sqrt(sequences))")


def step_mse(model: Forecaster, sequences: torch.Tensor, context_frames: int, **options) -> np.ndarray:
    """Per-predicted-step MSE ``(S,)`` of ``model`` on ``sequences`` ``(N, T + S, 1, H, W)``;
    ``options`` as for :func:`step_statistics`."""
    return step_statistics(model, sequences, context_frames, **options)["mse"]


def step_statistics(
    model: Forecaster,
    sequences: torch.Tensor,
    context_frames: int,
    *,
    velocities: Sequence[Velocity] | None = None,
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Per-predicted-step ``mse``, mean predicted ``intensity`` and the truth's ``truth_intensity``,
    each ``(S,)``, and each sequence's MSE over its predicted frames, ``sequence_mse`` ``(N,)``, of
    ``model`` on ``sequences`` ``(N, T + S, 1, H, W)``."""
    device = next(model.parameters()).device
    steps = sequences.shape[1] - context_frames
    sums = {key: torch.zeros(steps, dtype=torch.float64) for key in ("mse", "intensity", "truth_intensity")}
    per_sequence = []
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size].to(device)
        frames = model.forecast(batch[:, :context_frames], steps, velocities=velocities).frames.double()
        truth = batch[:, context_frames:].double()  # (B, S, 1, H, W)
        squared = (frames - truth) ** 2  # (B, S, 1, H, W)
        sums["mse"] += squared.sum(dim=(0, 2, 3, 4)).cpu()
        per_sequence.append(squared.mean(dim=(1, 2, 3, 4)).cpu())  # (B,)
        sums["intensity"] += frames.sum(dim=(0, 2, 3, 4)).cpu()
        sums["truth_intensity"] += truth.sum(dim=(0, 2, 3, 4)).cpu()
    count = len(sequences) * sequences[0, 0].numel()
    stats = {key: (value / count).numpy() for key, value in sums.items()}
    return dict(stats, sequence_mse=torch.cat(per_sequence).numpy())


def baseline_step_mse(sequences: torch.Tensor, context_frames: int) -> dict[str, np.ndarray]:
    """Per-step MSE ``(S,)`` of predicting zeros and of repeating the last context frame."""
    future = sequences[:, context_frames:].double()  # (N, S, 1, H, W)
    last = sequences[:, context_frames - 1 : context_frames].double()  # (N, 1, 1, H, W)
    return {
        "zeros": (future**2).mean(dim=(0, 2, 3, 4)).numpy(),
        "copy_last": ((future - last) ** 2).mean(dim=(0, 2, 3, 4)).numpy(),
    }


def velocity_grid_mse(
    model: Forecaster,
    sequences_at: Callable[[Velocity], torch.Tensor],
    *,
    max_speed: int,
    context_frames: int,
    velocities: Sequence[Velocity] | None = None,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> dict:
    """Mean predicted-frame MSE for each fixed velocity of ``model.flow.grid(max_speed)``.

    ``sequences_at(velocity)`` gives the sequences ``(N, T + S, 1, H, W)`` in which every digit moves
    at ``velocity`` (the same digits and starts for every cell, so cells differ only in velocity:
    :func:`fernn.datasets.sequences.fixed_velocity_sequences`). Returns ``{"grid_max_speed": r,
    "speeds": [...], "mse": [[...]]}`` with ``mse[i][j]`` at the grid's velocity ``[i][j]`` (for
    translation ``dy = speeds[i]``, ``dx = speeds[j]``). ``progress(done, total)`` is called after each cell.
    """
    axes = model.flow.grid(max_speed)
    grid = np.zeros(axes.shape)
    total = grid.size
    for i, row in enumerate(axes.velocities):
        for j, velocity in enumerate(row):
            sequences = sequences_at(velocity)
            grid[i, j] = step_mse(model, sequences, context_frames, velocities=velocities, batch_size=batch_size).mean()
            if progress is not None:
                progress(i * axes.shape[1] + j + 1, total)
    return {"grid_max_speed": max_speed, "speeds": list(axes.column_values), "mse": grid.tolist()}


def length_generalisation(
    model: Forecaster, sequences: torch.Tensor, context_frames: int, *, batch_size: int = 64
) -> dict:
    """Per-step statistics over a long rollout: ``{"steps": [1..S], "mse", "copy_last",
    "intensity", "truth_intensity"}`` (mean pixel value of the predictions and of the truth)."""
    stats = step_statistics(model, sequences, context_frames, batch_size=batch_size)
    baseline = baseline_step_mse(sequences, context_frames)["copy_last"]
    return {"steps": list(range(1, len(stats["mse"]) + 1)), "mse": stats["mse"].tolist(),
            "copy_last": baseline.tolist(), "intensity": stats["intensity"].tolist(),
            "truth_intensity": stats["truth_intensity"].tolist()}


def grid_summary(grid: dict, flow: Flow) -> dict:
    """Mean MSE over the grid's in-range cells (speed <= 1) and over each ring of speed r, the speed
    being the flow's (for translation max(|dy|, |dx|))."""
    mse = np.asarray(grid["mse"])
    ring = np.array([[flow.speed(v) for v in row] for row in flow.grid(grid["grid_max_speed"]).velocities])
    summary = {"in_range_mse": float(mse[ring <= 1].mean())}
    for radius in range(2, int(ring.max()) + 1):
        summary[f"speed_{radius}_mse"] = float(mse[ring == radius].mean())
    return summary



def mean_interval(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95) -> dict:
    """The mean of ``values`` (one MSE per test sequence, ``(N,)``) with its standard error and a
    ``confidence`` interval by the normal approximation (:data:`INTERVAL_METHOD`; 1.96 is the 95%
    quantile, another ``confidence`` takes its own).

    Sequences are independent draws of the same generator, so over hundreds of them the mean is close
    to normal whatever the shape of the per-sequence MSEs. With fewer than two values there is no
    spread to measure: the standard error and the bounds are ``None``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0 or not np.isfinite(data).all():
        raise ValueError("mean_interval needs at least one value, all finite")
    mean = float(data.mean())
    record = {"mean": mean, "standard_error": None, "low": None, "high": None, "confidence": confidence,
              "sequences": int(data.size), "method": INTERVAL_METHOD}
    if data.size >= 2:
        error = float(data.std(ddof=1) / math.sqrt(data.size))
        half = NormalDist().inv_cdf((1 + confidence) / 2) * error
        record.update(standard_error=error, low=mean - half, high=mean + half)
    return record


def interval_bounds(evaluation: dict, *, confidence: float = 0.95) -> tuple[float, float] | None:
    """``(low, high)`` of an evaluation's ``confidence`` interval of the test MSE; ``None`` for
    evaluations stored before intervals were recorded, made on a single sequence, or whose interval
    has another confidence."""
    interval = evaluation.get("test_mse_interval")
    if not isinstance(interval, dict) or interval.get("confidence") != confidence:
        return None
    if not all(isinstance(interval.get(key), (int, float)) for key in ("low", "high")):
        return None
    return float(interval["low"]), float(interval["high"])


def accuracy_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of an accuracy ``correct / total`` (95% by default)."""
    if total <= 0:
        return (math.nan, math.nan)
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def classifier_accuracy(model: Classifier, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, velocities=None,
                        with_steps: bool = False) -> dict:
    """Accuracy over ``batches`` of ``(frames (B, T, 1, H, W), labels (B,))``: ``{"accuracy", "correct",
    "total", "interval", "predictions", "labels"}``, plus ``"step_accuracy"`` (accuracy after each frame)
    when asked. ``velocities``: the run-time velocity set (default: the trained one)."""
    weight = next(model.parameters())
    predictions, targets, step_hits = [], [], None
    for frames, truth in batches:
        frames = frames.to(device=weight.device, dtype=weight.dtype)
        if with_steps:
            steps = model.classify_steps(frames, velocities).argmax(dim=-1).cpu()  # (B, T)
            hits = (steps == truth[:, None]).sum(dim=0)
            step_hits = hits if step_hits is None else step_hits + hits
            predictions.append(steps[:, -1])
        else:
            predictions.append(model.classify(frames, velocities).argmax(dim=-1).cpu())
        targets.append(truth)
    predicted, truth = torch.cat(predictions), torch.cat(targets)
    correct = int((predicted == truth).sum())
    result = {"accuracy": correct / len(truth), "correct": correct, "total": len(truth),
              "interval": list(accuracy_interval(correct, len(truth))), "predictions": predicted.tolist(),
              "labels": truth.tolist()}
    if step_hits is not None:
        result["step_accuracy"] = (step_hits.double() / len(truth)).tolist()
    return result
