"""Flow algebra on the pixel torus: sign convention, identity, composition, inverse, velocity sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fernn
from fernn import flows
from fernn.flows import TRANSLATION, Rotation


def one_hot(height: int, width: int, row: int, column: int) -> torch.Tensor:
    """A ``(1, H, W)`` image that is 1 at ``(row, column)`` and 0 elsewhere."""
    image = torch.zeros(1, height, width, dtype=torch.float64)
    image[0, row, column] = 1.0
    return image


def hot_position(image: torch.Tensor) -> tuple[int, int]:
    """``(row, column)`` of the single nonzero pixel of a ``(..., H, W)`` one-hot image."""
    nonzero = torch.nonzero(image.reshape(image.shape[-2:]))
    assert nonzero.shape[0] == 1, "expected exactly one hot pixel"
    return int(nonzero[0, 0]), int(nonzero[0, 1])


def rolled_copies_reference(h: torch.Tensor, velocities, *, times: int = 1, pad: int = 0) -> torch.Tensor:
    """The obvious per-copy loop that :func:`flows.shift_copies` must equal.

    h: ``(B, V, C, H, W)`` -> ``(B, V, C, H + 2 pad, W + 2 pad)``.
    """
    copies = []
    for index, (dy, dx) in enumerate(velocities):
        rolled = torch.roll(h[:, index], shifts=(times * dy, times * dx), dims=(-2, -1))  # (B, C, H, W)
        if pad:
            rolled = F.pad(rolled, (pad, pad, pad, pad), mode="circular")  # (B, C, H+2p, W+2p)
        copies.append(rolled)
    return torch.stack(copies, dim=1)


# ---------------------------------------------------------------------------------------------
# The sign convention: (dy, dx) in tensor-axis order, positive toward larger indices (torch.roll)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("displacement", "expected"),
    [
        ((0, 0), (1, 2)),
        ((1, 0), (2, 2)),  # dy moves along rows (axis -2) toward larger row indices
        ((0, 1), (1, 3)),  # dx moves along columns (axis -1) toward larger column indices
        ((2, 3), (3, 5)),
        ((-2, -3), (4, 6)),  # negative components wrap around the 5x7 torus
        ((5, 7), (1, 2)),  # a full turn of the torus is the identity
        ((4, 6), (0, 1)),  # wraps forward past the last row and column
    ],
)
def test_shift_sign_convention_with_one_hot_pixel(displacement, expected) -> None:
    image = one_hot(5, 7, 1, 2)
    moved = flows.shift(image, displacement)
    assert hot_position(moved) == expected
    assert torch.equal(moved, torch.roll(image, shifts=displacement, dims=(-2, -1)))


def test_flow_sequence_moves_one_hot_pixel_by_time_times_velocity() -> None:
    height, width, velocity = 5, 7, (1, -2)
    frames = one_hot(height, width, 1, 2).expand(6, 1, height, width)  # (T, C, H, W), a still pixel
    moved = flows.flow_sequence(frames, velocity)
    for t in range(6):
        assert hot_position(moved[t]) == ((1 + t * velocity[0]) % height, (2 + t * velocity[1]) % width)


def test_flow_image_moves_one_hot_pixel_from_start() -> None:
    height, width, velocity, start = 6, 9, (2, 1), (3, -4)
    frames = flows.flow_image(one_hot(height, width, 0, 0), velocity, 5, start=start)  # (T, C, H, W)
    assert frames.shape == (5, 1, height, width)
    for t in range(5):
        assert hot_position(frames[t]) == ((start[0] + t * velocity[0]) % height, (start[1] + t * velocity[1]) % width)


def test_shift_copies_sign_matches_shift() -> None:
    velocities = ((1, 0), (0, 1), (-1, 2))
    h = one_hot(5, 7, 1, 2).expand(1, 3, 1, 5, 7)  # (B, V, C, H, W)
    moved = flows.shift_copies(h, velocities, times=2)
    for index, (dy, dx) in enumerate(velocities):
        assert hot_position(moved[0, index]) == ((1 + 2 * dy) % 5, (2 + 2 * dx) % 7)


# ---------------------------------------------------------------------------------------------
# Identity, composition, inverse
# ---------------------------------------------------------------------------------------------


def test_shift_identity_composition_inverse() -> None:
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    a, b = (2, -3), (-4, 6)
    assert torch.equal(flows.shift(x, (0, 0)), x)
    assert torch.equal(flows.shift(flows.shift(x, a), b), flows.shift(x, (a[0] + b[0], a[1] + b[1])))
    assert torch.equal(flows.shift(flows.shift(x, b), a), flows.shift(flows.shift(x, a), b))
    assert torch.equal(flows.shift(flows.shift(x, a), (-a[0], -a[1])), x)


def test_shift_accepts_tensor_and_numpy_components() -> None:
    x = torch.rand(4, 6)
    expected = torch.roll(x, shifts=(1, -2), dims=(-2, -1))
    assert torch.equal(flows.shift(x, torch.tensor([1, -2])), expected)
    assert torch.equal(flows.shift(x, np.array([1, -2])), expected)


def test_flow_sequence_identity_composition_inverse() -> None:
    frames = torch.rand(2, 5, 1, 6, 7, dtype=torch.float64)  # (B, T, C, H, W)
    a, b = (1, -2), (3, 1)
    assert torch.equal(flows.flow_sequence(frames, (0, 0)), frames)
    assert torch.equal(
        flows.flow_sequence(flows.flow_sequence(frames, a), b), flows.flow_sequence(frames, (a[0] + b[0], a[1] + b[1]))
    )
    assert torch.equal(flows.flow_sequence(flows.flow_sequence(frames, a), (-a[0], -a[1])), frames)
    # Frame 0 is never moved: zero time is the identity.
    assert torch.equal(flows.flow_sequence(frames, a)[:, 0], frames[:, 0])


def test_flow_sequence_matches_per_frame_roll_with_leading_axes() -> None:
    frames = torch.rand(2, 3, 4, 2, 5, 6)  # (..., T, C, H, W) with two leading axes
    velocity = (-1, 2)
    moved = flows.flow_sequence(frames, velocity)
    assert moved.shape == frames.shape
    for t in range(4):
        expected = torch.roll(frames[..., t, :, :, :], shifts=(t * velocity[0], t * velocity[1]), dims=(-2, -1))
        assert torch.equal(moved[..., t, :, :, :], expected)


def test_flow_sequence_rejects_too_few_axes() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., T, C, H, W\)"):
        flows.flow_sequence(torch.zeros(3, 5, 5), (1, 0))


def test_flow_image_identity_and_time_composition() -> None:
    image = torch.rand(2, 6, 5, dtype=torch.float64)  # (C, H, W)
    velocity = (2, -1)
    assert torch.equal(flows.flow_image(image, velocity, 1)[0], image)  # zero time
    assert torch.equal(flows.flow_image(image, (0, 0), 4), image.expand(4, *image.shape))  # zero velocity
    frames = flows.flow_image(image, velocity, 7)  # (T, C, H, W)
    # Flowing for s frames and then t more is flowing for s + t frames.
    for s in (0, 2, 3):
        restarted = flows.flow_image(frames[s], velocity, 7 - s)
        assert torch.equal(restarted, frames[s:])
    # flow_image is flow_sequence applied to a still sequence, offset by `start`.
    start = (4, 3)
    still = image.expand(7, *image.shape)
    assert torch.equal(
        flows.flow_image(image, velocity, 7, start=start), flows.shift(flows.flow_sequence(still, velocity), start)
    )


def test_flow_image_zero_and_negative_frames() -> None:
    image = torch.rand(1, 4, 4)
    empty = flows.flow_image(image, (1, 1), 0)
    assert empty.shape == (0, 1, 4, 4)
    with pytest.raises(ValueError, match="num_frames"):
        flows.flow_image(image, (1, 1), -1)


# ---------------------------------------------------------------------------------------------
# shift_copies: the vectorised roll of every velocity copy
# ---------------------------------------------------------------------------------------------

SHIFT_CASES = [
    # (velocities, times, pad, H, W)
    (flows.velocity_set(1), 1, 0, 5, 7),
    (flows.velocity_set(1), 1, 1, 5, 7),
    (flows.velocity_set(2), 3, 1, 6, 6),
    (((0, 0), (3, -1), (-2, 5)), 2, 2, 4, 9),
    (((1, 0),), 1, 0, 1, 3),
    (((7, -9), (0, 4)), -1, 1, 3, 4),  # displacements beyond the canvas and negative times
]


@pytest.mark.parametrize(("velocities", "times", "pad", "height", "width"), SHIFT_CASES)
def test_shift_copies_equals_per_copy_roll(velocities, times, pad, height, width) -> None:
    h = torch.rand(2, len(velocities), 3, height, width, dtype=torch.float64)  # (B, V, C, H, W)
    out = flows.shift_copies(h, velocities, times=times, pad=pad)
    assert out.shape == (2, len(velocities), 3, height + 2 * pad, width + 2 * pad)
    assert torch.equal(out, rolled_copies_reference(h, velocities, times=times, pad=pad))
    # The documented free view that the cell relies on.
    assert torch.equal(out.flatten(0, 1), out.reshape(-1, *out.shape[2:]))


@pytest.mark.parametrize(("velocities", "times", "pad", "height", "width"), SHIFT_CASES)
def test_shift_copies_gradient_equals_per_copy_roll(velocities, times, pad, height, width) -> None:
    h = torch.rand(2, len(velocities), 3, height, width, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(2, len(velocities), 3, height + 2 * pad, width + 2 * pad, dtype=torch.float64)
    (gradient,) = torch.autograd.grad((flows.shift_copies(h, velocities, times=times, pad=pad) * weight).sum(), h)
    (expected,) = torch.autograd.grad((rolled_copies_reference(h, velocities, times=times, pad=pad) * weight).sum(), h)
    assert torch.allclose(gradient, expected, rtol=0, atol=1e-12)
    # The padded border is read from the interior, so some gradients collect several terms.
    assert gradient.abs().sum() > 0


def test_shift_copies_rejects_mismatched_velocity_count() -> None:
    with pytest.raises(ValueError, match="3 velocity copies but 2 velocities"):
        flows.shift_copies(torch.zeros(1, 3, 1, 4, 4), ((0, 0), (1, 0)))


# ---------------------------------------------------------------------------------------------
# Velocity sets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_speed", [0, 1, 2, 3])
def test_velocity_set_size_and_row_major_order(max_speed: int) -> None:
    velocities = flows.velocity_set(max_speed)
    side = 2 * max_speed + 1
    assert len(velocities) == side**2
    assert len(set(velocities)) == len(velocities)
    for dy in range(-max_speed, max_speed + 1):
        for dx in range(-max_speed, max_speed + 1):
            assert velocities[(dy + max_speed) * side + (dx + max_speed)] == (dy, dx)
    assert all(isinstance(c, int) for v in velocities for c in v)


def test_velocity_set_small_cases_explicitly() -> None:
    assert flows.velocity_set(0) == ((0, 0),)
    assert flows.velocity_set(1) == (
        (-1, -1), (-1, 0), (-1, 1),
        (0, -1), (0, 0), (0, 1),
        (1, -1), (1, 0), (1, 1),
    )


@pytest.mark.parametrize("max_speed", [-1, 1.0, 1.5, True, "2", None])
def test_velocity_set_rejects_bad_speed(max_speed) -> None:
    with pytest.raises(ValueError, match="max_speed must be a non-negative integer"):
        flows.velocity_set(max_speed)


def test_as_velocities_normalises_integer_types() -> None:
    result = flows.as_velocities([[1, -2], (0, 0), (np.int64(3), np.int32(-1)), (torch.tensor(2), torch.tensor(0))])
    assert result == ((1, -2), (0, 0), (3, -1), (2, 0))
    assert all(type(c) is int for v in result for c in v)
    assert flows.as_velocities(v for v in [(1, 1)]) == ((1, 1),)  # any iterable


@pytest.mark.parametrize(
    ("velocities", "message"),
    [
        ([], "must not be empty"),
        ([(1, 0), (0, 1), (1, 0)], r"distinct, repeated: \[\(1, 0\)\]"),
        ([(0.5, 0)], "pair of integers"),
        ([(1.0, 0)], "pair of integers"),
        ([(True, 0)], "pair of integers"),
        ([(1, 2, 3)], "pair of integers"),
        ([(1,)], "pair of integers"),
        ([5], "pair of integers"),
        (["ab"], "pair of integers"),
        ([(torch.tensor(0.5), 0)], "pair of integers"),
        ([(np.float64(1.0), 0)], "pair of integers"),
        (7, "list of \\(dy, dx\\) pairs"),
    ],
)
def test_as_velocities_rejects_bad_input(velocities, message) -> None:
    with pytest.raises(ValueError, match=message):
        flows.as_velocities(velocities)


# --- a velocity set is a value ------------------------------------------------------------------


def test_a_velocity_set_is_validated_once_and_passed_through_as_is():
    import copy
    import pickle

    from fernn.flows import VelocitySet

    flow = Rotation(order=12)
    chosen = flow.velocity_set(2)
    assert isinstance(chosen, VelocitySet) and chosen.flow == flow and tuple(chosen) == (-2, -1, 0, 1, 2)
    assert flow.as_velocities(chosen) is chosen  # no second validation
    assert chosen.radius == 2 and chosen.fastest == 2 and chosen.covers(-1) and not chosen.covers(3)
    assert chosen.partner(1, 1, (28, 28)) == chosen.index(0)
    assert pickle.loads(pickle.dumps(chosen)) == chosen and copy.deepcopy(chosen).flow == flow
    odd = TRANSLATION.as_velocities([(0, 0), (1, 2)])
    assert odd.radius is None and odd.fastest == 2 and odd == ((0, 0), (1, 2))
    assert TRANSLATION.as_velocities(odd) is odd and Rotation(order=12).as_velocities([0]) != odd
    with pytest.raises(ValueError, match="distinct"):
        VelocitySet(TRANSLATION, [(0, 0), (0, 0)])
    with pytest.raises(ValueError, match="must not be empty"):
        VelocitySet(flow, [])
    with pytest.raises(ValueError, match="needs a fernn.flows.Flow"):
        VelocitySet("translation", [(0, 0)])


def test_a_rollout_with_a_velocity_set_validates_no_velocity(monkeypatch):
    model = fernn.build_model("fernn", max_speed=1, hidden_channels=2, decoder_layers=1)
    chosen = model.flow.velocity_set(2)
    calls = []
    monkeypatch.setattr(type(model.flow), "as_velocity", lambda self, item: calls.append(item) or item)
    model.forecast(torch.zeros(1, 3, 1, 8, 8), 2, velocities=chosen)
    assert calls == [], f"the set was validated again on its way to the cell: {len(calls)} velocities"
