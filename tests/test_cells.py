"""FlowRNNCell: exact hidden-state flow equivariance, the G-RNN negative control, a reference loop."""

from __future__ import annotations

import math

import pytest
import torch

import fernn
from fernn import flows
from fernn.cells import FlowRNNCell
from fernn.reference import reference_cell_step as reference_step
from cell_cases import CELL_CASE_FIELDS, CELL_CASES, random_cell



@pytest.mark.parametrize(
    CELL_CASE_FIELDS, CELL_CASES
)
def test_cell_forward_and_backward_equal_reference_loop(
    batch, in_channels, hidden_channels, kernel_size, height, width, velocities, dtype, exact_tolerance
) -> None:
    cell = random_cell(in_channels, hidden_channels, kernel_size, dtype)
    x = torch.randn(batch, in_channels, height, width, dtype=dtype, requires_grad=True)
    h = torch.randn(batch, len(velocities), hidden_channels, height, width, dtype=dtype, requires_grad=True)
    upstream = torch.randn(batch, len(velocities), hidden_channels, height, width, dtype=dtype)

    fast = cell(x, h, velocities)
    slow = reference_step(cell, x, h, velocities)
    assert fast.shape == (batch, len(velocities), hidden_channels, height, width)
    assert fast.dtype == dtype
    scale = slow.abs().max()
    assert scale > 0 and (slow == 0).any(), "the relu should be active and inactive somewhere"
    assert (fast - slow).abs().max() <= exact_tolerance * scale
    with torch.no_grad():  # inference may take another code path; it must give the same numbers
        assert (cell(x, h, velocities) - slow).abs().max() <= exact_tolerance * scale

    inputs = (x, h, cell.input_conv.weight, cell.recurrent_conv.weight)
    fast_gradients = torch.autograd.grad((fast * upstream).sum(), inputs)
    slow_gradients = torch.autograd.grad((slow * upstream).sum(), inputs)
    for name, fast_gradient, slow_gradient in zip(("x", "h", "W_in", "W_rec"), fast_gradients, slow_gradients):
        gradient_scale = slow_gradient.abs().max()
        assert gradient_scale > 0, f"gradient w.r.t. {name} is identically zero"
        error = (fast_gradient - slow_gradient).abs().max() / gradient_scale
        assert error <= 10 * exact_tolerance, f"gradient w.r.t. {name} differs by {float(error):.3e}"


@torch.no_grad()
def test_cell_multi_step_run_equals_reference_loop() -> None:
    """Several recurrent steps from the zero state: errors would compound if the shift were off."""
    velocities = ((0, 0), (1, -1), (-2, 0), (0, 3))
    cell = random_cell(1, 3, 3, torch.float64)
    frames = torch.rand(2, 5, 1, 7, 9, dtype=torch.float64)  # (B, T, C_in, H, W)
    fast = cell.initial_state(frames[:, 0], len(velocities))
    slow = torch.zeros_like(fast)
    for t in range(frames.shape[1]):
        fast = cell(frames[:, t], fast, velocities)
        slow = reference_step(cell, frames[:, t], slow, velocities)
    assert slow.abs().max() > 0
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12 * float(slow.abs().max()))


def test_initial_state_is_zero_with_lifted_shape() -> None:
    cell = FlowRNNCell(hidden_channels=5)
    x = torch.rand(3, 1, 6, 7, dtype=torch.float64)
    state = cell.initial_state(x, 4)
    assert state.shape == (3, 4, 5, 6, 7)
    assert state.dtype == torch.float64
    assert torch.count_nonzero(state) == 0


def test_parameter_count_does_not_depend_on_velocity_set() -> None:
    cell = FlowRNNCell(hidden_channels=4)
    x = torch.rand(1, 1, 5, 5)
    counts = {name: p.numel() for name, p in cell.named_parameters()}
    assert counts == {"input_conv.weight": 4 * 1 * 9, "recurrent_conv.weight": 4 * 4 * 9}
    for velocities in (((0, 0),), flows.velocity_set(1), flows.velocity_set(2)):
        out = cell(x, cell.initial_state(x, len(velocities)), velocities)
        assert out.shape == (1, len(velocities), 4, 5, 5)


def test_cell_rejects_bad_options_and_shapes() -> None:
    with pytest.raises(ValueError, match="hidden_channels must be a positive integer"):
        FlowRNNCell(hidden_channels=0)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        FlowRNNCell(in_channels=True, hidden_channels=4)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd integer"):
        FlowRNNCell(hidden_channels=4, kernel_size=4)
    cell = FlowRNNCell(hidden_channels=4)
    h = torch.zeros(2, 1, 4, 6, 6)
    with pytest.raises(ValueError, match="x must have shape"):
        cell(torch.zeros(2, 1, 6, 5), h, ((0, 0),))
    with pytest.raises(ValueError, match="x must have shape"):
        cell(torch.zeros(1, 1, 6, 6), h, ((0, 0),))
    with pytest.raises(ValueError, match="velocit"):
        cell(torch.zeros(2, 1, 6, 6), h, ((0, 0), (1, 0)))


