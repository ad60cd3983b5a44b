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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import CANVAS, load_digits
from .flows import Velocity, as_velocities, shift_copies, velocity_set
from .models import Forecaster

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "MAX_FRAMES",
    "TRAINING_MAX_SPEED",
    "Comparison",
    "DemoError",
    "Digit",
    "ModelRun",
    "compare",
    "comparison_npz",
    "default_starts",
    "hidden_frame_indices",
    "is_evaluated",
    "mnist_scene",
    "motion_stabilise",
    "recorded_velocity_grid",
    "rollout_memory_bytes",
    "run_velocities",
    "scene_frames",
    "velocity_readout",
]

# The shipped checkpoints were trained on Flowing MNIST with |v| <= 1 px/frame per axis.
TRAINING_MAX_SPEED = 1
# A rollout whose hidden states would need more than this is refused before it starts.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
# Longest rollout the demo runs (the paper's length-generalisation tests go to 70 steps).
MAX_FRAMES = 200


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
    # Each digit is one "copy" whose per-frame displacement is start + t * velocity.
    frames = torch.zeros(num_frames, 1, CANVAS, CANVAS)  # (T, 1, H, W)
    for digit in digits:
        image = torch.from_numpy(digit.image).reshape(1, 1, 1, CANVAS, CANVAS)  # (1, 1, 1, H, W)
        stacked = image.expand(1, num_frames, 1, CANVAS, CANVAS)  # (1, T, 1, H, W): T "copies"
        displacements = tuple(
            (digit.start[0] + t * digit.velocity[0], digit.start[1] + t * digit.velocity[1])
            for t in range(num_frames)
        )
        frames += shift_copies(stacked, displacements)[0]
    return frames.clamp_(0.0, 1.0)


def rollout_memory_bytes(*, num_copies: int, hidden_channels: int, num_frames: int, height: int = CANVAS,
                         width: int = CANVAS, batch: int = 1) -> int:
    """Estimated peak memory of a rollout that keeps every hidden state, in bytes (float32).

    The stored states take ``B (T+S) V C H W`` floats; one step's working set (padded shifted
    copies, recurrent conv output, new state) adds about four more ``B V C H W`` tensors.
    """
    per_state = batch * num_copies * hidden_channels * height * width * 4
    return per_state * (num_frames + 4)


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
    dy, dx = (int(c) for c in velocity)
    back = tuple((-int(f) * dy, -int(f) * dx) for f in frame_indices)
    if len(back) != maps.shape[0]:
        raise DemoError(f"{maps.shape[0]} maps but {len(back)} frame indices")
    return shift_copies(maps.unsqueeze(0), back)[0].contiguous()  # (N, C, H, W)


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
class ModelRun:
    """One model's rollout on a scene, reduced to what the demo shows.

    prediction: ``(S, H, W)``; mse: ``(S,)`` per predicted frame.
    hidden: ``(T + S, C, H, W)`` state pooled over velocity copies, as the decoder reads it.
    copy_hidden: ``(T + S, C, H, W)`` state of the single copy read out as the input velocity.
    *_stabilised: the same maps rolled back by the input's accumulated motion.
    activity: ``(T + S, V)`` RMS activation of each copy; readout: ``(T + S, 2)`` most active
    copy's velocity per step (NaN where all copies are equally active, e.g. after frame 0).
    """

    name: str
    kind: str
    trained_velocities: tuple[Velocity, ...]
    velocities: tuple[Velocity, ...]
    decoding: str
    evaluated: bool
    prediction: np.ndarray
    mse: np.ndarray
    hidden: np.ndarray
    hidden_stabilised: np.ndarray
    copy_hidden: np.ndarray
    copy_hidden_stabilised: np.ndarray
    activity: np.ndarray
    readout: np.ndarray
    ranking: tuple[Velocity, ...]
    seconds: float
    device: str
    memory_bytes: int

    @property
    def mean_mse(self) -> float:
        return float(self.mse.mean())

    @property
    def velocity_readout(self) -> Velocity | None:
        """The copy most active over the context frames, or ``None`` for a single-copy model."""
        return self.ranking[0] if len(self.velocities) > 1 and self.ranking else None

    @property
    def hidden_channels(self) -> int:
        return int(self.hidden.shape[1])


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
    runs: tuple[ModelRun, ...] = field(default_factory=tuple)

    @property
    def baseline_mean_mse(self) -> float:
        return float(self.baseline_mse.mean())

    @property
    def num_frames(self) -> int:
        return self.context_frames + self.predict_frames

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


