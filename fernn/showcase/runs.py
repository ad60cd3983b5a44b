"""Running the models: every model on the same scene, each rollout's hidden states reduced step
by step into the views the demo shows (:class:`~fernn.showcase.results.Comparison`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from fernn.flows import Velocity
from fernn.models import Forecaster
from fernn.showcase.analysis import (drift_copies, hidden_frame_indices, most_active_copy, motion_stabilise,
                                     stabilised_drift, velocity_readout)
from fernn.showcase.errors import DemoError
from fernn.showcase.planning import AUTO, DEFAULT_MEMORY_LIMIT, RunPlan, VelocityChoice, plan_runs
from fernn.showcase.records import is_evaluated, recorded_test_mse, training_max_speed
from fernn.showcase.results import Comparison, HiddenViews, ModelRun
from fernn.showcase.scenes import Digit, scene_flow, scene_frames, seen_from

__all__ = ["Progress", "compare"]

# progress(fraction done in [0, 1], what is running now)
Progress = Callable[[float, str], None]


def compare(
    models: Mapping[str, Forecaster],
    digits: Sequence[Digit],
    *,
    context_frames: int = 10,
    predict_frames: int = 10,
    velocities: VelocityChoice | Sequence[Velocity] | None = AUTO,
    stabilise_velocity: Velocity | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    progress: Progress | None = None,
) -> Comparison:
    """Run every model on the same scene and compute all that the demo shows.

    models: display name -> forecaster (e.g. ``{"G-RNN": grnn, "FERNN": fernn}``), each on its
        own device; the input goes to that device, results come back as NumPy arrays.
    digits: the scene (see :func:`~fernn.showcase.mnist_scene` and :class:`~fernn.showcase.Digit`);
        frames ``0..T-1`` are the context the models read, frames ``T..T+S-1`` the ground truth
        of their predictions.
    velocities: the FERNNs' velocity set at inference (see :func:`~fernn.showcase.velocity_set_for`):
        ``"auto"`` (default), ``"as trained"``, ``r`` for ``{-r..r}^2``, or a list of ``(dy, dx)``.
        Weights are shared across copies, so any set runs; cost grows linearly with its size.
    stabilise_velocity: the motion undone by the stabilised views; default: the first digit's.
    memory_limit: bytes; a run planned above it (see :func:`~fernn.showcase.plan_runs`) raises
        :class:`DemoError` before anything runs.
    progress: called after every recurrent step with the fraction of the work done.

    Returns a :class:`Comparison`. Cost: per model one rollout of ``|V| (T + S)`` recurrent conv
    steps and, for the drift, ``T`` more of a single copy; hidden states are reduced step by
    step, never kept whole.
    """
    if not models:
        raise DemoError("give at least one model")
    digits = tuple(digits)
    if not digits:
        raise DemoError("a scene needs at least one digit")
    flows = {model.flow for model in models.values()}
    if len(flows) != 1:
        raise DemoError(f"the models move their copies by different flows ({', '.join(map(repr, flows))}): "
                        "compare models of one flow")
    (flow,) = flows
    if (digits_flow := scene_flow(digits)) != flow:
        raise DemoError(f"the models move their copies by {flow.name} but the digits move by "
                        f"{digits_flow.name}: choose models of the digits' motion")
    digit_velocities = tuple(d.velocity for d in digits)
    plans = plan_runs(models, velocities, digit_velocities, context_frames=context_frames,
                      predict_frames=predict_frames, memory_limit=memory_limit)
    total = context_frames + predict_frames
    frames = scene_frames(digits, total)  # (T+S, 1, H, W)
    future = frames[context_frames:, 0]  # (S, H, W)
    last = frames[context_frames - 1, 0]  # (H, W)
    baseline_mse = ((future - last) ** 2).mean(dim=(1, 2)).numpy()  # (S,)
    if stabilise_velocity is None:
        stabilise_velocity = digits[0].velocity
    stabilise_velocity = flow.as_velocity(stabilise_velocity)

    # The same scene seen from the frame moving at stabilise_velocity, over the context only: what
    # the stabilised state of a flow-equivariant model equals (one scene for every model).
    reference = scene_frames(seen_from(digits, stabilise_velocity), context_frames)  # (T, 1, H, W)
    work = [plan.copies * total for plan in plans]  # recurrent cost is proportional to copies x steps
    runs = []
    for index, plan in enumerate(plans):
        report = None if progress is None else _step_reporter(progress, plan, total, sum(work[:index]) / sum(work),
                                                               work[index] / sum(work))
        runs.append(_run_model(plan, models[plan.name], frames, reference, stabilise_velocity, report))
    trained = {training_max_speed(model) for model in models.values()} - {None}
    return Comparison(
        truth=frames[:, 0].numpy(),
        context_frames=context_frames,
        predict_frames=predict_frames,
        digit_velocities=digit_velocities,
        digit_starts=tuple(d.start for d in digits),
        digit_labels=tuple(d.label for d in digits),
        stabilise_velocity=stabilise_velocity,
        baseline_mse=baseline_mse,
        training_max_speed=max(trained) if trained else None,
        runs=tuple(runs),
        flow=flow,
    )


def _step_reporter(progress: Progress, plan: RunPlan, total: int, done: float, share: float) -> Callable[[int], None]:
    """``report(step)`` for one model's run: ``progress`` of the whole comparison, named."""
    copies = f"{plan.copies} velocity cop{'y' if plan.copies == 1 else 'ies'}"

    def report(step: int) -> None:
        progress(done + share * (step + 1) / total, f"{plan.name}: step {step + 1}/{total} with {copies}")

    return report


