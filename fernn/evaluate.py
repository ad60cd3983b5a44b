"""Evaluation on held-out digits: ``python -m fernn.evaluate CHECKPOINT [CHECKPOINT ...]``.

Every model sees the same held-out sequences (test digits, fixed seeds), so numbers compare
across models. Reports test MSE with two baselines (predict zeros, copy the last context
frame), the velocity-generalisation grid, length generalisation and the hidden-state
flow-equivariance error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from .data import SequenceSpec, flowing_mnist_batch, load_digits
from .devices import resolve_device
from .flows import Velocity
from .models import Forecaster
from .testing import flow_equivariance_error

__all__ = [
    "EvaluationSettings",
    "baseline_step_mse",
    "evaluate_model",
    "length_generalisation",
    "reference_batch_mse",
    "step_mse",
    "steps_to_reach",
    "velocity_grid_mse",
]

Progress = Callable[[int, int], None]
# EvaluationSettings fields that the command line can override.
OVERRIDABLE = ("test_sequences", "grid_sequences", "length_sequences", "length_frames", "grid_max_speed", "seed")


@dataclass(frozen=True)
class EvaluationSettings:
    """The held-out protocol; stored with every result so numbers say how they were made."""

    context_frames: int = 10
    predict_frames: int = 10
    num_digits: int = 2
    data_max_speed: int = 1  # test sequences: per-digit velocities in {-1..1}^2, like training
    test_sequences: int = 512
    grid_max_speed: int = 3  # velocity grid {-3..3}^2, both digits share the velocity
    grid_sequences: int = 64
    length_frames: int = 70
    length_sequences: int = 128
    seed: int = 2024  # held-out sequence stream (training uses 0, validation 1)
    batch_size: int = 64


def _spec(settings: EvaluationSettings, predict_frames: int | None = None) -> SequenceSpec:
    """Held-out sequences at the training velocities, ``predict_frames`` after the context."""
    predicted = settings.predict_frames if predict_frames is None else predict_frames
    return SequenceSpec(num_frames=settings.context_frames + predicted, num_digits=settings.num_digits,
                        max_speed=settings.data_max_speed)


def _digits(root: str | None = None) -> np.ndarray:
    return load_digits("test", root=root)[0]


def step_mse(
    model: Forecaster,
    sequences: torch.Tensor,
    context_frames: int,
    *,
    velocities: Sequence[Velocity] | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Per-predicted-step MSE ``(S,)`` of ``model`` on ``sequences`` ``(N, T + S, 1, H, W)``."""
    device = next(model.parameters()).device
    steps = sequences.shape[1] - context_frames
    total = torch.zeros(steps, dtype=torch.float64)
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size].to(device)
        frames = model.forecast(batch[:, :context_frames], steps, velocities=velocities).frames
        error = (frames - batch[:, context_frames:]).double() ** 2  # (B, S, 1, H, W)
        total += error.sum(dim=(0, 2, 3, 4)).cpu()
    return (total / (len(sequences) * sequences[0, 0].numel())).numpy()


def baseline_step_mse(sequences: torch.Tensor, context_frames: int) -> dict[str, np.ndarray]:
    """Per-step MSE ``(S,)`` of predicting zeros and of repeating the last context frame."""
    future = sequences[:, context_frames:].double()  # (N, S, 1, H, W)
    last = sequences[:, context_frames - 1 : context_frames].double()  # (N, 1, 1, H, W)
    return {
        "zeros": (future**2).mean(dim=(0, 2, 3, 4)).numpy(),
        "copy_last": ((future - last) ** 2).mean(dim=(0, 2, 3, 4)).numpy(),
    }


