"""Planning a run before it starts: each model's velocity set at inference and the memory it takes.

The app's velocity-set control and :func:`fernn.showcase.compare` both plan through
:func:`plan_runs`, so a run refused here is refused before any work is done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from fernn.datasets.digits import CANVAS
from fernn.flows import TRANSLATION, Flow, Velocity
from fernn.models import Forecaster
from fernn.showcase.errors import DemoError
from fernn.flows.words import words

__all__ = [
    "AS_TRAINED",
    "AUTO",
    "DEFAULT_MEMORY_LIMIT",
    "MAX_FRAMES",
    "MAX_RUN_MACS",
    "MAX_SET_SPEED",
    "RunPlan",
    "VelocityChoice",
    "describe_velocity_choice",
    "peak_pooled",
    "plan_runs",
    "rollout_memory_bytes",
    "set_radius",
    "velocity_choice",
    "velocity_set_for",
]

# A rollout planned to need more than this is refused before it starts.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
# ... and so is one over this many multiply-adds: the shipped pair's widest setting (V_8, two digits,
# 20 + 70 frames) is 1.1e11 (about 2 s here); a visitor's 27x27-kernel model with 2,025 copies would be
# 6e12 for one comparison (minutes of a run slot).
MAX_RUN_MACS = 2.5 * 10**11
# Longest rollout the demo runs (the paper's length-generalisation tests go to 70 steps).
MAX_FRAMES = 200
# Widest velocity set the demo runs: {-8..8}^2, 289 copies.
MAX_SET_SPEED = 8

# The FERNN velocity set at inference, as the app's control and compare() take it: "auto" (the
# smallest {-r..r}^2 holding the model's own set and every digit's velocity), "as trained", or r.
AUTO, AS_TRAINED = "auto", "as trained"
VelocityChoice = Union[str, int]


def peak_pooled(model) -> bool:
    """Whether ``model`` is a classifier that pools by peak (:class:`fernn.Classifier`): AUTO then
    widens its set one trained radius beyond the digits' speed."""
    return getattr(model.config, "pooling", None) == "peak"


def velocity_set_for(model: Forecaster, choice: VelocityChoice | Sequence[Velocity] | None,
                     digit_velocities: Sequence[Velocity] = ()) -> tuple[Velocity, ...]:
    """The velocity set ``model`` runs with for ``choice`` (see :data:`AUTO`).

    A G-RNN keeps ``{(0, 0)}``: it is the baseline, whatever set the FERNNs are widened to. AUTO is
    the smallest ``velocity_set(r)`` holding the trained set and the digits' velocities (for a
    peak-pooled classifier, each digit's velocity plus the trained radius).
    ``None`` means as trained; an explicit list of ``(dy, dx)`` is taken as it is.
    """
    if not model.config.kind.lifted or choice is None or choice == AS_TRAINED:
        return tuple(model.velocities)
    if choice == AUTO:
        trained = max(model.flow.speed(v) for v in model.velocities)
        # A peak-pooled classifier reads the trained radius around the copy moving with the digit:
        # its window is whole when the set reaches that far beyond the digit's speed.
        reach = trained if peak_pooled(model) else 0
        speeds = [trained, *(model.flow.speed(v) + reach for v in digit_velocities)]
        return model.flow.velocity_set(max(speeds))
    if isinstance(choice, (int, np.integer)) and not isinstance(choice, bool):
        if not 0 <= int(choice) <= MAX_SET_SPEED:
            raise DemoError(f"velocity set radius must be 0..{MAX_SET_SPEED}, got {choice}")
        return model.flow.velocity_set(int(choice))
    if isinstance(choice, str):
        raise DemoError(f"velocity set must be {AUTO!r}, {AS_TRAINED!r} or a radius r, got {choice!r}")
    try:
        return model.flow.as_velocities(choice)
    except ValueError as error:
        raise DemoError(f"velocity set: {error}") from None


def velocity_choice(text: str) -> VelocityChoice:
    """A velocity-set control's text as :func:`velocity_set_for` takes it: AUTO, AS_TRAINED or a radius r."""
    if text in (AUTO, AS_TRAINED):
        return text
    if isinstance(text, str) and text.isascii() and text.isdigit() and int(text) <= MAX_SET_SPEED:
        return int(text)
    raise DemoError(f"velocity set must be {AUTO!r}, {AS_TRAINED!r} or a radius 0..{MAX_SET_SPEED}, got {text!r}")


