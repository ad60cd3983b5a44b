"""The headline and captions read right: plurals, verbs, lost predictions, the empty set."""

from __future__ import annotations

import numpy as np

import fernn
import tiny
from fernn import showcase
from fernn.showcase.headline import headline, readout_notes


def _comparison(digits, velocities=None, predict_frames=3):
    torch = __import__("torch")
    torch.manual_seed(0)
    models = tiny.pair()
    return showcase.compare(models, digits, context_frames=3, predict_frames=predict_frames,
                            velocities=velocities or showcase.AS_TRAINED)


def test_two_digits_outside_the_set_read_as_a_plural(blob):
    digits = [showcase.Digit(blob(1), velocity=(4, -4), start=(0, 0)), showcase.Digit(blob(2), velocity=(-4, 4),
                                                                                      start=(9, 9))]
    comparison = _comparison(digits)
    text = headline(comparison)
    assert "(4, -4) and (-4, 4) are outside the FERNN's velocity set" in text
    assert "moves with them" in text and " is outside" not in text
    warnings = [note for note, warning in readout_notes(comparison) if warning]
    assert warnings and warnings[0].startswith("(4, -4) and (-4, 4) are outside")


def test_one_digit_outside_the_set_reads_in_the_singular(blob):
    comparison = _comparison([showcase.Digit(blob(1), velocity=(3, 0), start=(0, 0))])
    assert "(3, 0) is outside the FERNN's velocity set: no hidden copy moves with it" in headline(comparison)


def test_a_blank_prediction_is_lost_not_smeared(blob):
    import dataclasses

    from fernn.showcase.headline import worse_is_blank

    comparison = _comparison([showcase.Digit(blob(1), velocity=(1, 0), start=(0, 0))])
    worse = max(comparison.runs, key=lambda run: run.mean_mse)
    better = min(comparison.runs, key=lambda run: run.mean_mse)
    # The worse run far off and dark, the better one close: the headline says the dark one lost the digit.
    dark = dataclasses.replace(worse, prediction=np.zeros_like(worse.prediction), mse=np.full_like(worse.mse, 10.0))
    close = dataclasses.replace(better, mse=np.full_like(better.mse, 1e-6))
    text = headline(dataclasses.replace(comparison, runs=(close, dark)))
    assert f"**{dark.name}** loses it" in text and "smears" not in text
    bright = dataclasses.replace(dark, prediction=np.ones_like(worse.prediction))
    assert worse_is_blank(dark, comparison) and not worse_is_blank(bright, comparison)
    assert f"**{dark.name}** smears it" in headline(dataclasses.replace(comparison, runs=(close, bright)))


def test_the_empty_velocity_set_is_described_as_one_copy():
    assert showcase.describe_velocity_choice(0).startswith("V = {(0, 0)}: 1 copy,")
    assert showcase.describe_velocity_choice(2) == "V = {-2..2}^2: 25 copies."


def test_velocity_sets_are_described_in_the_flows_terms():
    twelve = fernn.flows.Rotation(order=12)
    assert showcase.describe_velocity_choice(2, twelve) == "V = {-2..2} × 30°: 5 copies."
    assert showcase.describe_velocity_choice(0, twelve).startswith("V = {0°}: 1 copy,")
    assert "{-r..r}^2" not in showcase.describe_velocity_choice(showcase.AUTO, twelve)


def test_a_fernn_run_with_the_still_set_alone_warns_that_the_digit_is_outside_it(blob, integrator_fernn):
    result = showcase.compare({"FERNN": integrator_fernn(max_speed=1)},
                              [showcase.Digit(blob(), velocity=(1, 0))], context_frames=3, predict_frames=1,
                              velocities=0)
    assert result.runs[0].velocities == ((0, 0),)
    assert [warning for _, warning in readout_notes(result)] == [True]
    assert "(1, 0) is outside this run's velocity set" in readout_notes(result)[0][0]
