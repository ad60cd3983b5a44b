"""Input scenes: digits with a velocity and a start on the 28x28 torus, and the frames they make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data import CANVAS, load_digits, moving_digits, unit_pixels
from ..flows import TRANSLATION, Flow, Velocity, as_velocities
from .errors import DemoError

__all__ = ["Digit", "default_starts", "mnist_scene", "scene_frames", "seen_from"]


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
        label = f"MNIST {split} #{int(index)} (a {int(labels[int(index)])})"
        digits.append(Digit(unit_pixels(images[int(index)]), tuple(velocity), tuple(start), label))
    return tuple(digits)


def default_starts(count: int) -> tuple[Velocity, ...]:
    """Start offsets that keep up to two digits apart: centred, or 7 px left and right."""
    if count == 1:
        return ((0, 0),)
    return tuple((0, -7 + 14 * i // max(count - 1, 1)) for i in range(count))


def scene_frames(digits: Sequence[Digit], num_frames: int) -> torch.Tensor:
    """The input sequence of a scene: digits rolled on the torus, summed, clipped to ``[0, 1]``.

    -> ``float32 (T, 1, 28, 28)`` with ``T = num_frames``; frame ``t`` holds each digit at
    ``start + t * velocity``, drawn by :func:`fernn.data.moving_digits` as Flowing MNIST is.
    """
    if not digits:
        raise DemoError("a scene needs at least one digit")
    return moving_digits([d.image for d in digits], velocities=[d.velocity for d in digits],
                         starts=[d.start for d in digits], num_frames=num_frames)


def seen_from(digits: Sequence[Digit], velocity: Velocity, flow: Flow = TRANSLATION) -> tuple[Digit, ...]:
    """The same scene watched from a frame that moves at ``velocity``: each digit's velocity
    less ``velocity`` (starts unchanged). A digit moving at ``velocity`` stands still in it."""
    return tuple(Digit(d.image, flow.combine(d.velocity, velocity, times=-1), d.start, d.label) for d in digits)
