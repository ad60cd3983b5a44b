"""The app's latency: the demo's full comparison (both models, hidden states kept, the figures the
app draws by default), as shipped and with wider velocity sets."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from fernn.flows import TRANSLATION, Flow, Rotation
from fernn.models import Forecaster, build_model
from fernn.experiments.bench.shapes import (CONTEXT, PREDICT, ROTATION_ORDER, SHAPES,
                                            SHIPPED_DECODER_LAYERS, SHIPPED_MAX_SPEED, SHIPPED_WORLD)


def _app_models(device: torch.device, flow: Flow = TRANSLATION,
                files: dict[str, Path] | None = None) -> tuple[dict[str, Forecaster], str]:
    """The shipped pair of ``flow`` (or ``files``, ``{"G-RNN": path, "FERNN": path}``) when its files
    are present, else freshly built models of the shipped configuration."""
    from fernn.checkpoints import load_checkpoint

    if files is not None:  # given files must be there: no fallback
        missing = [str(path) for path in files.values() if not Path(path).exists()]
        if missing:
            raise FileNotFoundError(f"no model at {', '.join(missing)}")
        return {name: load_checkpoint(path, device) for name, path in files.items()}, "given checkpoints"
    hidden, files = SHAPES[flow.name]
    if all(path.exists() for path in files.values()):
        return {name: load_checkpoint(path, device) for name, path in files.items()}, "shipped checkpoints"
    torch.manual_seed(0)
    models = {
        "G-RNN": build_model("grnn", hidden_channels=hidden, decoder_layers=SHIPPED_DECODER_LAYERS, flow=flow),
        "FERNN": build_model("fernn", hidden_channels=hidden, decoder_layers=SHIPPED_DECODER_LAYERS,
                             max_speed=SHIPPED_MAX_SPEED, flow=flow),
    }
    return {name: model.to(device).eval() for name, model in models.items()}, "built with the shipped configuration"


def bench_app(*, device: torch.device, repeats: int, quick: bool, translation_pair: dict[str, Path] | None = None,
              rotation: bool = True) -> dict:
    """The demo's full comparison with its default settings and with a widened velocity set (the
    rollouts, the figures the app draws and their JSON as Streamlit sends it); the
    translation rows with ``translation_pair`` (``{"G-RNN": path, "FERNN": path}``) when given, else
    the shipped pair; the rotation rows unless ``rotation`` is false."""
    import fernn.showcase as showcase
    from fernn.showcase import viz  # imported here: the step and training sections need neither
    from fernn.showcase.viz.panels import wire_json

    rotation_flow = Rotation(order=ROTATION_ORDER)
    pairs = {TRANSLATION: _app_models(device, files=translation_pair)}
    if rotation:
        pairs[rotation_flow] = _app_models(device, rotation_flow)
    # The app's defaults: one MNIST test digit (#7) moving (1, 2) px/frame, 10 + 10 frames, the
    # "auto" velocity set; then V_4; then the widest the app offers: two digits at (4, 4) and
    # (-4, 3), V_8 (289 copies), 20 context + 70 predicted frames. Rotation: digit #7 turning
    # +60°/frame (2 steps; auto: V = {-2..2}); the widest, two digits at +-120°/frame, V_8 (17 copies).
    cases = {
        "default": (TRANSLATION, showcase.mnist_scene([7], velocities=[(1, 2)]), CONTEXT, PREDICT, showcase.AUTO),
        "widened_v4": (TRANSLATION, showcase.mnist_scene([7], velocities=[(1, 2)]), CONTEXT, PREDICT, 4),
        "widest_v8": (TRANSLATION, showcase.mnist_scene([7, 3], velocities=[(4, 4), (-4, 3)]), 20, 70, 8),
    }
    if rotation:
        cases["rotation_default"] = (rotation_flow, showcase.mnist_scene([7], velocities=[2], flow=rotation_flow),
                                     CONTEXT, PREDICT, showcase.AUTO)
        cases["rotation_widest_v8"] = (rotation_flow, showcase.mnist_scene([7, 3], velocities=[4, -4], flow=rotation_flow),
                                       20, 70, 8)

    def full(flow: Flow, scene, context: int, predict: int, velocities) -> tuple[float, float, int]:
        """(seconds for compare + figures, seconds of the rollouts inside compare, FERNN copies)."""
        models = pairs[flow][0]
        started = time.perf_counter()
        comparison = showcase.compare(models, scene, context_frames=context, predict_frames=predict, velocities=velocities)
        channels = list(range(min(4, min(run.hidden_channels for run in comparison.runs))))
        figures = [viz.comparison_animation(comparison), viz.mse_figure(comparison),
                   viz.hidden_animation(comparison, channels, stabilised=True, view="pooled")]
        figures += [viz.velocity_activity_animation(comparison, run) for run in comparison.runs if len(run.velocities) > 1]
        for fig in figures:  # and turned into what st.plotly_chart sends
            wire_json(fig)
        copies = max(len(run.velocities) for run in comparison.runs)
        return time.perf_counter() - started, sum(run.seconds for run in comparison.runs), copies

    results = {"available": True, "models": pairs[TRANSLATION][1], "figures": "built"}
    if rotation:
        results["rotation_models"] = pairs[rotation_flow][1]
    world_models = None
    if all(path.exists() for path in SHIPPED_WORLD.values()):
        from fernn.checkpoints import load_checkpoint

        world_models = {name: load_checkpoint(path, device) for name, path in SHIPPED_WORLD.items()}
        world_digit = default_world_digit()
    with torch.inference_mode():
        for label, case in cases.items():
            if quick and label not in ("default", "rotation_default"):
                continue
            count = repeats if label.endswith("default") else max(1, repeats // 2 + 1)
            full(*case)  # warm-up
            runs = [full(*case) for _ in range(count)]
            results[label] = {
                "copies": runs[0][2],
                "seconds": statistics.median(total for total, _, _ in runs),
                "rollout_seconds": statistics.median(rollout for _, rollout, _ in runs),
                "repeats": count,
            }
        if world_models is not None:
            world_full(world_models, world_digit)  # warm-up
            runs = [world_full(world_models, world_digit) for _ in range(repeats)]
            results["world_default"] = {
                "copies": len(world_models["FERNN"].velocities),
                "seconds": statistics.median(total for total, _ in runs),
                "rollout_seconds": statistics.median(rollout for _, rollout in runs),
                "repeats": repeats,
            }
    return results


def default_world_digit():
    """The app's default World digit: MNIST test digit #7, still, where the observer first looks."""
    from fernn.datasets.digits import load_digits
    from fernn.showcase.scenes import Digit

    image = load_digits("test")[0][7].astype("float32") / 255.0
    return Digit(image, (0, 0), (0, 0), "MNIST #7", TRANSLATION)


def world_full(models: dict, digit) -> tuple[float, float]:
    """The app's default World comparison of ``digit`` (the observer looks away and back) with its
    animation and that animation's JSON: (seconds in all, seconds of the two models' rollouts)."""
    import fernn.showcase.world as world
    from fernn.showcase import viz
    from fernn.showcase.viz.panels import wire_json

    started = time.perf_counter()
    moves = world.world_actions(world.LOOK_AWAY, chased=digit.velocity, own=world.DEFAULT_MOVES)
    result = world.compare_world(models, [digit], list(moves), path=world.LOOK_AWAY)
    wire_json(viz.world_animation(result))
    return time.perf_counter() - started, sum(run.seconds for run in result.runs)

