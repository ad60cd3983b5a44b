"""Moving-digit sequences for any flow the project has data for: one entry point for training and
evaluation, so neither needs to know which generator a flow uses.

Translation draws Flowing MNIST (:mod:`fernn.datasets.flowing`), rotation draws Rotating MNIST
(:mod:`fernn.datasets.rotating`, in the model's own ``C_N`` steps). Both are pure functions of ``(seed, index)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from fernn.datasets.flowing import SequenceSpec, flowing_mnist_batch
from fernn.datasets.rotating import RotatingSpec, rotating_mnist_batch
from fernn.flows import Flow, Velocity

__all__ = ["GENERATORS", "fixed_velocity_sequences", "moving_digits_batch", "register_generator"]

# generator(flow, digits, indices, seed=, num_frames=, num_digits=, max_speed=, velocity=) -> (B, T, 1, H, W)
Generator = Callable[..., torch.Tensor]


def _flowing(flow: Flow, digits: np.ndarray, indices: Sequence[int], *, seed: int, velocity: Velocity | None,
             **spec) -> torch.Tensor:
    return flowing_mnist_batch(digits, indices, seed=seed, spec=SequenceSpec(velocity=velocity, **spec))


def _rotating(flow: Flow, digits: np.ndarray, indices: Sequence[int], *, seed: int, velocity: Velocity | None,
              **spec) -> torch.Tensor:
    return rotating_mnist_batch(digits, indices, seed=seed, spec=RotatingSpec(flow=flow, velocity=velocity, **spec))


# The moving-digit generator of each flow, by the flow's registry name.
GENERATORS: dict[str, Generator] = {"translation": _flowing, "rotation": _rotating}


def register_generator(flow_name: str, generator: Generator) -> Generator:
    """Let :func:`moving_digits_batch` draw sequences for the flow registered as ``flow_name``."""
    GENERATORS[flow_name] = generator
    return generator


def moving_digits_batch(flow: Flow, digits: np.ndarray, indices: Sequence[int], *, seed: int, num_frames: int,
                        num_digits: int = 2, max_speed: int = 1, velocity: Velocity | None = None) -> torch.Tensor:
    """Sequences ``indices`` of digits moving under ``flow``: ``(B, T, 1, 28, 28)``. Each digit's velocity
    is drawn from ``flow.velocity_set(max_speed)`` unless ``velocity`` (shared by every digit) is given."""
    generator = GENERATORS.get(flow.name)
    if generator is None:
        known = ", ".join(sorted(GENERATORS))
        raise ValueError(f"no digit sequences are defined for the flow {flow.name!r} ({known} are)")
    return generator(flow, digits, indices, seed=seed, num_frames=num_frames, num_digits=num_digits,
                     max_speed=max_speed, velocity=velocity)


def fixed_velocity_sequences(flow: Flow, digits: np.ndarray, *, count: int, seed: int, num_frames: int,
                             num_digits: int = 2) -> Callable[[Velocity], torch.Tensor]:
    """A source for :func:`fernn.measures.velocity_grid_mse`: ``velocity -> (count, T, 1, 28, 28)``, sequences
    ``0..count-1`` with every digit at ``velocity`` (the same digits and starts for every velocity)."""
    def sequences_at(velocity: Velocity) -> torch.Tensor:
        return moving_digits_batch(flow, digits, range(count), seed=seed, num_frames=num_frames,
                                   num_digits=num_digits, velocity=velocity)
    return sequences_at
