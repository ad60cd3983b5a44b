"""The targets, each one's verdict, and the results as plain-text tables or Markdown."""

from __future__ import annotations

TARGETS = {
    "app_step_over_bound": 1.10,
    "training_step_over_bound": 1.15,
    "speedup_vs_reference_b1_v25": 1.5,
    "training_speedup_vs_reference": 1.3,
    "app_comparison_seconds": 0.100,
    "app_comparison_v4_seconds": 1.5,
    "app_widest_seconds": 1.0,
    "app_world_seconds": 0.5,
    "app_rotation_comparison_seconds": 0.300,
    "app_rotation_widest_seconds": 3.0,
    "cuda_rollout_seconds": 0.020,
}


def verdicts(results: dict) -> dict:
    """Each target: the measured value and whether it is met (None when not measured)."""
    steps = results["steps"]
    app = [row["fast_over_bound"] for row in steps if row["group"] == "app"]
    training = [row["fast_over_bound"] for row in steps if row["group"] == "training"]
    b1v25 = [row["speedup_vs_reference"] for row in steps if (row["batch"], row["copies"]) == (1, 25)]
    app_results = results.get("app", {})
    cuda = results.get("cuda", {})

    def verdict(value: float | None, target: float, *, at_least: bool = False) -> dict:
        if value is None:
            return {"value": None, "target": target, "met": None}
        return {"value": value, "target": target, "met": value >= target if at_least else value <= target}

    def seconds(label: str) -> float | None:
        entry = app_results.get(label)
        return entry["seconds"] if isinstance(entry, dict) else None

    return {
        "app_step_over_bound_worst": verdict(max(app) if app else None, TARGETS["app_step_over_bound"]),
        "training_step_over_bound_worst": verdict(max(training) if training else None,
                                                  TARGETS["training_step_over_bound"]),
        "speedup_vs_reference_b1_v25": verdict(b1v25[0] if b1v25 else None,
                                               TARGETS["speedup_vs_reference_b1_v25"], at_least=True),
        "training_speedup_vs_reference": verdict(results["training"]["speedup_vs_reference"],
                                                 TARGETS["training_speedup_vs_reference"], at_least=True),
        "app_comparison_seconds": verdict(seconds("default"), TARGETS["app_comparison_seconds"]),
        "app_comparison_v4_seconds": verdict(seconds("widened_v4"), TARGETS["app_comparison_v4_seconds"]),
        "app_widest_seconds": verdict(seconds("widest_v8"), TARGETS["app_widest_seconds"]),
        "app_world_seconds": verdict(seconds("world_default"), TARGETS["app_world_seconds"]),
        "app_rotation_comparison_seconds": verdict(seconds("rotation_default"),
                                                   TARGETS["app_rotation_comparison_seconds"]),
        "app_rotation_widest_seconds": verdict(seconds("rotation_widest_v8"), TARGETS["app_rotation_widest_seconds"]),
        "cuda_rollout_seconds": verdict(cuda.get("rollout_20_steps_b1_v25_seconds"), TARGETS["cuda_rollout_seconds"]),
    }


