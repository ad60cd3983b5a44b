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


def test_readout_notes_warn_about_a_velocity_outside_the_set(blob, integrator_fernn, tiny_grnn):
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    digits = [showcase.Digit(blob(), velocity=(2, -1))]
    trained = showcase.compare(models, digits, context_frames=3, predict_frames=1, velocities=showcase.AS_TRAINED)
    notes = showcase.readout_notes(trained)
    assert len(notes) == 2 and notes[0][0].startswith("**FERNN velocity read-out:**") and not notes[0][1]
    assert notes[1] == ("(2, -1) is outside this run's velocity set: no copy moves with it. Choose 'auto' or a wider "
                        "r under 3 · Models.", True)
    auto = showcase.compare(models, digits, context_frames=3, predict_frames=1)
    assert [warning for _, warning in showcase.readout_notes(auto)] == [False]  # the G-RNN has no read-out
    assert showcase.drift_summary(auto) == " · ".join(f"{r.name} **{r.hidden.drift:.2f}**" for r in auto.runs)
    assert "FERNN **0.00**" in showcase.drift_summary(auto)
