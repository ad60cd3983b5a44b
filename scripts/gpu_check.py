"""The GPU check: on a machine with a CUDA GPU, run everything fernn has for one and write one report.

    python scripts/gpu_check.py --output runs/gpu-check          # about 3-6 minutes on one GPU

1. the CUDA tests (``pytest -m cuda``: CPU and GPU forecasts, checkpoints and the app's comparison agree);
2. the bench's CUDA rows (``python -m fernn.bench --device cuda --quick``: the fused step against its
   convolution bound on the GPU, and a 20-step rollout);
3. the app's rollouts on the GPU: ``showcase.compare`` with the shipped pairs on ``cuda`` (the default
   comparison, V_4 and the widest setting; the rotation pair's default), warm, median of 3, beside the
   same on the CPU.

Writes ``OUTPUT/report.md`` (read it first) and ``OUTPUT/report.json``, and each step's log. Each step
has a time limit so the whole check stays within 8 minutes. Without CUDA it says so and exits 2;
``--allow-cpu`` runs the same steps on the CPU with small repeats, to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

LIMITS = {"tests": 180, "bench": 180, "rollouts": 120}  # seconds per step: 8 minutes in all
# (label, pair folder under pretrained/, digits' velocities, velocity set, context, predicted)
ROLLOUTS = (("default", "", [(1, 2)], "auto", 10, 10), ("widened V_4", "", [(1, 2)], 4, 10, 10),
            ("widest V_8, 2 digits", "", [(4, 4), (-4, 3)], 8, 20, 70),
            ("rotation default", "rotation", [2], "auto", 10, 10))


def run_step(name: str, command: list[str], output: Path, limit: int) -> dict:
    """Run ``command`` with a time limit, its output into ``output/name.log``; its exit code and last lines."""
    log = output / f"{name}.log"
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=limit)
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        code, text = None, f"stopped after {limit} s\n{error.stdout or ''}{error.stderr or ''}"
    log.write_text(text)
    return {"command": " ".join(command), "exit_code": code, "seconds": round(time.perf_counter() - started, 1),
            "tail": text.strip().splitlines()[-15:], "log": log.name}


def time_rollouts(device: str, repeats: int) -> list[dict]:
    """The app's comparisons with the shipped pairs on ``device``: median seconds over ``repeats`` warm runs."""
    import fernn.showcase as showcase
    from fernn.checkpoints import find_model, load_checkpoint

    rows = []
    for label, folder, velocities, choice, context, predict in ROLLOUTS:
        paths = {name: find_model(ROOT / "pretrained" / folder, stem) for name, stem in (("G-RNN", "grnn"),
                                                                                          ("FERNN", "fernn"))}
        if None in paths.values():
            rows.append({"setting": label, "device": device, "skipped": f"no shipped pair in pretrained/{folder}"})
            continue
        models = {name: load_checkpoint(path, device) for name, path in paths.items()}
        flow = models["FERNN"].flow
        scene = showcase.mnist_scene([7, 3][:len(velocities)], velocities=velocities, flow=flow)
        seconds = []
        for index in range(repeats + 1):  # the first is the warm-up (kernels, caches)
            started = time.perf_counter()
            comparison = showcase.compare(models, scene, context_frames=context, predict_frames=predict,
                                          velocities=choice)
            if device == "cuda":
                torch.cuda.synchronize()
            if index:
                seconds.append(time.perf_counter() - started)
        rows.append({"setting": label, "device": device, "seconds": statistics.median(seconds),
                     "copies": max(len(run.velocities) for run in comparison.runs),
                     "mse": {run.name: run.mean_mse for run in comparison.runs}})
    return rows


def report_markdown(facts: dict, steps: dict, rollouts: list[dict]) -> str:
    lines = [f"# GPU check, {facts['when']}", "", f"- device: {facts['device']}", f"- torch {facts['torch']}, "
             f"CUDA {facts['cuda']}", ""]
    for name, step in steps.items():
        state = "passed" if step["exit_code"] == 0 else f"exit code {step['exit_code']}"
        lines += [f"## {name}: {state} ({step['seconds']} s)", "", f"`{step['command']}`", "", "```",
                  *step["tail"], "```", ""]
    lines += ["## The app's comparisons (median of warm runs)", "", "| setting | device | seconds | copies | MSE |",
              "|---|---|---:|---:|---|"]
    for row in rollouts:
        if "skipped" in row:
            lines.append(f"| {row['setting']} | {row['device']} | - | - | {row['skipped']} |")
        else:
            mse = ", ".join(f"{name} {value:.2e}" for name, value in row["mse"].items())
            lines.append(f"| {row['setting']} | {row['device']} | {row['seconds']:.3f} | {row['copies']} | {mse} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "gpu-check", help="folder for the report")
    parser.add_argument("--allow-cpu", action="store_true", help="run the steps on the CPU (checks the script)")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); run it on a GPU machine",
              file=sys.stderr)
        return 2
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"cannot write the report to {args.output}: {error}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    facts = {"when": time.strftime("%Y-%m-%d %H:%M"), "torch": torch.__version__, "cuda": torch.version.cuda,
             "device": torch.cuda.get_device_name(0) if device == "cuda" else "CPU (--allow-cpu)"}
    python = sys.executable
    steps = {"CUDA tests": run_step("tests", [python, "-m", "pytest", "-q", "-rs", "-m", "cuda", "-p", "no:cacheprovider"],
                                    args.output, LIMITS["tests"]),
             "bench, CUDA rows": run_step("bench", [python, "-m", "fernn.bench", "--quick", "--device",
                                                    "cuda" if device == "cuda" else "cpu",
                                                    "--output", str(args.output / "bench.json")],
                                          args.output, LIMITS["bench"])}
    started = time.perf_counter()
    rollouts = []
    with torch.inference_mode():
        for where in ([device, "cpu"] if device == "cuda" else [device]):
            if time.perf_counter() - started < LIMITS["rollouts"]:
                rollouts += time_rollouts(where, repeats=3 if device == "cuda" else 1)
    (args.output / "report.json").write_text(json.dumps({"facts": facts, "steps": steps, "rollouts": rollouts},
                                                        indent=1, default=str))
    (args.output / "report.md").write_text(report_markdown(facts, steps, rollouts))
    print(f"wrote {args.output / 'report.md'}")
    return 0 if all(step["exit_code"] == 0 for step in steps.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
