"""Evaluation: well-formed JSON, the baselines, the velocity grid and the target checks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import fernn
from fernn.evaluate import baseline_step_mse, main, steps_to_reach, velocity_grid_mse


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    paths = {}
    for kind, options in (("grnn", {}), ("fernn", {"max_speed": 1})):
        model = fernn.build_model(kind, hidden_channels=4, decoder_layers=2, **options)
        history = [{"step": 5, "val_mse": 0.2}, {"step": 10, "val_mse": 0.1}]
        paths[kind] = fernn.save_checkpoint(folder / f"{kind}.pt", model, {"train": {"history": history}})
    return paths


def test_evaluate_writes_well_formed_json_and_metrics(checkpoints, tmp_path):
    output, report = tmp_path / "evaluation.json", tmp_path / "report.md"
    main([str(checkpoints["grnn"]), str(checkpoints["fernn"]), "--quick", "--device", "cpu",
          "--output", str(output), "--report", str(report), "--write-metrics"])
    data = json.loads(output.read_text())
    assert set(data["results"]) == {"grnn", "fernn"}
    for name, result in data["results"].items():
        evaluation = result["evaluation"]
        assert evaluation["settings"]["test_sequences"] == 8
        assert np.isfinite(evaluation["test_mse"]) and evaluation["test_mse"] > 0
        assert len(evaluation["test_step_mse"]) == 10
        assert set(evaluation["baselines"]) == {"zeros", "copy_last"}
        grid = evaluation["velocity_grid"]
        assert grid["speeds"] == [-2, -1, 0, 1, 2]
        assert np.asarray(grid["mse"]).shape == (5, 5)
        assert {"in_range_mse", "speed_2_mse"} <= set(grid)
        assert evaluation["length"]["steps"] == list(range(1, 31))
        assert len(evaluation["length"]["mse"]) == 30
        # Stored in the checkpoint and beside it.
        stored = fernn.load_checkpoint(checkpoints[name]).metrics
        assert stored["evaluation"]["test_mse"] == evaluation["test_mse"]
        assert "history" in stored["train"]
        assert json.loads(checkpoints[name].with_name(f"{name}.metrics.json").read_text()) == stored
    fernn_equivariance = data["results"]["fernn"]["evaluation"]["equivariance"]
    assert max(e["exact_error"] for e in fernn_equivariance) < 1e-12
    assert all(e["exact_error"] is None for e in data["results"]["grnn"]["evaluation"]["equivariance"])
    assert set(data["checks"]) >= {"fernn_test_mse", "grnn_speed2_over_fernn_speed2", "fernn_step30_over_step10"}
    assert "| fernn |" in report.read_text()


def test_baselines_on_a_known_sequence():
    sequences = torch.zeros(1, 4, 1, 2, 2)
    sequences[0, 1] = 1.0  # the last context frame (context of 2) is all ones
    sequences[0, 2] = 0.5
    baselines = baseline_step_mse(sequences, 2)
    np.testing.assert_allclose(baselines["zeros"], [0.25, 0.0])
    np.testing.assert_allclose(baselines["copy_last"], [0.25, 1.0])


def test_velocity_grid_layout_and_progress():
    torch.manual_seed(0)
    model = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)
    calls = []
    grid = velocity_grid_mse(model, speeds=[-1, 0, 1], num_sequences=1, context_frames=2, predict_frames=1,
                             progress=lambda done, total: calls.append((done, total)))
    assert grid["speeds"] == [-1, 0, 1]
    assert np.asarray(grid["mse"]).shape == (3, 3)
    assert calls == [(k, 9) for k in range(1, 10)]
    # The centre cell is the static sequence: a different velocity gives a different value.
    assert grid["mse"][1][1] != grid["mse"][0][2]


def test_steps_to_reach():
    history = [{"step": 1}, {"step": 2, "val_mse": 0.5}, {"step": 4, "val_mse": 0.2}]
    assert steps_to_reach(history, 0.3) == 4
    assert steps_to_reach(history, 0.5) == 2
    assert steps_to_reach(history, 0.1) is None


def _run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


def test_command_line_refuses_a_missing_or_garbage_checkpoint_in_one_line(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all\n")
    for path, message in ((garbage, "is not a readable checkpoint"), (tmp_path / "missing.pt", "no checkpoint file at")):
        result = _run_module("fernn.evaluate", str(path), "--quick", "--device", "cpu",
                             "--output", str(tmp_path / "evaluation.json"))
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("python -m fernn.evaluate: error: ")
        assert message in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "evaluation.json").exists()


def test_train_resume_from_a_garbage_last_checkpoint_fails_in_one_line(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    (output / "last.pt").write_bytes(b"\x00garbage")
    result = _run_module("fernn.train", "--preset", "tiny-fernn", "--device", "cpu", "--output", str(output),
                         "--resume", "--no-progress")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m fernn.train: error: ")
    assert "last.pt is not a readable checkpoint" in lines[0]
    assert sorted(p.name for p in output.iterdir()) == ["last.pt"]  # nothing trained, nothing overwritten


def test_late_improvement_reads_the_last_fifth_of_the_curve():
    from fernn.evaluate import late_improvement

    history = [{"step": s, "val_mse": v} for s, v in ((100, 0.5), (400, 0.2), (800, 0.11), (900, 0.105), (1000, 0.1))]
    history.insert(2, {"step": 500})  # a record without validation is skipped
    assert late_improvement(history) == pytest.approx(1 - 0.1 / 0.11)
    assert late_improvement([{"step": 1, "val_mse": 1.0}]) is None
