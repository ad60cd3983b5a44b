"""The app's latency rows, this checkout against an older one, side by side in one run.

    git worktree add /tmp/fernn-old 3ce6564
    python scripts/app_latency_versions.py --old /tmp/fernn-old --threads 2

Loads the older ``fernn`` package under another name and, round by round, runs each checkout's own
app rows of ``python -m fernn.bench`` (its ``bench_app``: the default comparison, V_4, the widest
setting and the rotation rows, with every figure the app draws, and that figure's JSON as
st.plotly_chart sends it: an older checkout's bench, which did not count that, is made to) on the
shipped checkpoints.
Interleaving the two puts any load the machine has on both alike. Prints a Markdown table: the median
over rounds of each row's median seconds, and the new checkout's ratio to the old one. Run it with
nothing else on the machine.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_training_step import load_package  # noqa: E402  (the same loader, one place)

FIGURES = ("comparison_animation", "mse_figure", "hidden_animation", "velocity_activity_animation")
ROWS = ("default", "widened_v4", "widest_v8", "rotation_default", "rotation_widest_v8")


def sends_figures(viz) -> None:
    """Make an older checkout's app figures also turn into what st.plotly_chart sends, as the bench's
    rows do since they count it (:func:`fernn.showcase.viz.panels.wire_json`): the same work on both sides."""
    from fernn.showcase.viz.panels import wire_json

    def sending(make):
        def made(*args, **kwargs):
            fig = make(*args, **kwargs)
            wire_json(fig)
            return fig
        return made

    for name in FIGURES:
        setattr(viz, name, sending(getattr(viz, name)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="root of the older checkout")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the default rows per round (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--rounds, --repeats and --threads must be at least 1")
    if not (args.old / "fernn" / "__init__.py").is_file():
        parser.error(f"no fernn package in {args.old}")
    torch.set_num_threads(args.threads)
    load_package(args.old.resolve(), "fernn_old")
    from fernn.experiments.bench.app_latency import bench_app

    old_bench = importlib.import_module("fernn_old.bench.app_latency")  # where codebase v3 kept it
    old_viz = importlib.import_module("fernn_old.viz")  # where codebase v3 kept the figures
    if not hasattr(importlib.import_module("fernn_old.viz.panels"), "wire_json"):
        sends_figures(old_viz)
    benches = {"old": old_bench.bench_app, "new": bench_app}
    seconds = {name: {row: [] for row in ROWS} for name in benches}
    for round_ in range(args.rounds):
        for name, bench in benches.items():
            result = bench(device=torch.device("cpu"), repeats=args.repeats, quick=False)
            for row in ROWS:
                seconds[name][row].append(result[row]["seconds"])
            print(f"round {round_ + 1}, {name}: " + ", ".join(f"{row} {seconds[name][row][-1]:.3f} s" for row in ROWS),
                  file=sys.stderr, flush=True)
    medians = {name: {row: statistics.median(values) for row, values in rows.items()} for name, rows in seconds.items()}
    print(f"App latency rows, {args.threads} threads, median over {args.rounds} interleaved rounds (seconds)\n")
    print("| row | old | new | new / old | old spread | new spread |")
    print("|---|---:|---:|---:|---|---|")
    for row in ROWS:
        spread = {name: f"{min(seconds[name][row]):.3f}-{max(seconds[name][row]):.3f}" for name in benches}
        print(f"| {row} | {medians['old'][row]:.3f} | {medians['new'][row]:.3f} | "
              f"{medians['new'][row] / medians['old'][row]:.2f} | {spread['old']} | {spread['new']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
