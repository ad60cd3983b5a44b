"""The demo's computations: input scenes, side-by-side rollouts, hidden-state views, exports.

Everything the Streamlit app (``app.py``) shows is computed here and drawn by
:mod:`fernn.viz`; the app only wires widgets to these functions. No streamlit import.

The one entry point is :func:`compare`::

    from fernn import demo, load_checkpoint
    models = {"G-RNN": load_checkpoint("pretrained/grnn.pt"), "FERNN": load_checkpoint("pretrained/fernn.pt")}
    scene = demo.mnist_scene([12], velocities=[(2, -3)])
    result = demo.compare(models, scene)                      # 10 context + 10 predicted frames
    result.runs[1].mean_mse, result.runs[1].velocity_readout

Hidden-state views use the index convention of :meth:`fernn.Forecaster.rollout`: hidden step
``i`` is the state after reading input ``i``; with ``aligned`` decoding input ``i`` is frame
``i`` (true or predicted), with ``paper`` decoding the prediction steps re-read one frame late.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import torch

from .checkpoints import CheckpointRecord
from .data import CANVAS, load_digits
from .flows import Velocity, as_velocities, flow_image, shift_copies, velocity_set
from .models import Forecaster

__all__ = [
    "AS_TRAINED",
    "AUTO",
    "DEFAULT_MEMORY_LIMIT",
    "MAX_FRAMES",
    "MAX_SET_SPEED",
    "Comparison",
    "DemoError",
    "Digit",
    "HiddenViews",
    "ModelRun",
    "RunPlan",
    "compare",
    "comparison_npz",
    "default_starts",
    "describe_velocity_choice",
    "headline",
    "hidden_frame_indices",
    "is_evaluated",
    "mnist_scene",
    "motion_stabilise",
    "plan_runs",
    "record",
    "rollout_memory_bytes",
    "scene_frames",
    "set_radius",
    "stabilised_drift",
    "training_max_speed",
    "velocity_readout",
    "velocity_set_for",
    "weights_problem",
]

# A rollout planned to need more than this is refused before it starts.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
# Longest rollout the demo runs (the paper's length-generalisation tests go to 70 steps).
MAX_FRAMES = 200
# Widest velocity set the demo runs: {-8..8}^2, 289 copies.
MAX_SET_SPEED = 8


class DemoError(ValueError):
    """A demo request that cannot run as asked (bad settings, over the memory budget)."""


@dataclass(frozen=True)
class Digit:
    """One digit of a scene: frame ``t`` shows ``image`` rolled by ``start + t * velocity``.

    image: ``float32 (28, 28)`` in ``[0, 1]``, white ink on black, centred like MNIST.
    """

    image: np.ndarray
    velocity: Velocity = (0, 0)
    start: Velocity = (0, 0)
    label: str = ""

    def __post_init__(self) -> None:
        image = np.asarray(self.image, dtype=np.float32)
        if image.shape != (CANVAS, CANVAS):
            raise DemoError(f"a digit image must be {CANVAS}x{CANVAS}, got shape {image.shape}")
        if not np.isfinite(image).all():
            raise DemoError("a digit image holds NaN or infinite values")
        object.__setattr__(self, "image", np.clip(image, 0.0, 1.0))
        for name in ("velocity", "start"):
            try:
                (pair,) = as_velocities([getattr(self, name)])
            except ValueError as error:
                raise DemoError(f"digit {name}: {error}") from None
            object.__setattr__(self, name, pair)


def mnist_scene(
    indices: Sequence[int],
    *,
    velocities: Sequence[Velocity],
    starts: Sequence[Velocity] | None = None,
    split: str = "test",
) -> tuple[Digit, ...]:
    """Digits ``indices`` of the bundled MNIST ``split`` (held-out test digits by default).

    ``starts`` defaults to spreading two digits apart horizontally and centring a single one.
    """
    images, labels = load_digits(split)
    if len(velocities) != len(indices):
        raise DemoError(f"give one velocity per digit: {len(indices)} digits, {len(velocities)} velocities")
    if starts is None:
        starts = default_starts(len(indices))
    digits = []
    for index, velocity, start in zip(indices, velocities, starts):
        if not 0 <= int(index) < len(images):
            raise DemoError(f"digit index {index} is outside the {split} set (0..{len(images) - 1})")
        image = images[int(index)].astype(np.float32) / 255.0
        label = f"MNIST {split} #{int(index)} (a {int(labels[int(index)])})"
        digits.append(Digit(image, tuple(velocity), tuple(start), label))
    return tuple(digits)


def default_starts(count: int) -> tuple[Velocity, ...]:
    """Start offsets that keep up to two digits apart: centred, or 7 px left and right."""
    if count == 1:
        return ((0, 0),)
    return tuple((0, -7 + 14 * i // max(count - 1, 1)) for i in range(count))


def scene_frames(digits: Sequence[Digit], num_frames: int) -> torch.Tensor:
    """The input sequence of a scene: digits rolled on the torus, summed, clipped to ``[0, 1]``.

    -> ``float32 (T, 1, 28, 28)`` with ``T = num_frames``; frame ``t`` holds each digit at
    ``start + t * velocity``, as in :func:`fernn.data.flowing_mnist`.
    """
    if not digits:
        raise DemoError("a scene needs at least one digit")
    frames = torch.zeros(num_frames, 1, CANVAS, CANVAS)  # (T, 1, H, W)
    for digit in digits:
        image = torch.from_numpy(digit.image).unsqueeze(0)  # (1, H, W)
        frames += flow_image(image, digit.velocity, num_frames, start=digit.start)
    return frames.clamp_(0.0, 1.0)


# The FERNN velocity set at inference, as the app's control and compare() take it: "auto" (the
# smallest {-r..r}^2 holding the model's own set and every digit's velocity), "as trained", or r.
AUTO, AS_TRAINED = "auto", "as trained"
VelocityChoice = Union[str, int]


def velocity_set_for(model: Forecaster, choice: VelocityChoice | Sequence[Velocity] | None,
                     digit_velocities: Sequence[Velocity] = ()) -> tuple[Velocity, ...]:
    """The velocity set ``model`` runs with for ``choice`` (see :data:`AUTO`).

    A G-RNN keeps ``{(0, 0)}``: it is the baseline, whatever set the FERNNs are widened to.
    ``None`` means as trained; an explicit list of ``(dy, dx)`` is taken as it is.
    """
    if model.config.kind != "fernn" or choice is None or choice == AS_TRAINED:
        return tuple(model.velocities)
    if choice == AUTO:
        speeds = [max(abs(dy), abs(dx)) for dy, dx in (*model.velocities, *digit_velocities)]
        return velocity_set(max(speeds))
    if isinstance(choice, (int, np.integer)) and not isinstance(choice, bool):
        if not 0 <= int(choice) <= MAX_SET_SPEED:
            raise DemoError(f"velocity set radius must be 0..{MAX_SET_SPEED}, got {choice}")
        return velocity_set(int(choice))
    if isinstance(choice, str):
        raise DemoError(f"velocity set must be {AUTO!r}, {AS_TRAINED!r} or a radius r, got {choice!r}")
    try:
        return as_velocities(choice)
    except ValueError as error:
        raise DemoError(f"velocity set: {error}") from None


def describe_velocity_choice(choice: VelocityChoice) -> str:
    """One line for the app's velocity-set control."""
    if choice == AUTO:
        return "auto: the smallest {−r…r}² holding the trained set and every digit's velocity."
    if choice == AS_TRAINED:
        return "as trained: the checkpoint's own set; faster digits fall outside it."
    return f"V = {{−{choice}…{choice}}}²: {(2 * int(choice) + 1) ** 2} copies."