def format_report(results: dict) -> str:
    """The results as plain-text tables."""
    lines = []
    machine = results["machine"]
    lines.append(f"fernn.bench{' --quick' if results['quick'] else ''}: {machine['cpu']}, {machine['logical_cpus']} logical "
                 f"CPUs, torch {machine['torch']} with {machine['torch_threads']} threads")
    lines.append(f"load average before/after: {results['load_before']} / {results['load_after']}; other fernn.train "
                 f"processes: {len(results['busy_processes'])} before, {len(results['busy_processes_after'])} after")
    lines.append("")
    lines.append("Recurrent step (ms per step, medians; hidden 16, 28x28; bound = the recurrent conv alone)")
    header = (f"{'group':<9}{'B':>4}{'|V|':>5}{'fast':>9}{'reference':>11}{'bound':>9}{'fast/bound':>12}"
              f"{'ref/bound':>11}{'speedup':>9}{'GFLOP/s':>9}{'of peak':>9}")
    lines.append(header)
    for row in results["steps"]:
        lines.append(
            f"{row['group']:<9}{row['batch']:>4}{row['copies']:>5}{row['fast_ms']:>9.3f}{row['reference_ms']:>11.3f}"
            f"{row['bound_ms']:>9.3f}{row['fast_over_bound']:>11.3f}x{row['reference_over_bound']:>10.2f}x"
            f"{row['speedup_vs_reference']:>8.2f}x{row['conv_gflops']:>9.1f}{row['conv_fraction_of_peak']:>8.0%}"
        )
    peak = results["conv_peak"]
    lines.append(f"conv peak (same 16->16 3x3 conv, best rate over every batch measured): {peak['conv_peak_gflops']:.1f} GFLOP/s; "
                 f"float32 matmul {peak['matmul_size']}^3: {peak['matmul_gflops']:.1f} GFLOP/s")
    rotation = results.get("rotation_steps", [])
    if rotation:
        lines.append("")
        lines.append(f"Rotation step, FERNN-R (ms per step, medians; C_{rotation[0]['order']}, 28x28; "
                     "bound = the group conv alone; reference = one roll + grid_sample per copy)")
        lines.append(f"{'B':>4}{'|V|':>5}{'channels':>10}{'fast':>9}{'reference':>11}{'bound':>9}{'fast/bound':>12}"
                     f"{'ref/bound':>11}{'speedup':>9}")
        for row in rotation:
            lines.append(f"{row['batch']:>4}{row['copies']:>5}{row['channels']:>10}{row['fast_ms']:>9.3f}"
                         f"{row['reference_ms']:>11.3f}{row['bound_ms']:>9.3f}{row['fast_over_bound']:>11.3f}x"
                         f"{row['reference_over_bound']:>10.2f}x{row['speedup_vs_reference']:>8.2f}x")
    world = results.get("world_steps", [])
    if world:
        lines.append("")
        lines.append(f"World step, world FERNN (ms per step, medians; {world[0]['world_size']}x{world[0]['world_size']} "
                     f"map, hidden {world[0]['hidden']}; bound = the recurrent conv alone; reference = roll + pad + conv "
                     "per copy)")
        lines.append(f"{'B':>4}{'|V|':>5}{'fast':>9}{'reference':>11}{'bound':>9}{'fast/bound':>12}{'ref/bound':>11}"
                     f"{'speedup':>9}")
        for row in world:
            lines.append(f"{row['batch']:>4}{row['copies']:>5}{row['fast_ms']:>9.3f}{row['reference_ms']:>11.3f}"
                         f"{row['bound_ms']:>9.3f}{row['fast_over_bound']:>11.3f}x{row['reference_over_bound']:>10.2f}x"
                         f"{row['speedup_vs_reference']:>8.2f}x")
    lines.append("")
    training = results["training"]
    lines.append(f"Training step, forward + backward (B={training['batch']}, |V|={training['copies']}, hidden "
                 f"{training['hidden']}, {training['frames'][0]}+{training['frames'][1]} frames): fast "
                 f"{training['fast_s'] * 1e3:.0f} ms, reference {training['reference_s'] * 1e3:.0f} ms, speedup "
                 f"{training['speedup_vs_reference']:.2f}x (max relative gradient difference "
                 f"{training['max_relative_gradient_difference']:.1e}); bf16 autocast {training['fast_bf16_s'] * 1e3:.0f} ms: "
                 f"{training['bf16_speedup_vs_fast_fp32']:.2f}x the fast fp32 path, "
                 f"{training['bf16_speedup_vs_reference']:.2f}x the reference (gradient difference "
                 f"{training['bf16_max_relative_gradient_difference']:.1e}; native bf16: {training['native_bf16']})")
    memory = results["memory"]
    if memory.get("available"):
        lines.append(f"Peak memory per sample (B={memory['batch']}): fast {memory['fast_mib_per_sample']:.1f} MiB, "
                     f"with activation checkpointing {memory['fast_checkpointed_mib_per_sample']:.1f} MiB, reference "
                     f"{memory['reference_mib_per_sample']:.1f} MiB")
    else:
        lines.append(f"Peak memory: unavailable ({memory.get('reason')})")
    app = results["app"]
    for label in (label for label in ("default", "widened_v4", "widest_v8", "rotation_default", "rotation_widest_v8",
                                      "world_default") if label in app):
        entry = app[label]
        models = ("shipped world models" if label.startswith("world")
                  else app["rotation_models" if label.startswith("rotation") else "models"])
        lines.append(f"App full comparison, {label} ({entry['copies']} FERNN copies; {models}; figures "
                     f"{app['figures']}): {entry['seconds'] * 1e3:.0f} ms (model rollouts "
                     f"{entry['rollout_seconds'] * 1e3:.0f} ms)")
    cuda = results["cuda"]
    if cuda.get("available"):
        lines.append(f"CUDA ({cuda['device']}): 20-step B=1 FERNN-V2 rollout "
                     f"{cuda['rollout_20_steps_b1_v25_seconds'] * 1e3:.1f} ms")
        for row in cuda["steps"]:
            lines.append(f"  cuda B={row['batch']} |V|={row['copies']}: fast {row['fast_ms']:.3f} ms, reference "
                         f"{row['reference_ms']:.3f} ms, bound {row['bound_ms']:.3f} ms, fast/bound "
                         f"{row['fast_over_bound']:.2f}x")
    else:
        lines.append(f"CUDA: unavailable ({cuda.get('reason')})")
    lines.append("")
    lines.append("Targets:")
    for name, entry in results["verdicts"].items():
        state = "not measured" if entry["met"] is None else ("met" if entry["met"] else "MISSED")
        value = "-" if entry["value"] is None else f"{entry['value']:.3f}"
        lines.append(f"  {name:<34} {value:>9} (target {entry['target']}) {state}")
        if entry["met"] is False:
            lines.append(f"      {missed_in_words(name, entry, results)}")
    lines.append(f"total bench time {results['seconds']:.1f} s")
    return "\n".join(lines)


