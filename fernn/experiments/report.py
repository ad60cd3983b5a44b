"""Reading evaluations: the targets a shipped G-RNN / FERNN pair is checked against, the test MSE's
interval over sequences, and the markdown report of ``python -m fernn.evaluate`` (results table,
velocity grids, target checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fernn.checkpoints import find_model
from fernn.encoder import Kind
from fernn.classifier import Classifier
from fernn.measures import INTERVAL_METHOD, interval_bounds
from fernn.flows import flow_from_record
from fernn.flows.words import words

__all__ = ["ROTATION_TARGETS", "TARGETS", "checked", "comparison", "late_improvement", "markdown_report",
           "report_steps", "settings_allow_targets", "steps_to_reach", "target_pair"]




# The targets a shipped G-RNN / FERNN pair is checked against (issue "models that make the case").
TARGETS = {
    "fernn_test_mse": "<= 2e-3",
    "grnn_test_mse": "<= 1.5e-2",
    "fernn_speed2_over_in_range": "<= 1.5",
    "grnn_speed2_over_fernn_speed2": ">= 5",
    "fernn_v4_speed3_4_over_in_range": "<= 2",
    "fernn_step30_over_step10": "<= 2",
    "fernn_step70_intensity_over_truth": ">= 0.7",
    "grnn_last_20pct_improvement": "<= 0.02",
}

# The targets a shipped rotation pair (G-RNN-R / FERNN-R, Rotating MNIST) is checked against (issue
# "rotation flows end to end"); in range is |k| <= 1 step. The widened run is the FERNN-R with
# velocity_set(3) (evaluate with --widened-max-speed 3), compared with its own in-range MSE.
ROTATION_TARGETS = {
    "fernn_test_mse": "<= 1e-2",
    "grnn_test_mse_over_fernn": ">= 1",
    "fernn_speed2_over_in_range": "<= 1.5",
    "grnn_speed2_over_fernn_speed2": ">= 5",
    "fernn_v3_speed3_over_in_range": "<= 2",
}


def steps_to_reach(history: Sequence[dict], target: float) -> int | None:
    """First logged step whose validation MSE is at most ``target`` (``None`` if never)."""
    for record in history:
        if "val_mse" in record and record["val_mse"] <= target:
            return int(record["step"])
    return None


def late_improvement(history: Sequence[dict], fraction: float = 0.2) -> float | None:
    """How much better the validation MSE got over the last ``fraction`` of the steps:
    ``1 - final / (value at the start of that stretch)``; ``None`` without a curve."""
    curve = [(r["step"], r["val_mse"]) for r in history if "val_mse" in r]
    if len(curve) < 2:
        return None
    start = (1 - fraction) * curve[-1][0]
    before = [value for step, value in curve if step <= start]
    return 1 - curve[-1][1] / (before[-1] if before else curve[0][1])


def target_pair(targets: str, models: dict[str, tuple[Path, object]], *, shipped: Path) -> tuple[str, str] | None:
    """The names of the G-RNN and the FERNN among ``models`` (``{name: (path, model)}``) to check
    against :data:`TARGETS` (:data:`ROTATION_TARGETS` for a rotation pair), or ``None``: ``targets``
    "none" never, "auto" only for the shipped pairs ``shipped/{grnn,fernn}`` (the demo's),
    ``shipped/hidden16/`` (the earlier, narrower demo pair), ``shipped/rotation/`` and ``shipped/world/``
    (checked against the world targets), "demo" for the one
    G-RNN and the one FERNN."""
    if targets == "none":
        return None
    if targets == "auto":
        for folder in (shipped, shipped / "hidden16", shipped / "rotation", shipped / "world"):
            shipped_pair = [find_model(folder, stem) for stem in ("grnn", "fernn")]
            found = [next((name for name, (path, _) in models.items() if there and path.exists()
                           and path.samefile(there)), None) for there in shipped_pair]
            if None not in found:
                return found[0], found[1]
        return None
    forecasters = {name: model for name, (_, model) in models.items() if not isinstance(model, Classifier)}
    kinds = {kind: [name for name, model in forecasters.items() if model.config.kind == kind] for kind in Kind}
    if len(kinds["grnn"]) != 1 or len(kinds["fernn"]) != 1:
        raise ValueError(f"--targets demo compares one G-RNN with one FERNN; got {len(kinds['grnn'])} G-RNN(s) and "
                         f"{len(kinds['fernn'])} FERNN(s)")
    return kinds["grnn"][0], kinds["fernn"][0]


def comparison(results: dict[str, dict]) -> dict:
    """Checks of a G-RNN / FERNN pair against :data:`TARGETS` (result names ``grnn``, ``fernn``).

    In-range means the test set (per-digit velocities in the training range); the speed rows
    use the fixed-velocity grid (both digits share the velocity); the length rows the long
    rollouts. ``fernn_v4_*`` is the FERNN run with ``V = {-4..4}^2`` at inference.
    """
    g_eval, f_eval = results["grnn"]["evaluation"], results["fernn"]["evaluation"]
    flow = results["fernn"].get("config", {}).get("flow", {}).get("name", "translation")
    return COMPARISONS[flow](results, g_eval, f_eval)


def _translation_comparison(results: dict[str, dict], g_eval: dict, f_eval: dict) -> dict:
    """:func:`comparison` for a translation pair, against :data:`TARGETS`."""
    f_grid, g_grid = f_eval["velocity_grid"], g_eval["velocity_grid"]
    length = f_eval["length"]
    values = {
        "fernn_test_mse": f_eval["test_mse"],
        "grnn_test_mse": g_eval["test_mse"],
        "fernn_speed2_over_in_range": f_grid["speed_2_mse"] / f_grid["in_range_mse"],
        "grnn_speed2_over_fernn_speed2": g_grid["speed_2_mse"] / f_grid["speed_2_mse"],
        "fernn_step30_over_step10": length["mse"][29] / length["mse"][9],
    }
    widened = f_eval.get("widened_velocity_grid")
    if widened and "speed_4_mse" in widened:
        speeds, mse = np.asarray(widened["speeds"]), np.asarray(widened["mse"])
        ring = np.maximum(np.abs(speeds)[:, None], np.abs(speeds)[None, :])
        values["fernn_v4_speed3_4_over_in_range"] = float(mse[(ring == 3) | (ring == 4)].mean()) / widened["in_range_mse"]
    improvement = late_improvement(results["grnn"].get("train", {}).get("history", []))
    if improvement is not None:
        values["grnn_last_20pct_improvement"] = improvement
    if "intensity" in length and len(length["intensity"]) >= 70:
        values["fernn_step70_intensity_over_truth"] = length["intensity"][69] / length["truth_intensity"][69]
    return checked(values, TARGETS)


def _rotation_comparison(results: dict[str, dict], g_eval: dict, f_eval: dict) -> dict:
    """:func:`comparison` for a rotation pair, against :data:`ROTATION_TARGETS`."""
    f_grid, g_grid = f_eval["velocity_grid"], g_eval["velocity_grid"]
    values = {
        "fernn_test_mse": f_eval["test_mse"],
        "grnn_test_mse_over_fernn": g_eval["test_mse"] / f_eval["test_mse"],
        "fernn_speed2_over_in_range": f_grid["speed_2_mse"] / f_grid["in_range_mse"],
        "grnn_speed2_over_fernn_speed2": g_grid["speed_2_mse"] / f_grid["speed_2_mse"],
    }
    widened = f_eval.get("widened_velocity_grid")
    if widened and widened.get("max_speed") == 3 and "speed_3_mse" in widened:
        values["fernn_v3_speed3_over_in_range"] = widened["speed_3_mse"] / widened["in_range_mse"]
    return checked(values, ROTATION_TARGETS)


# How a pair of each flow is checked, by the flow's registry name.
COMPARISONS = {"translation": _translation_comparison, "rotation": _rotation_comparison}


def checked(values: dict[str, float], targets: dict[str, str]) -> dict:
    """``{name: {"value", "target", "met"}}``: each value against its target, written ``"<= x"`` or ``">= x"``."""
    checks = {}
    for name, value in values.items():
        sign, bound = targets[name].split()
        met = value <= float(bound) if sign == "<=" else value >= float(bound)
        checks[name] = {"value": value, "target": targets[name], "met": bool(met)}
    return checks


def report_steps(length: dict) -> list[int]:
    """The rollout steps a report shows: 10 and 30 where the rollout reaches them, and the last."""
    count = len(length["mse"])
    return [step for step in (10, 30) if step < count] + [count]


def _cell(text: object) -> str:
    """``text`` for a markdown table cell: a bare ``|`` would split the cell."""
    return str(text).replace("|", "\\|")


def markdown_report(results: dict[str, dict], checks: dict | None) -> str:
    """A results table (one row per model) and, when ``checks`` are given, the target checks.

    Columns that no result computed (a grid speed beyond its grid, a step beyond its rollout, the test
    MSE's interval in evaluations stored before it was recorded) are left out; a cell one model lacks
    reads n/a.
    """
    evaluations = {name: result["evaluation"] for name, result in results.items()}
    radii = sorted({int(key.split("_")[1]) for e in evaluations.values() for key in e["velocity_grid"]
                    if key.startswith("speed_") and key.endswith("_mse")})
    lengths = [len(e["length"]["mse"]) for e in evaluations.values()]
    steps = [step for step in (10, 30) if any(step < count for count in lengths)]
    intervals = {name: interval_bounds(e) for name, e in evaluations.items()}
    shown = ["95% interval"] if any(intervals.values()) else []

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4g}"

    header = ["model", "test MSE", *shown, "zeros", "copy-last", "grid speed <= 1", *(f"grid speed {r}" for r in radii),
              *(f"step {step}" for step in steps), "last step", "last-step intensity / truth", "equiv. error (f64)"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, e in evaluations.items():
        grid, length = e["velocity_grid"], e["length"]
        intensity = length.get("intensity")
        ratio = f"{intensity[-1] / length['truth_intensity'][-1]:.3g}" if intensity else "n/a"
        exact = [x["exact_error"] for x in e["equivariance"] if x["exact_error"] is not None]
        truncated = [x["truncated_error"] for x in e["equivariance"] if x["truncated_error"] is not None]
        equiv = f"{max(exact):.1e}" if exact else f"none exact; {max(truncated):.2f} (no lifted copy)"
        bounds = intervals[name]
        spread = [f"{bounds[0]:.4g}..{bounds[1]:.4g}" if bounds else "n/a"] if shown else []
        row = [_cell(name), number(e["test_mse"]), *spread, number(e["baselines"]["zeros"]), number(e["baselines"]["copy_last"]),
               number(grid["in_range_mse"]), *(number(grid.get(f"speed_{r}_mse")) for r in radii),
               *(number(length["mse"][step - 1] if step <= len(length["mse"]) else None) for step in steps),
               number(length["mse"][-1]), ratio, equiv]
        lines.append("| " + " | ".join(row) + " |")
    if shown:
        lines += ["", f"Test MSE interval: {INTERVAL_METHOD}."]
    for name, e in evaluations.items():
        # The model's flow lays its grid out (translation: rows dy, columns dx; rotation: one row of steps).
        flow = flow_from_record(results[name].get("config", {}).get("flow", {"name": "translation"}))
        grids = [(_cell(name), e["velocity_grid"])]
        widened = e.get("widened_velocity_grid")
        if widened:
            grids.append((f"{_cell(name)} run with {words(flow).set_label(widened['max_speed'])}", widened))
        for title, grid in grids:
            axes = flow.grid(grid.get("grid_max_speed", max(abs(s) for s in grid["speeds"])))
            corner = f"{axes.row_name} \\ {axes.column_name}" if axes.row_name else axes.column_name
            where = f"rows {axes.row_name}, columns {axes.column_name}" if axes.row_name else axes.column_name
            lines += ["", f"{title}: test MSE per fixed velocity ({where}, {words(flow).unit})", "",
                      f"| {corner} | " + " | ".join(axes.column_ticks) + " |",
                      "|---" * (len(axes.column_values) + 1) + "|"]
            lines += [f"| {label if axes.row_name else 'MSE'} | " + " | ".join(f"{value:.3g}" for value in row) + " |"
                      for label, row in zip(axes.row_values, grid["mse"])]
    if checks:
        lines += ["", "| target | measured | goal | met |", "|---|---|---|---|"]
        for name, row in checks.items():
            value = "never" if row["value"] is None else f"{row['value']:.3g}"
            lines.append(f"| {name} | {value} | {row['target']} | {'yes' if row['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def settings_allow_targets(settings: dict) -> bool:
    """Whether an evaluation made with ``settings`` measured what :data:`TARGETS` needs."""
    return settings.get("grid_max_speed", 0) >= 2 and settings.get("length_frames", 0) >= 30