# ---------------------------------------------------------------------------------------------
# Exact hidden-state flow equivariance (the statement in docs/paper-notes.md)
# ---------------------------------------------------------------------------------------------


def _expected_pairs(velocities, velocity, height: int, width: int) -> int:
    """Copies ``nu`` whose partner ``nu - velocity`` lies in ``V`` (velocities taken on the torus)."""
    on_torus = {(dy % height, dx % width) for dy, dx in velocities}
    return sum(((dy - velocity[0]) % height, (dx - velocity[1]) % width) in on_torus for dy, dx in velocities)


@pytest.mark.parametrize(
    ("max_speed", "height", "width"), [pytest.param(1, 9, 8, id="V1-9x8"), pytest.param(2, 10, 10, id="V2-10x10")]
)
def test_fernn_hidden_state_is_exactly_flow_equivariant_for_every_velocity(
    max_speed, height, width, dtype, exact_tolerance, make_model, make_context, record_property
) -> None:
    velocities = flows.velocity_set(max_speed)
    model = make_model("fernn", max_speed=max_speed, dtype=torch.float32)
    context = make_context(frames=4, height=height, width=width, dtype=dtype)
    worst_exact, worst_truncated, failures = 0.0, math.inf, []
    for velocity in velocities:
        report = fernn.flow_equivariance_error(model, velocity, context=context, dtype=dtype)
        assert report.velocities == velocities
        assert report.pairs_compared == _expected_pairs(velocities, velocity, height, width)
        assert report.pairs_compared > 0
        if not report.exact_error < exact_tolerance:
            failures.append((velocity, report.exact_error))
        worst_exact = max(worst_exact, report.exact_error)
        if velocity != (0, 0):
            # Truncated copies (partner outside the finite V) are only approximately related.
            assert report.pairs_compared < len(velocities)
            worst_truncated = min(worst_truncated, report.truncated_error)
    assert not failures, f"copies with a partner in V are not exactly equivariant: {failures}"
    assert worst_truncated > 0.05, "truncated copies should visibly break the exact relation"
    record_property("worst_exact_error", worst_exact)
    record_property("smallest_truncated_error", worst_truncated)
    print(f"\n[{dtype}] V_{max_speed} on {height}x{width}: worst exact error {worst_exact:.3e}, "
          f"smallest truncated error {worst_truncated:.3f}")


def test_grnn_fails_flow_equivariance_as_negative_control(dtype, make_model, make_context, record_property) -> None:
    model = make_model("grnn", dtype=torch.float32)
    context = make_context(frames=4, height=9, width=8, dtype=dtype)
    smallest = math.inf
    for velocity in flows.velocity_set(2):
        report = fernn.flow_equivariance_error(model, velocity, context=context, dtype=dtype)
        if velocity == (0, 0):
            assert report.pairs_compared == 1
            assert report.exact_error == 0.0
            continue
        # The single copy (0, 0) has no lifted partner: a G-RNN must satisfy the plain relation and fails it.
        assert report.pairs_compared == 0
        assert math.isnan(report.exact_error)
        assert report.truncated_error > 0.05, f"G-RNN looks equivariant under {velocity}"
        smallest = min(smallest, report.truncated_error)
    record_property("grnn_smallest_error", smallest)
    print(f"\n[{dtype}] G-RNN smallest relative error over v != 0: {smallest:.3f}")


@torch.no_grad()
def test_equivariance_relation_checked_directly_with_the_cell() -> None:
    """The relation, computed here without fernn.testing: copy ``nu + v`` of the moved run equals
    copy ``nu`` of the still run rolled by ``t * v`` after frame ``t``."""
    velocities = flows.velocity_set(1)
    velocity = (1, -1)
    cell = random_cell(1, 3, 3, torch.float64)
    frames = torch.rand(2, 5, 1, 8, 7, dtype=torch.float64)  # (B, T, C_in, H, W)
    moved_frames = torch.stack(
        [torch.roll(frames[:, t], shifts=(t * velocity[0], t * velocity[1]), dims=(-2, -1)) for t in range(5)], dim=1
    )
    still = cell.initial_state(frames[:, 0], len(velocities))
    moved = torch.zeros_like(still)
    compared = 0
    for t in range(frames.shape[1]):
        still = cell(frames[:, t], still, velocities)
        moved = cell(moved_frames[:, t], moved, velocities)
        for index, nu in enumerate(velocities):
            partner = (nu[0] + velocity[0], nu[1] + velocity[1])
            if partner not in velocities:
                continue
            expected = torch.roll(still[:, index], shifts=(t * velocity[0], t * velocity[1]), dims=(-2, -1))
            assert torch.allclose(moved[:, velocities.index(partner)], expected, rtol=0, atol=1e-12)
            compared += 1
    assert compared == 5 * 4  # 4 copies of V_1 have a partner under (1, -1), at each of 5 frames
