"""Evaluation: well-formed JSON, the baselines, the velocity grid and the target checks."""

from __future__ import annotations

import json
import shutil
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

import fernn
from fernn.datasets.digits import load_digits
from fernn.datasets.sequences import fixed_velocity_sequences
from fernn.experiments.evaluate import main
from fernn.experiments.report import late_improvement, markdown_report, steps_to_reach
from fernn.measures import baseline_step_mse, velocity_grid_mse

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
    cells = fixed_velocity_sequences(model.flow, load_digits("test")[0], count=1, seed=2024, num_frames=3)
    grid = velocity_grid_mse(model, cells, max_speed=1, context_frames=2,
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
    for path, message, code in ((garbage, "is not a readable checkpoint", 1), (tmp_path / "missing.pt", "no model at", 2)):
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


@pytest.mark.parametrize("path", ["README.md", "pretrained/README.md", "pretrained/results.md", "pretrained/hidden16/results.md",
                                  "pretrained/rotation/results.md", "pretrained/table1/results.md"])
def test_the_repository_markdown_tables_are_well_formed(path):
    for table in _tables((ROOT / path).read_text()):
        assert {_unescaped_pipes(line) for line in table} == {_unescaped_pipes(table[0])}, table


def test_targets_are_checked_for_the_shipped_pair_only_unless_asked(tmp_path, capsys):
    """The shipped pair's targets say nothing about anyone else's models, even ones named grnn and fernn."""
    shipped = [str(ROOT / "pretrained" / "grnn"), str(ROOT / "pretrained" / "fernn")]
    hidden16 = [str(ROOT / "pretrained" / "hidden16" / "grnn"), str(ROOT / "pretrained" / "hidden16" / "fernn")]
    copies = []
    for path in shipped:
        copies.append(tmp_path / Path(path).name)
        shutil.copytree(path, copies[-1])
    runs = {"shipped": (shipped, []), "copies": ([str(c) for c in copies], []),
            "copies-demo": ([str(c) for c in copies], ["--targets", "demo"]), "shipped-none": (shipped, ["--targets", "none"]),
            "hidden16": (hidden16, []), "mixed": ([shipped[0], hidden16[1]], [])}
    checks = {}
    for name, (paths, flags) in runs.items():
        output = tmp_path / f"{name}.json"
        assert main([*paths, "--reuse-metrics", "--output", str(output), *flags]) == 0
        checks[name] = json.loads(output.read_text())["checks"]
        printed = capsys.readouterr().out
        assert ("| target | measured | goal | met |" in printed) == (checks[name] is not None)
    assert checks["shipped"] is not None and checks["copies-demo"] == checks["shipped"]
    assert checks["copies"] is None and checks["shipped-none"] is None
    # The earlier demo pair is shipped too; a G-RNN of one pair with the FERNN of the other is no shipped pair.
    assert checks["hidden16"] is not None and checks["hidden16"] != checks["shipped"]
    assert checks["mixed"] is None


def test_default_outputs_go_under_runs():
    """runs/ is ignored by git: the documented evaluate and study commands leave the repository clean."""
    from fernn.experiments.evaluate import _parser

    assert _parser().get_default("output") == Path("runs/evaluation.json")
    assert "runs/" in (ROOT / ".gitignore").read_text().splitlines()
    commands = [line for doc in ("README.md", "docs/training.md") for line in (ROOT / doc).read_text().splitlines()
                if line.startswith(("python -m fernn.evaluate", "python -m fernn.study"))]
    assert {command.split()[2] for command in commands} == {"fernn.evaluate", "fernn.study"}
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
    from fernn.experiments.evaluate import EvaluationSettings, evaluate_model
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


# --- the test MSE's interval and Table 1 ------------------------------------------------------

def test_mean_interval_on_a_known_case():
    from fernn.measures import INTERVAL_METHOD, mean_interval

    interval = mean_interval([1.0, 2.0, 3.0, 4.0])
    # sample standard deviation sqrt(5/3), standard error sqrt(5/3) / 2, 95% half-width 1.959964 of them
    error = (5 / 3) ** 0.5 / 2
    assert interval["mean"] == 2.5 and interval["sequences"] == 4 and interval["confidence"] == 0.95
    assert interval["standard_error"] == pytest.approx(error)
    assert interval["low"] == pytest.approx(2.5 - 1.959964 * error) and interval["high"] == pytest.approx(2.5 + 1.959964 * error)
    assert interval["method"] == INTERVAL_METHOD and "normal approximation" in INTERVAL_METHOD
    assert mean_interval([1.0, 2.0, 3.0, 4.0], confidence=0.5)["high"] == pytest.approx(2.5 + 0.674490 * error)
    single = mean_interval([0.3])
    assert single["mean"] == 0.3 and single["standard_error"] is None and single["low"] is None
    for bad in ([], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="at least one value, all finite"):
            mean_interval(bad)


def test_the_interval_is_over_per_sequence_mses_and_recorded_with_the_evaluation():
    from fernn.experiments.evaluate import EvaluationSettings, evaluate_model
    from fernn.measures import step_statistics

    torch.manual_seed(0)
    model = fernn.build_model("fernn", hidden_channels=2, decoder_layers=1, max_speed=1).eval()
    exact = model.to(torch.float64)  # batched and single runs then agree to rounding
    sequences = torch.rand(5, 4, 1, 28, 28, dtype=torch.float64)
    stats = step_statistics(exact, sequences, 2, batch_size=2)  # batches of 2, 2, 1
    assert stats["sequence_mse"].shape == (5,) and stats["mse"].shape == (2,)
    for index in (0, 3, 4):
        alone = step_statistics(exact, sequences[index : index + 1], 2)["mse"].mean()
        assert stats["sequence_mse"][index] == pytest.approx(alone, rel=1e-10)
    assert stats["sequence_mse"].mean() == pytest.approx(stats["mse"].mean(), rel=1e-10)

    settings = EvaluationSettings(test_sequences=6, grid_sequences=1, grid_max_speed=1, widened_max_speed=0,
                                  length_sequences=1, length_frames=2, data_max_speed=2)
    evaluation = evaluate_model(exact.to(torch.float32), settings, log=lambda *_: None)
    interval = evaluation["test_mse_interval"]
    assert interval["sequences"] == 6 and interval["mean"] == pytest.approx(evaluation["test_mse"], rel=1e-10)
    assert interval["low"] < evaluation["test_mse"] < interval["high"]
    assert evaluation["settings"]["data_max_speed"] == 2 and evaluation["digits"] == "bundled"


def test_evaluations_stored_before_intervals_still_report():
    from fernn.measures import interval_bounds

    old = _synthetic_evaluation(2, 30, widened=False)
    assert interval_bounds(old) is None
    assert "interval" not in markdown_report({"old": {"evaluation": old}}, None)
    new = dict(old, test_mse_interval={"mean": 0.01, "low": 0.009, "high": 0.011, "confidence": 0.95})
    report = markdown_report({"old": {"evaluation": old}, "new": {"evaluation": new}}, None)
    table = _tables(report)[0]
    assert "| 95% interval |" in table[0] and "normal approximation over test sequences" in report
    rows = {line.split(" | ")[0]: line.split(" | ")[2] for line in table[2:]}
    assert rows == {"| old": "n/a", "| new": "0.009..0.011"}
    assert {_unescaped_pipes(line) for line in table} == {_unescaped_pipes(table[0])}


def _numbers(grnn, fernn_v1, fernn_v2) -> dict:
    """Table 1 inputs from (test MSE, interval) per part."""
    return {role: {"test_mse": mse, "interval": interval}
            for role, (mse, interval) in zip(("grnn", "fernn-v1", "fernn-v2"), (grnn, fernn_v1, fernn_v2))}


def test_table1_ratios_and_verdicts_from_given_numbers():
    from fernn.experiments.table1 import table1_checks

    checks = table1_checks(_numbers((8e-3, (7.5e-3, 8.5e-3)), (5e-4, (4.5e-4, 5.5e-4)), (4e-4, (3.5e-4, 4.5e-4))))
    ratios = checks["ratios"]
    assert ratios["grnn/fernn-v1"]["value"] == pytest.approx(16)
    assert ratios["grnn/fernn-v1"]["range"] == pytest.approx((7.5e-3 / 5.5e-4, 8.5e-3 / 4.5e-4))
    assert ratios["grnn/fernn-v1"]["paper"] == pytest.approx(8.1e-3 / 5.3e-4)
    assert ratios["fernn-v1/fernn-v2"]["value"] == pytest.approx(1.25)
    assert ratios["fernn-v1/fernn-v2"]["measured_over_paper"] == pytest.approx(1.25 / (5.3e-4 / 1.5e-4))
    assert ratios["grnn/fernn-v2"]["value"] == pytest.approx(20) and ratios["grnn/fernn-v2"]["paper"] == pytest.approx(54)
    targets = checks["targets"]
    assert targets["grnn_above_fernn_v1"]["met"] is True
    assert targets["grnn_above_fernn_v1"]["value"] == pytest.approx(7.5e-3 / 5.5e-4)
    # Intervals that touch (4.5e-4 both) are not apart.
    assert targets["fernn_v1_above_fernn_v2"]["met"] is False and targets["fernn_v1_above_fernn_v2"]["value"] == pytest.approx(1)
    assert targets["grnn_over_fernn_v2"]["met"] is True and targets["grnn_over_fernn_v2"]["margin"] == pytest.approx(2)
    assert targets["fernn_v1_over_fernn_v2"]["met"] is False
    assert targets["fernn_v1_over_fernn_v2"]["margin"] == pytest.approx(1.25 / 1.5)
    # The wrong order misses even with wide gaps; without intervals the order cannot be judged.
    swapped = table1_checks(_numbers((1e-4, (0.9e-4, 1.1e-4)), (5e-4, (4.5e-4, 5.5e-4)), (4e-4, None)))
    assert swapped["targets"]["grnn_above_fernn_v1"]["met"] is False
    assert swapped["targets"]["fernn_v1_above_fernn_v2"]["met"] is None
    assert swapped["ratios"]["fernn-v1/fernn-v2"]["range"] is None
    assert swapped["targets"]["fernn_v1_over_fernn_v2"]["met"] is False  # 1.25: a ratio needs no interval


def _table1_result(role: str, *, test_mse: float, interval: tuple[float, float] | None, **settings) -> dict:
    from fernn.experiments.evaluate import EvaluationSettings

    kind, speed = {"grnn": ("grnn", 0), "fernn-v1": ("fernn", 1), "fernn-v2": ("fernn", 2)}[role]
    config = fernn.build_model(kind, hidden_channels=2, decoder_layers=1, max_speed=speed).config
    evaluation = {"settings": asdict(EvaluationSettings(**{"data_max_speed": 2, **settings})), "test_mse": test_mse,
                  "digits": "bundled"}
    if interval:
        evaluation["test_mse_interval"] = {"mean": test_mse, "low": interval[0], "high": interval[1], "confidence": 0.95}
    return {"checkpoint": f"runs/{role}.pt", "config": config.to_dict(), "evaluation": evaluation}


def test_table1_report_shows_the_paper_beside_the_measurements():
    from fernn.experiments.table1 import table1_report, table1_summary

    summary = table1_summary({"grnn": _table1_result("grnn", test_mse=8e-3, interval=(7.5e-3, 8.5e-3)),
                              "fernn-v1": _table1_result("fernn-v1", test_mse=5e-4, interval=(4.5e-4, 5.5e-4)),
                              "fernn-v2": _table1_result("fernn-v2", test_mse=4e-4, interval=None)})
    assert [row["copies"] for row in summary["rows"].values()] == [1, 9, 25]
    assert len({row["parameters"] for row in summary["rows"].values()}) == 1  # the same weights' shapes
    report = table1_report(summary)
    tables = _tables(report)
    assert len(tables) == 3
    for table in tables:
        assert {_unescaped_pipes(line) for line in table} == {_unescaped_pipes(table[0])}, table
    assert "paper (secondary sources)" in tables[0][0] and "paper (secondary sources)" in tables[1][0]
    assert "| FERNN-V2 | runs/fernn-v2.pt | 25 |" in report and "not recorded" in report  # V2 stored no interval
    assert "| G-RNN / FERNN-V1 | 16 | 13.6..18.9 | 15.3 | 1.05 |" in report
    assert "| G-RNN / FERNN-V2 | G-RNN / FERNN-V2 = 20 | >= 10 | met, 2x the goal |" in report
    assert "| FERNN-V1 / FERNN-V2 | FERNN-V1 / FERNN-V2 = 1.25 | >= 1.5 | missed, 0.833x the goal (needs 1.2x more) |" in report
    assert "not judged: no 95% interval recorded" in report


def test_table1_refuses_evaluations_made_on_different_data():
    from fernn.experiments.table1 import check_same_data, table1_summary

    results = {role: _table1_result(role, test_mse=1e-3, interval=(0.9e-3, 1.1e-3)) for role in ("grnn", "fernn-v1", "fernn-v2")}
    table1_summary(results)  # the same data: accepted
    for change, message in (({"data_max_speed": 1}, "different data (data_max_speed: G-RNN 2, FERNN-V1 1, FERNN-V2 2)"),
                            ({"test_sequences": 64}, "different data (test_sequences"),
                            ({"seed": 7}, "different data (seed")):
        differing = dict(results, **{"fernn-v1": _table1_result("fernn-v1", test_mse=1e-3, interval=None, **change)})
        with pytest.raises(ValueError, match=re.escape(message)):
            table1_summary(differing)
    other_digits = {name: dict(result["evaluation"]) for name, result in results.items()}
    other_digits["grnn"]["digits"] = "/data/mnist"
    with pytest.raises(ValueError, match="different data \\(digits"):
        check_same_data(other_digits)
    everyone_at_1 = {role: _table1_result(role, test_mse=1e-3, interval=None, data_max_speed=1) for role in results}
    with pytest.raises(ValueError, match=re.escape("per-digit velocities {-1..1}^2, not on Table 1's {-2..2}^2")):
        table1_summary(everyone_at_1)
    unrecorded = {name: {"settings": {}} for name in ("a", "b")}
    with pytest.raises(ValueError, match="do not record their data speed"):
        check_same_data(unrecorded)


def test_table1_roles_come_from_the_configs():
    from fernn.experiments.table1 import table1_roles

    def config(kind, speed=0, hidden_channels=2):
        return fernn.build_model(kind, hidden_channels=hidden_channels, decoder_layers=1, max_speed=speed).config

    roles = table1_roles({"b": config("fernn", 2), "a": config("grnn"), "c": config("fernn", 1)})
    assert roles == {"grnn": "a", "fernn-v1": "c", "fernn-v2": "b"}
    cases = [
        ({"a": config("grnn"), "b": config("grnn"), "c": config("fernn", 2)},
         "one G-RNN, one FERNN-V1 and one FERNN-V2; got 2 G-RNN (a, b), 0 FERNN-V1"),
        ({"a": config("grnn"), "b": config("fernn", 3), "c": config("fernn", 2)}, "b is a FERNN with 49 velocity copies"),
        ({"a": config("grnn"), "b": config("fernn", 1, hidden_channels=3), "c": config("fernn", 2)},
         "b differs from the G-RNN a: hidden_channels 3 against 2"),
        ({"a": config("grnn"), "b": config("fernn", 1)}, "three models"),
    ]
    for configs, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            table1_roles(configs)


@pytest.fixture(scope="module")
def table1_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table1")
    torch.manual_seed(0)
    return [fernn.save_checkpoint(folder / f"{role}.pt", fernn.build_model(kind, hidden_channels=2, decoder_layers=1,
                                                                          max_speed=speed))
            for role, kind, speed in (("grnn", "grnn", 0), ("fernn-v1", "fernn", 1), ("fernn-v2", "fernn", 2))]


TABLE1_QUICK = ["--quick", "--test-sequences", "6", "--widened-max-speed", "0", "--grid-max-speed", "1",
                "--length-frames", "3", "--device", "cpu"]


def test_table1_command_evaluates_on_table1_data_and_reuses_it(table1_checkpoints, tmp_path, capsys):
    output, report = tmp_path / "table1.json", tmp_path / "table1.md"
    paths = [str(path) for path in reversed(table1_checkpoints)]  # any order
    assert main(["--table1", *paths, *TABLE1_QUICK, "--write-metrics", "--output", str(output), "--report", str(report)]) == 0
    data = json.loads(output.read_text())
    assert all(result["evaluation"]["settings"]["data_max_speed"] == 2 for result in data["results"].values())
    assert list(data["table1"]["rows"]) == ["grnn", "fernn-v1", "fernn-v2"]
    assert data["table1"]["rows"]["fernn-v2"]["checkpoint"] == paths[0]
    text = report.read_text()
    assert text.startswith("## Table 1: Translating MNIST, per-digit velocities in {-2..2}^2") and "| fernn-v2 |" in text
    capsys.readouterr()
    again = tmp_path / "again.json"
    assert main(["--table1", *paths, "--reuse-metrics", "--output", str(again)]) == 0
    assert json.loads(again.read_text())["table1"] == data["table1"]
    # Without --table1 the same files get no Table 1.
    capsys.readouterr()
    assert main([*paths, "--reuse-metrics", "--output", str(again)]) == 0
    assert json.loads(again.read_text())["table1"] is None and "## Table 1" not in capsys.readouterr().out


def _one_error_line(capsys, argv: list[str], code: int) -> str:
    capsys.readouterr()
    try:
        result = main(argv)
    except SystemExit as exit:
        result = exit.code
    lines = capsys.readouterr().err.splitlines()
    assert result == code and len(lines) == 1 and lines[0].startswith("python -m fernn.evaluate: error: "), lines
    return lines[0]


def test_table1_command_refuses_before_any_work(table1_checkpoints, tmp_path, capsys):
    output = tmp_path / "table1.json"
    paths = [str(path) for path in table1_checkpoints]
    cases = [
        (paths[:2], "--table1 compares three checkpoints (G-RNN, FERNN-V1, FERNN-V2); got 2", 2),
        ([*paths, "--data-max-speed", "1"], "--table1 evaluates on Table 1's data (--data-max-speed 2); got 1", 2),
        ([*paths, "--targets", "demo"], "--table1 checks Table 1's targets", 2),
        ([paths[0], paths[0], paths[2], "--names", "a", "b", "c"], "got 2 G-RNN (a, b), 0 FERNN-V1", 1),
    ]
    for argv, message, code in cases:
        assert message in _one_error_line(capsys, ["--table1", *argv, *TABLE1_QUICK, "--output", str(output)], code)
    assert not output.exists()


def test_table1_reuse_refuses_stored_evaluations_on_different_data(table1_checkpoints, tmp_path, capsys):
    from fernn.experiments.evaluate import EvaluationSettings

    copies = []
    for path, speed in zip(table1_checkpoints, (2, 2, 1)):
        model = fernn.load_checkpoint(path)
        evaluation = {"settings": asdict(EvaluationSettings(data_max_speed=speed)), "test_mse": 0.1}
        copies.append(fernn.save_checkpoint(tmp_path / path.name, model, {"evaluation": evaluation}))
    output = tmp_path / "table1.json"
    line = _one_error_line(capsys, ["--table1", *map(str, copies), "--reuse-metrics", "--output", str(output)], 1)
    assert "the evaluations were made on different data (data_max_speed: grnn 2, fernn-v1 2, fernn-v2 1)" in line
    assert not output.exists()


def test_a_rotation_pair_is_checked_against_the_rotation_targets():
    """Rotation evaluations use the rotation targets (in-range |k| <= 1; the FERNN-R widened to V_3)."""
    from fernn.experiments.report import ROTATION_TARGETS, comparison

    grid = lambda in_range, speed2: {"in_range_mse": in_range, "speed_2_mse": speed2}  # noqa: E731
    fernn_eval = {"test_mse": 4e-3, "velocity_grid": grid(4e-3, 5e-3),
                  "widened_velocity_grid": {"max_speed": 3, "in_range_mse": 5e-3, "speed_3_mse": 8e-3}}
    grnn_eval = {"test_mse": 2e-2, "velocity_grid": grid(2e-2, 6e-2)}
    rotation = {"name": "rotation", "order": 12}
    checks = comparison({"grnn": {"evaluation": grnn_eval, "config": {"flow": rotation}},
                         "fernn": {"evaluation": fernn_eval, "config": {"flow": rotation}}})
    assert set(checks) == set(ROTATION_TARGETS)
    assert checks["grnn_speed2_over_fernn_speed2"]["value"] == pytest.approx(12.0) and all(
        row["met"] for row in checks.values())
    fernn_eval["velocity_grid"] = grid(4e-3, 7e-3)  # 1.75x its in-range at |k| = 2: over the 1.5 bound
    checks = comparison({"grnn": {"evaluation": grnn_eval, "config": {"flow": rotation}},
                         "fernn": {"evaluation": fernn_eval, "config": {"flow": rotation}}})
    assert not checks["fernn_speed2_over_in_range"]["met"]
