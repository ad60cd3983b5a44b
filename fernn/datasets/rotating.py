"""Rotating MNIST, offline and deterministic: digits turning about the frame's centre.

The research code's recipe: each 28x28 digit zero-padded to 40x40, turned about its centre by
``theta0 + omega t`` (``theta0`` uniform in ``[0, 360)``, ``omega`` a whole number of steps of the
rotation flow) with bilinear sampling, centre-cropped back to 28x28; each digit with its own angular
velocity; digits summed and clipped to ``[0, 1]``. Every sequence is a pure function of
``(seed, index)``, like Flowing MNIST.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fernn.datasets.digits import sequence_rng, unit_pixels
from fernn.datasets.flowing import image_shape
from fernn.flows import Rotation
from fernn.flows.rotation import rotate_each

__all__ = ["RESEARCH_ROTATION", "RotatingSpec", "rotating_digits", "rotating_mnist", "rotating_mnist_batch"]

# The research code's rotation group: whole steps of 10 degrees.
RESEARCH_ROTATION = Rotation(order=36)


@dataclass(frozen=True)
class RotatingSpec:
    """How a Rotating MNIST sequence is drawn. The defaults are the research code's Table 1 data:
    2 digits, 20 frames (10 in, 10 out), whole steps of 10 degrees (``C_36``), up to 40°/frame."""

    # The rotation group a velocity counts steps of: the same flow the model moves its copies by.
    flow: Rotation = RESEARCH_ROTATION
    num_frames: int = 20
    num_digits: int = 2
    # Each digit's angular velocity is uniform in {-max_speed..max_speed} steps per frame ...
    max_speed: int = 4
    # ... unless a fixed velocity (in steps) is given, shared by every digit.
    velocity: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.flow, Rotation):
            raise ValueError(f"flow must be a fernn.flows.Rotation, got {self.flow!r}")
        for name in ("num_frames", "num_digits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.max_speed, bool) or not isinstance(self.max_speed, int) or self.max_speed < 0:
            raise ValueError(f"max_speed must be a non-negative integer, got {self.max_speed!r}")
        if self.velocity is not None:
            object.__setattr__(self, "velocity", self.flow.as_velocity(self.velocity))


def rotating_mnist(
    digits: np.ndarray, index: int, *, seed: int = 0, spec: RotatingSpec = RotatingSpec()
) -> torch.Tensor:
    """Sequence ``index`` of Rotating MNIST: ``float32 (T, 1, 28, 28)`` in ``[0, 1]``.

    ``spec.num_digits`` digits, each centred and turning about the centre at its own angular
    velocity from its own starting angle (uniform in ``[0, 360)`` degrees), summed and clipped to
    ``[0, 1]`` (see :func:`rotating_digits`). A pure function of ``(seed, index)`` (and the digit array).
    """
    rng = sequence_rng(seed, index)
    chosen = rng.integers(0, len(digits), size=spec.num_digits)
    starts = rng.uniform(0.0, 360.0, size=spec.num_digits)
    if spec.velocity is None:
        velocities = rng.integers(-spec.max_speed, spec.max_speed + 1, size=spec.num_digits).tolist()
    else:
        velocities = [spec.velocity] * spec.num_digits
    return rotating_digits([unit_pixels(digits[digit]) for digit in chosen], velocities=velocities,
                           starts=starts.tolist(), num_frames=spec.num_frames, flow=spec.flow)


def rotating_digits(images: Sequence[np.ndarray], *, velocities: Sequence[int], starts: Sequence[float],
                    num_frames: int, flow: Rotation) -> torch.Tensor:
    """Digits turning about the frame's centre, summed and clipped to ``[0, 1]``: ``float32 (T, 1, H, W)``.

    images: ``float32 (H, W)`` each; frame ``t`` holds image ``k`` turned counter-clockwise by
    ``starts[k] + t * velocities[k] * flow.step_degrees`` degrees. As in the research code each image
    is zero-padded to a square that holds its turning corners (28 x 28 -> 40 x 40), turned there
    with bilinear sampling, and cropped back to its centre.
    """
    height, width = image_shape(images, velocities, starts)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 0:
        raise ValueError(f"num_frames must be a non-negative integer, got {num_frames!r}")
    # Wide enough for the diagonal, so no corner of the image leaves the padded square as it turns.
    margin = math.ceil((math.hypot(height, width) - min(height, width)) / 2)
    frames = torch.zeros(num_frames, 1, height, width)  # (T, 1, H, W)
    for image, velocity, start in zip(images, velocities, starts):
        steps = flow.as_velocity(velocity)
        if not num_frames:
            continue
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None]  # (1, 1, H, W)
        padded = F.pad(pixels, (margin,) * 4).expand(num_frames, 1, height + 2 * margin, width + 2 * margin)
        angles = [float(start) + t * steps * flow.step_degrees for t in range(num_frames)]
        turned = rotate_each(padded, angles)  # (T, 1, H + 2m, W + 2m)
        frames += turned[..., margin : margin + height, margin : margin + width]
    return frames.clamp_(0.0, 1.0)


def rotating_mnist_batch(
    digits: np.ndarray, indices: Sequence[int], *, seed: int = 0, spec: RotatingSpec = RotatingSpec()
) -> torch.Tensor:
    """Rotating MNIST sequences ``indices`` stacked: ``(B, T, 1, 28, 28)``."""
    return torch.stack([rotating_mnist(digits, int(i), seed=seed, spec=spec) for i in indices])
