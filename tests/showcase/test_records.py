"""fernn.showcase.records: a checkpoint's record as typed fields, and unusable weights named."""

from __future__ import annotations

import torch

import fernn
from fernn import showcase
from fernn.checkpoints import CheckpointRecord


def test_checkpoint_record_is_read_as_typed_fields(tiny_grnn):
    model = tiny_grnn()
    assert showcase.record(model).velocity_grid is None and not showcase.is_evaluated(model)
    assert showcase.training_max_speed(model) is None
    model.metrics = {"evaluation": {"velocity_grid": {"speeds": [-1, 0, 1], "mse": [[1, 2, 3]] * 3}, "test_mse": 0.5},
                     "train": {"config": {"data_max_speed": 1}, "step": 7,
                               "history": [{"step": 5, "wall_time": 1.5, "val_mse": 0.2}, {"step": 6}]}}
    record = showcase.record(model)
    assert record.evaluated and record.test_mse == 0.5 and record.training_max_speed == 1
    assert record.velocity_grid.speeds == (-1, 0, 1) and record.velocity_grid.at((1, -1)) == 1
    assert record.curve == ((5, 1.5, 0.2),) and record.training_steps == 7
    assert record.widened_velocity_grid is None
    model.metrics["evaluation"]["widened_velocity_grid"] = {"speeds": [-1, 0, 1], "mse": [[4, 5, 6]] * 3, "max_speed": 4}
    widened = showcase.record(model)
    assert widened.widened_max_speed == 4 and widened.widened_velocity_grid.at((0, 1)) == 6
    model.metrics = {"evaluation": {"velocity_grid": {"speeds": [-1, 0, 1], "mse": [[1, 2]]}}}
    assert showcase.record(model).velocity_grid is None  # malformed: missing, not an exception


def test_nan_weights_are_named(tiny_grnn):
    model = tiny_grnn()
    assert showcase.weights_problem(model) == ""
    with torch.no_grad():
        model.cell.input_conv.weight.fill_(float("nan"))
    assert "NaN" in showcase.weights_problem(model)


def test_records_with_absurd_numbers_read_as_missing():
    record = CheckpointRecord.from_metrics({"evaluation": {"test_mse": 10**400}, "train": {"wall_time": float("nan")}})
    assert record.evaluated and record.test_mse is None and record.training_seconds is None


def test_training_speed_is_also_read_from_a_classifiers_evaluation(tiny_grnn, integrator_fernn):
    classifier = fernn.build_classifier("grnn", hidden_channels=2, head_layers=0)
    classifier.metrics = {"evaluation": {"settings": {"training_max_speed": 2}}}
    forecaster = tiny_grnn()
    forecaster.metrics = {"train": {"config": {"data_max_speed": 1}}}
    assert showcase.training_max_speed(classifier) == 2
    assert showcase.shared_training_speed({"a": classifier, "b": forecaster}) == 2  # the fastest recorded
    assert showcase.shared_training_speed({"c": integrator_fernn()}) is None
    classifier.metrics = {"evaluation": {"settings": {"training_max_speed": True}}}
    assert showcase.training_max_speed(classifier) is None


def test_recorded_grids_name_each_panel_and_the_set_it_ran_with(tiny_grnn, integrator_fernn):
    grid = {"speeds": [-1, 0, 1], "mse": [[1, 2, 3]] * 3}
    grnn, fernn_model = tiny_grnn(), integrator_fernn(max_speed=2)
    grnn.metrics = {"evaluation": {"velocity_grid": grid}}
    fernn_model.metrics = {"evaluation": {"velocity_grid": grid, "widened_velocity_grid": dict(grid, max_speed=4)}}
    panels = showcase.recorded_grids({"G-RNN": grnn, "FERNN": fernn_model})
    assert {title: radius for title, (_, radius) in panels.items()} == {"G-RNN": None, "FERNN": 2,
                                                                         "FERNN, V = {−4…4}²": 4}
    assert panels["FERNN"][0].at((1, 1)) == 3
