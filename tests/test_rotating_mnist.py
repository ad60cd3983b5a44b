"""Rotating MNIST: a pure function of (seed, index), each digit turning about the centre at its own
angular velocity from its own starting angle, summed and clipped."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fernn.datasets import digits as mnist
from fernn.datasets import rotating
from fernn.datasets.rotating import RotatingSpec
from fernn.flows import TRANSLATION, Rotation
from fernn.flows.rotation import rotate

FLOW = Rotation(order=36)  # the research code's 10° steps


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return mnist.load_digits("test")[0]


def turned_by_recipe(image: np.ndarray, degrees: float) -> torch.Tensor:
    """The research code's recipe for one digit, written out: pad 28 -> 40, turn, crop to 28."""
    pixels = torch.from_numpy(mnist.unit_pixels(image))[None]  # (1, 28, 28)
    return rotate(F.pad(pixels, (6,) * 4), degrees)[:, 6:34, 6:34]


def centroid_angle(frame: torch.Tensor) -> float:
    """The angle (degrees, counter-clockwise from 'right', row 0 at the top) of a frame's centre of mass."""
    maps = frame.reshape(frame.shape[-2:]).double()
    height, width = maps.shape
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    cols = torch.arange(width, dtype=torch.float64)[None, :]
    right = float((maps * (cols - (width - 1) / 2)).sum() / maps.sum())
    up = float((maps * ((height - 1) / 2 - rows)).sum() / maps.sum())
    return math.degrees(math.atan2(up, right))


def test_rotating_mnist_shape_range_and_purity(digits) -> None:
    sequence = rotating.rotating_mnist(digits, 3, seed=1)
    assert sequence.shape == (20, 1, 28, 28) and sequence.dtype == torch.float32
    assert 0.0 <= float(sequence.min()) and float(sequence.max()) <= 1.0 and float(sequence.max()) > 0.5
    assert torch.equal(sequence, rotating.rotating_mnist(digits, 3, seed=1))  # same (seed, index): same frames
    assert not torch.equal(sequence, rotating.rotating_mnist(digits, 4, seed=1))
    assert not torch.equal(sequence, rotating.rotating_mnist(digits, 3, seed=2))
    batch = rotating.rotating_mnist_batch(digits, [4, 3], seed=1)
    assert batch.shape == (2, 20, 1, 28, 28) and torch.equal(batch[1], sequence)


def test_rotating_mnist_is_the_recipe_with_the_drawn_angles(digits) -> None:
    """Redraw the random numbers the documented way and rebuild every frame by the recipe."""
    spec = RotatingSpec(num_frames=5, max_speed=2)
    seed, index = 3, 11
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
    chosen = rng.integers(0, len(digits), size=2)
    starts = rng.uniform(0.0, 360.0, size=2)
    velocities = rng.integers(-2, 3, size=2)
    expected = torch.stack([
        sum(turned_by_recipe(digits[d], s + t * int(v) * FLOW.step_degrees)
            for d, s, v in zip(chosen, starts, velocities)).clamp(0, 1)
        for t in range(5)
    ])  # (T, 1, 28, 28)
    torch.testing.assert_close(rotating.rotating_mnist(digits, index, seed=seed, spec=spec), expected, rtol=0,
                               atol=1e-6)


def test_a_digit_turns_by_its_angular_velocity_every_frame(digits) -> None:
    image = mnist.unit_pixels(digits[7])
    # A quarter turn per frame (9 steps of 10°) from 0°: every frame is the digit's exact rot90.
    frames = rotating.rotating_digits([image], velocities=[9], starts=[0.0], num_frames=5, flow=FLOW)
    for t in range(5):
        expected = torch.rot90(torch.from_numpy(image), t, dims=(0, 1))
        torch.testing.assert_close(frames[t, 0], expected, rtol=0, atol=1e-5)
    # Off-centre ink turns counter-clockwise by 30° a frame (3 steps), from its 20° start.
    blob = np.zeros((28, 28), dtype=np.float32)
    blob[12:16, 21:25] = 1.0  # right of centre, angle about 0°
    frames = rotating.rotating_digits([blob], velocities=[3], starts=[20.0], num_frames=4, flow=FLOW)
    for t in range(4):
        assert centroid_angle(frames[t]) == pytest.approx(20.0 + 30.0 * t, abs=1.0)
    backwards = rotating.rotating_digits([blob], velocities=[-3], starts=[0.0], num_frames=2, flow=FLOW)
    assert centroid_angle(backwards[1]) == pytest.approx(-30.0, abs=1.0)


def test_fixed_velocity_spec_and_digits_summed_then_clipped(digits) -> None:
    spec = RotatingSpec(num_frames=6, velocity=-2)
    sequence = rotating.rotating_mnist(digits, 0, spec=spec)
    assert sequence.shape == (6, 1, 28, 28)
    image = mnist.unit_pixels(digits[0])
    alone = rotating.rotating_digits([image], velocities=[1], starts=[15.0], num_frames=3, flow=FLOW)
    twice = rotating.rotating_digits([image, image], velocities=[1, 1], starts=[15.0, 15.0], num_frames=3, flow=FLOW)
    assert float((2 * alone).max()) > 1.0  # the unclipped sum would leave [0, 1]
    torch.testing.assert_close(twice, (2 * alone).clamp(0, 1), rtol=0, atol=1e-6)
    assert rotating.rotating_digits([image], velocities=[1], starts=[0.0], num_frames=0, flow=FLOW).shape == (0, 1, 28, 28)


def test_rotating_spec_and_inputs_are_validated() -> None:
    assert RotatingSpec().flow == FLOW and RotatingSpec().max_speed == 4
    assert RotatingSpec(velocity=np.int64(2)).velocity == 2
    with pytest.raises(ValueError, match="whole number of 10° steps"):
        RotatingSpec(velocity=1.5)
    with pytest.raises(ValueError, match="fernn.flows.Rotation"):
        RotatingSpec(flow=TRANSLATION)
    for name, value in (("num_frames", 0), ("num_digits", -1), ("max_speed", -1), ("num_frames", 2.0)):
        with pytest.raises(ValueError, match=name):
            RotatingSpec(**{name: value})
    image = np.zeros((28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match="one velocity and one start per image"):
        rotating.rotating_digits([image, image], velocities=[1], starts=[0.0, 0.0], num_frames=2, flow=FLOW)
    with pytest.raises(ValueError, match="at least one image"):
        rotating.rotating_digits([], velocities=[], starts=[], num_frames=2, flow=FLOW)
    with pytest.raises(ValueError, match="num_frames"):
        rotating.rotating_digits([image], velocities=[1], starts=[0.0], num_frames=-1, flow=FLOW)