def set_radius(velocities: Sequence[Velocity]) -> int | None:
    """``r`` when ``velocities`` is exactly ``{-r..r}^2`` (in any order), else ``None``."""
    radius = max(max(abs(dy), abs(dx)) for dy, dx in velocities)
    return radius if sorted(velocities) == sorted(velocity_set(radius)) else None


def rollout_memory_bytes(*, num_copies: int, hidden_channels: int, num_frames: int, context_frames: int | None = None,
                         height: int = CANVAS, width: int = CANVAS) -> int:
    """Estimated peak memory of one demo rollout (batch 1), in bytes.

    The rollout keeps no full hidden history: each step's state ``V C H W`` (float32) is reduced
    as it comes. What stays: every copy of the context steps (float16, for the read-out copy),
    per frame the pooled and read-out ``C H W`` maps in float32 plus their stabilised views
    (float32 while computed, 4 views in float16 kept), and one step's working set (about four
    states).
    """
    context = num_frames if context_frames is None else context_frames
    state = num_copies * hidden_channels * height * width
    maps = hidden_channels * height * width
    return 4 * state * 4 + 2 * state * context + (4 * 4 + 4 * 2) * maps * num_frames


@dataclass(frozen=True)
class RunPlan:
    """What one model will run with: its velocity set and the memory that takes."""

    name: str
    velocities: tuple[Velocity, ...]
    memory_bytes: int

    @property
    def copies(self) -> int:
        return len(self.velocities)


