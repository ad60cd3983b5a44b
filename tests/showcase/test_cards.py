"""fernn.showcase.cards: a model card from a model and its checkpoint's record."""

from __future__ import annotations

import math

import pytest

import fernn
from fernn.flows import Rotation
from fernn.showcase.cards import model_card, paper_number

# A 3x3 grid (speeds up to 1) around a model trained on still digits: the centre is inside.
GRID = {"speeds": [-1, 0, 1], "mse": [[0.4, 0.3, 0.2], [0.1, 0.01, 0.1], [0.2, 0.3, float("nan")]]}


def trained(model: fernn.Forecaster, *, speed: int = 0, evaluation: dict | None = None) -> fernn.Forecaster:
    model.metrics = {"train": {"step": 120, "wall_time": 5400.0, "config": {"data_max_speed": speed},
                               "history": [{"step": 40, "wall_time": 1.0, "val_mse": 0.5},
                                           {"step": 80, "wall_time": 2.0, "val_mse": 0.2},
                                           {"step": 120, "wall_time": 3.0, "val_mse": 0.3}]}}
    if evaluation is not None:
        model.metrics["evaluation"] = evaluation
    return model


def test_a_card_reads_the_config_training_and_held_out_record():
    evaluation = {"settings": {"data_max_speed": 2, "test_sequences": 64}, "test_mse": 0.02,
                  "test_mse_interval": {"low": 0.015, "high": 0.025, "confidence": 0.95}, "velocity_grid": GRID}
    model = trained(fernn.build_model("fernn", max_speed=1, hidden_channels=3, decoder_layers=2), evaluation=evaluation)
    card = model_card("FERNN (mine)", model)
    assert (card.kind, card.copies, card.parameters) == ("FERNN", 9, model.config.parameter_count())
    assert card.parameters == sum(p.numel() for p in model.parameters())
    assert card.curve_steps == (40, 80, 120) and card.best_validation_mse == 0.2
    assert card.test_interval == (0.015, 0.025) and card.test_sequences == 64
    (grid,) = card.grids
    assert grid.radius == 1 and grid.inside_mse == 0.01  # trained on still digits: only (0, 0) is inside
    assert math.isclose(grid.beyond_mse, (0.4 + 0.3 + 0.2 + 0.1 + 0.1 + 0.2 + 0.3) / 7)  # NaN left out
    rows = dict(card.rows())
    assert rows["Velocity set"] == "V = {-1..1}^2 (9 copies)"
    assert rows["Training"] == ("step 120 selected (the best validation score, MSE 2.00e-01), reached after 1 h 30 min "
                                "(wall times as logged)")
    assert "Trained on" not in rows  # the record names no frames
    assert rows["Test MSE"] == ("2.00e-02 (95%: 1.50e-02…2.50e-02) over 64 held-out sequences, velocities in "
                                "{-2..2}^2")
    assert rows["Training data"] == "still digits"
    assert card.paper.test_mse == 5.3e-4 and card.paper.same_data is True  # Table 1's data: up to 2 px/frame
    assert "the paper's number" in rows["From the paper"] and "FERNN-V1" in rows["From the paper"]


def test_a_card_without_records_says_so_and_the_paper_applies_only_to_its_parts():
    bare = fernn.build_model("fernn", max_speed=3, hidden_channels=2, decoder_layers=1)
    card = model_card("FERNN", bare)
    rows = dict(card.rows())
    assert rows["Training"] == "not recorded" and rows["Training data"] == "not recorded"
    assert rows["Test MSE"].startswith("no evaluation recorded")
    assert card.grids == () and card.curve_steps == ()
    assert card.paper is None  # the paper has no FERNN with V = {-3..3}^2
    grnn = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)
    assert paper_number(grnn, evaluated=False).test_mse == 8.1e-3
    assert paper_number(grnn, evaluated=False).same_data is None
    assert paper_number(grnn, 1).same_data is False
    assert "no evaluation to set beside it" in dict(model_card("G-RNN", grnn).rows())["From the paper"]


def test_rotation_cards_use_the_flows_words_and_the_rotation_papers_numbers():
    flow = Rotation(order=4)
    grnn = trained(fernn.build_model("grnn", hidden_channels=4, decoder_layers=1, flow=flow), speed=1,
                   evaluation={"settings": {"data_max_speed": 1}, "test_mse": 0.1,
                               "velocity_grid": {"grid_max_speed": 2, "mse": [[0.5, 0.2, 0.1, 0.2, 0.5]]}})
    card = model_card("G-RNN", grnn)
    assert card.flow is flow and "rotation" in dict(card.rows())["Model"]
    (grid,) = card.grids
    assert (grid.inside_mse, grid.beyond_mse) == (pytest.approx(0.5 / 3), 0.5)
    assert card.paper.test_mse == 4.0e-3 and card.paper.same_data is False  # C_4 is not the paper's C_36
    fernn_r = fernn.build_model("fernn", hidden_channels=4, decoder_layers=1, flow=flow, max_speed=1)
    assert paper_number(fernn_r) is None  # the paper's FERNN-V4 has 9 copies of 10 degrees
    assert dict(model_card("FERNN", fernn_r).rows())["Velocity set"] == "V = {-1..1} × 90° (3 copies)"


def test_paper_number_validates_its_option():
    with pytest.raises(ValueError, match="evaluated must be True or False"):
        paper_number(fernn.build_model("grnn", hidden_channels=2, decoder_layers=1), evaluated="yes")


def test_a_card_says_the_selected_step_the_whole_run_and_the_frames():
    from fernn.records import CurvePoint, ModelRecord, TrainingRecord

    model = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)
    model.metrics = ModelRecord(training=TrainingRecord(
        selected_step=14_000, selected_seconds=8760.0, planned_steps=15_000, last_step=15_000, run_seconds=9420.0,
        context_frames=10, predict_frames=10, final_predict_frames=20,
        curve=(CurvePoint(14_000, 8760.0, 6.9e-3),))).to_metrics()
    rows = dict(model_card("G-RNN", model).rows())
    assert rows["Training"] == ("step 14,000 selected (the best validation score, MSE 6.90e-03), reached after "
                                "2 h 26 min; the run went on to step 15,000 in 2 h 37 min (wall times as logged)")
    assert rows["Trained on"] == "10 context → 10 predicted frames, then up to 20 predicted (a curriculum)"


def test_a_world_models_card_cites_no_number_of_the_papers():
    world = fernn.build_world_model(fernn.WorldConfig(kind="fernn", hidden_channels=2, decoder_layers=1))
    card = model_card("World FERNN", world)
    assert card.paper is None and "From the paper" not in dict(card.rows())
