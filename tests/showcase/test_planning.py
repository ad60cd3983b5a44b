"""fernn.showcase.planning: velocity sets at inference and the memory plan a run must fit."""

from __future__ import annotations

import pytest

import fernn

from fernn import showcase
from fernn.flows import velocity_set


def test_velocity_set_override_applies_to_fernns_only(blob, integrator_fernn, tiny_grnn):
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    digits = [showcase.Digit(blob(), velocity=(3, 0))]
    result = showcase.compare(models, digits, context_frames=3, predict_frames=1, velocities=4)
    assert result.run("G-RNN").velocities == ((0, 0),)
    auto = showcase.compare(models, digits, context_frames=3, predict_frames=1)  # default: "auto"
    assert auto.run("FERNN").velocities == velocity_set(3) and auto.run("G-RNN").velocities == ((0, 0),)
    trained = showcase.compare(models, digits, context_frames=3, predict_frames=1, velocities=showcase.AS_TRAINED)
    assert trained.run("FERNN").velocities == velocity_set(1)
    with pytest.raises(showcase.DemoError, match="velocity set"):
        showcase.compare(models, digits, velocities="wide")
    assert result.run("FERNN").velocities == velocity_set(4)
    assert result.run("FERNN").trained_velocities == velocity_set(1)
    widened = showcase.compare(models, digits, context_frames=6, predict_frames=1, velocities=velocity_set(3))
    assert widened.run("FERNN").velocity_readout == (3, 0)


def test_velocity_set_radius_is_bounded(integrator_fernn):
    model = integrator_fernn(max_speed=1)
    assert showcase.velocity_set_for(model, showcase.MAX_SET_SPEED) == velocity_set(showcase.MAX_SET_SPEED)
    with pytest.raises(showcase.DemoError, match="radius"):
        showcase.velocity_set_for(model, showcase.MAX_SET_SPEED + 1)


def test_set_radius_recognises_square_sets_only():
    assert showcase.set_radius(tuple(reversed(velocity_set(2)))) == 2
    assert showcase.set_radius(((0, 0),)) == 0
    assert showcase.set_radius(((0, 0), (1, 0))) is None


def test_memory_estimate_and_limit(blob, integrator_fernn):
    state = 9 * 16 * 28 * 28
    small = showcase.rollout_memory_bytes(num_copies=9, hidden_channels=16, num_frames=20)
    assert small == 16 * state + 24 * 16 * 28 * 28 * 20
    wide = showcase.rollout_memory_bytes(num_copies=81, hidden_channels=16, num_frames=20)
    assert wide - small == (81 - 9) * 16 * 28 * 28 * 16  # linear in the copies
    with pytest.raises(showcase.DemoError, match="MiB"):
        showcase.compare({"FERNN": integrator_fernn()}, [showcase.Digit(blob())], velocities=8, memory_limit=1024**2)


def test_plans_name_each_models_set_and_memory(integrator_fernn, tiny_grnn):
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    plans = showcase.plan_runs(models, 2, [(1, 1)], context_frames=4, predict_frames=6)
    assert [(plan.name, plan.copies) for plan in plans] == [("G-RNN", 1), ("FERNN", 25)]
    assert plans[1].memory_bytes == showcase.rollout_memory_bytes(num_copies=25, hidden_channels=1, num_frames=10)


def test_velocity_choice_reads_the_controls_text():
    assert showcase.velocity_choice("auto") == showcase.AUTO and showcase.velocity_choice("as trained") == "as trained"
    assert showcase.velocity_choice("3") == 3 and showcase.velocity_choice(str(showcase.MAX_SET_SPEED)) == 8
    for text in ("9", "-1", "wide", "٣", ""):
        with pytest.raises(showcase.DemoError, match="velocity set"):
            showcase.velocity_choice(text)


def test_auto_gives_a_peak_pooled_classifier_a_whole_window_around_the_digit():
    peak = fernn.build_classifier("fernn", max_speed=1, pooling="peak", hidden_channels=2, head_channels=2)
    plain = fernn.build_classifier("fernn", max_speed=1, hidden_channels=2, head_channels=2)
    assert showcase.velocity_set_for(peak, showcase.AUTO, [(3, -1)]) == velocity_set(4)
    assert showcase.velocity_set_for(plain, showcase.AUTO, [(3, -1)]) == velocity_set(3)
    assert showcase.velocity_set_for(peak, showcase.AUTO, [(0, 0)]) == velocity_set(1)
    assert showcase.velocity_set_for(peak, showcase.AUTO) == velocity_set(1)


def test_a_run_is_bounded_by_its_real_work_before_it_starts():
    """The hostile probe's upload: a 0.9 MB FERNN with a 27x27 kernel and 2,025 copies held a run slot
    for minutes. Its work counts the kernel, the copies, the decoder and the frames, and is refused
    before anything runs; the shipped pair's widest setting passes."""
    import fernn

    hostile = fernn.build_model("fernn", hidden_channels=16, decoder_layers=1, kernel_size=27, max_speed=22)
    with pytest.raises(showcase.DemoError, match="billion multiply-adds, over the 250 billion"):
        showcase.plan_runs({"upload": hostile}, showcase.AS_TRAINED, [(1, 2)], context_frames=10, predict_frames=10)
    shipped = fernn.build_model("fernn", hidden_channels=24, decoder_layers=4, max_speed=2)
    (plan,) = showcase.plan_runs({"FERNN": shipped}, 8, [(4, 4), (-4, 3)], context_frames=20, predict_frames=70)
    assert plan.copies == 289 and 5e10 < plan.work < showcase.MAX_RUN_MACS
    narrow = shipped.config.rollout_macs(copies=289, context_frames=20, predict_frames=70, height=28, width=28)
    wide = fernn.build_model("fernn", hidden_channels=24, decoder_layers=4, kernel_size=5, max_speed=2)
    assert wide.config.rollout_macs(copies=289, context_frames=20, predict_frames=70, height=28, width=28) > 2 * narrow


def test_an_evaluation_counts_the_same_work_per_sequence():
    import fernn
    from fernn.showcase import study

    wide = {"wide": fernn.build_model("fernn", hidden_channels=16, decoder_layers=4, kernel_size=9, max_speed=2)}
    with pytest.raises(showcase.DemoError, match="the work one evaluation may do here"):
        study.held_out_study(wide, sequences=200, context_frames=10, predict_frames=10, velocities=showcase.AS_TRAINED,
                             digit_velocities=[(1, 1)], num_digits=1)
