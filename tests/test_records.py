"""fernn.records: what a checkpoint stores, parsed once into typed records; lenient on bad values;
every shipped checkpoint parses, and a record written from its fields reads back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

import fernn
from fernn.records import (ClassifierEvaluation, CurvePoint, ForecasterEvaluation, Interval, ModelRecord,
                           RingAccuracy, TrainingRecord, VelocityGrid, WorldEvaluation, record_of)
from fernn.flows import TRANSLATION, Rotation

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
SHIPPED = sorted(path.parent for path in PRETRAINED.rglob("model.safetensors"))


def test_every_shipped_checkpoint_parses_into_records_that_write_back_the_same():
    assert len(SHIPPED) >= 14, "the shipped checkpoints were not found"
    for path in SHIPPED:
        model = fernn.load_checkpoint(path)
        record = record_of(model)
        assert record.training is not None and record.training.curve, f"{path}: no training record"
        assert record.training.selected_step and record.training.planned_steps >= record.training.selected_step
        assert record.evaluated and record.training_max_speed in (1, 2)
        world = isinstance(model, fernn.world.WorldModel)
        if isinstance(model, fernn.Classifier):
            assert isinstance(record.evaluation, ClassifierEvaluation) and record.evaluation.rings is not None
        elif world:
            evaluation = record.evaluation
            assert isinstance(evaluation, WorldEvaluation) and evaluation.look_away_last_mse > 0
            assert evaluation.test_mse > 0 and evaluation.interval.bounds() is not None
        else:
            evaluation = record.evaluation
            assert isinstance(evaluation, ForecasterEvaluation) and evaluation.velocity_grid is not None
            assert evaluation.test_mse > 0 and evaluation.interval.bounds() is not None
        again = ModelRecord.parse(record.to_metrics(), model.flow, classifier=isinstance(model, fernn.Classifier),
                                  world=world)
        assert again == record, f"{path}: the record does not survive writing and reading"


def test_a_record_is_parsed_once_per_metrics_object():
    model = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)
    empty = record_of(model)
    assert empty == ModelRecord() and not empty.evaluated and record_of(model) is empty
    model.metrics = ModelRecord(evaluation=ForecasterEvaluation(test_mse=0.5)).to_metrics()
    assert record_of(model).evaluated and record_of(model).evaluation.test_mse == 0.5


def test_records_built_through_the_types_are_stored_and_read_as_written():
    grid = VelocityGrid(TRANSLATION.grid(1), ((1.0, 2.0, 3.0),) * 3)
    written = ModelRecord(
        training=TrainingRecord(preset="tiny", selected_step=7, selected_seconds=1.5, planned_steps=10, last_step=10,
                                run_seconds=3.0, data_max_speed=1, context_frames=10, predict_frames=10,
                                final_predict_frames=20, curve=(CurvePoint(5, 1.5, 0.2),)),
        evaluation=ForecasterEvaluation(test_mse=0.5, interval=Interval(0.5, 0.4, 0.6, items=8), velocity_grid=grid,
                                        widened_velocity_grid=grid, widened_max_speed=4, data_max_speed=1))
    read = ModelRecord.parse(written.to_metrics())
    assert read == written
    assert read.evaluation.velocity_grid.at((1, -1)) == 1.0 and read.evaluation.interval.bounds() == (0.4, 0.6)
    assert read.evaluation.velocity_grid.ring_mse(TRANSLATION, 1) == pytest.approx(2.0)
    rings = RingAccuracy((0, 1), (0.9, 0.8), (0.85, 0.75), (0.95, 0.85))
    classifier = ModelRecord(evaluation=ClassifierEvaluation(test_accuracy=0.9, rings=rings, training_max_speed=1))
    assert ModelRecord.parse(classifier.to_metrics(), classifier=True) == classifier


def test_a_rotation_grid_is_laid_out_by_its_flow():
    flow = Rotation(order=12)
    grid = VelocityGrid.parse({"grid_max_speed": 2, "mse": [[0.5, 0.4, 0.1, 0.4, 0.5]]}, flow)
    assert grid.speeds == (-2, -1, 0, 1, 2) and grid.at(2) == 0.5 and grid.to_dict()["grid_max_speed"] == 2


@pytest.mark.parametrize("stored", [
    {"evaluation": {"test_mse": 10**400}, "train": {"wall_time": float("nan")}},
    {"evaluation": {"test_mse": "small", "velocity_grid": {"speeds": [-1, 0, 1], "mse": [[1, 2]]}}},
    {"evaluation": {"velocity_grid": {"speeds": [0, 1], "mse": [[1, 2]] * 2}, "test_mse_interval": {"mean": "x"}}},
    {"train": {"history": "long", "config": {"data": {"max_speed": True}}, "step": 1.5}},
])
def test_absurd_or_malformed_values_read_as_missing(stored):
    record = ModelRecord.parse(stored)
    evaluation = record.evaluation or ForecasterEvaluation()
    assert evaluation.test_mse is None and evaluation.velocity_grid is None and evaluation.interval is None
    assert record.training is None or (record.training.selected_seconds is None and record.training.curve == ()
                                       and record.training.data_max_speed is None and record.training.selected_step is None)


@pytest.mark.parametrize("evaluation", [
    {"rings": "many"},
    {"rings": [{"speed": 0, "accuracy": 1.5}]},
    {"rings": [{"speed": -1, "accuracy": 0.5}]},
    {"rings": [{"speed": True, "accuracy": 0.5}]},
    {"rings": [{"speed": 0, "accuracy": float("nan")}]},
    {"rings": [], "widened_rings": [{"speed": 0}], "widened_max_speed": "4"},
])
def test_malformed_rings_read_as_missing(evaluation):
    record = ModelRecord.parse({"evaluation": evaluation}, classifier=True)
    assert record.evaluated and record.evaluation.rings is None and record.evaluation.widened_rings is None
    assert record.evaluation.widened_max_speed is None


def test_a_missing_ring_interval_collapses_to_the_accuracy_and_rings_are_sorted():
    rings = RingAccuracy.parse([{"speed": 1, "accuracy": 0.5}, {"speed": 0, "accuracy": 0.75, "interval": [0.7, 0.8]}])
    assert rings.speeds == (0, 1) and rings.low == (0.7, 0.5) and rings.high == (0.8, 0.5)


def test_training_frames_and_speed_are_read_from_flat_and_nested_settings():
    nested = TrainingRecord.parse({"config": {"data": {"context_frames": 1, "max_speed": 2}, "steps": 9}})
    flat = TrainingRecord.parse({"config": {"context_frames": 1, "data_max_speed": 2}})
    assert (nested.context_frames, nested.data_max_speed, nested.planned_steps) == (1, 2, 9)
    assert (flat.context_frames, flat.data_max_speed) == (1, 2)
    speed = ModelRecord.parse({"evaluation": {"settings": {"training_max_speed": 2}}}, classifier=True)
    assert speed.training_max_speed == 2
