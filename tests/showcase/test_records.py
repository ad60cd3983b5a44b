"""fernn.showcase.records: what the demo reads from a loaded model's record, and unusable weights named."""

from __future__ import annotations

import torch

import fernn
from fernn import showcase
from fernn.flows import TRANSLATION
from fernn.records import ClassifierEvaluation, ForecasterEvaluation, ModelRecord, TrainingRecord, VelocityGrid

GRID = VelocityGrid(TRANSLATION.grid(1), ((1.0, 2.0, 3.0),) * 3)


def test_the_training_speed_and_evaluation_are_read_from_the_record(tiny_grnn):
    model = tiny_grnn()
    assert not showcase.is_evaluated(model) and showcase.training_max_speed(model) is None
    model.metrics = ModelRecord(training=TrainingRecord(data_max_speed=1),
                                evaluation=ForecasterEvaluation(test_mse=0.5, velocity_grid=GRID)).to_metrics()
    assert showcase.is_evaluated(model) and showcase.training_max_speed(model) == 1


def test_nan_weights_are_named(tiny_grnn):
    model = tiny_grnn()
    assert showcase.weights_problem(model) == ""
    with torch.no_grad():
        model.cell.input_conv.weight.fill_(float("nan"))
    assert "NaN" in showcase.weights_problem(model)


def test_training_speed_is_also_read_from_a_classifiers_evaluation(tiny_grnn, integrator_fernn):
    classifier = fernn.build_classifier("grnn", hidden_channels=2, head_layers=0)
    classifier.metrics = ModelRecord(evaluation=ClassifierEvaluation(training_max_speed=2)).to_metrics()
    forecaster = tiny_grnn()
    forecaster.metrics = ModelRecord(training=TrainingRecord(data_max_speed=1)).to_metrics()
    assert showcase.training_max_speed(classifier) == 2
    assert showcase.shared_training_speed({"a": classifier, "b": forecaster}) == 2  # the fastest recorded
    assert showcase.shared_training_speed({"c": integrator_fernn()}) is None


def test_recorded_grids_name_each_panel_and_the_set_it_ran_with(tiny_grnn, integrator_fernn):
    grnn, fernn_model = tiny_grnn(), integrator_fernn(max_speed=2)
    grnn.metrics = ModelRecord(evaluation=ForecasterEvaluation(velocity_grid=GRID)).to_metrics()
    fernn_model.metrics = ModelRecord(evaluation=ForecasterEvaluation(
        velocity_grid=GRID, widened_velocity_grid=GRID, widened_max_speed=4)).to_metrics()
    panels = showcase.recorded_grids({"G-RNN": grnn, "FERNN": fernn_model})
    assert {title: radius for title, (_, radius) in panels.items()} == {"G-RNN": None, "FERNN": 2,
                                                                         "FERNN, V = {−4…4}²": 4}
    assert panels["FERNN"][0].at((1, 1)) == 3


def test_a_run_beyond_the_trained_frames_is_said(tiny_grnn):
    model = tiny_grnn()
    model.metrics = ModelRecord(training=TrainingRecord(context_frames=3, predict_frames=2,
                                                        final_predict_frames=5)).to_metrics()
    assert showcase.frames_notes({"G-RNN": model}, context_frames=3, predict_frames=5) == []
    notes = showcase.frames_notes({"G-RNN": model}, context_frames=10, predict_frames=10)
    assert notes == ["**G-RNN** was trained to predict up to 5 frames; this run predicts 10, so every frame after the "
                     "5th is beyond its training.", "**G-RNN** was trained on 3 context frames; this run gives it 10."]
    assert showcase.frames_notes({"bare": tiny_grnn()}, context_frames=10, predict_frames=70) == []