def plan_runs(models: Mapping[str, Forecaster], choice: VelocityChoice | Sequence[Velocity] | None,
              digit_velocities: Sequence[Velocity], *, context_frames: int, predict_frames: int,
              memory_limit: int = DEFAULT_MEMORY_LIMIT) -> tuple[RunPlan, ...]:
    """Each model's velocity set and memory: the one place the app and :func:`compare` plan a run.

    Raises :class:`DemoError` when a run would need more than ``memory_limit`` bytes.
    """
    _check_counts(context_frames, predict_frames)
    plans = []
    for name, model in models.items():
        if model.config.in_channels != 1:
            raise DemoError(f"{name}: the demo's digits have 1 channel but this model reads {model.config.in_channels}")
        chosen = velocity_set_for(model, choice, digit_velocities)
        need = rollout_memory_bytes(num_copies=len(chosen), hidden_channels=model.config.hidden_channels,
                                    num_frames=context_frames + predict_frames, context_frames=context_frames)
        if need > memory_limit:
            raise DemoError(
                f"{name}: {len(chosen)} velocity copies over {context_frames + predict_frames} frames need about "
                f"{need / 1024**2:,.0f} MiB, over the {memory_limit / 1024**2:,.0f} MiB limit; choose a smaller "
                "velocity set or fewer frames"
            )
        plans.append(RunPlan(name, chosen, need))
    return tuple(plans)


def hidden_frame_indices(decoding: str, context_frames: int, predict_frames: int) -> np.ndarray:
    """For each hidden step ``i``, the index of the frame it has read: ``int64 (T + S,)``.

    With ``aligned`` decoding hidden step ``i`` follows frame ``i``; with ``paper`` decoding the
    first prediction step re-reads frame ``T - 1``, so prediction steps lag one frame behind.
    """
    indices = np.arange(context_frames + predict_frames)
    if decoding == "paper":
        indices[context_frames:] -= 1
    return indices


def motion_stabilise(maps: torch.Tensor, velocity: Sequence[int], frame_indices: Sequence[int]) -> torch.Tensor:
    """Undo a constant input motion: map ``i`` is rolled back by ``frame_indices[i] * velocity``.

    maps: ``(N, C, H, W)`` -> ``(N, C, H, W)``. A structure that moves with the input stands
    still afterwards; a structure left behind by the input (a smear) moves backwards.
    """
    if len(frame_indices) != maps.shape[0]:
        raise DemoError(f"{maps.shape[0]} maps but {len(frame_indices)} frame indices")
    dy, dx = (int(c) for c in velocity)
    back = tuple((-int(f) * dy, -int(f) * dx) for f in frame_indices)
    return shift_copies(maps.unsqueeze(0), back)[0].contiguous()  # (N, C, H, W)


def stabilised_drift(stabilised: torch.Tensor, reference: torch.Tensor, steps: slice) -> float:
    """How far motion-stabilised maps are from the maps of the same scene seen from the moving
    frame: the mean over ``steps`` of ``||S_t - R_t|| / ||R_t||``.

    stabilised, reference: ``(N, C, H, W)``. For a flow-equivariant state ``S_t = R_t`` (exactly
    for the copies whose partner is in ``V``, approximately after the max-pool), so the drift is
    near 0; a G-RNN's state smears behind a moving input and drifts by O(1).
    """
    moved, still = stabilised[steps].flatten(1).double(), reference[steps].flatten(1).double()  # (K, C*H*W)
    if moved.shape[0] == 0:
        return float("nan")
    error = torch.linalg.vector_norm(moved - still, dim=1)
    size = torch.linalg.vector_norm(still, dim=1).clamp_min(1e-12)
    return float((error / size).mean())


