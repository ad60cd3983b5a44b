"""World models (fernn.world) on MNIST World (fernn.datasets.world): the data, a slow reference loop,
and the exact symmetries of the world FERNN, with the world G-RNN as the negative control.

What is exact, and why. The world FERNN's step is ``h_{t+1}[nu] = relu(W_rec * roll(h_t[nu], nu - a_t)
+ E(W_in * x_{t+1}))`` on the ``W x W`` torus map; rolls are permutations, and circular convolutions
and relu commute with them, so the relations below hold up to rounding (float64: at most 1e-12):

- Self-motion / object-flow duality. Two runs that see the *same views* while their actions differ by
  a constant ``u`` (``a'_t = a_t + u``; e.g. an observer moving at ``+u`` over a still world, and a
  still observer over the world moving at ``-u``) hold ``h'_t[nu] = h_t[nu - u]``: by induction,
  ``roll(h_t[nu - u], (nu - u) - a_t) = roll(h'_t[nu], nu - a'_t)`` and the drives are equal. No
  spatial move appears: the map is in the observer's frame, and the views agree. It holds for every
  copy whose partner ``nu - u`` is in ``V`` (the others are truncated). Predictions pool over ``V``,
  so they agree exactly only where ``V`` is closed under ``-u`` (every velocity of the torus).
- World translation. Moving the whole scenario on the torus (the world rolled by ``c``, the path
  moved by ``c``) changes no view and no action, so no state: exact for any model reading views and
  actions, and tested so on the data too.
- Memory. When nothing is written (zero views, no bias), the observer's motion only moves the map:
  ``h_t`` of an observer on any path equals ``h_t`` of one that stood still, rolled by minus its
  displacement; with an identity recurrent kernel the map in world coordinates does not change.

What cannot be exact: "two observers on different paths agree whenever their windows coincide".
Observers on different paths see different views on the way and write them into memory, so their
maps differ in content, not by a shift; only where the views agree (the duality) or nothing is
written (memory) is there an exact relation, and those are what is tested.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fernn
from fernn.datasets.digits import load_digits, unit_pixels
from fernn.datasets.world import (WorldSpec, chase, look_away_and_back, mnist_world, mnist_world_batch,
                                  piecewise_actions, world_sequence)
from fernn.datasets.digits import sequence_rng
from fernn.flows import TRANSLATION
from fernn.world import (WorldConfig, WorldFERNN, WorldGRNN, build_world_model, decode_window, duality_error,
                         memory_in_world)

V1, V2 = TRANSLATION.velocity_set(1), TRANSLATION.velocity_set(2)


def world_model(kind: str, *, dtype: torch.dtype = torch.float64, hidden: int = 3, **options):
    options.setdefault("decoder_layers", 2)
    velocities = (TRANSLATION.zero,) if kind == "grnn" else options.pop("velocities", V1)
    config = WorldConfig(kind=kind, velocities=velocities, hidden_channels=hidden, **options)
    return build_world_model(config).to(dtype).eval()


@pytest.fixture(scope="module")
def test_digits():
    return load_digits("test")[0]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


# -- the data ---------------------------------------------------------------------------------------
def test_world_samples_are_pure_functions_of_seed_and_index(test_digits) -> None:
    first, again = mnist_world(test_digits, 7, seed=3), mnist_world(test_digits, 7, seed=3)
    for name in ("views", "actions", "world", "corners"):
        assert torch.equal(getattr(first, name), getattr(again, name))
    assert not torch.equal(first.views, mnist_world(test_digits, 8, seed=3).views)
    assert not torch.equal(first.views, mnist_world(test_digits, 7, seed=4).views)
    batch = mnist_world_batch(test_digits, [7, 8], seed=3)
    assert torch.equal(batch.views[0], first.views)


def test_world_sample_shapes_views_and_actions(test_digits) -> None:
    spec = WorldSpec(num_frames=15)
    sample = mnist_world(test_digits, 0, spec=spec)
    size = spec.world_size
    assert sample.views.shape == (15, 1, 28, 28) and sample.views.dtype == torch.float32
    assert sample.actions.shape == (14, 2) and sample.actions.dtype == torch.int64
    assert sample.world.shape == (15, 1, size, size) and sample.corners.shape == (15, 2)
    assert sample.world.min() >= 0 and sample.world.max() <= 1 and sample.world.sum() > 0
    assert ((sample.corners >= 0) & (sample.corners < size)).all()
    # The window moves by +a_t: corners differ by the actions, on the torus.
    assert torch.equal((sample.corners[1:] - sample.corners[:-1] - sample.actions) % size,
                       torch.zeros_like(sample.actions))
    assert sample.actions.abs().max() <= spec.max_step
    for t in range(15):  # view t is the world rolled so the corner comes to the origin, cropped
        rolled = torch.roll(sample.world[t], shifts=tuple((-sample.corners[t]).tolist()), dims=(-2, -1))
        assert torch.equal(sample.views[t], rolled[:, :28, :28])


def test_training_actions_come_in_segments_of_3_to_8_frames() -> None:
    for index in range(20):
        actions, lengths = piecewise_actions(sequence_rng(0, index, stream=99), 40, max_step=2, min_segment=3,
                                             max_segment=8)
        assert actions.shape == (40, 2) and sum(lengths) == 40
        assert all(3 <= n <= 8 for n in lengths[:-1]) and 1 <= lengths[-1] <= 8
        start = 0
        for n in lengths:  # one move per segment, in {-2..2}^2
            assert (actions[start:start + n] == actions[start]).all() and abs(actions[start]).max() <= 2
            start += n


def test_look_away_and_back_hides_the_digit_and_brings_it_back(test_digits) -> None:
    image = unit_pixels(test_digits[0])
    protocol = look_away_and_back(image)
    views, actions = protocol.sample.views, protocol.sample.actions
    assert protocol.context_frames == 10 and protocol.predict_frames == 24
    assert views.shape == (34, 1, 28, 28) and protocol.scored == tuple(range(18, 24))
    assert (actions[:9] == 0).all() and (actions[9:21] == torch.tensor([0, 2])).all()
    assert (actions[21:] == torch.tensor([0, -2])).all()
    assert abs(float(views[0].sum()) - float(image.sum())) < 1e-3  # the whole digit in view
    assert float(views[21].sum()) == 0.0  # at the far point not a pixel of ink is in view
    assert torch.equal(views[-1], views[0])  # back in full, where it was


def test_chase_finds_the_digit_where_it_went(test_digits) -> None:
    protocol = chase(unit_pixels(test_digits[1]))
    views, actions = protocol.sample.views, protocol.sample.actions
    still = int((actions.abs().sum(dim=1) == 0).sum())  # the observer waits, then chases
    assert (actions[:still] == 0).all() and still >= protocol.context_frames
    assert float(views[still].sum()) == 0.0  # the digit has left the view when the chase starts
    caught = protocol.context_frames + protocol.scored[0]
    assert torch.equal(views[caught], views[0])  # caught up: the digit back where it was in view
    assert protocol.scored[-1] == protocol.predict_frames - 1


def test_world_sequence_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="sides at most 48"):
        world_sequence([torch.zeros(50, 50).numpy()], velocities=[(0, 0)], starts=[(0, 0)], corner=(0, 0),
                       actions=[(0, 1)])
    with pytest.raises(ValueError, match="one velocity and one start per image"):
        world_sequence([torch.zeros(28, 28).numpy()], velocities=[], starts=[(0, 0)], corner=(0, 0), actions=[])


# -- the models: shapes, checks, checkpoints ------------------------------------------------------
def test_both_models_have_about_the_same_weights() -> None:
    fernn_model = build_world_model(WorldConfig(kind="fernn"))
    grnn_model = build_world_model(WorldConfig(kind="grnn", velocities=((0, 0),)))
    counts = [sum(p.numel() for p in m.parameters()) for m in (fernn_model, grnn_model)]
    assert counts == [fernn_model.config.parameter_count(), grnn_model.config.parameter_count()] == [7233, 7521]
    assert fernn_model.world_size == grnn_model.world_size == 48
    assert fernn_model.flow.velocity_set(2) == V2


def test_forecast_shapes_memory_and_input_checks() -> None:
    views = torch.rand(2, 4, 1, 28, 28, dtype=torch.float64)
    actions = torch.randint(-2, 3, (2, 4 + 3 - 1, 2))
    fernn_model, grnn_model = world_model("fernn"), world_model("grnn")
    out = fernn_model.forecast(views, 3, actions=actions, return_memory=True)
    assert out.frames.shape == (2, 3, 1, 28, 28) and out.memory.shape == (2, 3, 1, 48, 48)
    assert "observer's frame" in out.memory_note
    # The memory's window is the prediction: decoding the window with its halo equals decoding it all.
    assert relative(out.memory[..., :28, :28], out.frames) <= 1e-12
    assert fernn_model.forecast(views, 3, actions=actions, velocities=V2).frames.shape == (2, 3, 1, 28, 28)
    plain = grnn_model.forecast(views, 3, actions=actions, return_memory=True)
    assert plain.frames.shape == (2, 3, 1, 28, 28) and plain.memory is None
    assert "nothing of the world beyond its view" in plain.memory_note and not grnn_model.holds_world
    with pytest.raises(ValueError, match="no velocity copies"):
        grnn_model.forecast(views, 3, actions=actions, velocities=V1)
    with pytest.raises(ValueError, match="must be integers"):
        fernn_model.forecast(views, 3, actions=actions.double())
    with pytest.raises(ValueError, match=r"\(B, T \+ steps - 1, 2\) = \(2, 6, 2\)"):
        fernn_model.forecast(views, 3, actions=actions[:, :5])
    with pytest.raises(ValueError, match="28x28"):
        fernn_model.forecast(views[..., :20, :20], 3, actions=actions)
    with pytest.raises(ValueError, match="steps must be"):
        fernn_model.forecast(views, -1, actions=actions)
    with pytest.raises(ValueError, match="kind 'grnn'"):
        WorldGRNN(fernn_model.config)


@pytest.mark.parametrize("kind", ["fernn", "grnn"])
def test_recomputing_steps_in_the_backward_pass_gives_the_same_gradients(kind) -> None:
    model = world_model(kind, world_size=32).train()
    views, actions = torch.rand(2, 3, 1, 28, 28, dtype=torch.float64), torch.randint(-2, 3, (2, 4, 2))
    gradients = []
    for recompute in (False, True):
        model.checkpoint_steps = recompute
        model.zero_grad()
        (model(views, 2, actions=actions) ** 2).mean().backward()
        gradients.append([p.grad.clone() for p in model.parameters()])
    assert all(g.abs().max() > 0 for g in gradients[0])
    assert all(relative(b, a) <= 1e-12 for a, b in zip(*gradients))


@pytest.mark.parametrize("kind", ["fernn", "grnn"])
def test_world_checkpoints_load_by_their_recorded_kind(kind, tmp_path) -> None:
    model = world_model(kind, dtype=torch.float32, world_size=40)
    path = fernn.save_checkpoint(tmp_path / "world.pt", model, {"note": "test"})
    assert torch.load(path, weights_only=True)["model"] == f"world-{kind}"
    loaded = fernn.load_checkpoint(path)
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.world_size == 40
    views, actions = torch.rand(1, 3, 1, 28, 28), torch.randint(-2, 3, (1, 4, 2))
    assert torch.equal(loaded.forecast(views, 2, actions=actions).frames, model.forecast(views, 2, actions=actions).frames)


# -- a slow reference ------------------------------------------------------------------------------
def reference_fernn(model: WorldFERNN, views, actions, steps: int, velocities):
    """The world FERNN written out copy by copy and sequence by sequence with torch.roll: states
    ``(B, T + steps, V, C, W, W)`` and predictions ``(B, steps, 1, S, S)``."""
    w_in, w_rec = model.cell.input_conv.weight, model.cell.recurrent_conv.weight
    size, view = model.world_size, model.view_size

    def canvas(x):  # (1, S, S) -> (C, W, W): the view's zero-padded drive at the window
        out = torch.zeros(w_in.shape[0], size, size, dtype=x.dtype)
        out[:, :view, :view] = F.conv2d(x[None], w_in, padding=1)[0]
        return out

    def recurrent(h, move):
        return [F.conv2d(F.pad(torch.roll(h[n], (nu[0] - move[0], nu[1] - move[1]), (-2, -1))[None], (1,) * 4,
                               mode="circular"), w_rec)[0] for n, nu in enumerate(velocities)]

    all_states, all_frames = [], []
    for b in range(views.shape[0]):
        h = [torch.relu(canvas(views[b, 0]))] * len(velocities)
        states, frames = [torch.stack(h)], []
        for t in range(1, views.shape[1]):
            h = [torch.relu(r + canvas(views[b, t])) for r in recurrent(h, actions[b, t - 1].tolist())]
            states.append(torch.stack(h))
        for k in range(steps):
            r = recurrent(h, actions[b, views.shape[1] - 1 + k].tolist())
            pooled = torch.stack([torch.relu(x) for x in r]).amax(dim=0)
            frames.append(model.decoder(pooled[None])[0, :, :view, :view])
            h = [torch.relu(x + canvas(frames[-1])) for x in r]
            states.append(torch.stack(h))
        all_states.append(torch.stack(states))
        all_frames.append(torch.stack(frames))
    return torch.stack(all_states), torch.stack(all_frames)


@torch.no_grad()
def test_world_fernn_equals_a_copy_by_copy_reference(dtype, exact_tolerance) -> None:
    model = world_model("fernn", dtype=dtype, world_size=12, view_size=7)
    views = torch.rand(2, 4, 1, 7, 7, dtype=dtype)
    actions = torch.randint(-3, 4, (2, 4 + 3 - 1, 2))
    out = model.forecast(views, 3, actions=actions, return_hidden=True)
    states, frames = reference_fernn(model, views, actions, 3, V1)
    assert (states == 0).any() and states.abs().max() > 0, "the relu should be active and inactive somewhere"
    assert relative(out.hidden, states) <= exact_tolerance
    assert relative(out.frames, frames) <= exact_tolerance


@torch.no_grad()
def test_decoding_the_window_with_its_halo_equals_decoding_the_whole_map() -> None:
    model = world_model("fernn", decoder_layers=3, world_size=20, view_size=9)
    maps = torch.randn(2, 3, 20, 20, dtype=torch.float64)
    whole = model.decoder(maps)[..., :9, :9]
    assert relative(decode_window(model.decoder, maps, 9), whole) <= 1e-12


# -- the symmetries -----------------------------------------------------------------------------------
def dual_scenarios(test_digits, u, *, frames: int = 8):
    """Two world sequences with identical views whose actions differ by ``u``: the objects move at ``v``
    and ``v + u``, the observer by ``a_t`` and ``a_t + u``."""
    images = [unit_pixels(test_digits[i]) for i in (2, 3)]
    velocities, starts = [(1, 0), (-1, 1)], [(3, 5), (20, 30)]
    actions, _ = piecewise_actions(sequence_rng(1, 0, stream=99), frames - 1, max_step=2, min_segment=3,
                                   max_segment=8)
    first = world_sequence(images, velocities=velocities, starts=starts, corner=(10, 40), actions=actions.tolist())
    second = world_sequence(images, velocities=[TRANSLATION.combine(v, u) for v in velocities], starts=starts,
                            corner=(10, 40), actions=(actions + torch.tensor(u).numpy()).tolist())
    assert torch.equal(first.views, second.views), "the dual scenarios must show identical views"
    assert torch.equal(second.actions - first.actions, torch.tensor(u).expand_as(first.actions))
    return first, second


@pytest.mark.parametrize("u", [(1, 0), (0, -1), (1, 1), (-2, 1)])
def test_self_motion_and_object_flow_are_dual(test_digits, u, dtype, exact_tolerance) -> None:
    """``h'_t[nu] = h_t[nu - u]`` for every copy whose partner is in V, over the whole sequence
    (measured by the library's :func:`fernn.world.duality_error`, which the evaluation reports)."""
    first, second = dual_scenarios(test_digits, u)
    model = world_model("fernn", dtype=dtype, velocities=V2)
    report = duality_error(model, first.views[None].to(dtype), first.actions[None], u)
    assert report.compared == (5 - abs(u[0])) * (5 - abs(u[1])) and report.shift == u
    assert report.error <= exact_tolerance
    # The second scenario's actions are the shifted ones: the relation is about these two worlds.
    states = [model.forecast(first.views[None].to(dtype), 0, actions=s.actions[None], return_hidden=True).hidden
              for s in (first, second)]
    for index, nu in enumerate(V2):
        partner = TRANSLATION.partner(nu, u, V2, (48, 48))
        if partner is None:  # truncated: the relation says nothing, and indeed they differ
            assert relative(states[1][:, :, index], states[0][:, :, index]) > 1e-3
        else:
            assert relative(states[1][:, :, index], states[0][:, :, partner]) <= exact_tolerance


def test_duality_holds_for_predictions_when_the_velocity_set_is_the_whole_torus() -> None:
    """With every velocity of an 8x8 torus in V, copy nu - u always exists: the pool sees the same copies
    in another order, so predictions, fed back, agree too, at every step."""
    size, view = 8, 5
    everything = tuple((dy, dx) for dy in range(size) for dx in range(size))
    model = world_model("fernn", world_size=size, view_size=view, velocities=everything, hidden=2)
    views = torch.rand(2, 4, 1, view, view, dtype=torch.float64)
    actions = torch.randint(-2, 3, (2, 4 + 5 - 1, 2))
    u = (3, -2)
    runs = [model.forecast(views, 5, actions=a, return_hidden=True) for a in (actions, actions + torch.tensor(u))]
    assert relative(runs[1].frames, runs[0].frames) <= 1e-12 and runs[0].frames.abs().max() > 0
    for index, nu in enumerate(everything):
        partner = TRANSLATION.partner(nu, u, everything, (size, size))
        assert relative(runs[1].hidden[:, :, index], runs[0].hidden[:, :, partner]) <= 1e-12


@pytest.mark.parametrize("u", [(1, 0), (1, 1)])
def test_world_grnn_fails_the_duality(test_digits, u) -> None:
    """The negative control: the G-RNN sees the same views and actions that differ by u; it has no copy
    to hand the difference to, so its states and predictions change by O(1)."""
    first, second = dual_scenarios(test_digits, u, frames=12)
    model = world_model("grnn")
    views = first.views[None, :8].double()
    runs = [model.forecast(views, 4, actions=s.actions[None], return_hidden=True) for s in (first, second)]
    report = duality_error(model, views, first.actions[None, :7], u)
    assert report.compared == 1 and report.error >= 1e-2
    assert report.error == relative(runs[1].hidden[:, :8], runs[0].hidden[:, :8])
    assert relative(runs[1].frames, runs[0].frames) >= 1e-2


@pytest.mark.parametrize("kind", ["fernn", "grnn"])
def test_moving_the_whole_scenario_on_the_torus_changes_nothing(test_digits, kind) -> None:
    images = [unit_pixels(test_digits[i]) for i in (4, 5)]
    shift = (17, -9)
    actions = [(0, 2)] * 3 + [(-1, 1)] * 4
    scenes = [world_sequence(images, velocities=[(1, -1), (0, 1)],
                             starts=[TRANSLATION.combine(s, shift, times=k) for s in ((0, 0), (25, 10))],
                             corner=TRANSLATION.combine((30, 5), shift, times=k), actions=actions) for k in (0, 1)]
    assert torch.equal(scenes[1].world, torch.roll(scenes[0].world, shift, dims=(-2, -1)))
    assert torch.equal(scenes[1].views, scenes[0].views) and torch.equal(scenes[1].actions, scenes[0].actions)
    model = world_model(kind)
    states = [model.forecast(s.views[None].double(), 0, actions=s.actions[None], return_hidden=True).hidden
              for s in scenes]
    assert states[0].abs().max() > 0 and torch.equal(states[1], states[0])


def test_with_nothing_written_the_observers_motion_only_moves_the_map(test_digits) -> None:
    """Look away and back with zero views after the context (nothing written): at every step the state
    equals that of an observer who stood still, rolled by minus the displacement; back home, equal."""
    protocol = look_away_and_back(unit_pixels(test_digits[6]))
    context = protocol.context_frames
    views = protocol.sample.views[None].double().clone()
    views[:, context:] = 0
    moving = protocol.sample.actions[None]
    still = moving.clone()
    still[:, context - 1:] = 0
    model = world_model("fernn")
    states = [model.forecast(views, 0, actions=a, return_hidden=True).hidden for a in (moving, still)]
    displacement = torch.cumsum(moving[0, context - 1:], dim=0)  # p_t - p_{T-1} for t = T..end
    assert displacement[11].tolist() == [0, 24] and displacement[-1].tolist() == [0, 0]
    scale = states[1].abs().max()
    assert scale > 0
    for k, (dy, dx) in enumerate(displacement.tolist()):
        expected = torch.roll(states[1][:, context + k], (-dy, -dx), dims=(-2, -1))
        assert float((states[0][:, context + k] - expected).abs().max() / scale) <= 1e-12


def test_with_an_identity_recurrent_kernel_the_map_stays_put_in_the_world(test_digits) -> None:
    """The memory half of the claim with the recurrence out of the way: copy 0 in world coordinates
    (memory_in_world) is the same map at every step of the excursion, exactly."""
    protocol = look_away_and_back(unit_pixels(test_digits[6]))
    context = protocol.context_frames
    views = protocol.sample.views[None].double().clone()
    views[:, context:] = 0
    model = world_model("fernn")
    with torch.no_grad():
        weight = model.cell.recurrent_conv.weight
        weight.zero_()
        weight[:, :, 1, 1] = torch.eye(weight.shape[0])
    hidden = model.forecast(views, 0, actions=protocol.sample.actions[None], velocities=[(0, 0)],
                            return_hidden=True).hidden  # (1, T, 1, C, W, W)
    maps = hidden[:, context - 1:, 0]  # (1, S, C, W, W) from the last context frame on
    corners = protocol.sample.corners[None, context - 1:]
    in_world = memory_in_world(maps, corners)
    assert in_world[0, 0].abs().max() > 0
    assert all(torch.equal(in_world[0, k], in_world[0, 0]) for k in range(in_world.shape[1]))
    assert torch.equal(hidden[0, -1], hidden[0, context - 1])  # home again: the same state
