"""Flickering Flowing MNIST: a sequence-classification task that can only be solved along the motion.

One 28x28 digit at a random offset on the 28x28 torus moves at a constant integer velocity ``v``
for 16 frames; each frame shows it through an independent Bernoulli pixel mask (each pixel visible
with probability ``visible``, 0.1 by default); the label is the digit's class. A single masked frame
carries too little to read the digit reliably, so a model must integrate evidence over time, and to
integrate it must follow the motion: a flow-equivariant recurrence does that for every velocity in
its set, a plain conv RNN only for the motions it learned.

Every sequence is a pure function of ``(seed, index)`` (and the digit arrays), like Flowing MNIST.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fernn.datasets.digits import CANVAS, sequence_rng, unit_pixels
from fernn.flows import TRANSLATION

__all__ = ["FlickerSpec", "flickering_mnist", "flickering_mnist_batch", "ring_velocities"]

# The flow Flickering MNIST moves its digit by: a classifier that reads it moves its copies alike.
FLOW = TRANSLATION


@dataclass(frozen=True)
class FlickerSpec:
    """How a Flickering Flowing MNIST sequence is drawn."""

    num_frames: int = 16
    # The velocity is uniform over V_r = {-r..r}^2 (training: r = 1) ...
    max_speed: int = 1
    # ... or uniform over the ring of speed exactly `speed` (test grids: |v|inf = 0..4).
    speed: int | None = None
    # Probability that a pixel is visible in a frame (independently per pixel and frame).
    visible: float = 0.1
    # True: sequence i shows digit i (each digit once, the test protocol); False: a random digit.
    digits_in_order: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {self.num_frames!r}")
        if not isinstance(self.max_speed, int) or not 0 <= self.max_speed < CANVAS:
            raise ValueError(f"max_speed must be an integer in 0..{CANVAS - 1}, got {self.max_speed!r}")
        if self.speed is not None and (not isinstance(self.speed, int) or not 0 <= self.speed < CANVAS):
            raise ValueError(f"speed must be None or an integer in 0..{CANVAS - 1}, got {self.speed!r}")
        if not 0 < self.visible <= 1:
            raise ValueError(f"visible must be in (0, 1], got {self.visible!r}")


def ring_velocities(speed: int) -> tuple[tuple[int, int], ...]:
    """The velocities of the translation flow whose speed is exactly ``speed``."""
    return tuple(v for v in TRANSLATION.velocity_set(speed) if TRANSLATION.speed(v) == speed)


# Flickering MNIST draws from a stream of its own, so item i never shares draws with Flowing MNIST's.
STREAM = 3


def flickering_digit(image: np.ndarray, velocity: tuple[int, int], start: tuple[int, int], num_frames: int, *,
                     rng: np.random.Generator, visible: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One flickering digit: ``image`` ``(H, W)`` in ``[0, 1]`` rolled by ``start + t * velocity``,
    and which pixels show, each independently with probability ``visible`` per frame (drawn from
    ``rng`` last). Returns the clean frames ``float32 (T, 1, H, W)`` and the mask ``bool (T, 1, H, W)``."""
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).unsqueeze(0)  # (1, H, W)
    frames = FLOW.flow_image(pixels, velocity, num_frames, start=start).clamp_(0.0, 1.0)  # (T, 1, H, W)
    mask = torch.from_numpy(rng.random(tuple(frames.shape)) < visible)  # (T, 1, H, W)
    return frames, mask


def flickering_mnist(digits: np.ndarray, labels: np.ndarray, index: int, *, seed: int = 0,
                     spec: FlickerSpec = FlickerSpec()) -> tuple[torch.Tensor, int]:
    """Sequence ``index``: frames ``float32 (T, 1, 28, 28)`` in ``[0, 1]`` and the digit's label."""
    if len(digits) != len(labels) or not len(digits):
        raise ValueError(f"digits and labels must be non-empty and match: {len(digits)} digits, {len(labels)} labels")
    rng = sequence_rng(seed, index, stream=STREAM)
    digit = index % len(digits) if spec.digits_in_order else int(rng.integers(0, len(digits)))
    offset = tuple(int(c) for c in rng.integers(0, CANVAS, size=2))
    choices = TRANSLATION.velocity_set(spec.max_speed) if spec.speed is None else ring_velocities(spec.speed)
    velocity = choices[int(rng.integers(0, len(choices)))]
    frames, mask = flickering_digit(unit_pixels(digits[digit]), velocity, offset, spec.num_frames, rng=rng,
                                    visible=spec.visible)
    return frames * mask, int(labels[digit])


def flickering_mnist_batch(digits: np.ndarray, labels: np.ndarray, indices: Sequence[int], *, seed: int = 0,
                           spec: FlickerSpec = FlickerSpec()) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences ``indices`` stacked: frames ``(B, T, 1, 28, 28)`` and labels ``int64 (B,)``."""
    items = [flickering_mnist(digits, labels, int(i), seed=seed, spec=spec) for i in indices]
    if not items:
        return torch.zeros(0, spec.num_frames, 1, CANVAS, CANVAS), torch.zeros(0, dtype=torch.int64)
    frames, targets = zip(*items)
    return torch.stack(frames), torch.tensor(targets, dtype=torch.int64)
