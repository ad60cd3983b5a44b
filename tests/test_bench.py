"""``python -m fernn.bench --quick``: runs in seconds and writes well-formed JSON (no timing assertions);
the harness that times its variants side by side (on a fake clock)."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
import sys

import pytest
import torch

import fernn.timing
from fernn.experiments.bench.harness import side_by_side


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    output = tmp_path_factory.mktemp("bench") / "bench.json"
    # A separate process, as a user runs it (the bench tunes its own process's allocator).
    command = [sys.executable, "-m", "fernn.bench", "--quick", "--device", "cpu", "--threads", "1",
               "--output", str(output)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Recurrent step" in completed.stdout
    return json.loads(output.read_text()), output.read_text(), completed.stdout


def test_quick_bench_writes_well_formed_json(quick_results) -> None:
    results, text, _ = quick_results
    assert results["quick"] is True
    assert json.loads(text) == results  # plain JSON, no NaN/Infinity tokens needed to read it back
    for key in ("machine", "steps", "conv_peak", "training", "memory", "app", "cuda", "verdicts", "targets"):
        assert key in results, key
    assert results["machine"]["torch"] and results["machine"]["logical_cpus"] >= 1


def test_quick_bench_step_rows_compare_fast_reference_and_bound(quick_results) -> None:
    results, _, _ = quick_results
    groups = {row["group"] for row in results["steps"]}
    assert groups == {"app", "training"}
    for row in results["steps"]:
        for key in ("fast_ms", "reference_ms", "bound_ms", "fast_over_bound", "reference_over_bound",
                    "speedup_vs_reference", "conv_gflops", "conv_fraction_of_peak"):
            assert _finite_positive(row[key]), (key, row)
        assert row["bound_variant"] in ("conv_channels_last", "conv_prepacked")
        assert math.isclose(row["fast_over_bound"], row["fast_ms"] / row["bound_ms"], rel_tol=1e-9)
        assert math.isclose(row["speedup_vs_reference"], row["reference_ms"] / row["fast_ms"], rel_tol=1e-9)
    assert _finite_positive(results["conv_peak"]["conv_peak_gflops"])


def test_quick_bench_training_memory_app_and_verdicts(quick_results) -> None:
    results, _, _ = quick_results
    training = results["training"]
    assert _finite_positive(training["fast_s"]) and _finite_positive(training["reference_s"])
    # The bench checks its own comparison: same weights, same gradients up to float32 rounding.
    assert training["max_relative_gradient_difference"] < 1e-3
    assert _finite_positive(training["fast_bf16_s"])  # bf16 autocast: gradients agree to bf16 rounding
    assert training["bf16_max_relative_gradient_difference"] < 0.2
    assert math.isclose(training["bf16_speedup_vs_fast_fp32"], training["fast_s"] / training["fast_bf16_s"], rel_tol=1e-9)
    memory = results["memory"]
    if memory["available"]:
        for key in ("fast_mib_per_sample", "fast_checkpointed_mib_per_sample", "reference_mib_per_sample"):
            assert isinstance(memory[key], (int, float)) and math.isfinite(memory[key])
    else:
        assert memory["reason"]
    app = results["app"]
    assert app["available"] in (True, False)
    if app["available"]:
        assert _finite_positive(app["default"]["seconds"])
        assert _finite_positive(app["rotation_default"]["seconds"]) and app["rotation_default"]["copies"] == 5
        assert results["verdicts"]["app_rotation_comparison_seconds"]["value"] == app["rotation_default"]["seconds"]
    else:
        assert app["reason"]
    assert results["cuda"]["available"] is False or results["cuda"]["steps"]
    for name, verdict in results["verdicts"].items():
        assert set(verdict) == {"value", "target", "met"}, name
        assert verdict["met"] in (True, False, None)


def test_quick_bench_rotation_rows_compare_fast_reference_and_bound(quick_results) -> None:
    results, _, report = quick_results
    assert results["rotation_steps"] and "Rotation step, FERNN-R" in report
    for row in results["rotation_steps"]:
        assert row["order"] == 12 and row["channels"] == row["fields"] * 12
        for key in ("fast_ms", "reference_ms", "bound_ms", "fast_over_bound", "reference_over_bound",
                    "speedup_vs_reference"):
            assert _finite_positive(row[key]), (key, row)
        assert math.isclose(row["reference_over_bound"], row["reference_ms"] / row["bound_ms"], rel_tol=1e-9)


def test_quick_bench_world_rows_compare_fast_reference_and_bound(quick_results) -> None:
    results, _, report = quick_results
    assert results["world_steps"] and "World step, world FERNN" in report
    for row in results["world_steps"]:
        assert row["world_size"] == 48 and row["copies"] == 9
        for key in ("fast_ms", "reference_ms", "bound_ms", "fast_over_bound", "reference_over_bound",
                    "speedup_vs_reference"):
            assert _finite_positive(row[key]), (key, row)
        assert math.isclose(row["fast_over_bound"], row["fast_ms"] / row["bound_ms"], rel_tol=1e-9)


def test_report_lists_every_target(quick_results) -> None:
    results, _, report = quick_results  # what the command printed
    for name in results["verdicts"]:
        assert name in report
    assert "Recurrent step" in report


def test_side_by_side_calibrates_each_function_and_times_them_round_robin(monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr(fernn.timing, "perf_counter", lambda: now[0])  # time moves only in the functions
    order = []

    def costing(name: str, seconds: float):
        def function() -> None:
            order.append(name)
            now[0] += seconds
        return function

    medians = side_by_side({"slow": costing("slow", 0.25), "fast": costing("fast", 0.0625)}, repeats=2,
                           min_seconds=0.5, device=torch.device("cpu"))
    # A warm-up and a calibration call each; then, per repeat, enough calls to fill 0.5 s: 2 slow, 8 fast.
    assert order == ["slow"] * 2 + ["fast"] * 2 + (["slow"] * 2 + ["fast"] * 8) * 2
    assert medians == {"slow": 0.25, "fast": 0.0625}


@pytest.mark.parametrize(("options", "message"), [
    ({"functions": {}, "repeats": 1, "min_seconds": 0.0}, "at least one function"),
    ({"repeats": 0, "min_seconds": 0.0}, "repeats must be"),
    ({"repeats": 1, "min_seconds": -1.0}, "min_seconds must be"),
])
def test_side_by_side_rejects_bad_options(options: dict, message: str) -> None:
    options = {"functions": {"noop": lambda: None}, **options}
    with pytest.raises(ValueError, match=message):
        side_by_side(**options, device=torch.device("cpu"))


def test_app_rows_time_a_given_pair_and_refuse_a_missing_file(tmp_path) -> None:
    """scripts/app_latency_pairs.py times several pairs through bench_app(translation_pair=...)."""
    import fernn
    from fernn.experiments.bench.app_latency import bench_app

    small = dict(hidden_channels=3, decoder_layers=2)
    pair = {"G-RNN": tmp_path / "grnn", "FERNN": tmp_path / "fernn"}
    fernn.save_checkpoint(pair["G-RNN"], fernn.build_model("grnn", **small))
    fernn.save_checkpoint(pair["FERNN"], fernn.build_model("fernn", max_speed=1, **small))
    results = bench_app(device=torch.device("cpu"), repeats=1, quick=True, translation_pair=pair, rotation=False)
    assert results["models"] == "given checkpoints" and "rotation_default" not in results
    assert _finite_positive(results["default"]["seconds"])
    assert results["default"]["copies"] == 25  # auto widens the set to the default digit's (1, 2): V_2
    with pytest.raises(FileNotFoundError, match="no model at .*nothing"):
        bench_app(device=torch.device("cpu"), repeats=1, quick=True,
                  translation_pair={"G-RNN": pair["G-RNN"], "FERNN": tmp_path / "nothing"})


@pytest.mark.parametrize("flags, message", [
    (["--output", "/etc/hostname/out.json"], "--output"),
    (["--markdown", "/"], "is a folder"),
    (["--threads", "-3"], "--threads"),
])
def test_the_bench_refuses_bad_outputs_and_threads_before_any_work(flags, message):
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "fernn.bench", "--quick", *flags], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr
    assert "[bench]" not in result.stderr, "it started benchmarking before refusing"
    assert time.perf_counter() - started < 60


def test_a_missed_target_is_explained_in_words():
    from fernn.experiments.bench.report import missed_in_words

    slow = missed_in_words("app_comparison_seconds", {"value": 0.45, "target": 0.3, "met": False},
                           {"quick": True, "busy_processes": ["python -m fernn.train"]})
    assert "the app's default comparison: 0.45 s; wanted at most 0.3 s (50% over)" in slow
    assert "smoke run" in slow and "other processes were running" in slow
    short = missed_in_words("speedup_vs_reference_b1_v25", {"value": 1.2, "target": 1.5, "met": False}, {})
    assert "(20% short)" in short and "idle machine" in short


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_the_gpu_check_says_plainly_when_there_is_no_gpu(tmp_path):
    script = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"
    done = subprocess.run([sys.executable, str(script), "--output", str(tmp_path / "check")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA GPU here" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "check").exists()
