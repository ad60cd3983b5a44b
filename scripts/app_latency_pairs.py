"""How fast is the app with each translation pair? Times them side by side in one run.

    PYTHONPATH=. python scripts/app_latency_pairs.py pretrained pretrained/hidden16 --threads 2

Each FOLDER holds a pair, the models ``grnn`` and ``fernn`` (model folders, or older ``.pt`` files). For each round, each pair in turn runs the
rows of ``python -m fernn.bench``'s app section (``fernn.experiments.bench.app_latency.bench_app``: both models,
hidden states and every figure the app draws by default): the default comparison (target 100 ms),
``velocity_set(4)`` (target 1.5 s) and the widest setting (V_8, two digits, 20 + 70 frames; target 1 s).
Interleaving the pairs puts any load the machine has on both alike. Prints a Markdown table: the
median over rounds of each row's median seconds, and each pair's ratio to the first pair.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fernn.checkpoints import find_model  # noqa: E402
from fernn.experiments.bench.app_latency import bench_app  # noqa: E402

ROWS = {"default": "default comparison", "widened_v4": "V_4 (81 copies)", "widest_v8": "widest: V_8, 2 digits, 20 + 70"}
TARGETS = {"default": "100 ms", "widened_v4": "1.5 s", "widest_v8": "1 s"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+", metavar="FOLDER", help="folders holding the models grnn and fernn")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all pairs (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the default rows per round (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    args = parser.parse_args()
    pairs = {}
    for folder in args.folders:
        files = {"G-RNN": find_model(folder, "grnn"), "FERNN": find_model(folder, "fernn")}
        missing = [f"{folder / stem}" for stem, path in zip(("grnn", "fernn"), files.values()) if path is None]
        if missing:
            parser.error(f"no model at {', '.join(missing)}")
        pairs[str(folder)] = files
    if args.rounds < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--rounds, --repeats and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    seconds: dict[str, dict[str, list[float]]] = {name: {row: [] for row in ROWS} for name in pairs}
    for round_ in range(args.rounds):
        for name, files in pairs.items():
            result = bench_app(device=torch.device("cpu"), repeats=args.repeats, quick=False, translation_pair=files,
                               rotation=False)
            for row in ROWS:
                seconds[name][row].append(result[row]["seconds"])
            print(f"round {round_ + 1}, {name}: " + ", ".join(f"{row} {seconds[name][row][-1]:.3f} s" for row in ROWS),
                  file=sys.stderr, flush=True)
    medians = {name: {row: statistics.median(values) for row, values in rows.items()} for name, rows in seconds.items()}
    first = next(iter(medians))
    print(f"App latency, {args.threads} threads, median over {args.rounds} interleaved rounds (seconds; "
          f"ratio to {first})\n")
    print("| setting | target | " + " | ".join(medians) + " |")
    print("|---|---|" + "---:|" * len(medians))
    for row, label in ROWS.items():
        cells = [f"{medians[name][row]:.3f} ({medians[name][row] / medians[first][row]:.2f}x)" for name in medians]
        print(f"| {label} | {TARGETS[row]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
