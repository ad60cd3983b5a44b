"""fernn.showcase.headline: the run in plain words."""

from __future__ import annotations

from fernn import showcase


def test_headline_states_speeds_and_errors(blob, integrator_fernn, tiny_grnn):
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    for model in models.values():
        model.metrics = {"train": {"config": {"data_max_speed": 1}}}
    result = showcase.compare(models, [showcase.Digit(blob(), velocity=(2, -1))], context_frames=3, predict_frames=2,
                              velocities=showcase.AS_TRAINED)
    text = showcase.headline(result)
    assert "**(2, -1) px/frame**, 2× the fastest training motion (1 px/frame)" in text
    assert "(2, -1) is outside the FERNN's velocity set" in text
    assert f"{result.run('FERNN').mean_mse:.1e}" in text and f"{result.run('G-RNN').mean_mse:.1e}" in text
