"""Time the demo's full comparison: ``python scripts/time_demo.py [--checkpoints DIR] [--runs N]``.

Measures, after warm-up, the median wall time of :func:`fernn.demo.compare` (both models, hidden
states, read-out, stabilised views) alone and together with every figure the app draws for
it, at the default settings (10 context + 10 predicted frames, one MNIST digit at (1, 2)) and
with the FERNN's velocity set widened to |v| <= 4. Uses ``pretrained/grnn.pt`` and
``pretrained/fernn.pt``; without them, untrained models of the shipped size (hidden 16, FERNN
|v| <= 2), which cost the same.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import fernn
from fernn import demo, viz


def models_from(folder: Path) -> tuple[dict[str, fernn.Forecaster], str]:
    paths = [folder / "grnn.pt", folder / "fernn.pt"]
    if all(path.is_file() for path in paths):
        return {"G-RNN": fernn.load_checkpoint(paths[0]), "FERNN": fernn.load_checkpoint(paths[1])}, str(folder)
    torch.manual_seed(0)
    return ({"G-RNN": fernn.build_model("grnn", hidden_channels=16).eval(),
             "FERNN": fernn.build_model("fernn", hidden_channels=16, max_speed=2).eval()},
            "untrained models of the shipped size")


def figures(comparison: demo.Comparison) -> None:
    viz.comparison_animation(comparison).to_json()
    viz.mse_figure(comparison).to_json()
    viz.hidden_animation(comparison, [0, 1, 2, 3], stabilised=True).to_json()
    viz.velocity_activity_animation(comparison, comparison.runs[1]).to_json()


def median_seconds(task, runs: int) -> float:
    task()
    task()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        task()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=Path(__file__).resolve().parent.parent / "pretrained")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models, source = models_from(args.checkpoints)
    scene = demo.mnist_scene([7], velocities=[(1, 2)])
    print(f"models: {source}; torch threads: {torch.get_num_threads()}; median of {args.runs} runs after warm-up")
    for label, velocities in (("as trained (|v| <= 2, 25 copies)", None), ("widened to |v| <= 4 (81 copies)", 4)):
        def run() -> demo.Comparison:
            return demo.compare(models, scene, velocities=velocities)

        alone = median_seconds(run, args.runs)
        full = median_seconds(lambda: figures(run()), args.runs)
        print(f"FERNN set {label}: compare {alone * 1000:.0f} ms, compare + figures {full * 1000:.0f} ms")


if __name__ == "__main__":
    main()
