"""Evaluation: well-formed JSON, the baselines, the velocity grid and the target checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fernn
from fernn.evaluate import baseline_step_mse, main, steps_to_reach, velocity_grid_mse
from fernn.report import late_improvement, markdown_report

ROOT = Path(__file__).resolve().parent.parent


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
    assert main([str(checkpoints["grnn"]), str(checkpoints["fernn"]), "--quick", "--device", "cpu",
                 "--output", str(output), "--report", str(report), "--write-metrics", "--targets", "demo"]) == 0
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
    text = report.read_text()
    assert "| fernn |" in text and "| target | measured | goal | met |" in text
    # --quick computes the grid up to speed 2 only: no columns of nan for speeds 3 and 4.
    assert "grid speed 2" in text and "grid speed 3" not in text and "nan" not in text


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
    grid = velocity_grid_mse(model, max_speed=1, num_sequences=1, context_frames=2, predict_frames=1,
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
    # A missing file is a bad invocation (2, found while parsing); a damaged one fails on reading (1).
    for path, message, code in ((garbage, "is not a readable checkpoint", 1), (tmp_path / "missing.pt", "no file at", 2)):
        result = _run_module("fernn.evaluate", str(path), "--quick", "--device", "cpu",
                             "--output", str(tmp_path / "evaluation.json"))
        assert result.returncode == code
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
    history = [{"step": s, "val_mse": v} for s, v in ((100, 0.5), (400, 0.2), (800, 0.11), (900, 0.105), (1000, 0.1))]
    history.insert(2, {"step": 500})  # a record without validation is skipped
    assert late_improvement(history) == pytest.approx(1 - 0.1 / 0.11)
    assert late_improvement([{"step": 1, "val_mse": 1.0}]) is None


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def _tables(markdown: str) -> list[list[str]]:
    """Runs of consecutive lines that start with ``|``: the markdown tables of a text."""
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def _synthetic_evaluation(grid_max_speed: int, length_frames: int, *, widened: bool) -> dict:
    speeds = list(range(-grid_max_speed, grid_max_speed + 1))
    grid = {"speeds": speeds, "mse": [[0.01 + abs(dy) + abs(dx) for dx in speeds] for dy in speeds], "in_range_mse": 0.01}
    grid.update({f"speed_{radius}_mse": float(radius) for radius in range(2, grid_max_speed + 1)})
    steps = list(range(1, length_frames + 1))
    return {
        "test_mse": 0.01, "baselines": {"zeros": 0.2, "copy_last": 0.3}, "velocity_grid": grid,
        "widened_velocity_grid": dict(grid, max_speed=grid_max_speed) if widened else None,
        "length": {"steps": steps, "mse": [0.01 * s for s in steps], "copy_last": [0.3] * length_frames,
                   "intensity": [0.1] * length_frames, "truth_intensity": [0.11] * length_frames},
        "equivariance": [{"velocity": [1, 0], "pairs_compared": 1, "exact_error": 1e-16 if widened else None,
                          "truncated_error": 0.5}],
    }


def test_every_report_table_line_has_as_many_cells_as_its_header():
    """A bare ``|`` in a header or cell (``|v|``, a model named ``a|b``) would break the table."""
    results = {
        "full": {"evaluation": _synthetic_evaluation(4, 70, widened=True)},
        "quick": {"evaluation": _synthetic_evaluation(2, 30, widened=False)},
        "short | odd name": {"evaluation": _synthetic_evaluation(1, 5, widened=False)},
    }
    checks = {"fernn_test_mse": {"value": 0.004, "target": "<= 2e-3", "met": False}}
    report = markdown_report(results, checks)
    tables = _tables(report)
    assert len(tables) == 1 + 4 + 1  # results, four grids (one widened), targets
    for table in tables:
        assert re.fullmatch(r"(\|---)+\|", table[1])
        assert {_unescaped_pipes(line) for line in table} == {_unescaped_pipes(table[0])}, table
    header = tables[0][0]
    assert "grid speed 4" in header and "step 30" in header and "nan" not in report
    rows = {line.split(" | ")[0]: line for line in tables[0][2:]}
    assert "| short \\| odd name" in rows
    # A column one model lacks reads n/a in its row; a column nobody computed is not there.
    assert rows["| quick"].count("n/a") == 2 and rows["| full"].count("n/a") == 0
    assert "grid speed 5" not in header
    only_quick = markdown_report({"quick": results["quick"]}, None)
    assert "grid speed 3" not in only_quick and "n/a" not in only_quick and "| target |" not in only_quick


@pytest.mark.parametrize("path", ["README.md", "pretrained/README.md", "pretrained/results.md"])
def test_the_repository_markdown_tables_are_well_formed(path):
    for table in _tables((ROOT / path).read_text()):
        assert {_unescaped_pipes(line) for line in table} == {_unescaped_pipes(table[0])}, table


def test_targets_are_checked_for_the_shipped_pair_only_unless_asked(tmp_path, capsys):
    """The shipped pair's targets say nothing about anyone else's models, even ones named grnn and fernn."""
    shipped = [str(ROOT / "pretrained" / "grnn.pt"), str(ROOT / "pretrained" / "fernn.pt")]
    copies = []
    for path in shipped:
        copies.append(tmp_path / Path(path).name)
        copies[-1].write_bytes(Path(path).read_bytes())
    runs = {"shipped": (shipped, []), "copies": ([str(c) for c in copies], []),
            "copies-demo": ([str(c) for c in copies], ["--targets", "demo"]), "shipped-none": (shipped, ["--targets", "none"])}
    checks = {}
    for name, (paths, flags) in runs.items():
        output = tmp_path / f"{name}.json"
        assert main([*paths, "--reuse-metrics", "--output", str(output), *flags]) == 0
        checks[name] = json.loads(output.read_text())["checks"]
        printed = capsys.readouterr().out
        assert ("| target | measured | goal | met |" in printed) == (checks[name] is not None)
    assert checks["shipped"] is not None and checks["copies-demo"] == checks["shipped"]
    assert checks["copies"] is None and checks["shipped-none"] is None


def test_default_outputs_go_under_runs():
    """runs/ is ignored by git: the README's evaluate and study commands leave the repository clean."""
    from fernn.evaluate import _parser

    assert _parser().get_default("output") == Path("runs/evaluation.json")
    assert "runs/" in (ROOT / ".gitignore").read_text().splitlines()
    commands = [line for line in (ROOT / "README.md").read_text().splitlines()
                if line.startswith(("python -m fernn.evaluate", "python -m fernn.study"))]
    assert len(commands) == 2
    for command in commands:
        words = command.split("#")[0].split()
        written = [words[i + 1] for i, word in enumerate(words) if word in ("--output", "--report")]
        assert written and all(path.startswith("runs/") for path in written), command