def velocity_readout(activity: np.ndarray, velocities: Sequence[Velocity], steps: slice) -> tuple[Velocity, ...]:
    """Velocities ranked by their copy's mean activity over hidden ``steps`` (most active first).

    activity: ``(T + S, V)`` per-copy RMS activation. In a FERNN the copy that moves with the
    input sees a standing stimulus and builds up coherent, strong structure; other copies see it
    slide past and smear it, so the top-ranked copy reads out the input's velocity.
    """
    mean = activity[steps].mean(axis=0)  # (V,)
    order = np.argsort(-mean, kind="stable")
    return tuple(tuple(int(c) for c in velocities[i]) for i in order)


@dataclass(frozen=True)
class HiddenViews:
    """A run's hidden states as the demo shows them, float16 ``(T + S, C, H, W)`` each.

    pooled: the max (or mean) over velocity copies of the state after each step; with
    ``aligned`` decoding the decoder reads the same pool taken after advancing every copy by its
    own flow, with ``paper`` decoding exactly this. copy: the single copy read out as the input's
    velocity (``copy_velocity``). ``*_stabilised``: rolled back by the input's accumulated motion.
    drift: :func:`stabilised_drift` over the context frames of the copy moving with the
    stabilising velocity, against the ``(0, 0)`` copy of the same scene seen from that moving
    frame: 0 for a flow-equivariant state (to float32 round-off), O(1) when no copy moves with
    the input (a G-RNN, or a velocity outside the set).
    """

    pooled: np.ndarray
    pooled_stabilised: np.ndarray
    copy: np.ndarray
    copy_stabilised: np.ndarray
    copy_velocity: Velocity
    drift: float

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.pooled, self.pooled_stabilised, self.copy, self.copy_stabilised))


