"""The bench's driver: ``run_benchmarks`` runs every section in turn; ``main`` is the command."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import torch

from fernn.experiments.bench.app_latency import bench_app
from fernn.experiments.bench.cuda import bench_cuda
from fernn.experiments.bench.machine import busy_processes, load_average, machine_facts
from fernn.experiments.bench.memory import bench_memory, steady_allocator
from fernn.experiments.bench.report import TARGETS, format_markdown, format_report, verdicts
from fernn.experiments.bench.rotation import bench_rotation_step
from fernn.experiments.bench.shapes import CONTEXT, PREDICT, SHIPPED_DECODER_LAYERS, SHIPPED_HIDDEN
from fernn.experiments.bench.step import bench_conv_peak, bench_step
from fernn.experiments.bench.world import bench_world_step
from fernn.experiments.bench.training import bench_training
from fernn.experiments.cli import Integer, one_line, output_file, run

__all__ = ["main", "run_benchmarks"]


def run_benchmarks(*, quick: bool = False, device: str = "cpu", progress: Callable[[str], None] | None = None) -> dict:
    """Run every section; returns the JSON-ready results (see the package docstring, :mod:`fernn.experiments.bench`)."""
    say = progress or (lambda message: None)
    cpu = torch.device("cpu")
    repeats = 3 if quick else 7
    min_seconds = 0.005 if quick else 0.05
    started = time.perf_counter()
    allocator = steady_allocator()
    results: dict = {
        "quick": quick,
        "machine": dict(machine_facts(), allocator=allocator),
        "load_before": load_average(),
        "busy_processes": busy_processes(),
        "targets": TARGETS,
    }
    app_shapes = [(1, 1), (1, 9)] if quick else [(1, 1), (1, 9), (1, 25), (1, 49), (1, 81)]
    training_shapes = [(4, 9)] if quick else [(16, 9), (16, 25), (32, 9), (32, 25)]
    steps = []
    for group, shapes in (("app", app_shapes), ("training", training_shapes)):
        for batch, copies in shapes:
            say(f"step B={batch} V={copies}")
            row = bench_step(batch, copies, hidden=SHIPPED_HIDDEN, device=cpu, repeats=repeats, min_seconds=min_seconds)
            row["group"] = group
            steps.append(row)
    results["steps"] = steps
    say("conv peak")
    results["conv_peak"] = bench_conv_peak(hidden=SHIPPED_HIDDEN, device=cpu, repeats=repeats, min_seconds=min_seconds,
                                           quick=quick)
    # The peak is the best rate seen for this convolution anywhere in the run, the table's rows included.
    peak = results["conv_peak"]
    peak["conv_peak_gflops"] = max([peak["conv_peak_gflops"], *(row["conv_gflops"] for row in steps)])
    for row in steps:
        row["conv_fraction_of_peak"] = row["conv_gflops"] / peak["conv_peak_gflops"]
    # FERNN-R: C_12 (30° steps), V = {-r..r}; quick: 2 fields, full: 4 fields (48 channels).
    rotation_shapes = [(2, 1, 2)] if quick else [(1, 2, 4), (16, 2, 4)]
    results["rotation_steps"] = []
    for batch, max_speed, fields in rotation_shapes:
        say(f"rotation step B={batch} V={2 * max_speed + 1}")
        results["rotation_steps"].append(bench_rotation_step(batch, max_speed, order=12, fields=fields, device=cpu,
                                                             repeats=repeats, min_seconds=min_seconds))
    # The world FERNN (48-px torus, 16 channels): the app's one sequence and the training batch.
    results["world_steps"] = []
    for batch, max_speed in ([(1, 1)] if quick else [(1, 1), (1, 2), (16, 1)]):
        say(f"world step B={batch} V={(2 * max_speed + 1) ** 2}")
        results["world_steps"].append(bench_world_step(batch, max_speed, device=cpu, repeats=repeats,
                                                       min_seconds=min_seconds))
    training = dict(batch=2, hidden=8, max_speed=1, decoder_layers=2, context=3, predict=3) if quick else dict(
        batch=16, hidden=SHIPPED_HIDDEN, max_speed=2, decoder_layers=SHIPPED_DECODER_LAYERS, context=CONTEXT,
        predict=PREDICT)
    say("training step")
    results["training"] = bench_training(**training, device=cpu, repeats=3 if quick else 5,
                                         min_seconds=0.0 if not quick else 0.005)
    say("memory")
    results["memory"] = bench_memory(**training, repeats=1 if quick else 3)
    say("app")
    results["app"] = bench_app(device=cpu, repeats=1 if quick else 5, quick=quick)
    if device in ("auto", "cuda"):
        say("cuda")
        results["cuda"] = bench_cuda(hidden=SHIPPED_HIDDEN, repeats=repeats, min_seconds=min_seconds, quick=quick)
    else:
        results["cuda"] = {"available": False, "reason": "not requested (--device cpu)"}
    results["load_after"] = load_average()
    results["busy_processes_after"] = busy_processes()
    results["seconds"] = time.perf_counter() - started
    results["verdicts"] = verdicts(results)
    return results


def main(argv: list[str] | None = None) -> int:
    overview = sys.modules[__package__].__doc__  # the package's docstring describes the bench as a whole
    parser = argparse.ArgumentParser(prog="python -m fernn.bench", description=overview.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, few repeats (a smoke run for the tests)")
    parser.add_argument("--output", default="runs/bench.json", help="where to write the JSON (default: %(default)s)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto",
                        help="also bench CUDA with 'auto' (when present) or 'cuda' (default: %(default)s)")
    parser.add_argument("--threads", type=Integer(0, 4096), default=0, help="torch CPU threads; 0 keeps torch's default")
    parser.add_argument("--markdown", default="", help="also write the step table and verdicts as Markdown here")
    args = parser.parse_args(argv)
    try:  # refused before a minute of work, not after it
        args.output = output_file(args.output)
        args.markdown = output_file(args.markdown) if args.markdown else None
        args.output.parent.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as error:
        parser.error(f"argument --output/--markdown: {one_line(error)}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but CUDA is not available")
    return run(parser.prog, lambda: _bench(args))


def _bench(args: argparse.Namespace) -> int:
    results = run_benchmarks(quick=args.quick, device=args.device,
                             progress=lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True))
    print(format_report(results))
    args.output.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {args.output}")
    if args.markdown:
        args.markdown.write_text(format_markdown(results) + "\n")
        print(f"wrote {args.markdown}")
    return 0