def test_a_short_rollout_and_a_small_grid_are_reported_not_a_crash(checkpoints, tmp_path, capsys):
    """Fewer than 30 (or 10) rollout steps and no speed-2 ring: the log and report show what exists."""
    output = tmp_path / "evaluation.json"
    assert main([str(checkpoints["fernn"]), "--device", "cpu", "--test-sequences", "2", "--grid-sequences", "1",
                 "--grid-max-speed", "1", "--length-sequences", "1", "--length-frames", "5", "--widened-max-speed", "0",
                 "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "length: step 5 " in printed and "|v|=2" not in printed
    header = next(line for line in printed.splitlines() if line.startswith("| model |"))
    assert "step 10" not in header and "grid speed 2" not in header and "last step" in header
    assert json.loads(output.read_text())["checks"] is None


def test_a_rotation_forecaster_is_evaluated_on_rotating_mnist_with_its_own_grid():
    from fernn.evaluate import EvaluationSettings, evaluate_model
    from fernn.flows import Rotation

    torch.manual_seed(0)
    model = fernn.build_model("fernn", flow=Rotation(order=4), hidden_channels=4, decoder_layers=1, max_speed=1).eval()
    settings = EvaluationSettings(test_sequences=4, grid_sequences=1, length_sequences=1, length_frames=30,
                                  grid_max_speed=2, widened_max_speed=2)
    evaluation = evaluate_model(model, settings, log=lambda *_: None)
    grid = evaluation["velocity_grid"]
    assert grid["speeds"] == [-2, -1, 0, 1, 2] and np.asarray(grid["mse"]).shape == (1, 5)  # one row: angular steps
    assert "speed_2_mse" in grid and evaluation["widened_velocity_grid"]["max_speed"] == 2
    assert [e["velocity"] for e in evaluation["equivariance"]] == [1, 2]  # quarter turns here: exact
    assert all(e["exact_error"] < 1e-12 for e in evaluation["equivariance"])
