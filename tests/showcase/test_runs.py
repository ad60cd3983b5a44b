"""fernn.showcase.runs: the side-by-side comparison, its hidden-state views, read-out and drift."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fernn
from fernn import showcase


@pytest.mark.parametrize("velocity", [(1, -2), (0, 2), (-1, 1), (2, 2)])
def test_velocity_readout_of_a_structured_fernn_picks_the_true_velocity(velocity, blob, integrator_fernn):
    model = integrator_fernn()
    digits = [showcase.Digit(blob(1), velocity=velocity, start=(0, 0))]
    result = showcase.compare({"FERNN": model}, digits, context_frames=8, predict_frames=2)
    run = result.runs[0]
    assert run.velocity_readout == velocity
    # After the first frame (all copies still equal) the most active copy is the true one at every context step.
    for step in range(1, 8):
        assert run.velocities[run.readout[step]] == velocity
    assert run.readout[0] == -1


def test_matching_copy_is_static_after_stabilisation(blob, integrator_fernn):
    """The copy moving with the input holds the digit itself (scaled): stabilised, it stands still."""
    model = integrator_fernn()
    image = blob(2)
    result = showcase.compare({"FERNN": model}, [showcase.Digit(image, velocity=(1, 2), start=(3, -5))],
                              context_frames=6, predict_frames=1)
    copy = result.runs[0].hidden.copy_stabilised[:6, 0].astype(np.float32)  # (T, H, W), stored as float16
    expected = np.roll(image, (3, -5), axis=(0, 1))
    for step in range(6):
        np.testing.assert_allclose(copy[step] / copy[step].max(), expected / expected.max(), atol=2e-3)
    assert result.runs[0].hidden.copy_velocity == (1, 2)


def test_single_copy_model_has_no_velocity_readout(blob, tiny_grnn):
    result = showcase.compare({"G-RNN": tiny_grnn()}, [showcase.Digit(blob(), velocity=(1, 1))], context_frames=3,
                              predict_frames=2)
    assert result.runs[0].velocity_readout is None
    assert result.runs[0].activity.shape == (5, 1)


def test_compare_shapes_metrics_and_baseline(blob, integrator_fernn, tiny_grnn):
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    digits = [showcase.Digit(blob(), velocity=(0, 1)), showcase.Digit(blob(3), velocity=(1, -1), start=(5, 5))]
    result = showcase.compare(models, digits, context_frames=4, predict_frames=3)
    assert [run.name for run in result.runs] == ["G-RNN", "FERNN"]
    assert result.truth.shape == (7, 28, 28)
    truth = result.truth
    expected_baseline = ((truth[4:] - truth[3]) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(result.baseline_mse, expected_baseline, rtol=1e-6)
    for run in result.runs:
        assert run.prediction.shape == (3, 28, 28)
        np.testing.assert_allclose(run.mse, ((run.prediction - truth[4:]) ** 2).mean(axis=(1, 2)), rtol=1e-5)
        expected_shape = (7, run.hidden_channels, 28, 28)
        views = run.hidden
        assert views.pooled.shape == views.pooled_stabilised.shape == views.copy.shape == expected_shape
        assert views.pooled.dtype == np.float16  # a cached comparison holds half-size maps
        assert run.activity.shape == (7, len(run.velocities))
        assert run.seconds >= 0 and run.device == "cpu"
        assert not run.evaluated
    assert result.stabilise_velocity == (0, 1)


def test_bad_settings_raise_demo_errors(blob, tiny_grnn):
    model = {"G-RNN": tiny_grnn()}
    with pytest.raises(showcase.DemoError, match="context_frames"):
        showcase.compare(model, [showcase.Digit(blob())], context_frames=0)
    with pytest.raises(showcase.DemoError, match="at most"):
        showcase.compare(model, [showcase.Digit(blob())], predict_frames=showcase.MAX_FRAMES)
    with pytest.raises(showcase.DemoError, match="at least one digit"):
        showcase.compare(model, [])
    with pytest.raises(showcase.DemoError, match="at least one model"):
        showcase.compare({}, [showcase.Digit(blob())])


def test_state_drift_separates_an_equivariant_state_from_a_smeared_one(blob, integrator_fernn, tiny_grnn):
    """A FERNN holding the input's velocity has a stabilised state equal to the still scene's: drift ~0."""
    digits = [showcase.Digit(blob(2), velocity=(1, 2), start=(3, -5))]
    fernn_run = showcase.compare({"FERNN": integrator_fernn(max_speed=2)}, digits, context_frames=6,
                                 predict_frames=1).runs[0]
    assert fernn_run.hidden.drift < 1e-5
    grnn_run = showcase.compare({"G-RNN": tiny_grnn()}, digits, context_frames=6, predict_frames=1).runs[0]
    assert grnn_run.hidden.drift > 0.1
    still = showcase.compare({"G-RNN": tiny_grnn()}, [showcase.Digit(blob(2))], context_frames=6,
                             predict_frames=1).runs[0]
    assert still.hidden.drift == pytest.approx(0.0, abs=1e-6)


def test_progress_reaches_one_and_names_the_model(blob, integrator_fernn, tiny_grnn):
    seen = []
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    showcase.compare(models, [showcase.Digit(blob())], context_frames=3, predict_frames=2,
                     progress=lambda fraction, text: seen.append((fraction, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(seen) == 10 and "FERNN: step 5/5 with 9 velocity copies" in seen[-1][1]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compare_on_cuda_matches_cpu(blob, integrator_fernn):
    cpu = integrator_fernn()
    gpu = integrator_fernn().to("cuda")
    digits = [showcase.Digit(blob(), velocity=(2, -1))]
    expected = showcase.compare({"FERNN": cpu}, digits, context_frames=5, predict_frames=3)
    result = showcase.compare({"FERNN": gpu}, digits, context_frames=5, predict_frames=3)
    assert result.runs[0].device.startswith("cuda")
    np.testing.assert_allclose(result.runs[0].prediction, expected.runs[0].prediction, atol=1e-5)
    # The hidden views are stored as float16: allow one float16 step of rounding apart.
    np.testing.assert_allclose(result.runs[0].hidden.pooled_stabilised.astype(np.float32),
                               expected.runs[0].hidden.pooled_stabilised.astype(np.float32), rtol=2e-3, atol=1e-5)
    assert result.runs[0].ranking == expected.runs[0].ranking


def test_rotation_models_compare_on_turning_digits(blob):
    """The same comparison for a rotation pair: the FERNN's copy turning with the digit drifts
    (almost) not at all at a quarter turn per frame (exact there), the G-RNN's state does."""
    twelve = fernn.flows.Rotation(order=12)
    torch.manual_seed(0)
    models = {"G-RNN": fernn.build_model("grnn", hidden_channels=12, decoder_layers=1, flow=twelve).eval(),
              "FERNN": fernn.build_model("fernn", hidden_channels=12, decoder_layers=1, max_speed=1,
                                         flow=twelve).eval()}
    digits = (showcase.Digit(blob(), velocity=3, flow=twelve),)
    result = showcase.compare(models, digits, context_frames=4, predict_frames=3)
    assert result.flow == twelve and result.digit_velocities == (3,)
    grnn, fernn_run = result.runs
    assert fernn_run.velocities == twelve.velocity_set(3)  # auto widened the set to hold the digit
    assert fernn_run.hidden.drift < 1e-5 < 0.05 < grnn.hidden.drift
    assert fernn_run.prediction.shape == (3, 28, 28) and np.isfinite(fernn_run.mse).all()
    with pytest.raises(showcase.DemoError, match="digits move by translation"):
        showcase.compare(models, (showcase.Digit(blob(), velocity=(1, 0)),), context_frames=2, predict_frames=1)
