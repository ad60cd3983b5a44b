""""Evaluate these settings": the page's comparison settings over many held-out sequences instead
of one scene, and a live velocity grid, for the loaded models.

Both reuse the evaluation's own measures (:mod:`fernn.measures`: per-sequence MSE, the grid; held-out
sequences from :func:`fernn.datasets.sequences.moving_digits_batch`, so a rotation model gets rotating
digits) and are bounded before they start: sequences and grid sizes by limits, work (each model's
multiply-adds, :meth:`fernn.models.ModelConfig.rollout_macs`, times the sequences) by :data:`MAX_WORK`,
memory by the batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fernn.records import VelocityGrid
from fernn.datasets.digits import CANVAS, load_digits
from fernn.measures import baseline_step_mse, mean_interval, step_statistics, velocity_grid_mse
from fernn.flows import Flow, Velocity
from fernn.models import Forecaster
from fernn.datasets.sequences import fixed_velocity_sequences, moving_digits_batch
from fernn.showcase.errors import DemoError
from fernn.showcase.planning import DEFAULT_MEMORY_LIMIT, RunPlan, VelocityChoice, plan_runs, set_radius
from fernn.flows.words import words

__all__ = ["MAX_GRID_SEQUENCES", "MAX_GRID_SPEED", "MAX_SEQUENCES", "MAX_WORK", "HeldOutScore", "HeldOutStudy",
           "LiveGrids", "held_out_study", "live_grids", "study_work"]

MAX_SEQUENCES = 200  # held-out sequences per study
MAX_GRID_SPEED = 4  # the live grid {-r..r}^2 (the app's velocity sliders reach 4)
MAX_GRID_SEQUENCES = 16  # sequences per grid cell
# Multiply-adds summed over models and sequences. Measured on one thread of a 2-core CPU busy with
# training: a radius-4 grid of two 16-channel FERNNs (about 9.5e11 multiply-adds) took 57 s, so 1e12
# is about a minute.
MAX_WORK = 10**12
MAX_BATCH = 16
# progress(fraction done in [0, 1], what is running now)
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class HeldOutScore:
    """One model's mean MSE over the held-out sequences, with its 95% interval (normal
    approximation over sequences, as :func:`fernn.measures.mean_interval`; ``None`` for one sequence)."""

    name: str
    mean_mse: float
    low: float | None
    high: float | None
    copies: int  # velocity copies it ran with
    seconds: float


@dataclass(frozen=True)
class HeldOutStudy:
    """Every model on the same ``sequences`` held-out sequences, with the copy-last-frame baseline."""

    scores: tuple[HeldOutScore, ...]
    baseline_mse: float
    sequences: int
    motion: str  # how the digits moved, in words
    context_frames: int
    predict_frames: int

    @property
    def nbytes(self) -> int:  # for the server's byte-bounded cache: a few numbers and strings
        return 256 * (len(self.scores) + 1)


@dataclass(frozen=True)
class LiveGrids:
    """Each model's held-out MSE at every velocity of its flow's grid up to ``radius`` (every digit
    at that velocity), with the radius of the velocity set it ran with (``None``: not a whole set)."""

    grids: dict[str, tuple[VelocityGrid, int | None]]
    radius: int
    sequences: int  # per cell

    @property
    def nbytes(self) -> int:
        return sum(256 + 64 * len(grid.axes.flat()) for grid, _ in self.grids.values())


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise DemoError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def _one_flow(models: Mapping[str, Forecaster]) -> Flow:
    if not models:
        raise DemoError("give at least one model")
    flows = {model.flow for model in models.values()}
    if len(flows) != 1:
        raise DemoError("the models move their copies by different flows: evaluate models of one flow")
    return next(iter(flows))


def study_work(plan: RunPlan, sequences: int) -> int:
    """The multiply-adds of running ``plan`` over ``sequences`` sequences (:data:`MAX_WORK`'s units)."""
    return plan.work * sequences


def _check_work(total: int, what: str, work_limit: int) -> None:
    if total > work_limit:
        raise DemoError(f"{what} needs {total / work_limit:.1f}× the work one evaluation may do here; "
                        "choose fewer sequences, a smaller velocity set or a smaller grid")


def _batch_size(model: Forecaster, copies: int, memory_limit: int) -> int:
    """Sequences per forward pass: a few states ``(B, V, C, H, W)`` in float32 must fit ``memory_limit``."""
    state = copies * model.config.hidden_channels * CANVAS * CANVAS * 4  # bytes per sequence
    return int(max(1, min(MAX_BATCH, memory_limit // (8 * state))))


def _motion(flow: Flow, velocity: Velocity | None, max_speed: int) -> str:
    if velocity is not None:
        return f"every digit at {words(flow).rate(velocity)}"
    if max_speed == 0:
        return "still digits"
    return f"each digit at its own velocity in {words(flow).set_label(max_speed).removeprefix('V = ')}"


def held_out_study(
    models: Mapping[str, Forecaster],
    *,
    sequences: int,
    context_frames: int,
    predict_frames: int,
    velocities: VelocityChoice | Sequence[Velocity] | None,
    digit_velocities: Sequence[Velocity],
    num_digits: int,
    velocity: Velocity | None = None,
    max_speed: int = 1,
    seed: int = 2024,
    progress: Progress | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    work_limit: int = MAX_WORK,
) -> HeldOutStudy:
    """Every model over the same ``sequences`` held-out sequences of test digits.

    The comparison's settings: ``context_frames`` in, ``predict_frames`` out, ``num_digits`` digits,
    the FERNNs' velocity set ``velocities`` as :func:`~fernn.showcase.compare` takes it (planned
    with the comparison's ``digit_velocities``). Digits move at ``velocity`` (every digit) or, if it
    is ``None``, each at its own velocity of speed <= ``max_speed``. ``seed`` names the held-out
    stream. Raises :class:`DemoError` for settings out of bounds, before any work.
    """
    flow = _one_flow(models)
    sequences = _whole("sequences", sequences, 1, MAX_SEQUENCES)
    num_digits = _whole("num_digits", num_digits, 1, 4)
    max_speed = _whole("max_speed", max_speed, 0, CANVAS // 2)
    try:
        velocity = None if velocity is None else flow.as_velocity(velocity)
        digit_velocities = tuple(flow.as_velocity(v) for v in digit_velocities)
    except ValueError as error:
        raise DemoError(f"the digits' motion does not fit the models' flow: {error}") from None
    plans = plan_runs(models, velocities, digit_velocities, context_frames=context_frames,
                      predict_frames=predict_frames, memory_limit=memory_limit)
    frames = context_frames + predict_frames
    work = [study_work(plan, sequences) for plan in plans]
    _check_work(sum(work), f"{sequences} sequences at these settings", work_limit)

    digits = load_digits("test")[0]
    batch_sizes = {plan.name: _batch_size(models[plan.name], plan.copies, memory_limit) for plan in plans}
    step = min(batch_sizes.values())
    per_sequence = {plan.name: [] for plan in plans}
    seconds = dict.fromkeys(per_sequence, 0.0)
    baseline_sum, done = 0.0, 0.0
    for start in range(0, sequences, step):
        indices = range(start, min(start + step, sequences))
        batch = moving_digits_batch(flow, digits, indices, seed=seed, num_frames=frames, num_digits=num_digits,
                                    max_speed=max_speed, velocity=velocity)  # (B, T + S, 1, H, W)
        baseline_sum += float(baseline_step_mse(batch, context_frames)["copy_last"].mean()) * len(indices)
        for plan, cost in zip(plans, work):
            model = models[plan.name]
            started = time.perf_counter()
            with torch.no_grad():
                stats = step_statistics(model, batch.to(next(model.parameters()).dtype), context_frames,
                                        velocities=plan.velocities, batch_size=batch_sizes[plan.name])
            seconds[plan.name] += time.perf_counter() - started
            per_sequence[plan.name].append(stats["sequence_mse"])  # (B,)
            done += cost * len(indices) / sequences
            if progress is not None:
                progress(done / sum(work), f"{plan.name}: sequence {indices[-1] + 1}/{sequences}")
    scores = []
    for plan in plans:
        interval = mean_interval(np.concatenate(per_sequence[plan.name]))
        scores.append(HeldOutScore(plan.name, interval["mean"], interval["low"], interval["high"], plan.copies,
                                   seconds[plan.name]))
    return HeldOutStudy(tuple(scores), baseline_sum / sequences, sequences, _motion(flow, velocity, max_speed),
                        context_frames, predict_frames)


def live_grids(
    models: Mapping[str, Forecaster],
    *,
    radius: int,
    sequences: int,
    context_frames: int,
    predict_frames: int,
    velocities: VelocityChoice | Sequence[Velocity] | None,
    num_digits: int = 2,
    seed: int = 2024,
    progress: Progress | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    work_limit: int = MAX_WORK,
) -> LiveGrids:
    """Each model's velocity grid up to ``radius``, ``sequences`` held-out sequences per cell, as
    :func:`fernn.measures.velocity_grid_mse` measures it; the FERNNs run with ``velocities``
    planned against the whole grid ("auto" covers its fastest cell). :class:`DemoError` before
    any work for settings out of bounds."""
    flow = _one_flow(models)
    radius = _whole("radius", radius, 0, MAX_GRID_SPEED)
    sequences = _whole("sequences per cell", sequences, 1, MAX_GRID_SEQUENCES)
    cells = flow.grid(radius).flat()
    plans = plan_runs(models, velocities, cells, context_frames=context_frames, predict_frames=predict_frames,
                      memory_limit=memory_limit)
    work = [study_work(plan, sequences * len(cells)) for plan in plans]
    _check_work(sum(work), f"a grid of {len(cells)} velocities x {sequences} sequences", work_limit)
    cells = fixed_velocity_sequences(flow, load_digits("test")[0], count=sequences, seed=seed,
                                     num_frames=context_frames + predict_frames, num_digits=num_digits)
    grids, done = {}, 0.0
    for plan, cost in zip(plans, work):
        model = models[plan.name]

        def report(cell: int, total: int, name: str = plan.name, before: float = done, share: float = cost) -> None:
            if progress is not None:
                progress((before + share * cell / total) / sum(work), f"{name}: velocity {cell}/{total}")

        with torch.no_grad():
            found = velocity_grid_mse(model, cells, max_speed=radius, context_frames=context_frames,
                                      velocities=plan.velocities, progress=report,
                                      batch_size=_batch_size(model, plan.copies, memory_limit))
        done += cost
        grid = VelocityGrid(flow.grid(radius), tuple(tuple(float(v) for v in row) for row in found["mse"]))
        own = set_radius(plan.velocities, flow) if model.config.kind.lifted else None
        grids[plan.name] = (grid, own)
    return LiveGrids(grids, radius, sequences)