def velocity_grid_mse(
    model: Forecaster,
    *,
    speeds: Sequence[int] = range(-3, 4),
    num_sequences: int = 64,
    seed: int = 2024,
    context_frames: int = 10,
    predict_frames: int = 10,
    num_digits: int = 2,
    velocities: Sequence[Velocity] | None = None,
    progress: Progress | None = None,
    digits_root: str | None = None,
    batch_size: int = 64,
) -> dict:
    """Mean predicted-frame MSE for each fixed velocity ``(dy, dx)`` with ``dy, dx`` in ``speeds``.

    Returns ``{"speeds": [...], "mse": [[...]]}`` with ``mse[i][j]`` for ``dy = speeds[i]``,
    ``dx = speeds[j]``. Every cell uses the same digits and offsets (same seed), so cells
    differ only in velocity. ``progress(done, total)`` is called after each cell.
    """
    speeds = [int(s) for s in speeds]
    digits = _digits(digits_root)
    grid = np.zeros((len(speeds), len(speeds)))
    total = len(speeds) ** 2
    for i, dy in enumerate(speeds):
        for j, dx in enumerate(speeds):
            spec = SequenceSpec(num_frames=context_frames + predict_frames, num_digits=num_digits, velocity=(dy, dx))
            sequences = flowing_mnist_batch(digits, range(num_sequences), seed=seed, spec=spec)
            grid[i, j] = step_mse(model, sequences, context_frames, velocities=velocities, batch_size=batch_size).mean()
            if progress is not None:
                progress(i * len(speeds) + j + 1, total)
    return {"speeds": speeds, "mse": grid.tolist()}


def length_generalisation(
    model: Forecaster, sequences: torch.Tensor, context_frames: int, *, batch_size: int = 64
) -> dict:
    """Per-step MSE over a long rollout: ``{"steps": [1..S], "mse": [...], "copy_last": [...]}``."""
    mse = step_mse(model, sequences, context_frames, batch_size=batch_size)
    baseline = baseline_step_mse(sequences, context_frames)["copy_last"]
    return {"steps": list(range(1, len(mse) + 1)), "mse": mse.tolist(), "copy_last": baseline.tolist()}


def _grid_summary(grid: dict) -> dict:
    """Mean MSE over the grid's in-range (|v|inf <= 1) cells and over each ring |v|inf = r."""
    speeds = np.asarray(grid["speeds"])
    mse = np.asarray(grid["mse"])
    ring = np.maximum(np.abs(speeds)[:, None], np.abs(speeds)[None, :])
    summary = {"in_range_mse": float(mse[ring <= 1].mean())}
    for radius in range(2, int(ring.max()) + 1):
        summary[f"speed_{radius}_mse"] = float(mse[ring == radius].mean())
    return summary


# A small batch whose MSE is recorded with each evaluation, so a test can check that a shipped
# checkpoint still reproduces it (cheaply, on any machine).
REFERENCE_SEQUENCES = 16


def reference_batch_mse(
    model: Forecaster, settings: EvaluationSettings = EvaluationSettings(), *, digits_root: str | None = None
) -> float:
    """MSE on the first :data:`REFERENCE_SEQUENCES` held-out test sequences."""
    batch = flowing_mnist_batch(_digits(digits_root), range(REFERENCE_SEQUENCES), seed=settings.seed,
                                spec=_spec(settings))
    return float(step_mse(model, batch, settings.context_frames).mean())


