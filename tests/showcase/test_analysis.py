"""fernn.showcase.analysis: frame indices of hidden steps, motion stabilisation, read-out, drift."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fernn import showcase
from fernn.showcase.analysis import drift_copies, most_active_copy


def test_motion_stabilisation_undoes_a_known_flow_exactly():
    generator = torch.Generator().manual_seed(0)
    base = torch.rand(3, 28, 28, generator=generator)  # (C, H, W)
    velocity = (3, -2)
    frame_indices = [0, 1, 2, 3, 4, 4]  # paper decoding repeats a frame index
    moved = torch.stack([torch.roll(base, (f * 3, f * -2), dims=(-2, -1)) for f in frame_indices])  # (N, C, H, W)
    still = showcase.motion_stabilise(moved, velocity, frame_indices)
    for index in range(len(frame_indices)):
        torch.testing.assert_close(still[index], base, rtol=0, atol=0)


def test_hidden_frame_indices_per_decoding():
    np.testing.assert_array_equal(showcase.hidden_frame_indices("aligned", 3, 2), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(showcase.hidden_frame_indices("paper", 3, 2), [0, 1, 2, 2, 3])


def test_most_active_copy_has_no_winner_on_a_tie():
    velocities = ((0, 0), (1, -1), (2, 2))
    activity = np.array([[1.0, 1.0, 1.0], [0.1, 0.9, 0.5], [0.0, 0.2, 0.3]])  # (steps, V)
    best = most_active_copy(activity)
    assert best[0] == -1
    assert [velocities[i] for i in best[1:]] == [(1, -1), (2, 2)]
    ranking = showcase.velocity_readout(activity, velocities, slice(1, 3))
    assert ranking == ((1, -1), (2, 2), (0, 0))


def test_drift_pairs_the_co_moving_copy_with_the_still_one():
    velocities = ((1, 0), (0, 0), (0, 1))
    assert drift_copies(velocities, (0, 1)) == (2, 1)
    assert drift_copies(velocities, (3, 3)) == (1, 1)  # no copy moves with it: the still copies
    assert drift_copies(((1, 0), (0, 1)), (0, 1)) == (0, 0)  # no still copy: the first ones
    maps = torch.rand(4, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    assert showcase.stabilised_drift(maps, maps, slice(1, 4)) == 0.0
    assert showcase.stabilised_drift(2 * maps, maps, slice(1, 4)) == pytest.approx(1.0)


def test_the_apps_drift_and_the_librarys_equivariance_error_measure_one_relation():
    """Two measures, named apart: ``showcase.stabilised_drift`` (the app's "state drift": mean relative
    L2 over the context of the co-moving copy, stabilised, against the still copy of the scene seen from
    the moving frame) and ``fernn.flow_equivariance_error`` (the library's check: max relative error of
    every copy against its partner). Both vanish for a FERNN whose set holds the digit's velocity and are
    O(1) for a G-RNN, on the same digit and velocity."""
    import fernn
    from fernn import showcase

    torch.manual_seed(0)
    image = np.zeros((28, 28), dtype=np.float32)
    image[6:22, 11:17] = 1.0
    velocity = (1, -1)
    models = {"G-RNN": fernn.build_model("grnn", hidden_channels=3, decoder_layers=1),
              "FERNN": fernn.build_model("fernn", max_speed=1, hidden_channels=3, decoder_layers=1)}
    result = showcase.compare(models, [showcase.Digit(image, velocity, (0, 0), "bar")], context_frames=5,
                              predict_frames=1, velocities=showcase.AS_TRAINED)
    drift = {run.name: run.hidden.drift for run in result.runs}
    frames = torch.from_numpy(result.truth[None, :5, None]).double()  # the context it read (1, T, 1, H, W)
    errors = {name: fernn.flow_equivariance_error(model.double(), velocity, context=frames)
              for name, model in models.items()}
    assert drift["FERNN"] < 1e-5 and errors["FERNN"].exact_error < 1e-12 and errors["FERNN"].pairs_compared > 0
    assert drift["G-RNN"] > 0.1 and errors["G-RNN"].truncated_error > 0.1 and errors["G-RNN"].pairs_compared == 0
