"""fernn.showcase.study: the page's settings over many held-out sequences, and live velocity grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fernn
import tiny
from fernn.datasets.digits import load_digits
from fernn.datasets.sequences import fixed_velocity_sequences
from fernn.measures import mean_interval, velocity_grid_mse
from fernn.flows import TRANSLATION, Rotation

from fernn.datasets.sequences import moving_digits_batch
from fernn.showcase import AS_TRAINED, AUTO, DemoError
from fernn.showcase import study


def small_models() -> dict[str, fernn.Forecaster]:
    torch.manual_seed(0)
    return tiny.pair()


def test_held_out_study_is_the_per_sequence_mean_with_its_interval():
    models = small_models()
    fractions = []
    found = study.held_out_study(models, sequences=5, context_frames=3, predict_frames=2, velocities=AS_TRAINED,
                                 digit_velocities=[(1, 0)], num_digits=1, velocity=(1, 0), seed=7,
                                 progress=lambda fraction, text: fractions.append(fraction))
    # The same sequences drawn directly, each model run alone over all five at once.
    sequences = moving_digits_batch(TRANSLATION, load_digits("test")[0], range(5), seed=7, num_frames=5,
                                    num_digits=1, velocity=(1, 0))
    for score, (name, model) in zip(found.scores, models.items()):
        with torch.no_grad():
            frames = model.forecast(sequences[:, :3], 2).frames.double()
        per_sequence = ((frames - sequences[:, 3:].double()) ** 2).mean(dim=(1, 2, 3, 4)).numpy()  # (N,)
        expected = mean_interval(per_sequence)
        assert score.name == name and score.copies == len(model.velocities)
        assert score.mean_mse == pytest.approx(expected["mean"], rel=1e-6)
        assert (score.low, score.high) == (pytest.approx(expected["low"], rel=1e-5),
                                           pytest.approx(expected["high"], rel=1e-5))
        assert score.low < score.mean_mse < score.high
    last = sequences[:, 2:3].double()
    assert found.baseline_mse == pytest.approx(float(((sequences[:, 3:].double() - last) ** 2).mean()), rel=1e-6)
    assert found.motion == "every digit at (1, 0) px/frame" and found.sequences == 5
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_the_batch_size_memory_allows_does_not_change_the_numbers():
    models = small_models()
    options = dict(sequences=6, context_frames=3, predict_frames=2, velocities=AUTO, digit_velocities=[(2, 1)],
                   num_digits=2, max_speed=2, seed=3)
    roomy = study.held_out_study(models, **options)
    tight = study.held_out_study(models, **options, memory_limit=2**21)  # one sequence per pass
    assert [s.mean_mse for s in tight.scores] == pytest.approx([s.mean_mse for s in roomy.scores], rel=1e-6)
    assert roomy.scores[1].copies == 25  # auto: {-2..2}^2 covers the digit at (2, 1)
    assert roomy.motion == "each digit at its own velocity in {-2..2}^2"


@pytest.mark.parametrize(("options", "message"), [
    (dict(sequences=0), "sequences must be a whole number from 1 to 200"),
    (dict(sequences=201), "sequences must be a whole number from 1 to 200"),
    (dict(sequences=True), "sequences must be a whole number"),
    (dict(num_digits=9), "num_digits must be a whole number from 1 to 4"),
    (dict(work_limit=1000), "needs .* the work one evaluation may do here"),
    (dict(context_frames=0), "context_frames must be an integer >= 1"),
    (dict(digit_velocities=[5]), "the digits' motion does not fit the models' flow"),
    (dict(velocity="fast"), "the digits' motion does not fit the models' flow"),
])
def test_a_study_out_of_bounds_is_refused_before_any_work(options, monkeypatch, message):
    monkeypatch.setattr(study, "load_digits", lambda *a, **k: pytest.fail("no sequence may be drawn"))
    settings = dict(sequences=10, context_frames=3, predict_frames=2, velocities=AUTO, digit_velocities=[(0, 1)],
                    num_digits=1) | options
    with pytest.raises(DemoError, match=message):
        study.held_out_study(small_models(), **settings)


def test_a_rotation_model_is_studied_on_rotating_digits():
    flow = Rotation(order=4)
    torch.manual_seed(0)
    models = {"FERNN": fernn.build_model("fernn", hidden_channels=4, decoder_layers=1, flow=flow, max_speed=1).eval()}
    found = study.held_out_study(models, sequences=2, context_frames=2, predict_frames=1, velocities=AUTO,
                                 digit_velocities=[1], num_digits=1, velocity=1)
    assert found.motion == "every digit at +90°/frame" and np.isfinite(found.scores[0].mean_mse)
    grids = study.live_grids(models, radius=1, sequences=1, context_frames=2, predict_frames=1, velocities=AUTO,
                             num_digits=1)
    assert grids.grids["FERNN"][0].axes.velocities == ((-1, 0, 1),)


def test_live_grids_are_the_evaluations_grid_with_the_planned_set():
    models = small_models()
    found = study.live_grids(models, radius=2, sequences=2, context_frames=3, predict_frames=2, velocities=AUTO,
                             num_digits=1, seed=5)
    assert set(found.grids) == {"G-RNN", "FERNN"} and found.radius == 2
    grid, radius = found.grids["FERNN"]
    assert radius == 2  # auto covers the grid's fastest cell
    cells = fixed_velocity_sequences(TRANSLATION, load_digits("test")[0], count=2, seed=5, num_frames=5, num_digits=1)
    expected = velocity_grid_mse(models["FERNN"], cells, max_speed=2, context_frames=3,
                                 velocities=TRANSLATION.velocity_set(2))
    assert np.allclose(grid.mse, expected["mse"], rtol=1e-6)
    assert found.grids["G-RNN"][1] is None
    assert study.live_grids(models, radius=1, sequences=1, context_frames=3, predict_frames=2,
                            velocities=AS_TRAINED, num_digits=1).grids["FERNN"][1] == 1
    with pytest.raises(DemoError, match="radius must be a whole number from 0 to 4"):
        study.live_grids(models, radius=5, sequences=1, context_frames=3, predict_frames=2, velocities=AUTO)
    with pytest.raises(DemoError, match="the work one evaluation may do"):
        study.live_grids(models, radius=4, sequences=16, context_frames=3, predict_frames=2, velocities=AUTO,
                         work_limit=10_000)
