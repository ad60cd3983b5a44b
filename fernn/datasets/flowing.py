"""Flowing MNIST (the paper's translating digits), offline and deterministic from ``(seed, index)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from fernn.datasets.digits import CANVAS, sequence_rng, unit_pixels
from fernn.flows import TRANSLATION, Flow, Velocity

__all__ = ["FlowingMNIST", "SequenceSpec", "flowing_mnist", "flowing_mnist_batch", "image_shape", "moving_digits"]


@dataclass(frozen=True)
class SequenceSpec:
    """How a Flowing MNIST sequence is drawn (the paper: 2 digits, 20 frames)."""

    num_frames: int = 20
    num_digits: int = 2
    # Each digit's velocity is uniform in {-max_speed..max_speed}^2 ...
    max_speed: int = 1
    # ... unless a fixed velocity is given, shared by every digit (velocity-generalisation grids).
    velocity: Velocity | None = None

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.num_digits < 1 or self.max_speed < 0:
            raise ValueError(f"invalid sequence spec: {self}")
        if self.velocity is not None:
            object.__setattr__(self, "velocity", TRANSLATION.as_velocity(self.velocity))


def flowing_mnist(digits: np.ndarray, index: int, *, seed: int = 0, spec: SequenceSpec = SequenceSpec()) -> torch.Tensor:
    """Sequence ``index`` of Flowing MNIST: ``float32 (T, 1, 28, 28)`` in ``[0, 1]``.

    On the 28x28 torus, ``spec.num_digits`` digits are placed at random integer offsets and
    frame ``t`` shows each digit rolled by ``offset + t * velocity``; digits are summed and
    clipped to ``[0, 1]``. A pure function of ``(seed, index)`` (and the digit array).
    """
    rng = sequence_rng(seed, index)
    chosen = rng.integers(0, len(digits), size=spec.num_digits)
    offsets = rng.integers(0, CANVAS, size=(spec.num_digits, 2))
    if spec.velocity is None:
        velocities = rng.integers(-spec.max_speed, spec.max_speed + 1, size=(spec.num_digits, 2))
    else:
        velocities = np.tile(np.asarray(spec.velocity), (spec.num_digits, 1))
    return moving_digits([unit_pixels(digits[digit]) for digit in chosen], velocities=velocities.tolist(),
                         starts=offsets.tolist(), num_frames=spec.num_frames)


def image_shape(images: Sequence[np.ndarray], velocities: Sequence[object], starts: Sequence[object]) -> tuple[int, int]:
    """The ``(H, W)`` that every image of a scene shares, after checking there is one velocity and one
    start per image; ``ValueError`` naming what is wrong."""
    if not len(images):
        raise ValueError("a scene needs at least one image")
    if not len(images) == len(velocities) == len(starts):
        raise ValueError(f"give one velocity and one start per image: {len(images)} images, "
                         f"{len(velocities)} velocities, {len(starts)} starts")
    shapes = {np.shape(image) for image in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"the images must share one (H, W) shape, got {sorted(shapes)}")
    return next(iter(shapes))


def moving_digits(images: Sequence[np.ndarray], *, velocities: Sequence[Velocity], starts: Sequence[Velocity],
                  num_frames: int, flow: Flow = TRANSLATION) -> torch.Tensor:
    """Digits moving under ``flow``, summed and clipped to ``[0, 1]``: ``float32 (T, 1, H, W)``.

    images: ``float32 (H, W)`` each, in ``[0, 1]``; frame ``t`` holds image ``k`` moved by
    ``starts[k] + t * velocities[k]`` (rolled on the torus for translation). Overlapping ink
    saturates at 1 instead of adding up.
    """
    frames = torch.zeros(num_frames, 1, *image_shape(images, velocities, starts))  # (T, 1, H, W)
    for image, velocity, start in zip(images, velocities, starts):
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).unsqueeze(0)  # (1, H, W)
        frames += flow.flow_image(pixels, velocity, num_frames, start=start)
    return frames.clamp_(0.0, 1.0)


def flowing_mnist_batch(
    digits: np.ndarray, indices: Sequence[int], *, seed: int = 0, spec: SequenceSpec = SequenceSpec()
) -> torch.Tensor:
    """Sequences ``indices`` stacked: ``(B, T, 1, 28, 28)``."""
    return torch.stack([flowing_mnist(digits, int(i), seed=seed, spec=spec) for i in indices])


class FlowingMNIST(Dataset):
    """A fixed-length view of the infinite Flowing MNIST stream: item ``i`` is sequence ``i``."""

    def __init__(self, digits: np.ndarray, *, length: int, seed: int = 0, spec: SequenceSpec = SequenceSpec()) -> None:
        if length < 1:
            raise ValueError(f"length must be positive, got {length}")
        self.digits, self.length, self.seed, self.spec = digits, length, seed, spec

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} sequences")
        return flowing_mnist(self.digits, index, seed=self.seed, spec=self.spec)