def _run_model(plan: RunPlan, model: Forecaster, frames: torch.Tensor, reference: torch.Tensor,
               stabilise_velocity: Velocity, report: Callable[[int], None] | None) -> ModelRun:
    """One rollout, its hidden states reduced step by step (see
    :func:`~fernn.showcase.rollout_memory_bytes`). ``reference``: the context frames seen from the
    stabilising frame (for the drift)."""
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    context_frames = reference.shape[0]
    chosen, total = plan.velocities, frames.shape[0]
    predict_frames = total - context_frames
    context = frames[:context_frames].unsqueeze(0).to(device=device, dtype=dtype)  # (1, T, 1, H, W)
    channels, (height, width) = model.config.hidden_channels, frames.shape[-2:]
    pooled = torch.empty(total, channels, height, width)  # (T+S, C, H, W)
    activity = torch.empty(total, len(chosen))  # (T+S, V)
    copies = torch.empty(total, channels, height, width)  # (T+S, C, H, W): the read-out copy
    # The read-out copy is known once the context is read; with one copy, from the start. Its
    # context states are then run again alone (1/|V| of the context's cost; bit-identical on
    # CPU) rather than every copy's kept in case: 145 MB at the widest setting.
    chosen_copy: list[int] = [0] if len(chosen) == 1 else []
    readout_ranking: list[tuple[Velocity, ...]] = []
    moving, still = drift_copies(chosen, stabilise_velocity, model.flow)
    moving_states = torch.empty(context_frames, channels, height, width)  # float32, for the drift
    scale = float(channels * height * width) ** -0.5
    # Hidden step 0 has read one frame from the zero state: every copy is identical there.
    context_steps = slice(1, context_frames) if context_frames > 1 else slice(0, 1)

    def on_step(index: int, state: torch.Tensor) -> None:
        h = state[0].float()  # (V, C, H, W)
        pooled[index] = model.pool(h.unsqueeze(0))[0].cpu()  # the forecaster's own pooling rule
        activity[index] = (torch.linalg.vector_norm(h, dim=(1, 2, 3)) * scale).cpu()  # no copy of h
        if index < context_frames:
            moving_states[index] = h[moving].cpu()
        if index == context_frames - 1:
            readout_ranking.append(velocity_readout(activity.numpy(), chosen, context_steps))
            if not chosen_copy:
                chosen_copy.append(chosen.index(readout_ranking[0][0]))
        if chosen_copy and (index >= context_frames or len(chosen) == 1):
            copies[index] = h[chosen_copy[0]].cpu()
        if report is not None:
            report(index)

    started = time.perf_counter()
    forecast = model.forecast(context, predict_frames, velocities=chosen, on_step=on_step)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    if len(chosen) > 1:
        copies[:context_frames] = _context_copy(model, frames[:context_frames], chosen[chosen_copy[0]])

    prediction = forecast.frames[0, :, 0].float().cpu()  # (S, H, W)
    mse = ((prediction - frames[context_frames:, 0]) ** 2).mean(dim=(1, 2)).numpy()  # (S,)
    activity_np = activity.numpy()
    ranking = readout_ranking[0]

    steps = hidden_frame_indices(model.config.decoding, context_frames, predict_frames)
    pooled_stabilised = motion_stabilise(pooled, stabilise_velocity, steps, model.flow)
    half = np.float16
    views = HiddenViews(
        pooled=pooled.numpy().astype(half),
        pooled_stabilised=pooled_stabilised.numpy().astype(half),
        copy=copies.numpy().astype(half),
        copy_stabilised=motion_stabilise(copies, stabilise_velocity, steps, model.flow).numpy().astype(half),
        copy_velocity=ranking[0],
        drift=_drift(model, chosen, moving_states, still, reference, stabilise_velocity, steps),
    )
    return ModelRun(
        name=plan.name,
        kind=model.config.kind,
        trained_velocities=tuple(model.velocities),
        velocities=tuple(chosen),
        evaluated=is_evaluated(model),
        prediction=prediction.numpy(),
        mse=mse,
        hidden=views,
        activity=activity_np,
        readout=most_active_copy(activity_np),
        ranking=ranking,
        seconds=seconds,
        device=str(device),
        in_range_mse=recorded_test_mse(model),
    )


def _drift(model: Forecaster, chosen: tuple[Velocity, ...], moving_states: torch.Tensor, still: int,
           reference: torch.Tensor, velocity: Velocity, steps: np.ndarray) -> float:
    """:func:`~fernn.showcase.stabilised_drift` of the copy moving with ``velocity`` (its context
    states ``moving_states`` ``(T, C, H, W)``) against copy ``still`` of the ``reference`` scene."""
    context = reference.shape[0]
    stabilised = motion_stabilise(moving_states, velocity, steps[:context], model.flow)
    return stabilised_drift(stabilised, _context_copy(model, reference, chosen[still]),
                            slice(1 if context > 1 else 0, context))


def _context_copy(model: Forecaster, frames: torch.Tensor, velocity: Velocity) -> torch.Tensor:
    """The copy of velocity ``velocity`` after each of ``frames`` ``(T, 1, H, W)`` -> ``(T, C, H, W)``.
    Copies never interact in the recurrence, so that copy is run alone (1/|V| of the cost)."""
    weight = next(model.parameters())
    kept = torch.empty(frames.shape[0], model.config.hidden_channels, *frames.shape[-2:])

    def keep(index: int, state: torch.Tensor) -> None:
        kept[index] = state[0, 0].float().cpu()

    model.forecast(frames.unsqueeze(0).to(weight), 0, velocities=(velocity,), on_step=keep)
    return kept
