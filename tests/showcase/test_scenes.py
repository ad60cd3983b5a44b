"""fernn.showcase.scenes: digits, MNIST scenes, the frames a scene makes."""

from __future__ import annotations

import numpy as np
import pytest

import fernn
import fernn.datasets.digits
import fernn.datasets.rotating
from fernn import showcase


def test_scene_frames_follow_the_flow_convention(blob):
    image = blob()
    digit = showcase.Digit(image, velocity=(2, -3), start=(1, 4))
    frames = showcase.scene_frames([digit], 6)
    assert frames.shape == (6, 1, 28, 28)
    for t in range(6):
        expected = np.roll(image, (1 + 2 * t, 4 - 3 * t), axis=(0, 1))  # positive = toward larger indices
        np.testing.assert_array_equal(frames[t, 0].numpy(), expected)


def test_scene_sums_and_clips_digits(blob):
    image = blob()
    frames = showcase.scene_frames([showcase.Digit(image), showcase.Digit(image)], 2)
    assert float(frames.max()) == 1.0
    np.testing.assert_array_equal(frames[0, 0].numpy(), image)


def test_digit_validation(blob):
    with pytest.raises(showcase.DemoError, match="28x28"):
        showcase.Digit(np.zeros((10, 10)))
    with pytest.raises(showcase.DemoError, match="velocity"):
        showcase.Digit(blob(), velocity=(0.5, 1))
    with pytest.raises(showcase.DemoError, match="NaN"):
        showcase.Digit(np.full((28, 28), np.nan))
    with pytest.raises(showcase.DemoError, match="at least one digit"):
        showcase.scene_frames([], 3)


def test_mnist_scene_uses_test_digits_and_spreads_two_digits():
    digits = showcase.mnist_scene([0, 1], velocities=[(1, 0), (0, -1)])
    images, labels = fernn.datasets.digits.load_digits("test")
    np.testing.assert_allclose(digits[0].image, images[0] / 255.0)
    assert digits[0].start != digits[1].start
    assert f"a {labels[1]}" in digits[1].label
    with pytest.raises(showcase.DemoError, match="outside"):
        showcase.mnist_scene([10_000], velocities=[(0, 0)])
    with pytest.raises(showcase.DemoError, match="one velocity per digit"):
        showcase.mnist_scene([0, 1], velocities=[(1, 0)])


def test_a_scene_seen_from_a_moving_frame_is_rolled_back_by_that_motion(blob):
    """Frame t of the scene seen from velocity u is frame t of the scene rolled by -t u."""
    digits = (showcase.Digit(blob(1), velocity=(2, -1), start=(3, 0)), showcase.Digit(blob(2), velocity=(-1, 1)))
    moving = showcase.seen_from(digits, (2, -1))
    assert [d.velocity for d in moving] == [(0, 0), (-3, 2)]
    assert [d.start for d in moving] == [d.start for d in digits]
    frames, relative = showcase.scene_frames(digits, 5), showcase.scene_frames(moving, 5)
    for t in range(5):
        np.testing.assert_array_equal(relative[t, 0].numpy(), np.roll(frames[t, 0].numpy(), (-2 * t, t), axis=(0, 1)))


TWELVE = fernn.flows.Rotation(order=12)


def test_a_rotating_digit_turns_about_the_centre_as_rotating_mnist_draws_it(blob):
    image = blob()
    digit = showcase.Digit(image, velocity=2, start=1, flow=TWELVE)
    frames = showcase.scene_frames([digit], 4)
    expected = fernn.datasets.rotating.rotating_digits([image], velocities=[2], starts=[30.0], num_frames=4, flow=TWELVE)
    np.testing.assert_allclose(frames.numpy(), expected.numpy(), atol=1e-5)  # float32 rounding
    # A quarter turn per frame (3 steps of 30 degrees) is exact: np.rot90 counter-clockwise.
    quarter = showcase.scene_frames([showcase.Digit(image, velocity=3, flow=TWELVE)], 3)
    for t in range(3):
        np.testing.assert_allclose(quarter[t, 0].numpy(), np.rot90(image, t), atol=1e-6)


def test_rotation_scenes_validate_and_start_upright(blob):
    with pytest.raises(showcase.DemoError, match="velocity"):
        showcase.Digit(blob(), velocity=(1, 2), flow=TWELVE)
    assert showcase.Digit(blob(), flow=TWELVE).velocity == 0
    digits = showcase.mnist_scene([0, 1], velocities=[1, -2], flow=TWELVE)
    assert [d.start for d in digits] == [0, 0] and [d.velocity for d in digits] == [1, -2]
    with pytest.raises(showcase.DemoError, match="one flow"):
        showcase.scene_frames([digits[0], showcase.Digit(blob())], 2)
    turning = showcase.seen_from(digits, 1)
    assert [d.velocity for d in turning] == [0, -3] and turning[0].flow == TWELVE
