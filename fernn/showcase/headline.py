"""The message of a comparison in plain words: each digit's speed against the training range,
and which model kept the digit."""

from __future__ import annotations

from .results import Comparison

__all__ = ["PAPER_URL", "headline"]

PAPER_URL = "https://arxiv.org/abs/2507.14793"


def headline(comparison: Comparison) -> str:
    """The run in plain words (Markdown): each digit's speed against the training range, and
    how the models did, e.g. "... **112× lower error** for the FERNN over 10 predicted frames."."""
    limit = comparison.training_max_speed
    parts = []
    flow = comparison.flow
    for index, velocity in enumerate(comparison.digit_velocities):
        speed = flow.speed(velocity)
        who = f"Digit {index + 1}" if len(comparison.digit_velocities) > 1 else "The digit"
        if limit is None:
            where = ""
        elif speed <= limit:
            where = f", inside the training range (|v| ≤ {limit})"
        elif limit == 0:
            where = ", and the models were trained on still digits"
        else:
            where = f", {speed / limit:g}× the fastest training motion ({limit} {flow.unit})"
        parts.append(f"{who} moves at **{flow.label(velocity)} {flow.unit}**{where}.")
    runs = comparison.runs
    if len(runs) == 2:
        (first, second) = runs
        ratio = first.mean_mse / max(second.mean_mse, 1e-12)
        better, worse = (second, first) if ratio >= 1 else (first, second)
        factor = max(ratio, 1 / max(ratio, 1e-12))
        keeps = "keeps it" if better.mean_mse < 0.3 * comparison.baseline_mean_mse else "does better"
        loses = "smears it" if worse.mean_mse > 0.3 * comparison.baseline_mean_mse else "does worse"
        verdict = (f"The {better.name} {keeps} (MSE {better.mean_mse:.1e}); the {worse.name} {loses} "
                   f"(MSE {worse.mean_mse:.1e}): **{factor:.0f}× lower error** for the {better.name}"
                   if factor >= 1.5 else
                   f"Both models do about as well (MSE {first.mean_mse:.1e} and {second.mean_mse:.1e})")
        outside = [v for v in comparison.digit_velocities if any(r.kind == "fernn" and v not in r.velocities
                                                                for r in runs)]
        parts.append(verdict + f" over {comparison.predict_frames} predicted frames.")
        if outside:
            parts.append(f"{', '.join(map(str, outside))} is outside the FERNN's velocity set: no hidden copy "
                         "moves with it, so the FERNN loses its advantage there.")
    elif runs:
        parts.append(f"{runs[0].name}: MSE {runs[0].mean_mse:.1e} over {comparison.predict_frames} predicted frames.")
    return " ".join(parts)