@dataclass(frozen=True)
class ModelRun:
    """One model's rollout on a scene, reduced to what the demo shows.

    prediction: ``(S, H, W)``; mse: ``(S,)`` per predicted frame; hidden: :class:`HiddenViews`.
    activity: ``(T + S, V)`` RMS activation of each copy; readout: ``(T + S, 2)`` the most
    active copy's velocity per step (NaN where all copies are equally active, e.g. after frame
    0); ranking: velocities by activity over the context, most active first.
    """

    name: str
    kind: str
    trained_velocities: tuple[Velocity, ...]
    velocities: tuple[Velocity, ...]
    evaluated: bool
    prediction: np.ndarray
    mse: np.ndarray
    hidden: HiddenViews
    activity: np.ndarray
    readout: np.ndarray
    ranking: tuple[Velocity, ...]
    seconds: float
    device: str

    @property
    def mean_mse(self) -> float:
        return float(self.mse.mean())

    @property
    def velocity_readout(self) -> Velocity | None:
        """The copy most active over the context frames, or ``None`` for a single-copy model."""
        return self.ranking[0] if len(self.velocities) > 1 and self.ranking else None

    @property
    def hidden_channels(self) -> int:
        return int(self.hidden.pooled.shape[1])

    @property
    def nbytes(self) -> int:
        return self.hidden.nbytes + sum(a.nbytes for a in (self.prediction, self.mse, self.activity, self.readout))


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`compare` computed; plain NumPy arrays, so it pickles and caches.

    truth: ``(T + S, H, W)`` the full input sequence; baseline_mse: ``(S,)`` MSE of repeating
    the last context frame; runs: one :class:`ModelRun` per model, in the order given.
    """

    truth: np.ndarray
    context_frames: int
    predict_frames: int
    digit_velocities: tuple[Velocity, ...]
    digit_starts: tuple[Velocity, ...]
    digit_labels: tuple[str, ...]
    stabilise_velocity: Velocity
    baseline_mse: np.ndarray
    training_max_speed: int | None = None
    runs: tuple[ModelRun, ...] = field(default_factory=tuple)

    @property
    def baseline_mean_mse(self) -> float:
        return float(self.baseline_mse.mean())

    @property
    def num_frames(self) -> int:
        return self.context_frames + self.predict_frames

    @property
    def nbytes(self) -> int:
        """Bytes of array data held: what a cache of comparisons is bounded by."""
        return self.truth.nbytes + self.baseline_mse.nbytes + sum(run.nbytes for run in self.runs)

    def run(self, name: str) -> ModelRun:
        for item in self.runs:
            if item.name == name:
                return item
        raise KeyError(f"no model named {name!r}; have {[r.name for r in self.runs]}")


def _check_counts(context_frames: int, predict_frames: int) -> None:
    for name, value, low in (("context_frames", context_frames, 1), ("predict_frames", predict_frames, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DemoError(f"{name} must be an integer >= {low}, got {value!r}")
    if context_frames + predict_frames > MAX_FRAMES:
        raise DemoError(f"at most {MAX_FRAMES} frames in all, got {context_frames} + {predict_frames}")


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
    digits: the scene (see :func:`mnist_scene` and :class:`Digit`); frames ``0..T-1`` are the
        context the models read, frames ``T..T+S-1`` the ground truth of their predictions.
    velocities: the FERNNs' velocity set at inference (see :func:`velocity_set_for`): ``"auto"``
        (default), ``"as trained"``, ``r`` for ``{-r..r}^2``, or a list of ``(dy, dx)``.
        Weights are shared across copies, so any set runs; cost grows linearly with its size.
    stabilise_velocity: the motion undone by the stabilised views; default: the first digit's.
    memory_limit: bytes; a run planned above it (see :func:`plan_runs`) raises :class:`DemoError`
        before anything runs.
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
    (stabilise_velocity,) = as_velocities([stabilise_velocity])

    # The same scene seen from the frame moving at stabilise_velocity, over the context only: what
    # the stabilised state of a flow-equivariant model equals (one scene for every model).
    relative = tuple(Digit(d.image, (d.velocity[0] - stabilise_velocity[0], d.velocity[1] - stabilise_velocity[1]),
                           d.start, d.label) for d in digits)
    reference = scene_frames(relative, context_frames)  # (T, 1, H, W)
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
    )


def _drift(model: Forecaster, chosen: tuple[Velocity, ...], moving_states: torch.Tensor, still: int,
           reference: torch.Tensor, velocity: Velocity, steps: np.ndarray) -> float:
    """:func:`stabilised_drift` of the copy moving with ``velocity`` (its context states
    ``moving_states`` ``(T, C, H, W)``) against copy ``still`` of the ``reference`` scene."""
    context = reference.shape[0]
    stabilised = motion_stabilise(moving_states, velocity, steps[:context])
    return stabilised_drift(stabilised, _context_copy(model, reference, chosen[still]),
                            slice(1 if context > 1 else 0, context))


def _step_reporter(progress: Progress, plan: RunPlan, total: int, done: float, share: float) -> Callable[[int], None]:
    """``report(step)`` for one model's run: ``progress`` of the whole comparison, named."""
    copies = f"{plan.copies} velocity cop{'y' if plan.copies == 1 else 'ies'}"

    def report(step: int) -> None:
        progress(done + share * (step + 1) / total, f"{plan.name}: step {step + 1}/{total} with {copies}")

    return report


def _context_copy(model: Forecaster, frames: torch.Tensor, velocity: Velocity) -> torch.Tensor:
    """The copy of velocity ``velocity`` after each of ``frames`` ``(T, 1, H, W)`` -> ``(T, C, H, W)``.
    Copies never interact in the recurrence, so that copy is run alone (1/|V| of the cost)."""
    weight = next(model.parameters())
    kept = torch.empty(frames.shape[0], model.config.hidden_channels, *frames.shape[-2:])

    def keep(index: int, state: torch.Tensor) -> None:
        kept[index] = state[0, 0].float().cpu()

    model.forecast(frames.unsqueeze(0).to(weight), 0, velocities=(velocity,), on_step=keep)
    return kept


def _drift_copies(velocities: tuple[Velocity, ...], velocity: Velocity) -> tuple[int, int]:
    """(copy of the moving run, copy of the still reference) that flow equivariance pairs up: the
    copy moving at ``velocity`` with the reference's ``(0, 0)``; where no copy moves with it (a
    G-RNN, or a set without it) the ``(0, 0)`` copies, which then drift. A set without ``(0, 0)``
    compares its first copies."""
    if (0, 0) not in velocities:
        return 0, 0
    still = velocities.index((0, 0))
    return (velocities.index(velocity) if velocity in velocities else still), still


