"""The fast recurrent step and rollout against the slow per-velocity-roll reference (fernn.reference).

Forward and backward, in float64 where the relation is exact up to rounding, for several shapes
and velocity sets; plus the no-grad path (buffers reused, fused oneDNN convolution in float32).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fernn
from fernn import flows
from fernn.reference import reference_cell_step, reference_rollout
from fernn.cells import FlowRNNCell, StepRunner
from cell_cases import CELL_CASE_FIELDS, CELL_CASES, random_cell



def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    scale = b.abs().max()
    assert scale > 0, "nothing was compared: the reference is identically zero"
    return float((a - b).abs().max() / scale)


@pytest.mark.parametrize(
    CELL_CASE_FIELDS, CELL_CASES
)
def test_cell_step_equals_reference_forward_and_backward_in_float64(
    batch, in_channels, hidden_channels, kernel_size, height, width, velocities
) -> None:
    dtype = torch.float64
    cell = random_cell(in_channels, hidden_channels, kernel_size, dtype)
    x = torch.randn(batch, in_channels, height, width, dtype=dtype, requires_grad=True)
    h = torch.randn(batch, len(velocities), hidden_channels, height, width, dtype=dtype, requires_grad=True)
    upstream = torch.randn(batch, len(velocities), hidden_channels, height, width, dtype=dtype)

    fast = cell(x, h, velocities)
    slow = reference_cell_step(cell, x, h, velocities)
    assert fast.shape == slow.shape == (batch, len(velocities), hidden_channels, height, width)
    assert (slow == 0).any() and (slow > 0).any()
    assert _relative(fast, slow) < 1e-13

    inputs = (x, h, cell.input_conv.weight, cell.recurrent_conv.weight)
    fast_gradients = torch.autograd.grad((fast * upstream).sum(), inputs)
    slow_gradients = torch.autograd.grad((slow * upstream).sum(), inputs)
    for name, fast_gradient, slow_gradient in zip(("x", "h", "W_in", "W_rec"), fast_gradients, slow_gradients):
        assert _relative(fast_gradient, slow_gradient) < 1e-12, f"gradient w.r.t. {name}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    CELL_CASE_FIELDS, CELL_CASES
)
def test_cell_step_without_gradients_equals_reference(
    batch, in_channels, hidden_channels, kernel_size, height, width, velocities, dtype
) -> None:
    """The no-grad step (StepRunner: fused oneDNN conv + drive + relu in float32 on CPU)."""
    cell = random_cell(in_channels, hidden_channels, kernel_size, dtype)
    x = torch.randn(batch, in_channels, height, width, dtype=dtype)
    h = torch.randn(batch, len(velocities), hidden_channels, height, width, dtype=dtype)
    with torch.inference_mode():
        fast = cell(x, h, velocities)
        slow = reference_cell_step(cell, x, h, velocities)
    assert _relative(fast, slow) < (1e-5 if dtype == torch.float32 else 1e-13)


def test_float32_cpu_runner_uses_the_fused_convolution() -> None:
    """Guards the path the benchmarks time: without it the tests above would only cover the fallback."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise_")):
        pytest.skip("this torch build has no oneDNN fused convolution")
    cell = FlowRNNCell(hidden_channels=4)
    like = torch.zeros(1, 1, 6, 6)
    assert StepRunner(cell, flows.velocity_set(1), batch=1, height=6, width=6, like=like)._fused is not None
    assert StepRunner(cell.double(), flows.velocity_set(1), batch=1, height=6, width=6, like=like.double())._fused is None


def test_step_runner_reuses_its_buffers() -> None:
    cell = random_cell(1, 4, 3, torch.float32)
    velocities = flows.velocity_set(1)
    frames = torch.rand(2, 5, 1, 7, 6)
    with torch.inference_mode():
        runner = StepRunner(cell, velocities, batch=2, height=7, width=6, like=frames)
        state = runner.new_state()
        state.zero_()
        reference = torch.zeros(2, len(velocities), 4, 7, 6)
        pointers = set()
        for t in range(frames.shape[1]):
            shifted = runner.shift(state)
            result = runner.step(shifted, cell.input_drive(frames[:, t]), out=state)
            assert result is state and shifted is runner.shift.out
            pointers.add((state.data_ptr(), shifted.data_ptr()))
            reference = reference_cell_step(cell, frames[:, t], reference, velocities)
        assert len(pointers) == 1
        assert _relative(state, reference) < 1e-5


