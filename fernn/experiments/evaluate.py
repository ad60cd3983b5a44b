"""Evaluation on held-out digits: ``python -m fernn.evaluate CHECKPOINT [CHECKPOINT ...]``.

Every model sees the same held-out sequences (test digits, fixed seeds), so numbers compare
across models. Reports test MSE with its 95% interval over test sequences (normal approximation)
and two baselines (predict zeros, copy the last context frame), the velocity-generalisation grid,
length generalisation and the hidden-state flow-equivariance error. With ``--table1`` and three
checkpoints (a G-RNN, a FERNN-V1, a FERNN-V2), it evaluates on the paper's Table 1 data and adds
Table 1 (fernn.experiments.table1). World models (``world-fernn``, ``world-grnn``) get their own
evaluation and targets (fernn.experiments.world_eval).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fernn.experiments import cli
from fernn.checkpoints import METRICS_FILE, load_checkpoint, update_metrics
from fernn.experiments.classification import (ClassificationSettings, classification_checks, classification_pair,
                                              classification_report, evaluate_classifier, settings_for)
from fernn.classifier import Classifier
from fernn.datasets.digits import load_digits
from fernn.datasets.sequences import fixed_velocity_sequences, moving_digits_batch
from fernn.devices import resolve_device
from fernn.flows import Velocity
from fernn.measures import (baseline_step_mse, grid_summary, length_generalisation, mean_interval, step_mse,
                            step_statistics, velocity_grid_mse)
from fernn.models import Forecaster
from fernn.records import record_of
from fernn.experiments.report import (comparison, markdown_report, report_steps, settings_allow_targets,
                                      target_pair)
from fernn.experiments.table1 import (DATA_MAX_SPEED as TABLE1_SPEED, check_invocation, check_same_data, table1_report,
                                      table1_roles)
from fernn.experiments.table1 import table1_summary
from fernn.experiments.world_eval import (WORLD_QUICK, WorldEvaluationSettings, evaluate_world_model, world_checks,
                                          world_report)
from fernn.testing import flow_equivariance_error, lifting_equivariance_error
from fernn.world import WorldModel

__all__ = ["EvaluationSettings", "evaluate_model", "reference_batch_mse"]

# More held-out sequences than this are refused before any work (the full evaluation uses 512).
MAX_SEQUENCES = 20_000
# EvaluationSettings fields that the command line can override: the values each takes, its help.
OVERRIDABLE: dict[str, tuple[cli.Integer, str]] = {
    "test_sequences": (cli.Integer(1, MAX_SEQUENCES, "an hour's work or more"),
                       "held-out test sequences (velocities: --data-max-speed)"),
    "grid_sequences": (cli.Integer(1, MAX_SEQUENCES, "an hour's work or more"),
                       "sequences per cell of the fixed-velocity grid"),
    "length_sequences": (cli.Integer(1, MAX_SEQUENCES, "an hour's work or more"), "sequences of the long rollout"),
    "length_frames": (cli.Integer(1, 1000), "predicted frames of the long rollout"),
    "grid_max_speed": (cli.Integer(0, cli.DATA_SPEED_LIMIT, "faster is a slower motion on the 28-px torus"),
                       "the fixed-velocity grid {-r..r}^2, r in px/frame"),
    "widened_max_speed": (cli.Integer(0, cli.MODEL_SPEED_LIMIT, "the most velocity copies a checkpoint may hold"),
                          "also run each FERNN with V = {-r..r}^2 over the grid (0: not)"),
    "seed": (cli.Integer(0, 2**32 - 1), "seed of the held-out sequence stream"),
    "data_max_speed": (cli.Integer(0, cli.DATA_SPEED_LIMIT, "faster is a slower motion on the 28-px torus"),
                       "held-out and long-rollout sequences: per-digit velocities in {-r..r}^2, r in px/frame "
                       + f"(--table1: {TABLE1_SPEED})"),
}
# --quick: a few sequences per measurement, enough to exercise every code path.
# A smoke run (targets are not checked on it): a few sequences, a small grid, a FERNN widened to V_3.
QUICK = {"test_sequences": 8, "grid_sequences": 1, "length_sequences": 2, "length_frames": 30, "grid_max_speed": 2,
         "widened_max_speed": 3}
# --quick for classifiers: 20 sequences per measurement, rings up to 2.
CLASSIFIER_QUICK = ClassificationSettings(sequences=20, max_ring=2, widened_max_speed=2, batch_size=20)
# The shipped pairs (the demo's, hidden16/, rotation/), whose targets --targets auto checks.
PRETRAINED = Path(__file__).resolve().parents[2] / "pretrained"


@dataclass(frozen=True)
class EvaluationSettings:
    """The held-out protocol; stored with every result so numbers say how they were made."""

    context_frames: int = 10
    predict_frames: int = 10
    num_digits: int = 2
    data_max_speed: int = 1  # test sequences: per-digit velocities in {-1..1}^2, like training
    test_sequences: int = 512
    grid_max_speed: int = 4  # velocity grid {-4..4}^2 (the app's slider range), both digits share it
    widened_max_speed: int = 4  # a FERNN is also run with V = {-r..r}^2 at inference (same weights)
    grid_sequences: int = 64
    length_frames: int = 70
    length_sequences: int = 128
    seed: int = 2024  # held-out sequence stream (training uses 0, validation 1)
    batch_size: int = 64


def _held_out(model: Forecaster, settings: EvaluationSettings, count: int, *, predict_frames: int | None = None,
              velocity: Velocity | None = None, digits_root: str | None = None) -> torch.Tensor:
    """``count`` held-out sequences of the model's flow at the training velocities (or all at ``velocity``),
    ``predict_frames`` after the context: ``(N, T + S, 1, H, W)``."""
    predicted = settings.predict_frames if predict_frames is None else predict_frames
    return moving_digits_batch(model.flow, _digits(digits_root), range(count), seed=settings.seed,
                               num_frames=settings.context_frames + predicted, num_digits=settings.num_digits,
                               max_speed=settings.data_max_speed, velocity=velocity)


def _digits(root: str | None = None) -> np.ndarray:
    return load_digits("test", root=root)[0]


# The hidden-state equivariance check's input: the first frames of the first held-out test sequences.
EQUIVARIANCE_SEQUENCES, EQUIVARIANCE_FRAMES = 2, 6

# A small batch whose MSE is recorded with each evaluation, so a test can check that a shipped
# checkpoint still reproduces it (cheaply, on any machine).
REFERENCE_SEQUENCES = 16


def reference_batch_mse(
    model: Forecaster, settings: EvaluationSettings = EvaluationSettings(), *, digits_root: str | None = None
) -> float:
    """MSE on the first :data:`REFERENCE_SEQUENCES` held-out test sequences."""
    batch = _held_out(model, settings, REFERENCE_SEQUENCES, digits_root=digits_root)
    return float(step_mse(model, batch, settings.context_frames).mean())


def evaluate_model(
    model: Forecaster,
    settings: EvaluationSettings = EvaluationSettings(),
    *,
    digits_root: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """The full held-out evaluation of one model; a JSON-ready dict."""
    started = time.perf_counter()
    test = _held_out(model, settings, settings.test_sequences, digits_root=digits_root)
    stats = step_statistics(model, test, settings.context_frames, batch_size=settings.batch_size)
    per_step, interval = stats["mse"], mean_interval(stats["sequence_mse"])
    reference = reference_batch_mse(model, settings, digits_root=digits_root)
    baselines = {name: float(values.mean()) for name, values in baseline_step_mse(test, settings.context_frames).items()}
    spread = f" [95%: {interval['low']:.4g}..{interval['high']:.4g}]" if interval["low"] is not None else ""
    log(f"  test MSE {per_step.mean():.5g}{spread} (zeros {baselines['zeros']:.5g}, copy-last {baselines['copy_last']:.5g})")

    grid_sequences = fixed_velocity_sequences(model.flow, _digits(digits_root), count=settings.grid_sequences,
                                              seed=settings.seed, num_digits=settings.num_digits,
                                              num_frames=settings.context_frames + settings.predict_frames)
    grid = velocity_grid_mse(model, grid_sequences, max_speed=settings.grid_max_speed,
                             context_frames=settings.context_frames, batch_size=settings.batch_size)
    grid.update(grid_summary(grid, model.flow))
    speed_2 = f", |v|=2 {grid['speed_2_mse']:.5g}" if "speed_2_mse" in grid else ""
    log(f"  velocity grid: in-range {grid['in_range_mse']:.5g}{speed_2}")
    widened = None
    if model.config.kind.lifted and settings.widened_max_speed:
        widened = velocity_grid_mse(model, grid_sequences, max_speed=settings.grid_max_speed,
                                    context_frames=settings.context_frames,
                                    velocities=model.flow.velocity_set(settings.widened_max_speed),
                                    batch_size=settings.batch_size)
        widened.update(grid_summary(widened, model.flow), max_speed=settings.widened_max_speed)
        log(f"  velocity grid with V_{settings.widened_max_speed}: in-range {widened['in_range_mse']:.5g}")

    long = _held_out(model, settings, settings.length_sequences, predict_frames=settings.length_frames,
                     digits_root=digits_root)
    length = length_generalisation(model, long, settings.context_frames, batch_size=settings.batch_size)
    log("  length: " + ", ".join(f"step {step} {length['mse'][step - 1]:.5g}" for step in report_steps(length)))

    # On held-out digits (6 frames of 2 test sequences), not noise: a flow that resamples maps (rotation
    # by angles other than quarter turns) blurs noise far more than digits, and digits are what it sees.
    digits = _held_out(model, settings, EQUIVARIANCE_SEQUENCES, predict_frames=0)[:, :EQUIVARIANCE_FRAMES]
    equivariance = []
    for velocity in model.flow.probe_velocities():
        report = flow_equivariance_error(model, velocity, context=digits)
        equivariance.append({"velocity": list(velocity) if isinstance(velocity, tuple) else velocity, "pairs_compared": report.pairs_compared,
                             "exact_error": _finite(report.exact_error),
                             "truncated_error": _finite(report.truncated_error), "input": "held-out digits",
                             # the research code's measure for rotations: the lift alone, central disc
                             "lifting_disc_error": _finite(lifting_equivariance_error(
                                 model, velocity, digits.flatten(0, 1)))})
    return {
        "settings": asdict(settings),
        "test_mse": float(per_step.mean()),
        "test_mse_interval": interval,  # over test sequences (normal approximation): fernn.measures.mean_interval
        "test_step_mse": per_step.tolist(),
        "digits": str(Path(digits_root).resolve()) if digits_root else "bundled",  # which test digits
        "baselines": baselines,
        "reference_batch": {"sequences": REFERENCE_SEQUENCES, "mse": reference},
        "velocity_grid": grid,
        "widened_velocity_grid": widened,
        "length": length,
        "equivariance": equivariance,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _world_settings(args: argparse.Namespace) -> WorldEvaluationSettings:
    """The world models' protocol: --quick's few sequences, --seed and --test-sequences as given."""
    overrides = dict(WORLD_QUICK) if args.quick else {}
    overrides.update({field: getattr(args, field) for field in ("seed", "test_sequences")
                      if getattr(args, field) is not None})
    return WorldEvaluationSettings(**overrides)


def _parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="python -m fernn.evaluate", doc=__doc__)
    parser.add_argument("checkpoints", nargs="+", type=cli.existing_model, metavar="MODEL",
                        help="fernn models (model folders, .safetensors or .pt files) to evaluate on the same "
                             "held-out sequences")
    parser.add_argument("--names", nargs="+", metavar="NAME", help="a name per model (default: folder or file stems)")
    parser.add_argument("--output", type=cli.output_file, default=Path("runs/evaluation.json"), metavar="PATH",
                        help="results JSON (default: %(default)s)")
    parser.add_argument("--report", type=cli.output_file, metavar="PATH",
                        help="also write the markdown results table (printed in any case) here")
    parser.add_argument("--targets", choices=("auto", "demo", "none"), default="auto",
                        help="check a G-RNN/FERNN pair against the shipped pairs' targets (translation or rotation): "
                             f"auto only for the shipped pairs ({PRETRAINED.name}/grnn and fernn, the same in "
                             f"{PRETRAINED.name}/hidden16/ or {PRETRAINED.name}/rotation/), demo for any one G-RNN and one FERNN, "
                             "none never (default: %(default)s)")
    parser.add_argument("--table1", action="store_true",
                        help="the paper's Table 1 (fernn.experiments.table1): three forecasters alike but for the velocity set (a "
                             "G-RNN, FERNNs with V = {-1..1}^2 and {-2..2}^2; any order), evaluated on per-digit "
                             f"velocities {{-{TABLE1_SPEED}..{TABLE1_SPEED}}}^2; reports test MSEs with 95%% intervals "
                             "beside the paper's (secondary sources), ratios, targets; refuses evaluations on other data")
    parser.add_argument("--write-metrics", action="store_true",
                        help="store each evaluation with its model: a model folder's metrics.json, a .safetensors "
                             "file's metadata, or a .pt file and NAME.metrics.json beside it")
    parser.add_argument("--quick", action="store_true",
                        help="a few sequences per measurement, grid up to speed 2, 30-frame rollout (a smoke test)")
    parser.add_argument("--reuse-metrics", action="store_true",
                        help="report the evaluation stored in each checkpoint instead of recomputing it")
    parser.add_argument("--digits-root", type=cli.existing_folder, metavar="DIR",
                        help="folder of the MNIST IDX files (default: the bundled digits)")
    parser.add_argument("--device", type=cli.device_name, default="auto",
                        help="auto (CUDA when present), cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--threads", type=cli.Integer(0, 4096), default=0, metavar="N",
                        help="torch CPU threads (0: torch's default)")
    defaults = EvaluationSettings()
    for field, (rule, text) in OVERRIDABLE.items():
        parser.add_argument("--" + field.replace("_", "-"), type=rule, metavar="N",
                            help=f"{text}; {rule.describe()} (default: {getattr(defaults, field)}; --quick: "
                                 f"{QUICK.get(field, getattr(defaults, field))})")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    names = args.names or [path.stem for path in args.checkpoints]
    if len(names) != len(args.checkpoints):
        parser.error(f"--names needs one name per checkpoint: {len(names)} names for {len(args.checkpoints)} checkpoints")
    if len(set(names)) != len(names):
        parser.error(f"two checkpoints share a name ({', '.join(sorted(n for n in set(names) if names.count(n) > 1))}); "
                     "give each its own with --names")
    if args.report is not None and args.report.absolute() == args.output.absolute():
        parser.error(f"--output and --report are the same file: {args.output}")
    if args.write_metrics and args.reuse_metrics:
        parser.error("--write-metrics has nothing new to write with --reuse-metrics; use one or the other")
    if args.write_metrics:
        for path in args.checkpoints:
            try:  # a folder's metrics.json, or the file itself
                cli.output_file(path / METRICS_FILE if path.is_dir() else path)
            except ValueError as error:
                parser.error(f"--write-metrics rewrites every model's records: {error}")
    overrides = dict(QUICK) if args.quick else {}
    if args.table1:
        try:
            check_invocation(checkpoints=len(args.checkpoints), data_max_speed=args.data_max_speed, targets=args.targets)
        except ValueError as error:
            parser.error(str(error))
        overrides["data_max_speed"] = TABLE1_SPEED
    overrides.update({field: getattr(args, field) for field in OVERRIDABLE if getattr(args, field) is not None})
    settings = EvaluationSettings(**overrides)
    if args.targets == "demo" and not args.reuse_metrics and not settings_allow_targets(asdict(settings)):
        parser.error("--targets demo needs --grid-max-speed >= 2 and --length-frames >= 30")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return cli.run(parser.prog, lambda: _evaluate(args, names, settings))


def _evaluate(args: argparse.Namespace, names: list[str], settings: EvaluationSettings) -> int:
    device = resolve_device(args.device)
    models: dict[str, tuple[Path, Forecaster]] = {}
    for name, path in zip(names, args.checkpoints):  # every file is read before the first evaluation starts
        model = load_checkpoint(path, device=device)
        stored = record_of(model).evaluation
        if args.reuse_metrics and (stored is None or not stored.settings):
            raise ValueError(f"{path} has no stored evaluation; run without --reuse-metrics")
        models[name] = (path, model)
    roles = table1_roles({name: model.config for name, (_, model) in models.items()}) if args.table1 else None
    if roles and args.reuse_metrics:  # refused before anything is written
        check_same_data({name: model.metrics["evaluation"] for name, (_, model) in models.items()})
    smoke = args.quick and args.targets == "auto"  # a smoke run judges no target unless asked to
    pair = None if smoke else target_pair(args.targets, models, shipped=PRETRAINED)
    if pair and args.targets == "demo" and args.reuse_metrics:
        short = [name for name in pair if not isinstance(models[name][1], WorldModel)
                 and not settings_allow_targets(record_of(models[name][1]).evaluation.settings)]
        if short:
            raise ValueError(f"--targets demo needs a grid up to speed 2 and a 30-frame rollout; the stored evaluation "
                             f"of {', '.join(short)} has less")
    results: dict[str, dict] = {}
    for name, (path, model) in models.items():
        print(f"{name}: {path}")
        if args.reuse_metrics:
            evaluation = model.metrics["evaluation"]
        elif isinstance(model, WorldModel):
            evaluation = evaluate_world_model(model, _world_settings(args), digits_root=args.digits_root)
        elif isinstance(model, Classifier):
            evaluation = evaluate_classifier(model, settings_for(model, CLASSIFIER_QUICK if args.quick
                                                                 else ClassificationSettings()))
        else:
            evaluation = evaluate_model(model, settings, digits_root=args.digits_root)
        results[name] = {"checkpoint": str(path), "config": model.config.to_dict(),
                         "train": model.metrics.get("train", {}), "evaluation": evaluation}
        if args.write_metrics:
            metrics = dict(model.metrics, evaluation=evaluation)
            update_metrics(path, model, metrics)
            if path.suffix == ".pt":
                path.with_name(f"{path.stem}.metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    worlds = {name: result for name, result in results.items() if isinstance(models[name][1], WorldModel)}
    forecasts = {name: result for name, result in results.items()
                 if not isinstance(models[name][1], (Classifier, WorldModel))}
    checks = world = None
    if pair and all(name in worlds for name in pair):
        world = world_checks(results[pair[0]]["evaluation"], results[pair[1]]["evaluation"])
    elif pair and all(settings_allow_targets(results[name]["evaluation"]["settings"]) for name in pair):
        checks = comparison({"grnn": results[pair[0]], "fernn": results[pair[1]]})
    table1 = table1_summary({role: results[name] for role, name in roles.items()}) if roles else None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    classifiers = None if smoke else classification_pair(results)
    classified = (classification_checks(results[classifiers[0]]["evaluation"], results[classifiers[1]]["evaluation"])
                  if classifiers else None)
    args.output.write_text(json.dumps({"results": results, "checks": checks, "table1": table1,
                                       "classification_checks": classified, "world_checks": world}, indent=1) + "\n")
    report = (table1_report(table1) + "\n" if table1 else "") + (markdown_report(forecasts, checks) if forecasts else "")
    report += classification_report(results) + (world_report(worlds, world) if worlds else "")
    if smoke:
        report += "\n--quick is a smoke run on a few sequences: no target is checked on it (--targets demo asks).\n"
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)
    print(report)
    return 0
