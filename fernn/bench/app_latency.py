"""The app's latency: the demo's full comparison (both models, hidden states kept, the figures the
app draws by default), as shipped and with wider velocity sets."""

from __future__ import annotations

import statistics
import time

import torch

from ..models import Forecaster, build_model
from .shapes import CONTEXT, PREDICT, SHIPPED, SHIPPED_DECODER_LAYERS, SHIPPED_HIDDEN, SHIPPED_MAX_SPEED


def _app_models(device: torch.device) -> tuple[dict[str, Forecaster], str]:
    """The shipped checkpoints when present, else freshly built models of the same configuration."""
    from ..checkpoints import load_checkpoint

    if all(path.is_file() for path in SHIPPED.values()):
        return {name: load_checkpoint(path, device) for name, path in SHIPPED.items()}, "shipped checkpoints"
    torch.manual_seed(0)
    models = {
        "G-RNN": build_model("grnn", hidden_channels=SHIPPED_HIDDEN, decoder_layers=SHIPPED_DECODER_LAYERS),
        "FERNN": build_model("fernn", hidden_channels=SHIPPED_HIDDEN, decoder_layers=SHIPPED_DECODER_LAYERS,
                             max_speed=SHIPPED_MAX_SPEED),
    }
    return {name: model.to(device).eval() for name, model in models.items()}, "built with the shipped configuration"


def bench_app(*, device: torch.device, repeats: int, quick: bool) -> dict:
    """The demo's full comparison with its default settings and with a widened velocity set."""
    from .. import showcase, viz  # imported here: the step and training sections need neither

    models, source = _app_models(device)
    # The app's defaults: one MNIST test digit (#7) moving (1, 2) px/frame, 10 + 10 frames, the
    # "auto" velocity set; then V_4; then the widest the app offers: two digits at (4, 4) and
    # (-4, 3), V_8 (289 copies), 20 context + 70 predicted frames.
    cases = {
        "default": (showcase.mnist_scene([7], velocities=[(1, 2)]), CONTEXT, PREDICT, showcase.AUTO),
        "widened_v4": (showcase.mnist_scene([7], velocities=[(1, 2)]), CONTEXT, PREDICT, 4),
        "widest_v8": (showcase.mnist_scene([7, 3], velocities=[(4, 4), (-4, 3)]), 20, 70, 8),
    }

    def full(scene, context: int, predict: int, velocities) -> tuple[float, float, int]:
        """(seconds for compare + figures, seconds of the rollouts inside compare, FERNN copies)."""
        started = time.perf_counter()
        comparison = showcase.compare(models, scene, context_frames=context, predict_frames=predict, velocities=velocities)
        channels = list(range(min(4, min(run.hidden_channels for run in comparison.runs))))
        viz.comparison_animation(comparison)
        viz.mse_figure(comparison)
        viz.hidden_animation(comparison, channels, stabilised=True, view="pooled")
        for run in comparison.runs:
            if len(run.velocities) > 1:
                viz.velocity_activity_animation(comparison, run)
        copies = max(len(run.velocities) for run in comparison.runs)
        return time.perf_counter() - started, sum(run.seconds for run in comparison.runs), copies

    results = {"available": True, "models": source, "figures": "built"}
    with torch.inference_mode():
        for label, case in cases.items():
            if quick and label != "default":
                continue
            count = repeats if label == "default" else max(1, repeats // 2 + 1)
            full(*case)  # warm-up
            runs = [full(*case) for _ in range(count)]
            results[label] = {
                "copies": runs[0][2],
                "seconds": statistics.median(total for total, _, _ in runs),
                "rollout_seconds": statistics.median(rollout for _, rollout, _ in runs),
                "repeats": count,
            }
    return results