def run_velocities(model: Forecaster, velocities: Sequence[Velocity] | None) -> tuple[Velocity, ...]:
    """The velocity set ``model`` runs with: its own, or ``velocities`` for a FERNN.

    A G-RNN keeps ``{(0, 0)}``: it is the baseline, whatever set the FERNNs are widened to.
    """
    if velocities is None or model.config.kind != "fernn":
        return tuple(model.velocities)
    try:
        return as_velocities(velocities)
    except ValueError as error:
        raise DemoError(f"velocity set: {error}") from None


def compare(
    models: Mapping[str, Forecaster],
    digits: Sequence[Digit],
    *,
    context_frames: int = 10,
    predict_frames: int = 10,
    velocities: Sequence[Velocity] | int | None = None,
    stabilise_velocity: Velocity | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> Comparison:
    """Run every model on the same scene and compute all that the demo shows.

    models: display name -> forecaster (e.g. ``{"G-RNN": grnn, "FERNN": fernn}``), each on its
        own device; the input goes to that device, results come back as NumPy arrays.
    digits: the scene (see :func:`mnist_scene` and :class:`Digit`); frames ``0..T-1`` are the
        context the models read, frames ``T..T+S-1`` the ground truth of their predictions.
    velocities: the FERNNs' velocity set at inference: ``None`` as trained, an ``int`` ``r`` for
        ``{-r..r}^2``, or a list of ``(dy, dx)``. Weights are shared across copies, so any set
        runs; cost and memory grow linearly with its size. G-RNNs always keep ``{(0, 0)}``.
    stabilise_velocity: the motion undone by the stabilised views; default: the first digit's.
    memory_limit: bytes; a rollout estimated (see :func:`rollout_memory_bytes`) above it raises
        :class:`DemoError` before anything runs.

    Returns a :class:`Comparison`. Cost: one forward rollout per model with hidden states kept,
    about ``|V| (T + S)`` recurrent conv steps per model.
    """
    _check_counts(context_frames, predict_frames)
    if not models:
        raise DemoError("give at least one model")
    if isinstance(velocities, (int, np.integer)) and not isinstance(velocities, bool):
        velocities = velocity_set(int(velocities))
    digits = tuple(digits)
    total = context_frames + predict_frames
    plans = {}
    for name, model in models.items():
        chosen = run_velocities(model, velocities)
        need = rollout_memory_bytes(num_copies=len(chosen), hidden_channels=model.config.hidden_channels,
                                    num_frames=total)
        if need > memory_limit:
            raise DemoError(
                f"{name}: {len(chosen)} velocity copies over {total} frames need about {need / 1024**2:,.0f} MiB, "
                f"over the {memory_limit / 1024**2:,.0f} MiB limit; choose a smaller velocity set or fewer frames"
            )
        plans[name] = (model, chosen, need)

    frames = scene_frames(digits, total)  # (T+S, 1, H, W)
    truth = frames[:, 0].numpy()  # (T+S, H, W)
    future = frames[context_frames:, 0]  # (S, H, W)
    last = frames[context_frames - 1, 0]  # (H, W)
    baseline_mse = ((future - last) ** 2).mean(dim=(1, 2)).numpy()  # (S,)
    if stabilise_velocity is None:
        stabilise_velocity = digits[0].velocity
    (stabilise_velocity,) = as_velocities([stabilise_velocity])

    runs = []
    for name, (model, chosen, need) in plans.items():
        runs.append(_run_model(name, model, frames, chosen, need, context_frames, predict_frames, stabilise_velocity))
    return Comparison(
        truth=truth,
        context_frames=context_frames,
        predict_frames=predict_frames,
        digit_velocities=tuple(d.velocity for d in digits),
        digit_starts=tuple(d.start for d in digits),
        digit_labels=tuple(d.label for d in digits),
        stabilise_velocity=stabilise_velocity,
        baseline_mse=baseline_mse,
        runs=tuple(runs),
    )


def _run_model(name: str, model: Forecaster, frames: torch.Tensor, chosen: tuple[Velocity, ...], need: int,
               context_frames: int, predict_frames: int, stabilise_velocity: Velocity) -> ModelRun:
    device = next(model.parameters()).device
    context = frames[:context_frames].unsqueeze(0).to(device)  # (1, T, 1, H, W)
    started = time.perf_counter()
    forecast = model.forecast(context, predict_frames, velocities=chosen, return_hidden=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started

    hidden = forecast.hidden[0].float()  # (T+S, V, C, H, W)
    prediction = forecast.frames[0, :, 0].float().cpu()  # (S, H, W)
    mse = ((prediction - frames[context_frames:, 0]) ** 2).mean(dim=(1, 2)).numpy()  # (S,)
    pooled = hidden.amax(dim=1) if model.config.pooling == "max" else hidden.mean(dim=1)  # (T+S, C, H, W)
    scale = float(np.prod(hidden.shape[2:])) ** -0.5
    activity = (torch.linalg.vector_norm(hidden, dim=(2, 3, 4)) * scale).cpu().numpy()  # (T+S, V) RMS

    # Hidden step 0 has read one frame from the zero state: every copy is identical there.
    context_steps = slice(1, context_frames) if context_frames > 1 else slice(0, 1)
    ranking = velocity_readout(activity, chosen, context_steps)
    copy_index = chosen.index(ranking[0])
    copy_hidden = hidden[:, copy_index]  # (T+S, C, H, W)

    spread = activity.max(axis=1) - activity.min(axis=1)  # (T+S,)
    best = np.asarray(chosen, dtype=np.float64)[activity.argmax(axis=1)]  # (T+S, 2)
    tied = spread <= 1e-6 * np.maximum(activity.max(axis=1), 1e-12)
    best[tied] = np.nan

    steps = hidden_frame_indices(model.config.decoding, context_frames, predict_frames)
    return ModelRun(
        name=name,
        kind=model.config.kind,
        trained_velocities=tuple(model.velocities),
        velocities=tuple(chosen),
        decoding=model.config.decoding,
        evaluated=is_evaluated(model),
        prediction=prediction.numpy(),
        mse=mse,
        hidden=pooled.cpu().numpy(),
        hidden_stabilised=motion_stabilise(pooled, stabilise_velocity, steps).cpu().numpy(),
        copy_hidden=copy_hidden.cpu().numpy(),
        copy_hidden_stabilised=motion_stabilise(copy_hidden, stabilise_velocity, steps).cpu().numpy(),
        activity=activity,
        readout=best,
        ranking=ranking,
        seconds=seconds,
        device=str(device),
        memory_bytes=need,
    )


def is_evaluated(model: Forecaster) -> bool:
    """Whether the checkpoint recorded an evaluation; without one its numbers are not results."""
    metrics = getattr(model, "metrics", None)
    return isinstance(metrics, dict) and isinstance(metrics.get("evaluation"), dict)


def recorded_velocity_grid(model: Forecaster) -> dict | None:
    """``{"speeds": [...], "mse": [[...]]}`` from an evaluated checkpoint, or ``None``.

    ``mse[i][j]`` is the test MSE at ``dy = speeds[i]``, ``dx = speeds[j]``. A malformed record
    counts as missing.
    """
    if not is_evaluated(model):
        return None
    grid = model.metrics["evaluation"].get("velocity_grid")
    if not isinstance(grid, dict):
        return None
    try:
        speeds = [int(s) for s in grid["speeds"]]
        mse = np.asarray(grid["mse"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if mse.shape != (len(speeds), len(speeds)):
        return None
    return {"speeds": speeds, "mse": mse.tolist()}


def comparison_npz(comparison: Comparison) -> bytes:
    """The raw arrays of a comparison as ``.npz`` bytes (``np.load`` reads them back).

    Keys: ``truth``, ``baseline_mse``, ``context_frames``, ``digit_velocities``, ``model_names``
    and, for model ``k``, ``model{k}_prediction``, ``_mse``, ``_hidden``, ``_hidden_stabilised``,
    ``_activity``, ``_velocities``.
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
        arrays[prefix + "hidden"] = run.hidden
        arrays[prefix + "hidden_stabilised"] = run.hidden_stabilised
        arrays[prefix + "activity"] = run.activity
        arrays[prefix + "velocities"] = np.asarray(run.velocities, dtype=np.int64).reshape(-1, 2)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