@pytest.mark.parametrize(("velocities", "times", "pad"), [
    (flows.velocity_set(1), 1, 1),
    (flows.velocity_set(2), 3, 2),
    (((0, 0), (7, -9), (-1, 4)), -1, 0),
])
def test_copy_shifter_equals_shift_copies(velocities, times, pad) -> None:
    h = torch.rand(3, len(velocities), 5, 6, 7, dtype=torch.float64)
    shifter = flows.CopyShifter(velocities, batch=3, channels=5, height=6, width=7, pad=pad, like=h, times=times)
    expected = flows.shift_copies(h, velocities, times=times, pad=pad)
    assert torch.equal(shifter(h), expected)
    assert torch.equal(shifter(h.contiguous()), expected)  # any input layout; channels-last is a free view
    with pytest.raises(ValueError, match="h must have shape"):
        shifter(h[:1])


@pytest.mark.parametrize(("in_channels", "kernel_size"), [(1, 3), (2, 3), (1, 5), (3, 1)])
def test_input_drive_equals_circular_convolution(in_channels, kernel_size) -> None:
    cell = random_cell(in_channels, 4, kernel_size, torch.float64)
    x = torch.randn(3, in_channels, 7, 9, dtype=torch.float64, requires_grad=True)
    pad = (kernel_size // 2,) * 4
    expected = F.conv2d(F.pad(x, pad, mode="circular"), cell.input_conv.weight)
    drive = cell.input_drive(x)
    assert drive.is_contiguous(memory_format=torch.channels_last)
    assert _relative(drive, expected) < 1e-13
    upstream = torch.randn_like(expected)
    fast = torch.autograd.grad((drive * upstream).sum(), (x, cell.input_conv.weight))
    slow = torch.autograd.grad((expected * upstream).sum(), (x, cell.input_conv.weight))
    for fast_gradient, slow_gradient in zip(fast, slow):
        assert _relative(fast_gradient, slow_gradient) < 1e-12


ROLLOUT_CASES = [
    pytest.param(dict(kind="fernn", max_speed=1), id="fernn-V1-aligned-max"),
    pytest.param(dict(kind="fernn", max_speed=1, decoding="paper"), id="fernn-V1-paper"),
    pytest.param(dict(kind="fernn", velocities=[(0, 0), (2, -1), (-1, 3)], pooling="mean"), id="fernn-list-mean"),
    pytest.param(dict(kind="grnn"), id="grnn"),
]


@pytest.mark.parametrize("return_hidden", [False, True], ids=["frames", "hidden"])
@pytest.mark.parametrize("options", ROLLOUT_CASES)
def test_training_rollout_equals_reference_forward_and_backward_in_float64(options, return_hidden, make_model, make_context) -> None:
    options = dict(options)
    model = make_model(options.pop("kind"), dtype=torch.float64, **options).train()
    context = make_context(batch=2, frames=4, height=7, width=8, dtype=torch.float64)
    steps = 3
    fast = model.rollout(context, steps, return_hidden=return_hidden)
    slow = reference_rollout(model, context, steps, return_hidden=return_hidden)
    assert _relative(fast.frames, slow.frames) < 1e-12
    loss_fast, loss_slow = fast.frames.square().sum(), slow.frames.square().sum()
    if return_hidden:
        assert fast.hidden.shape == slow.hidden.shape == (2, 4 + steps, len(model.velocities), 4, 7, 8)
        assert _relative(fast.hidden, slow.hidden) < 1e-12
        weights = torch.rand_like(slow.hidden)
        loss_fast = loss_fast + (fast.hidden * weights).sum()
        loss_slow = loss_slow + (slow.hidden * weights).sum()
    parameters = list(model.parameters())
    for name, fast_gradient, slow_gradient in zip(
        [n for n, _ in model.named_parameters()],
        torch.autograd.grad(loss_fast, parameters),
        torch.autograd.grad(loss_slow, parameters),
    ):
        assert _relative(fast_gradient, slow_gradient) < 1e-11, f"gradient of {name}"


def test_checkpointed_training_rollout_equals_reference_gradients(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1, dtype=torch.float64).train()
    model.checkpoint_steps = True
    context = make_context(batch=2, frames=3, height=6, width=6, dtype=torch.float64)
    parameters = list(model.parameters())
    fast = torch.autograd.grad(model.rollout(context, 2).frames.square().sum(), parameters)
    slow = torch.autograd.grad(reference_rollout(model, context, 2).frames.square().sum(), parameters)
    for fast_gradient, slow_gradient in zip(fast, slow):
        assert _relative(fast_gradient, slow_gradient) < 1e-11


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("options", ROLLOUT_CASES)
def test_forecast_equals_reference(options, dtype, make_model, make_context) -> None:
    """Inference (buffers reused, fused convolution in float32), hidden states kept."""
    options = dict(options)
    model = make_model(options.pop("kind"), dtype=dtype, **options)
    context = make_context(batch=2, frames=4, height=7, width=8, dtype=dtype)
    fast = model.forecast(context, 3, return_hidden=True)
    with torch.no_grad():
        slow = reference_rollout(model, context, 3, return_hidden=True)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert _relative(fast.frames, slow.frames) < tolerance
    assert _relative(fast.hidden, slow.hidden) < tolerance
    assert fast.velocities == slow.velocities


def test_forecast_with_run_time_velocity_sets_equals_reference(make_model, make_context) -> None:
    model = make_model("grnn", dtype=torch.float32)
    context = make_context(batch=1, frames=3, height=9, width=9, dtype=torch.float32)
    for velocities in (flows.velocity_set(2), ((0, 0), (3, -4)), flows.velocity_set(4)):
        fast = model.forecast(context, 2, velocities=velocities, return_hidden=True)
        with torch.no_grad():
            slow = reference_rollout(model, context, 2, velocities=velocities, return_hidden=True)
        assert _relative(fast.hidden, slow.hidden) < 1e-5
        assert _relative(fast.frames, slow.frames) < 1e-5


def test_kept_hidden_states_are_a_channels_last_buffer_written_in_place(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1, dtype=torch.float32)
    context = make_context(batch=3, frames=4, dtype=torch.float32)
    hidden = model.forecast(context, 2, return_hidden=True).hidden  # (B, T+S, V, C, H, W)
    assert hidden.shape == (3, 6, 9, 4, 8, 8)
    assert hidden.permute(1, 0, 2, 4, 5, 3).is_contiguous()  # one (T+S, B, V, H, W, C) allocation
    assert torch.equal(hidden.reshape(3, 6, -1), hidden.contiguous().view(3, 6, -1))


def test_inference_first_then_training_still_differentiates(make_model, make_context) -> None:
    """Index tensors cached during a forecast (inference mode) must be usable by autograd later."""
    model = make_model("fernn", max_speed=1, dtype=torch.float32, hidden_channels=3)
    context = make_context(batch=1, frames=3, height=11, width=5, dtype=torch.float32)
    model.forecast(context, 2)
    model.train()
    model.rollout(context, 2).frames.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_fast_rollout_keeps_exact_flow_equivariance() -> None:
    torch.manual_seed(0)
    model = fernn.build_model("fernn", max_speed=1, hidden_channels=3, decoder_layers=2)
    for velocity in ((1, 0), (-1, 1)):
        report = fernn.flow_equivariance_error(model, velocity, num_frames=4, size=9)
        assert report.pairs_compared > 0
        assert report.exact_error < 1e-13


def test_max_pool_backward_splits_ties_like_amax() -> None:
    from fernn.encoder import max_over_copies

    rows = torch.tensor([[[1.0, 2.0, 0.0], [1.0, 0.5, 0.0], [0.2, 2.0, 0.0], [1.0, 2.0, 0.0]]],
                        dtype=torch.float64, requires_grad=True)  # (1, 4, 3): ties at 1, 2 and 0
    upstream = torch.tensor([[3.0, 5.0, 7.0]], dtype=torch.float64)
    (fast,) = torch.autograd.grad((max_over_copies(rows) * upstream).sum(), rows)
    (slow,) = torch.autograd.grad((rows.amax(dim=1) * upstream).sum(), rows)
    torch.testing.assert_close(fast, slow)
    assert float(fast.sum()) == pytest.approx(15.0)