def evaluate_model(
    model: Forecaster,
    settings: EvaluationSettings = EvaluationSettings(),
    *,
    digits_root: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """The full held-out evaluation of one model; a JSON-ready dict."""
    digits = _digits(digits_root)
    started = time.perf_counter()
    test = flowing_mnist_batch(digits, range(settings.test_sequences), seed=settings.seed, spec=_spec(settings))
    per_step = step_mse(model, test, settings.context_frames, batch_size=settings.batch_size)
    reference = reference_batch_mse(model, settings, digits_root=digits_root)
    baselines = {name: float(values.mean()) for name, values in baseline_step_mse(test, settings.context_frames).items()}
    log(f"  test MSE {per_step.mean():.5g} (zeros {baselines['zeros']:.5g}, copy-last {baselines['copy_last']:.5g})")

    speeds = range(-settings.grid_max_speed, settings.grid_max_speed + 1)
    grid = velocity_grid_mse(model, speeds=speeds, num_sequences=settings.grid_sequences, seed=settings.seed,
                             context_frames=settings.context_frames, predict_frames=settings.predict_frames,
                             num_digits=settings.num_digits, digits_root=digits_root, batch_size=settings.batch_size)
    grid.update(_grid_summary(grid))
    log(f"  velocity grid: in-range {grid['in_range_mse']:.5g}, |v|=2 {grid.get('speed_2_mse', math.nan):.5g}")

    long = flowing_mnist_batch(digits, range(settings.length_sequences), seed=settings.seed,
                               spec=_spec(settings, settings.length_frames))
    length = length_generalisation(model, long, settings.context_frames, batch_size=settings.batch_size)
    log(f"  length: step 10 {length['mse'][9]:.5g}, step 30 {length['mse'][29]:.5g}")

    equivariance = []
    for velocity in ((1, 0), (1, 1), (2, -1)):
        report = flow_equivariance_error(model, velocity)
        equivariance.append({"velocity": list(velocity), "pairs_compared": report.pairs_compared,
                             "exact_error": _finite(report.exact_error),
                             "truncated_error": _finite(report.truncated_error)})
    return {
        "settings": asdict(settings),
        "test_mse": float(per_step.mean()),
        "test_step_mse": per_step.tolist(),
        "baselines": baselines,
        "reference_batch": {"sequences": REFERENCE_SEQUENCES, "mse": reference},
        "velocity_grid": grid,
        "length": length,
        "equivariance": equivariance,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def steps_to_reach(history: Sequence[dict], target: float) -> int | None:
    """First logged step whose validation MSE is at most ``target`` (``None`` if never)."""
    for record in history:
        if "val_mse" in record and record["val_mse"] <= target:
            return int(record["step"])
    return None


def comparison(results: dict[str, dict]) -> dict:
    """Checks of a G-RNN / FERNN pair against the project's targets (names ``grnn``, ``fernn``)."""
    grnn, fernn = results["grnn"], results["fernn"]
    g_eval, f_eval = grnn["evaluation"], fernn["evaluation"]
    f_in = f_eval["velocity_grid"]["in_range_mse"]
    f_out, g_out = f_eval["velocity_grid"]["speed_2_mse"], g_eval["velocity_grid"]["speed_2_mse"]
    length = f_eval["length"]["mse"]
    rows = {
        "fernn_test_mse": (f_eval["test_mse"], "<= 0.01", f_eval["test_mse"] <= 0.01),
        "fernn_over_grnn_test_mse": (f_eval["test_mse"] / g_eval["test_mse"], "<= 1/3",
                                     f_eval["test_mse"] <= g_eval["test_mse"] / 3),
        "fernn_speed2_over_in_range": (f_out / f_in, "<= 1.5", f_out <= 1.5 * f_in),
        "grnn_speed2_over_fernn_speed2": (g_out / f_out, ">= 5", g_out >= 5 * f_out),
        "fernn_step30_over_step10": (length[29] / length[9], "<= 2", length[29] <= 2 * length[9]),
    }
    g_history = grnn.get("train", {}).get("history", [])
    f_history = fernn.get("train", {}).get("history", [])
    if g_history and f_history:
        g_final = [r for r in g_history if "val_mse" in r][-1]
        reached = steps_to_reach(f_history, g_final["val_mse"])
        fraction = None if reached is None else reached / g_final["step"]
        rows["fernn_steps_to_grnn_final_val_fraction"] = (fraction, "<= 1/4", fraction is not None and fraction <= 0.25)
    return {name: {"value": value, "target": target, "met": bool(met)} for name, (value, target, met) in rows.items()}


def markdown_report(results: dict[str, dict], checks: dict | None) -> str:
    """A results table (one row per model) and, for a G-RNN/FERNN pair, the target checks."""
    lines = ["| model | test MSE | zeros | copy-last | grid |v|<=1 | grid |v|=2 | grid |v|=3 | step 10 | step 30 | last step | equiv. error (f64) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        e = result["evaluation"]
        grid, length = e["velocity_grid"], e["length"]["mse"]
        exact = [x["exact_error"] for x in e["equivariance"] if x["exact_error"] is not None]
        truncated = [x["truncated_error"] for x in e["equivariance"] if x["truncated_error"] is not None]
        equiv = f"{max(exact):.1e}" if exact else f"none exact; {max(truncated):.2f} (no lifted copy)"
        lines.append(
            f"| {name} | {e['test_mse']:.4g} | {e['baselines']['zeros']:.4g} | {e['baselines']['copy_last']:.4g} "
            f"| {grid['in_range_mse']:.4g} | {grid.get('speed_2_mse', math.nan):.4g} | {grid.get('speed_3_mse', math.nan):.4g} "
            f"| {length[9]:.4g} | {length[29]:.4g} | {length[-1]:.4g} | {equiv} |"
        )
    for name, result in results.items():
        grid = result["evaluation"]["velocity_grid"]
        speeds = grid["speeds"]
        lines += ["", f"{name}: test MSE per fixed velocity (rows dy, columns dx)", "",
                  "| dy \\ dx | " + " | ".join(str(s) for s in speeds) + " |", "|---" * (len(speeds) + 1) + "|"]
        lines += [f"| {dy} | " + " | ".join(f"{value:.3g}" for value in row) + " |" for dy, row in zip(speeds, grid["mse"])]
    if checks:
        lines += ["", "| target | measured | goal | met |", "|---|---|---|---|"]
        for name, row in checks.items():
            value = "never" if row["value"] is None else f"{row['value']:.3g}"
            lines.append(f"| {name} | {value} | {row['target']} | {'yes' if row['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fernn.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--names", nargs="+", help="a name per checkpoint (default: file stems)")
    parser.add_argument("--output", type=Path, default=Path("evaluation.json"), help="results JSON (default: %(default)s)")
    parser.add_argument("--report", type=Path, help="also write a markdown results table here")
    parser.add_argument("--write-metrics", action="store_true",
                        help="store each evaluation in its checkpoint and in NAME.metrics.json beside it")
    parser.add_argument("--quick", action="store_true", help="a few sequences per measurement (smoke test)")
    parser.add_argument("--reuse-metrics", action="store_true",
                        help="report the evaluation stored in each checkpoint instead of recomputing it")
    parser.add_argument("--digits-root", help="folder of MNIST IDX files (default: bundled digits)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    for field in OVERRIDABLE:
        parser.add_argument("--" + field.replace("_", "-"), type=int)
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.checkpoints):
        parser.error("--names needs one name per checkpoint")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    overrides = {"test_sequences": 8, "grid_sequences": 2, "length_sequences": 2, "length_frames": 30,
                 "grid_max_speed": 2} if args.quick else {}
    for field in OVERRIDABLE:
        if getattr(args, field) is not None:
            overrides[field] = getattr(args, field)
    try:
        settings = EvaluationSettings(**overrides)
        device = resolve_device(args.device)
        names = args.names or [path.stem for path in args.checkpoints]
        results: dict[str, dict] = {}
        for name, path in zip(names, args.checkpoints):
            print(f"{name}: {path}")
            model = load_checkpoint(path, device=device)
            if args.reuse_metrics:
                if "evaluation" not in model.metrics:
                    parser.error(f"{path} has no stored evaluation; run without --reuse-metrics")
                evaluation = model.metrics["evaluation"]
                settings = EvaluationSettings(**evaluation["settings"])
            else:
                evaluation = evaluate_model(model, settings, digits_root=args.digits_root)
            results[name] = {"checkpoint": str(path), "config": model.config.to_dict(),
                             "train": model.metrics.get("train", {}), "evaluation": evaluation}
            if args.write_metrics and not args.reuse_metrics:
                metrics = dict(model.metrics, evaluation=evaluation)
                save_checkpoint(path, model, metrics, training_state=read_checkpoint(path).get("training"))
                path.with_name(f"{path.stem}.metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        checks = comparison(results) if {"grnn", "fernn"} <= set(results) and settings.grid_max_speed >= 2 \
            and settings.length_frames >= 30 else None
        output = {"results": results, "checks": checks}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(output, indent=1) + "\n")
        report = markdown_report(results, checks)
        if args.report:
            args.report.write_text(report)
        print(report)
    except (OSError, ValueError) as error:  # a missing or damaged checkpoint, an unwritable output
        print(f"python -m fernn.evaluate: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