def describe_velocity_choice(choice: VelocityChoice, flow: Flow = TRANSLATION) -> str:
    """One line for the app's velocity-set control, in ``flow``'s terms."""
    if choice == AUTO:
        return "auto: the smallest set of radius r holding the trained set and every digit's velocity."
    if choice == AS_TRAINED:
        return "as trained: the checkpoint's own set; faster digits fall outside it."
    radius = int(choice)
    if radius == 0:
        return (f"{words(flow).set_label(0)}: 1 copy, the still frame only (a G-RNN's set): every moving digit falls "
                "outside it.")
    return f"{words(flow).set_label(radius)}: {len(flow.velocity_set(radius))} copies."


def set_radius(velocities: Sequence[Velocity], flow: Flow = TRANSLATION) -> int | None:
    """``r`` when ``velocities`` is exactly ``flow.velocity_set(r)`` (in any order), else ``None``."""
    return flow.set_radius(velocities)


def rollout_memory_bytes(*, num_copies: int, hidden_channels: int, num_frames: int, height: int = CANVAS,
                         width: int = CANVAS) -> int:
    """Estimated peak memory of one demo rollout (batch 1), in bytes.

    The rollout keeps no full hidden history: each step's state ``V C H W`` (float32) is reduced
    as it comes. What stays: per frame the pooled and read-out ``C H W`` maps in float32 plus
    their stabilised views (float32 while computed, 4 views in float16 kept), and one step's
    working set (about four states). The read-out copy's context states are run again alone
    once it is known, so no copy of the context is kept.
    """
    state = num_copies * hidden_channels * height * width
    maps = hidden_channels * height * width
    return 4 * state * 4 + (4 * 4 + 4 * 2) * maps * num_frames


@dataclass(frozen=True)
class RunPlan:
    """What one model will run with: its velocity set, the memory that takes and its work
    (multiply-accumulates of one sequence, :meth:`~fernn.models.ModelConfig.rollout_macs`)."""

    name: str
    velocities: tuple[Velocity, ...]
    memory_bytes: int
    work: int = 0

    @property
    def copies(self) -> int:
        return len(self.velocities)


def _check_frame_counts(context_frames: int, predict_frames: int) -> None:
    """Raise :class:`DemoError` unless both counts are integers >= 1 with at most :data:`MAX_FRAMES` in all."""
    for name, value, low in (("context_frames", context_frames, 1), ("predict_frames", predict_frames, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DemoError(f"{name} must be an integer >= {low}, got {value!r}")
    if context_frames + predict_frames > MAX_FRAMES:
        raise DemoError(f"at most {MAX_FRAMES} frames in all, got {context_frames} + {predict_frames}")


def plan_runs(models: Mapping[str, Forecaster], choice: VelocityChoice | Sequence[Velocity] | None,
              digit_velocities: Sequence[Velocity], *, context_frames: int, predict_frames: int,
              memory_limit: int = DEFAULT_MEMORY_LIMIT, work_limit: int = MAX_RUN_MACS) -> tuple[RunPlan, ...]:
    """Each model's velocity set, memory and work: the one place the app and :func:`compare` plan a run.

    Raises :class:`DemoError` when a run would need more than ``memory_limit`` bytes or more than
    ``work_limit`` multiply-accumulates (a visitor's model with a wide kernel or many copies is
    refused from its real cost before it holds a run slot).
    """
    _check_frame_counts(context_frames, predict_frames)
    plans = []
    for name, model in models.items():
        if model.config.in_channels != 1:
            raise DemoError(f"{name}: the demo's digits have 1 channel but this model reads {model.config.in_channels}")
        chosen = velocity_set_for(model, choice, digit_velocities)
        need = rollout_memory_bytes(num_copies=len(chosen), hidden_channels=model.config.hidden_channels,
                                    num_frames=context_frames + predict_frames)
        if need > memory_limit:
            raise DemoError(
                f"{name}: {len(chosen)} velocity copies over {context_frames + predict_frames} frames need about "
                f"{need / 1024**2:,.0f} MiB, over the {memory_limit / 1024**2:,.0f} MiB limit; choose a smaller "
                "velocity set or fewer frames"
            )
        work = model.config.rollout_macs(copies=len(chosen), context_frames=context_frames,
                                         predict_frames=predict_frames, height=CANVAS, width=CANVAS)
        if work > work_limit:
            raise DemoError(
                f"{name}: {len(chosen)} velocity copies of this model (kernel {model.config.kernel_size}, "
                f"{model.config.hidden_channels} channels) over {context_frames + predict_frames} frames need about "
                f"{work / 1e9:,.0f} billion multiply-adds, over the {work_limit / 1e9:,.0f} billion one run may do "
                "here; choose a smaller velocity set or fewer frames"
            )
        plans.append(RunPlan(name, chosen, need, work))
    return tuple(plans)