def _run_model(plan: RunPlan, model: Forecaster, frames: torch.Tensor, reference: torch.Tensor,
               stabilise_velocity: Velocity, report: Callable[[int], None] | None) -> ModelRun:
    """One rollout, its hidden states reduced step by step (see :func:`rollout_memory_bytes`).
    ``reference``: the context frames seen from the stabilising frame (for the drift)."""
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    context_frames = reference.shape[0]
    chosen, total = plan.velocities, frames.shape[0]
    predict_frames = total - context_frames
    context = frames[:context_frames].unsqueeze(0).to(device=device, dtype=dtype)  # (1, T, 1, H, W)
    channels, (height, width) = model.config.hidden_channels, frames.shape[-2:]
    pooled = torch.empty(total, channels, height, width)  # (T+S, C, H, W)
    activity = torch.empty(total, len(chosen))  # (T+S, V)
    context_states = torch.empty(context_frames, len(chosen), channels, height, width, dtype=torch.float16)
    copies = torch.empty(total, channels, height, width)  # (T+S, C, H, W): the read-out copy
    chosen_copy: list[int] = []
    readout_ranking: list[tuple[Velocity, ...]] = []
    moving, still = _drift_copies(chosen, stabilise_velocity)
    moving_states = torch.empty(context_frames, channels, height, width)  # float32, for the drift
    scale = float(channels * height * width) ** -0.5
    # Hidden step 0 has read one frame from the zero state: every copy is identical there.
    context_steps = slice(1, context_frames) if context_frames > 1 else slice(0, 1)

    def on_step(index: int, state: torch.Tensor) -> None:
        h = state[0].float()  # (V, C, H, W)
        pooled[index] = model.pool(h.unsqueeze(0))[0].cpu()  # the forecaster's own pooling rule
        activity[index] = (torch.linalg.vector_norm(h.flatten(1), dim=1) * scale).cpu()
        if index < context_frames:
            context_states[index] = h.cpu()
            moving_states[index] = h[moving].cpu()
        if index == context_frames - 1:  # the read-out copy is known once the context is read
            readout_ranking.append(velocity_readout(activity.numpy(), chosen, context_steps))
            chosen_copy.append(chosen.index(readout_ranking[0][0]))
            copies[:context_frames] = context_states[:, chosen_copy[0]].float()
        elif index >= context_frames:
            copies[index] = h[chosen_copy[0]].cpu()
        if report is not None:
            report(index)

    started = time.perf_counter()
    forecast = model.forecast(context, predict_frames, velocities=chosen, on_step=on_step)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started

    prediction = forecast.frames[0, :, 0].float().cpu()  # (S, H, W)
    mse = ((prediction - frames[context_frames:, 0]) ** 2).mean(dim=(1, 2)).numpy()  # (S,)
    activity_np = activity.numpy()
    ranking = readout_ranking[0]
    spread = activity_np.max(axis=1) - activity_np.min(axis=1)  # (T+S,)
    best = np.asarray(chosen, dtype=np.float64)[activity_np.argmax(axis=1)]  # (T+S, 2)
    best[spread <= 1e-6 * np.maximum(activity_np.max(axis=1), 1e-12)] = np.nan

    steps = hidden_frame_indices(model.config.decoding, context_frames, predict_frames)
    pooled_stabilised = motion_stabilise(pooled, stabilise_velocity, steps)
    half = np.float16
    views = HiddenViews(
        pooled=pooled.numpy().astype(half),
        pooled_stabilised=pooled_stabilised.numpy().astype(half),
        copy=copies.numpy().astype(half),
        copy_stabilised=motion_stabilise(copies, stabilise_velocity, steps).numpy().astype(half),
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
        readout=best,
        ranking=ranking,
        seconds=seconds,
        device=str(device),
    )


def record(model: Forecaster) -> CheckpointRecord:
    """The checkpoint's training and evaluation record (empty for a model built in code)."""
    return CheckpointRecord.from_metrics(getattr(model, "metrics", None))


def weights_problem(model: Forecaster) -> str:
    """Why a model's weights cannot give meaningful output (NaN or inf), or ``""``."""
    bad = [name for name, tensor in model.state_dict().items() if not torch.isfinite(tensor).all()]
    if bad:
        return f"its weights hold NaN or infinite values ({', '.join(bad[:3])}); the training run that made it diverged"
    return ""


def is_evaluated(model: Forecaster) -> bool:
    """Whether the checkpoint recorded an evaluation; without one its numbers are not results."""
    return record(model).evaluated