# What each target measures, in words: (what, unit, whether the target is a floor).
MEANINGS = {
    "app_step_over_bound_worst": ("the app's slowest recurrent step", "x its convolution bound", False),
    "training_step_over_bound_worst": ("the slowest training step", "x its convolution bound", False),
    "speedup_vs_reference_b1_v25": ("the fused step (one sequence, 25 copies)", "x faster than the reference loop", True),
    "training_speedup_vs_reference": ("a training step", "x faster than the reference loop", True),
    "app_comparison_seconds": ("the app's default comparison", " s", False),
    "app_comparison_v4_seconds": ("the app's comparison with V_4", " s", False),
    "app_widest_seconds": ("the app's widest comparison (V_8, 20 + 70 frames)", " s", False),
    "app_world_seconds": ("the app's default World comparison", " s", False),
    "app_rotation_comparison_seconds": ("the app's default rotation comparison", " s", False),
    "app_rotation_widest_seconds": ("the app's widest rotation comparison", " s", False),
    "cuda_rollout_seconds": ("a 20-step CUDA rollout", " s", False),
}


def missed_in_words(name: str, entry: dict, results: dict) -> str:
    """Why a target reads MISSED, in a sentence: by how much, and what may have caused it here."""
    what, unit, floor = MEANINGS.get(name, (name, "", False))
    bound = "at least" if floor else "at most"
    ratio = entry["value"] / entry["target"] if entry["target"] else float("inf")
    by = f"{(1 - ratio) * 100:.0f}% short" if floor else f"{(ratio - 1) * 100:.0f}% over"
    causes = []
    if results.get("quick"):
        causes.append("--quick times small shapes a few times: a smoke run, not a figure")
    if results.get("busy_processes") or results.get("busy_processes_after"):
        causes.append("other processes were running: pause them and run again")
    cause = "; ".join(causes) or "run again on an idle machine before trusting it"
    return f"{what}: {entry['value']:.3g}{unit}; wanted {bound} {entry['target']:g}{unit} ({by}); {cause}."


def format_markdown(results: dict) -> str:
    """The step table and the target verdicts as Markdown (for docs/performance.md)."""
    lines = [
        "| group | B | \\|V\\| | fast step (ms) | reference (ms) | bound (ms) | fast / bound | reference / bound "
        "| speedup vs reference | conv GFLOP/s | of conv peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["steps"]:
        lines.append(
            f"| {row['group']} | {row['batch']} | {row['copies']} | {row['fast_ms']:.3f} | {row['reference_ms']:.3f} "
            f"| {row['bound_ms']:.3f} | {row['fast_over_bound']:.3f}x | {row['reference_over_bound']:.2f}x "
            f"| {row['speedup_vs_reference']:.2f}x | {row['conv_gflops']:.1f} | {row['conv_fraction_of_peak']:.0%} |"
        )
    lines += ["", "| target | measured | goal | verdict |", "|---|---:|---:|---|"]
    for name, entry in results["verdicts"].items():
        state = "not measured" if entry["met"] is None else ("met" if entry["met"] else "**missed**")
        value = "-" if entry["value"] is None else f"{entry['value']:.3f}"
        lines.append(f"| {name} | {value} | {entry['target']} | {state} |")
    return "\n".join(lines)

