"""The world models' evaluation (fernn.experiments.world_eval through python -m fernn.evaluate): on
tiny models, every measure runs, its record is stored and read back, and the targets are checked
only for a world pair."""

from __future__ import annotations

import json

import pytest

import fernn
from fernn.datasets.digits import load_digits
from fernn.datasets.world import WorldSpec
from fernn.experiments.evaluate import main as evaluate
from fernn.experiments.world_eval import WORLD_TARGETS, fast_objects_batch, world_checks
from fernn.records import ModelRecord, WorldEvaluation, record_of
from tiny_world import write_world_pair


@pytest.fixture(scope="module")
def world_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    return write_world_pair(folder)


def test_a_world_pair_is_evaluated_stored_and_checked_against_the_world_targets(world_folder, tmp_path, capsys):
    output = tmp_path / "evaluation.json"
    assert evaluate([str(world_folder["grnn"]), str(world_folder["fernn"]), "--quick", "--targets", "demo",
                     "--write-metrics", "--output", str(output)]) == 0
    stored = json.loads(output.read_text())
    checks = stored["world_checks"]
    assert set(checks) == set(WORLD_TARGETS) and stored["checks"] is None
    assert checks["fernn_equivariance_error"]["value"] <= 1e-12 and checks["fernn_equivariance_error"]["met"]
    assert checks["grnn_equivariance_error"]["value"] >= 1e-2
    evaluation = stored["results"]["fernn"]["evaluation"]
    assert len(evaluation["look_away"]["step_mse"]) == 24 and len(evaluation["long_step_mse"]) == 30
    assert len(evaluation["test_step_mse"]) == 10 and evaluation["speed_2"]["velocity_radius"] == 2
    assert stored["results"]["grnn"]["evaluation"]["speed_2"]["velocity_radius"] is None
    fast = evaluation["speed_2"]  # the same data at |v| = 1, with the model's own set and the widened one
    assert fast["speed_1_same_set_mse"] > 0 and fast["speed_1_own_set_mse"] > 0
    assert stored["results"]["grnn"]["evaluation"]["speed_2"]["speed_1_same_set_mse"] is None
    printed = capsys.readouterr().out
    assert "| world target |" in printed and "look away: last 6" in printed
    assert "fernn, objects at |v| = 2 against in range" in printed and "widening to V_2 alone costs" in printed
    # --write-metrics: the record travels with the model and reads back as a WorldEvaluation.
    for kind in ("grnn", "fernn"):
        record = record_of(fernn.load_checkpoint(world_folder[kind]))
        assert isinstance(record.evaluation, WorldEvaluation)
        assert record.evaluation.look_away_last_mse == stored["results"][kind]["evaluation"]["look_away"]["last_mse"]
        again = ModelRecord.parse(record.to_metrics(), world=True)
        assert again.evaluation == record.evaluation and again.evaluation.to_dict() == record.evaluation.to_dict()
    assert record.evaluation.equivariance_error <= 1e-12


def test_one_world_model_is_reported_without_targets(world_folder, tmp_path, capsys):
    output = tmp_path / "evaluation.json"
    assert evaluate([str(world_folder["fernn"]), "--quick", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["world_checks"] is None
    printed = capsys.readouterr().out
    assert "| world model |" in printed and "world target" not in printed


def test_world_checks_from_given_numbers():
    def evaluation(test, low, high, last, fast, error):
        return {"test_mse": test, "test_mse_interval": {"low": low, "high": high}, "look_away": {"last_mse": last},
                "speed_2": {"mse": fast}, "equivariance": [{"error": error}]}

    checks = world_checks(evaluation(0.05, 0.04, 0.06, 0.08, 0.05, 0.3), evaluation(0.01, 0.008, 0.012, 0.005, 0.012, 0.0))
    assert all(row["met"] for row in checks.values())
    assert checks["fernn_over_grnn_look_away_last6"]["value"] == pytest.approx(0.0625)
    assert checks["grnn_low_over_fernn_high"]["value"] == pytest.approx(0.04 / 0.012)
    missed = world_checks(evaluation(0.05, 0.04, 0.06, 0.02, 0.05, 0.3), evaluation(0.04, 0.03, 0.05, 0.011, 0.07, 1e-9))
    assert {name for name, row in missed.items() if not row["met"]} == {
        "fernn_look_away_last6_mse", "fernn_over_grnn_look_away_last6", "grnn_low_over_fernn_high",
        "fernn_speed2_over_in_range", "fernn_equivariance_error"}


def test_fast_object_sequences_are_pure_functions_of_seed_and_index():
    digits = load_digits("test")[0]
    spec = WorldSpec(num_frames=4)
    batch = fast_objects_batch(digits, range(3), speed=2, seed=7, spec=spec)
    assert batch.views.shape == (3, 4, 1, 28, 28) and batch.actions.shape == (3, 3, 2)
    again = fast_objects_batch(digits, [1], speed=2, seed=7, spec=spec)
    assert (again.views[0] == batch.views[1]).all()  # item i is the same in every call
