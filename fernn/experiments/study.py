"""The training-speed claim over seeds: ``python -m fernn.study --seeds 0 1 2 --output FILE.json``.

For each seed a G-RNN and a FERNN-V2 are trained with the same recipe (same data stream, width,
batch and steps; the seed sets initialisation and data), and the FERNN's curve is read for the
first validation at or below the G-RNN's *final* validation MSE. Reported per seed and as
mean and spread: that step over the G-RNN's steps, and the FERNN's wall time then over the
G-RNN's whole run. Small widths keep it to minutes; runs go one per process at one thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from fernn.encoder import Kind
from fernn.experiments import cli
from fernn.experiments.report import steps_to_reach
from fernn.experiments.train import TrainConfig, train

__all__ = ["main", "speed_study"]


def _run(config: TrainConfig) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    train(config, progress=False)
    return json.loads((Path(config.output) / "log.json").read_text())["history"]


def speed_study(*, seeds: list[int], hidden_channels: int, steps: int, batch_size: int, jobs: int,
                workdir: Path) -> dict:
    """Train the pairs and measure the claim; a JSON-ready dict (see the module docstring)."""
    base = dict(hidden_channels=hidden_channels, batch_size=batch_size, steps=steps, val_every=max(steps // 20, 1),
                val_sequences=128, log_every=max(steps // 20, 1), lr_schedule="constant", precision="fp32",
                threads=1, device="cpu")
    configs = {(seed, kind): TrainConfig.from_flat(**base, kind=kind, model_max_speed=2, seed=seed, data_seed=seed,
                                         output=str(workdir / f"{kind}-{seed}"))
               for seed in seeds for kind in Kind}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        histories = dict(zip(configs, pool.map(_run, configs.values())))
    rows = []
    for seed in seeds:
        grnn = [r for r in histories[(seed, "grnn")] if "val_mse" in r]
        fernn = [r for r in histories[(seed, "fernn")] if "val_mse" in r]
        target, grnn_steps, grnn_seconds = grnn[-1]["val_mse"], grnn[-1]["step"], grnn[-1]["wall_time"]
        reached = steps_to_reach(fernn, target)
        at = next((r for r in fernn if r["step"] == reached), None)
        rows.append(dict(seed=seed, grnn_final_val_mse=target, grnn_steps=grnn_steps, grnn_seconds=grnn_seconds,
                         fernn_final_val_mse=fernn[-1]["val_mse"], fernn_steps_to_reach=reached,
                         fernn_seconds_to_reach=None if at is None else at["wall_time"],
                         step_fraction=None if reached is None else reached / grnn_steps,
                         wall_fraction=None if at is None else at["wall_time"] / grnn_seconds))

    def spread(key: str) -> dict:
        values = [row[key] for row in rows if row[key] is not None]
        return dict(mean=statistics.fmean(values) if values else None,
                    std=statistics.stdev(values) if len(values) > 1 else None,
                    min=min(values, default=None), max=max(values, default=None), reached=len(values), of=len(rows))

    return dict(recipe=configs[(seeds[0], "fernn")].to_dict() | {"seed": "per row", "output": None},
                seeds=rows, step_fraction=spread("step_fraction"), wall_fraction=spread("wall_fraction"))


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m fernn.study", doc=__doc__)
    parser.add_argument("--seeds", type=cli.Integer(0, 2**32 - 1), nargs="+", default=[0, 1, 2], metavar="SEED",
                        help="one G-RNN/FERNN pair per seed (initialisation and data) (default: 0 1 2)")
    parser.add_argument("--hidden-channels", type=cli.Integer(1, 1024), default=8, metavar="N",
                        help="hidden channels of both models (default: %(default)s)")
    parser.add_argument("--steps", type=cli.Integer(1), default=600, metavar="N",
                        help="training steps of every run (default: %(default)s)")
    parser.add_argument("--batch-size", type=cli.Integer(1), default=16, metavar="N",
                        help="sequences per step (default: %(default)s)")
    parser.add_argument("--jobs", type=cli.Integer(1, 256), default=2, metavar="N",
                        help="runs at once, one thread each (default: %(default)s)")
    parser.add_argument("--output", type=cli.output_file, required=True, metavar="PATH", help="the study's JSON")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds lists a seed twice: {' '.join(map(str, args.seeds))}")
    return cli.run(parser.prog, lambda: _study(args))


def _study(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="fernn-study-") as workdir:
        result = speed_study(seeds=args.seeds, hidden_channels=args.hidden_channels, steps=args.steps,
                             batch_size=args.batch_size, jobs=args.jobs, workdir=Path(workdir))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    for key in ("step_fraction", "wall_fraction"):
        summary = result[key]
        print(f"{key}: mean {summary['mean']}, std {summary['std']} over {summary['reached']}/{summary['of']} seeds")
    return 0
