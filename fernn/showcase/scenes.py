"""Input scenes: digits with a velocity and a start under a flow (translation on the 28x28 torus, or
rotation about the centre), and the frames they make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fernn.datasets.digits import CANVAS, load_digits, unit_pixels
from fernn.datasets.flowing import moving_digits
from fernn.flows import TRANSLATION, Flow, Velocity
from fernn.showcase.errors import DemoError

__all__ = ["Digit", "default_starts", "mnist_scene", "scene_flow", "scene_frames", "seen_from"]


@dataclass(frozen=True)
class Digit:
    """One digit of a scene: frame ``t`` shows ``image`` moved by ``flow`` by ``start + t * velocity``.

    image: ``float32 (28, 28)`` in ``[0, 1]``, white ink on black, centred like MNIST.
    velocity, start: velocities of ``flow`` (translation: ``(dy, dx)`` pixels, rolled on the torus;
    rotation: whole steps of ``flow.step_degrees``, counter-clockwise about the centre); default: still.
    """

    image: np.ndarray
    velocity: Velocity | None = None
    start: Velocity | None = None
    label: str = ""
    flow: Flow = TRANSLATION

    def __post_init__(self) -> None:
        image = np.asarray(self.image, dtype=np.float32)
        if image.shape != (CANVAS, CANVAS):
            raise DemoError(f"a digit image must be {CANVAS}x{CANVAS}, got shape {image.shape}")
        if not np.isfinite(image).all():
            raise DemoError("a digit image holds NaN or infinite values")
        if not isinstance(self.flow, Flow):
            raise DemoError(f"a digit's flow must be a fernn.flows.Flow, got {self.flow!r}")
        object.__setattr__(self, "image", np.clip(image, 0.0, 1.0))
        for name in ("velocity", "start"):
            value = getattr(self, name)
            try:
                checked = self.flow.zero if value is None else self.flow.as_velocity(value)
            except (TypeError, ValueError) as error:
                raise DemoError(f"digit {name}: {error}") from None
            object.__setattr__(self, name, checked)


def mnist_scene(
    indices: Sequence[int],
    *,
    velocities: Sequence[Velocity],
    starts: Sequence[Velocity] | None = None,
    split: str = "test",
    flow: Flow = TRANSLATION,
) -> tuple[Digit, ...]:
    """Digits ``indices`` of the bundled MNIST ``split`` (held-out test digits by default), moving
    under ``flow`` at ``velocities`` (one per digit).

    ``starts`` defaults to :func:`default_starts`.
    """
    images, labels = load_digits(split)
    if len(velocities) != len(indices):
        raise DemoError(f"give one velocity per digit: {len(indices)} digits, {len(velocities)} velocities")
    if starts is None:
        starts = default_starts(len(indices), flow)
    digits = []
    for index, velocity, start in zip(indices, velocities, starts):
        if not 0 <= int(index) < len(images):
            raise DemoError(f"digit index {index} is outside the {split} set (0..{len(images) - 1})")
        label = f"MNIST {split} #{int(index)} (a {int(labels[int(index)])})"
        digits.append(Digit(unit_pixels(images[int(index)]), velocity, start, label, flow))
    return tuple(digits)


def _apart(count: int, flow: Flow) -> tuple[Velocity, ...]:
    """Up to two digits kept apart: centred, or 7 px left and right."""
    if count == 1:
        return ((0, 0),)
    return tuple((0, -7 + 14 * i // max(count - 1, 1)) for i in range(count))


def _upright(count: int, flow: Flow) -> tuple[Velocity, ...]:
    """Every digit upright about the one centre; they overlap, as in Rotating MNIST."""
    return (flow.zero,) * count


# Where a scene's digits start under each flow, by the flow's registry name (others: at the origin).
STARTS = {"translation": _apart, "rotation": _upright}


def default_starts(count: int, flow: Flow = TRANSLATION) -> tuple[Velocity, ...]:
    """Start offsets for ``count`` digits: apart for translation, upright for rotation (:data:`STARTS`)."""
    return STARTS.get(flow.name, _upright)(count, flow)


def scene_flow(digits: Sequence[Digit]) -> Flow:
    """The flow every digit of a scene moves by; :class:`DemoError` for none or a mix."""
    flows = {d.flow for d in digits}
    if not flows:
        raise DemoError("a scene needs at least one digit")
    if len(flows) > 1:
        raise DemoError(f"a scene's digits must move by one flow, got {', '.join(sorted(f.name for f in flows))}")
    return flows.pop()


def scene_frames(digits: Sequence[Digit], num_frames: int) -> torch.Tensor:
    """The input sequence of a scene: digits moved by their flow, summed, clipped to ``[0, 1]``.

    -> ``float32 (T, 1, 28, 28)`` with ``T = num_frames``; frame ``t`` holds each digit moved by
    ``start + t * velocity``, drawn by :func:`fernn.datasets.flowing.moving_digits` as the training data is
    (translation: rolled on the torus; rotation: turned about the centre with bilinear sampling).
    """
    flow = scene_flow(digits)
    return moving_digits([d.image for d in digits], velocities=[d.velocity for d in digits],
                         starts=[d.start for d in digits], num_frames=num_frames, flow=flow)


def seen_from(digits: Sequence[Digit], velocity: Velocity, flow: Flow | None = None) -> tuple[Digit, ...]:
    """The same scene watched from a frame that moves at ``velocity``: each digit's velocity
    less ``velocity`` (starts unchanged). A digit moving at ``velocity`` stands still in it.
    ``flow``: the scene's own flow by default (giving another one is an error)."""
    own = scene_flow(digits)
    if flow is not None and flow != own:
        raise DemoError(f"the scene moves by {own.name}, not {flow.name}")
    return tuple(Digit(d.image, own.combine(d.velocity, velocity, times=-1), d.start, d.label, own) for d in digits)