def training_max_speed(model: Forecaster) -> int | None:
    """The per-axis speed limit of the model's training data, as its checkpoint records it."""
    return record(model).training_max_speed


def comparison_npz(comparison: Comparison) -> bytes:
    """The raw arrays of a comparison as ``.npz`` bytes (``np.load`` reads them back).

    Keys: ``truth``, ``baseline_mse``, ``context_frames``, ``digit_velocities``, ``model_names``
    and, for model ``k``, ``model{k}_prediction``, ``_mse``, ``_hidden`` (the pooled state),
    ``_hidden_stabilised``, ``_activity``, ``_velocities``, ``_drift`` (see
    :func:`stabilised_drift`).
    """
    arrays: dict[str, np.ndarray] = {
        "truth": comparison.truth,
        "baseline_mse": comparison.baseline_mse,
        "context_frames": np.asarray(comparison.context_frames),
        "predict_frames": np.asarray(comparison.predict_frames),
        "digit_velocities": np.asarray(comparison.digit_velocities, dtype=np.int64).reshape(-1, 2),
        "digit_starts": np.asarray(comparison.digit_starts, dtype=np.int64).reshape(-1, 2),
        "stabilise_velocity": np.asarray(comparison.stabilise_velocity, dtype=np.int64),
        "model_names": np.asarray([run.name for run in comparison.runs]),
    }
    for k, run in enumerate(comparison.runs):
        prefix = f"model{k}_"
        arrays[prefix + "prediction"] = run.prediction
        arrays[prefix + "mse"] = run.mse
        arrays[prefix + "hidden"] = run.hidden.pooled.astype(np.float32)
        arrays[prefix + "hidden_stabilised"] = run.hidden.pooled_stabilised.astype(np.float32)
        arrays[prefix + "drift"] = np.asarray(run.hidden.drift)
        arrays[prefix + "activity"] = run.activity
        arrays[prefix + "velocities"] = np.asarray(run.velocities, dtype=np.int64).reshape(-1, 2)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- the message


PAPER_URL = "https://arxiv.org/abs/2507.14793"


def headline(comparison: Comparison) -> str:
    """The run in plain words (Markdown): each digit's speed against the training range, and
    how the models did, e.g. "... the G-RNN's error is 112x the FERNN's"."""
    limit = comparison.training_max_speed
    parts = []
    for index, velocity in enumerate(comparison.digit_velocities):
        speed = max(abs(velocity[0]), abs(velocity[1]))
        who = f"Digit {index + 1}" if len(comparison.digit_velocities) > 1 else "The digit"
        if limit is None:
            where = ""
        elif speed <= limit:
            where = f", inside the training range (|v| ≤ {limit})"
        elif limit == 0:
            where = ", and the models were trained on still digits"
        else:
            where = f", {speed / limit:g}× the fastest training motion ({limit} px/frame)"
        parts.append(f"{who} moves at **{velocity} px/frame**{where}.")
    runs = comparison.runs
    if len(runs) == 2:
        (first, second) = runs
        ratio = first.mean_mse / max(second.mean_mse, 1e-12)
        better, worse = (second, first) if ratio >= 1 else (first, second)
        factor = max(ratio, 1 / max(ratio, 1e-12))
        keeps = "keeps it" if better.mean_mse < 0.3 * comparison.baseline_mean_mse else "does better"
        loses = "smears it" if worse.mean_mse > 0.3 * comparison.baseline_mean_mse else "does worse"
        verdict = (f"The {better.name} {keeps} (MSE {better.mean_mse:.1e}); the {worse.name} {loses} "
                   f"(MSE {worse.mean_mse:.1e}): **{factor:.0f}× lower error** for the {better.name}"
                   if factor >= 1.5 else
                   f"Both models do about as well (MSE {first.mean_mse:.1e} and {second.mean_mse:.1e})")
        outside = [v for v in comparison.digit_velocities if any(r.kind == "fernn" and v not in r.velocities
                                                                for r in runs)]
        parts.append(verdict + f" over {comparison.predict_frames} predicted frames.")
        if outside:
            parts.append(f"{', '.join(map(str, outside))} is outside the FERNN's velocity set: no hidden copy "
                         "moves with it, so the FERNN loses its advantage there.")
    elif runs:
        parts.append(f"{runs[0].name}: MSE {runs[0].mean_mse:.1e} over {comparison.predict_frames} predicted frames.")
    return " ".join(parts)
