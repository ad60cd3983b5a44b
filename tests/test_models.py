"""Forecaster: API and validation, the decoding clocks, static and closed-set flow equivariance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fernn
from fernn import flows
from fernn.models import ModelConfig

# ---------------------------------------------------------------------------------------------
# Helpers written from the documented update rule, independent of the forecaster's loop
# ---------------------------------------------------------------------------------------------


def pool(model: fernn.Forecaster, h: torch.Tensor) -> torch.Tensor:
    """``(B, V, C, H, W)`` -> ``(B, C, H, W)`` with the model's pooling."""
    return h.amax(dim=1) if model.config.pooling == "max" else h.mean(dim=1)


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Max-abs difference divided by the largest absolute expected value."""
    return float((actual - expected).detach().abs().max() / expected.detach().abs().max())


def roll_frames(frames: torch.Tensor, displacement) -> torch.Tensor:
    return torch.roll(frames, shifts=tuple(displacement), dims=(-2, -1))


# ---------------------------------------------------------------------------------------------
# Forecast API
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("decoding", ["aligned", "paper"])
def test_forecast_shapes(decoding, make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1, decoding=decoding)
    context = make_context(batch=2, frames=3, height=7, width=9)
    result = model.forecast(context, 4, return_hidden=True)
    assert isinstance(result, fernn.Forecast)
    assert result.frames.shape == (2, 4, 1, 7, 9)
    assert result.hidden.shape == (2, 3 + 4, 9, 4, 7, 9)  # (B, T + steps, V, C, H, W)
    assert result.velocities == flows.velocity_set(1)
    assert result.frames.dtype == result.hidden.dtype == torch.float64
    assert not result.frames.requires_grad
    # Every recurrent step was written (the buffer starts uninitialised).
    assert torch.isfinite(result.hidden).all()
    assert (result.hidden.flatten(2).abs().amax(dim=2) > 0).all()


@pytest.mark.parametrize("decoding", ["aligned", "paper"])
def test_return_hidden_false_gives_none_and_same_frames(decoding, make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1, decoding=decoding)
    context = make_context(frames=3)
    without = model.forecast(context, 3)
    with_hidden = model.forecast(context, 3, return_hidden=True)
    assert without.hidden is None
    assert torch.equal(without.frames, with_hidden.frames)


def test_zero_steps(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1)
    context = make_context(batch=2, frames=3, height=6, width=5)
    result = model.forecast(context, 0, return_hidden=True)
    assert result.frames.shape == (2, 0, 1, 6, 5)
    assert result.frames.dtype == torch.float64
    assert result.hidden.shape == (2, 3, 9, 4, 6, 5)
    assert torch.equal(result.hidden, model.forecast(context, 2, return_hidden=True).hidden[:, :3])


def test_forward_and_rollout_agree_with_forecast(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1)
    context = make_context(frames=3)
    expected = model.forecast(context, 3).frames
    assert torch.equal(model(context, 3), expected)
    assert torch.equal(model.rollout(context, 3).frames, expected)


def test_grnn_checkpoint_runs_with_a_bigger_velocity_set(make_model, make_context) -> None:
    grnn = make_model("grnn")
    context = make_context(frames=4, height=7, width=7)
    own = grnn.forecast(context, 2, return_hidden=True)
    lifted = grnn.forecast(context, 2, velocities=flows.velocity_set(1), return_hidden=True)
    assert own.velocities == ((0, 0),)
    assert own.hidden.shape[2] == 1
    assert lifted.velocities == flows.velocity_set(1)
    assert lifted.hidden.shape == (2, 6, 9, 4, 7, 7)
    assert grnn.velocities == ((0, 0),), "a run-time velocity set must not change the model"
    # Copies do not interact while reading the context, so copy (0, 0) is exactly the G-RNN's state.
    zero = flows.velocity_set(1).index((0, 0))
    assert torch.equal(lifted.hidden[:, :4, zero], own.hidden[:, :4, 0])
    # After pooling over 9 copies the predictions differ from the G-RNN's.
    assert not torch.allclose(lifted.frames, own.frames)
    # Plain lists are accepted as a run-time set.
    listed = grnn.forecast(context, 2, velocities=[list(v) for v in flows.velocity_set(1)])
    assert torch.equal(listed.frames, lifted.frames)


def test_grnn_is_the_fernn_with_only_the_zero_velocity(make_model, make_context) -> None:
    fernn_model = make_model("fernn", max_speed=2)
    grnn = make_model("grnn")
    assert fernn_model.state_dict().keys() == grnn.state_dict().keys()
    grnn.load_state_dict(fernn_model.state_dict())
    context = make_context(frames=3)
    expected = grnn.forecast(context, 3, return_hidden=True)
    actual = fernn_model.forecast(context, 3, velocities=[(0, 0)], return_hidden=True)
    assert torch.equal(actual.frames, expected.frames)
    assert torch.equal(actual.hidden, expected.hidden)


@pytest.mark.parametrize(
    ("context", "steps", "error", "message"),
    [
        (torch.zeros(2, 1, 6, 6), 1, ValueError, r"context must have shape \(B, T, 1, H, W\)"),
        (torch.zeros(2, 3, 2, 6, 6), 1, ValueError, r"context must have shape \(B, T, 1, H, W\)"),
        (torch.zeros(2, 0, 1, 6, 6), 1, ValueError, "at least one frame"),
        (torch.zeros(2, 3, 1, 6, 6, dtype=torch.uint8), 1, ValueError, "floating-point"),
        (torch.zeros(2, 3, 1, 6, 6, dtype=torch.int64), 1, ValueError, "floating-point"),
        (torch.zeros(2, 3, 1, 6, 6), -1, ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), 1.0, ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), True, ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), np.bool_(True), ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), torch.tensor(True), ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), torch.tensor(2.0), ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), torch.tensor([2]), ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), np.float64(2.0), ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), np.int64(-1), ValueError, "steps must be a non-negative integer"),
        (torch.zeros(2, 3, 1, 6, 6), 100_001, ValueError, "steps must be at most 100,000, got 100,001"),
        (torch.zeros(2, 3, 1, 6, 6), 10**12, ValueError, "steps must be at most 100,000"),
        (torch.zeros(0, 3, 1, 6, 6), 1, ValueError, r"at least one sequence .* got shape \(0, 3, 1, 6, 6\)"),
        (torch.zeros(2, 3, 1, 0, 6), 1, ValueError, "at least 1x1 pixels"),
        (torch.zeros(2, 3, 1, 6, 0), 1, ValueError, "at least 1x1 pixels"),
        ([[[[[0.0]]]]], 1, TypeError, "context must be a torch.Tensor"),
    ],
)
def test_forecast_rejects_bad_input(context, steps, error, message, make_model) -> None:
    model = make_model("fernn", max_speed=1, dtype=torch.float32)
    with pytest.raises(error, match=message):
        model.forecast(context, steps)


def test_forecast_rejects_bad_run_time_velocities(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1)
    with pytest.raises(ValueError, match="distinct"):
        model.forecast(make_context(), 1, velocities=[(0, 0), (0, 0)])
    with pytest.raises(ValueError, match="pair of integers"):
        model.forecast(make_context(), 1, velocities=[(0.5, 0)])


def test_rollout_is_differentiable_and_forecast_is_not(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1).train()
    context = make_context(frames=3)
    model.rollout(context, 3).frames.square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().max() > 0, f"no gradient for {name}"
    assert not model.forecast(context, 3).frames.requires_grad


@pytest.mark.parametrize("decoding", ["aligned", "paper"])
def test_activation_checkpointing_gives_same_frames_and_gradients(decoding, make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1, decoding=decoding).train()
    context = make_context(frames=3)
    results = []
    for checkpoint_steps in (False, True):
        model.zero_grad()
        model.checkpoint_steps = checkpoint_steps
        frames = model.rollout(context, 3).frames
        frames.square().mean().backward()
        results.append((frames.detach(), [p.grad.clone() for p in model.parameters()]))
    (frames_plain, grads_plain), (frames_checkpointed, grads_checkpointed) = results
    assert torch.equal(frames_plain, frames_checkpointed)
    for plain, checkpointed in zip(grads_plain, grads_checkpointed):
        assert torch.allclose(plain, checkpointed, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# The decoding clocks, pinned against the update rule
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("decoding", ["aligned", "paper"])
def test_hidden_states_and_frames_follow_the_documented_clock(decoding, pooling, make_model, make_context) -> None:
    velocities = ((0, 0), (1, 0), (-1, 2))
    model = make_model("fernn", velocities=velocities, decoding=decoding, pooling=pooling)
    context = make_context(batch=2, frames=3, height=6, width=7)
    steps, num_context = 3, context.shape[1]
    result = model.forecast(context, steps, return_hidden=True)
    hidden, frames = result.hidden, result.frames

    # Context: h_t = cell(x_t, h_{t-1}) from the zero state.
    h = model.cell.initial_state(context[:, 0], len(velocities))
    for t in range(num_context):
        h = model.cell(context[:, t], h, velocities)
        assert torch.equal(hidden[:, t], h)

    for k in range(steps):
        if decoding == "aligned":
            # Frame T + k is read from the state after frame T - 1 + k, each copy advanced by its own flow.
            state = hidden[:, num_context - 1 + k]
            expected = model.decoder(pool(model, flows.shift_copies(state, velocities)))
            fed_input = frames[:, k]  # the prediction is the next input
        else:
            # The first prediction step re-reads the last context frame, then predictions are fed back.
            state = hidden[:, num_context + k]
            expected = model.decoder(pool(model, state))
            fed_input = context[:, -1] if k == 0 else frames[:, k - 1]
            assert torch.allclose(
                state, model.cell(fed_input, hidden[:, num_context - 1 + k], velocities), rtol=0, atol=1e-14
            )
        assert torch.allclose(frames[:, k], expected, rtol=0, atol=1e-14)
        if decoding == "aligned":
            assert torch.allclose(
                hidden[:, num_context + k], model.cell(fed_input, hidden[:, num_context - 1 + k], velocities),
                rtol=0, atol=1e-14,
            )


def reference_rollout(model: fernn.Forecaster, context: torch.Tensor, steps: int, velocities):
    """The documented forecaster written with plain torch ops, one copy at a time.

    Update ``h_t[nu] = relu(W_in * x_t + W_rec * roll(h_{t-1}[nu], nu))`` from ``h = 0``; aligned
    decoding reads frame ``T + k`` from the state after frame ``T - 1 + k`` with each copy rolled
    by its own velocity; paper decoding first re-reads frame ``T - 1``. Predictions are fed back
    detached. Returns frames ``(B, S, C_in, H, W)`` and hidden ``(B, T + S, V, C, H, W)``.
    """
    cell, paper = model.cell, model.config.decoding == "paper"
    pad = model.config.kernel_size // 2

    def circular_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="circular"), weight)

    def advanced(h: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.roll(h[:, i], v, dims=(-2, -1)) for i, v in enumerate(velocities)], dim=1)

    def step(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        drive = circular_conv(x, cell.input_conv.weight)  # (B, C, H, W)
        moved = advanced(h)  # (B, V, C, H, W)
        return torch.stack(
            [
                torch.relu(drive + circular_conv(moved[:, i], cell.recurrent_conv.weight))
                for i in range(len(velocities))
            ],
            dim=1,
        )

    batch, num_context, _, height, width = context.shape
    h = context.new_zeros(batch, len(velocities), model.config.hidden_channels, height, width)
    states, frames = [], []
    for t in range(num_context):
        h = step(context[:, t], h)
        states.append(h)
    x = context[:, -1]
    for _ in range(steps):
        if paper:
            h = step(x, h)
            states.append(h)
            prediction = model.decoder(pool(model, h))
        else:
            prediction = model.decoder(pool(model, advanced(h)))
        frames.append(prediction)
        x = prediction.detach()
        if not paper:
            h = step(x, h)
            states.append(h)
    return torch.stack(frames, dim=1), torch.stack(states, dim=1)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"max_speed": 1}, id="V1-aligned-max"),
        pytest.param({"max_speed": 1, "decoding": "paper"}, id="V1-paper-max"),
        pytest.param({"velocities": [(0, 0), (2, -1), (-1, 3)], "pooling": "mean"}, id="asymmetric-aligned-mean"),
        pytest.param(
            {
                "velocities": [(1, 0), (0, 0)], "kernel_size": 5, "in_channels": 2,
                "decoding": "paper", "pooling": "mean",
            },
            id="kernel5-two-channels-paper-mean",
        ),
        pytest.param({"kind": "grnn"}, id="grnn"),
    ],
)
def test_rollout_equals_reference_forecaster(options, dtype, exact_tolerance, make_model, make_context) -> None:
    """Inference (no gradient, buffer-reusing path), differentiable rollout and activation-checkpointed
    rollout all equal the plain reference, frames and hidden states, and gradients agree."""
    options = dict(options)
    model = make_model(options.pop("kind", "fernn"), dtype=dtype, **options)
    velocities = model.velocities
    context = make_context(frames=3, channels=model.config.in_channels, height=7, width=9, dtype=dtype)
    steps = 3
    expected_frames, expected_hidden = reference_rollout(model, context, steps, velocities)
    tolerance = 10 * exact_tolerance

    inferred = model.forecast(context, steps, return_hidden=True)
    assert relative_error(inferred.frames, expected_frames) <= tolerance
    assert relative_error(inferred.hidden, expected_hidden) <= tolerance
    assert relative_error(model.forecast(context, steps).frames, expected_frames) <= tolerance

    loss_weights = torch.rand(expected_frames.shape, dtype=dtype)
    parameters = list(model.parameters())
    expected_gradients = torch.autograd.grad((expected_frames * loss_weights).sum(), parameters)
    for checkpoint_steps in (False, True):
        model.train()
        model.checkpoint_steps = checkpoint_steps
        rolled = model.rollout(context, steps, return_hidden=True)
        assert relative_error(rolled.frames, expected_frames) <= tolerance
        assert relative_error(rolled.hidden, expected_hidden) <= tolerance
        gradients = torch.autograd.grad((rolled.frames * loss_weights).sum(), parameters)
        for (name, _), gradient, expected in zip(model.named_parameters(), gradients, expected_gradients):
            error = relative_error(gradient, expected)
            assert error <= tolerance, f"gradient of {name} (checkpoint_steps={checkpoint_steps}): {error:.2e}"


# ---------------------------------------------------------------------------------------------
# Static translation: rolling every context frame by a fixed offset rolls everything
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"kind": "fernn", "max_speed": 1}, id="fernn-V1-aligned-max"),
        pytest.param(
            {"kind": "fernn", "max_speed": 1, "decoding": "paper", "pooling": "mean"}, id="fernn-V1-paper-mean"
        ),
        pytest.param({"kind": "fernn", "velocities": [(0, 0), (2, -1), (-1, 3)]}, id="fernn-asymmetric"),
        pytest.param({"kind": "grnn"}, id="grnn"),
        pytest.param({"kind": "grnn", "decoding": "paper"}, id="grnn-paper"),
    ],
)
@pytest.mark.parametrize("offset", [(2, -3), (-1, 0), (7, 9)])
def test_static_translation_equivariance_of_the_forecaster(
    options, offset, dtype, exact_tolerance, make_model, make_context
) -> None:
    options = dict(options)
    model = make_model(options.pop("kind"), dtype=dtype, **options)
    context = make_context(frames=3, height=7, width=9, dtype=dtype)
    base = model.forecast(context, 3, return_hidden=True)
    moved = model.forecast(roll_frames(context, offset), 3, return_hidden=True)
    assert relative_error(moved.frames, roll_frames(base.frames, offset)) <= exact_tolerance
    assert relative_error(moved.hidden, roll_frames(base.hidden, offset)) <= exact_tolerance
    if offset[0] % 7 or offset[1] % 9:
        assert not torch.allclose(moved.frames, base.frames), "the offset should move something"


# ---------------------------------------------------------------------------------------------
# A velocity set closed under the flow: predictions are exactly flow equivariant (aligned clock)
# ---------------------------------------------------------------------------------------------

TORUS = 6
# Every velocity of the 6x6 torus: V + v = V (mod 6) for every v in V.
CLOSED_VELOCITIES = tuple((dy, dx) for dy in range(TORUS) for dx in range(TORUS))
CONTEXT_FRAMES = 3
PREDICTED_STEPS = 3


def _closed_set_runs(decoding: str, pooling: str, make_model, make_context):
    """Yield ``(velocity, still run, moved run)`` for every velocity of the closed set."""
    model = make_model("fernn", velocities=CLOSED_VELOCITIES, decoding=decoding, pooling=pooling)
    context = make_context(batch=2, frames=CONTEXT_FRAMES, height=TORUS, width=TORUS)
    still = model.forecast(context, PREDICTED_STEPS, return_hidden=True)
    for velocity in CLOSED_VELOCITIES:
        moved = model.forecast(flows.flow_sequence(context, velocity), PREDICTED_STEPS, return_hidden=True)
        yield velocity, still, moved


def _prediction_displacement(velocity, step: int):
    """Predicted step ``k`` is frame ``T + k`` of the sequence (frames counted from 0)."""
    return ((CONTEXT_FRAMES + step) * velocity[0], (CONTEXT_FRAMES + step) * velocity[1])


def _frame_error(moved: torch.Tensor, still: torch.Tensor, displacement) -> float:
    """Max-abs difference between a moved run's frame and the still run's frame rolled by ``displacement``."""
    return float((moved - roll_frames(still, displacement)).abs().max())


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_closed_velocity_set_aligned_predictions_are_exactly_flow_equivariant(
    pooling, make_model, make_context, record_property
) -> None:
    worst_frames = worst_hidden = 0.0
    position = {v: i for i, v in enumerate(CLOSED_VELOCITIES)}
    for velocity, still, moved in _closed_set_runs("aligned", pooling, make_model, make_context):
        for k in range(PREDICTED_STEPS):
            expected = roll_frames(still.frames[:, k], _prediction_displacement(velocity, k))
            worst_frames = max(worst_frames, relative_error(moved.frames[:, k], expected))
        # Hidden copy nu + v of the moved run is copy nu of the still run rolled by t * v, at every
        # step: context and fed-back predictions alike (every copy has its partner in a closed set).
        for t in range(CONTEXT_FRAMES + PREDICTED_STEPS):
            for index, nu in enumerate(CLOSED_VELOCITIES):
                partner = position[((nu[0] + velocity[0]) % TORUS, (nu[1] + velocity[1]) % TORUS)]
                expected = roll_frames(still.hidden[:, t, index], (t * velocity[0], t * velocity[1]))
                worst_hidden = max(worst_hidden, float((moved.hidden[:, t, partner] - expected).abs().max()))
    worst_hidden /= float(still.hidden.abs().max())
    record_property("closed_set_prediction_error", worst_frames)
    print(f"\nclosed set, aligned, {pooling} pooling: "
          f"prediction error {worst_frames:.3e}, hidden error {worst_hidden:.3e}")
    assert worst_frames < 1e-12
    assert worst_hidden < 1e-12


def test_closed_velocity_set_paper_clock_breaks_prediction_equivariance(
    make_model, make_context, record_property
) -> None:
    """The paper's decoder re-reads frame T - 1 at its first prediction step, so it is off the flow's clock.

    Its context states are still exactly equivariant: the deviation comes from the decoder alone.
    """
    deviation = deviation_one_step_earlier = context_hidden = 0.0
    for velocity, still, moved in _closed_set_runs("paper", "max", make_model, make_context):
        scale = float(still.frames.abs().max())
        errors = [
            _frame_error(moved.frames[:, k], still.frames[:, k], _prediction_displacement(velocity, k))
            for k in range(PREDICTED_STEPS)
        ]
        # A pure relabelling of the clock (displacement (T - 1 + k) v) does not rescue it either.
        earlier = [
            _frame_error(moved.frames[:, k], still.frames[:, k], _prediction_displacement(velocity, k - 1))
            for k in range(PREDICTED_STEPS)
        ]
        if velocity == (0, 0):
            assert max(errors) == 0.0
        deviation = max(deviation, max(errors) / scale)
        deviation_one_step_earlier = max(deviation_one_step_earlier, max(earlier) / scale)
        for t in range(CONTEXT_FRAMES):
            shifted = flows.shift_copies(still.hidden[:, t], [velocity] * len(CLOSED_VELOCITIES), times=t)
            partners = [((nu[0] + velocity[0]) % TORUS, (nu[1] + velocity[1]) % TORUS) for nu in CLOSED_VELOCITIES]
            order = [CLOSED_VELOCITIES.index(p) for p in partners]
            context_hidden = max(context_hidden, float((moved.hidden[:, t, order] - shifted).abs().max()))
    record_property("paper_clock_deviation", deviation)
    print(f"\nclosed set, paper clock: relative deviation {deviation:.3f} at displacement (T+k)v, "
          f"{deviation_one_step_earlier:.3f} at (T-1+k)v; context hidden error {context_hidden:.1e}")
    assert context_hidden < 1e-12
    assert deviation > 0.05
    assert deviation_one_step_earlier > 0.05


# ---------------------------------------------------------------------------------------------
# build_model and ModelConfig
# ---------------------------------------------------------------------------------------------


def test_build_model_velocity_sets() -> None:
    assert fernn.build_model("fernn", hidden_channels=2).velocities == flows.velocity_set(2)
    assert fernn.build_model("fernn", hidden_channels=2, max_speed=1).velocities == flows.velocity_set(1)
    assert fernn.build_model("fernn", hidden_channels=2, velocities=[[1, 0], [0, 0]]).velocities == ((1, 0), (0, 0))
    assert fernn.build_model("grnn", hidden_channels=2).velocities == ((0, 0),)
    assert fernn.build_model("grnn", hidden_channels=2, max_speed=0).velocities == ((0, 0),)
    assert fernn.build_model("grnn", hidden_channels=2, velocities=[(0, 0)]).velocities == ((0, 0),)
    model = fernn.build_model("fernn", hidden_channels=3, decoder_layers=2, decoding="paper", pooling="mean")
    assert (model.config.hidden_channels, model.config.decoder_layers) == (3, 2)
    assert (model.config.decoding, model.config.pooling) == ("paper", "mean")


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("grnn", {"max_speed": 1}, "G-RNN has the single velocity"),
        ("grnn", {"velocities": [(0, 0), (1, 0)]}, "G-RNN has the single velocity"),
        ("fernn", {"max_speed": 1, "velocities": [(0, 0)]}, "either max_speed or velocities"),
        ("grnn", {"max_speed": 0, "velocities": [(0, 0)]}, "either max_speed or velocities"),
        ("fernn", {"decoding": "causal"}, "decoding must be one of"),
        ("fernn", {"pooling": "sum"}, "pooling must be one of"),
        ("lstm", {}, "kind must be one of"),
        ("fernn", {"max_speed": -1}, "max_speed"),
        ("fernn", {"hidden_channels": 0}, "hidden_channels must be a positive integer"),
        ("fernn", {"decoder_layers": 0}, "decoder_layers must be a positive integer"),
        ("fernn", {"kernel_size": 2}, "kernel_size must be a positive odd integer"),
        ("fernn", {"velocities": [(0, 0), (0, 0)]}, "distinct"),
        ("fernn", {"velocities": []}, "must not be empty"),
    ],
)
def test_build_model_rejects_bad_options(kind, options, message) -> None:
    with pytest.raises(ValueError, match=message):
        fernn.build_model(kind, **options)


def test_build_model_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        fernn.build_model("fernn", 8)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(kind="grnn", velocities=((0, 0),), hidden_channels=8, decoding="paper"),
        ModelConfig(velocities=((2, -1), (0, 0)), pooling="mean", decoder_layers=1, kernel_size=5, in_channels=3),
    ],
)
def test_model_config_dict_round_trip(config) -> None:
    data = config.to_dict()
    assert data["velocities"] == [list(v) for v in config.velocities]
    assert all(isinstance(value, (str, int, list, dict)) for value in data.values())
    assert data["flow"] == {"name": "translation"}  # the flow travels as a plain record
    restored = ModelConfig.from_dict(data)
    assert restored == config
    assert isinstance(restored.velocities, tuple) and all(isinstance(v, tuple) for v in restored.velocities)
    assert set(data) == {f.name for f in dataclasses.fields(ModelConfig)}


def test_model_config_validation_and_frozen() -> None:
    with pytest.raises(ValueError, match="unknown model config fields: \\['colour'\\]"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="G-RNN has the velocity set"):
        ModelConfig(kind="grnn")  # the default velocity set is V_2
    with pytest.raises(ValueError, match="kind must be one of"):
        ModelConfig(kind="cnn")
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        ModelConfig(in_channels=0)
    # A config that could never build its model must be refused by the config itself, so a
    # checkpoint holding one is reported as an invalid config.
    for kernel_size in (4, 0, -1, 3.0, True):
        with pytest.raises(ValueError, match="kernel_size must be a positive odd integer"):
            ModelConfig(kernel_size=kernel_size)
    config = ModelConfig(velocities=[[1, 1], [0, 0]])
    assert config.velocities == ((1, 1), (0, 0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_channels = 3  # type: ignore[misc]
    assert ModelConfig().velocities == flows.velocity_set(2)


# ---------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("decoding", ["aligned", "paper"])
def test_forecast_on_cuda_matches_cpu(decoding, make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1, decoding=decoding)
    context = make_context(frames=3, height=10, width=12)
    cpu = model.forecast(context, 3, return_hidden=True)
    gpu = model.to("cuda").forecast(context.to("cuda"), 3, return_hidden=True)
    assert gpu.frames.device.type == "cuda"
    assert torch.allclose(gpu.frames.cpu(), cpu.frames, rtol=0, atol=1e-10)
    assert torch.allclose(gpu.hidden.cpu(), cpu.hidden, rtol=0, atol=1e-10)


def test_context_with_another_dtype_gets_a_clear_error():
    model = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)
    context = torch.rand(1, 2, 1, 6, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="context is torch.float64 on cpu but the model is torch.float32"):
        model.forecast(context, 1)
    assert model.forecast(context.to(next(model.parameters())), 1).frames.dtype == torch.float32


@pytest.mark.parametrize("decoding", ["aligned", "paper"])
@pytest.mark.parametrize("checkpointed", [False, True])
def test_on_step_sees_every_state_that_return_hidden_keeps(decoding, checkpointed) -> None:
    torch.manual_seed(0)
    model = fernn.build_model("fernn", hidden_channels=3, max_speed=1, decoder_layers=2, decoding=decoding)
    context = torch.rand(2, 4, 1, 8, 8)
    kept = model.forecast(context, 3, return_hidden=True).hidden
    seen: dict[int, torch.Tensor] = {}
    if checkpointed:
        model.train()
        model.checkpoint_steps = True
        with torch.enable_grad():
            frames = model.rollout(context, 3, on_step=lambda i, h: seen.__setitem__(i, h.detach().clone())).frames
    else:
        frames = model.forecast(context, 3, on_step=lambda i, h: seen.__setitem__(i, h.clone())).frames
    assert sorted(seen) == list(range(kept.shape[1]))
    for index, state in seen.items():
        torch.testing.assert_close(state, kept[:, index])
    torch.testing.assert_close(frames, model.eval().forecast(context, 3).frames)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_context_with_nan_or_inf_names_the_first_bad_frame(bad, make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1)
    context = make_context(batch=3, frames=5)
    context[1, 4, 0, 0, 0] = bad
    context[2, 0, 0, 5, 5] = bad
    context[1, 2, 0, 3, 1] = bad  # the earliest bad frame of the first bad sequence
    for run in (model.forecast, model.rollout):
        with pytest.raises(ValueError, match="context frame 2 of sequence 1 holds NaN or inf values"):
            run(context, 2)


@pytest.mark.parametrize("steps", [np.int64(3), np.int32(3), torch.tensor(3), torch.tensor(3, dtype=torch.int32)])
def test_numpy_and_tensor_step_counts_run_like_an_int(steps, make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1)
    context = make_context(batch=2, frames=4)
    expected = model.forecast(context, 3, return_hidden=True)
    actual = model.forecast(context, steps, return_hidden=True)
    assert actual.frames.shape[1] == 3 and actual.hidden.shape[1] == 4 + 3
    assert torch.equal(actual.frames, expected.frames)
    assert torch.equal(actual.hidden, expected.hidden)
    with torch.enable_grad():
        assert torch.equal(model.rollout(context, steps).frames.detach(), expected.frames)


def test_a_kind_is_named_once_and_stored_as_its_plain_string():
    from fernn.encoder import KINDS, Kind

    model = fernn.build_model("fernn", max_speed=1, hidden_channels=2, decoder_layers=1)
    classifier = fernn.build_classifier("grnn", hidden_channels=2, head_layers=0)
    assert model.config.kind is Kind.FERNN and classifier.config.kind is Kind.GRNN and KINDS == ("grnn", "fernn")
    assert model.config.kind == "fernn" and f"{model.config.kind}" == "fernn" and Kind.GRNN.label == "G-RNN"
    stored = model.config.to_dict()["kind"]
    assert type(stored) is str and stored == "fernn"
    for build in (fernn.build_model, fernn.build_classifier):
        with pytest.raises(ValueError, match="kind must be one of"):
            build("lstm")
        with pytest.raises(ValueError, match="a G-RNN has the single velocity"):
            build("grnn", max_speed=1)
        with pytest.raises(ValueError, match="either max_speed or velocities"):
            build("fernn", max_speed=1, velocities=[(0, 0)])
