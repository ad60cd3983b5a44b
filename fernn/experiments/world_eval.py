"""The world models' held-out evaluation (``python -m fernn.evaluate`` on ``world-fernn`` /
``world-grnn`` checkpoints): the data each measure reads, the issue's targets, and the report.

Every model sees the same held-out sequences (test digits, fixed seeds) built by
:mod:`fernn.datasets.world`; the measures are the core's (:mod:`fernn.world.measures`,
:func:`fernn.measures.mean_interval`).

- In distribution: the training recipe (2 digits at ``|v| <= 1``, piecewise-constant actions) on
  held-out digits, 10 context -> 10 predicted views; MSE with a 95% interval over sequences.
- Look away and back (:func:`fernn.datasets.world.look_away_and_back`): MSE over all 24 predicted
  frames and over the last 6 (the digit back in full view), one sequence per held-out digit.
- Chase (:func:`fernn.datasets.world.chase`): MSE over the frames after the catch-up (reported).
- A 30-frame rollout of the training recipe: MSE per predicted step.
- Objects beyond training: both digits at speed 2 (``max(|dy|, |dx|) = 2``), the FERNN run with
  ``velocity_set(2)``; compared with its in-distribution MSE. What that ratio is made of: digits
  drawn the same way at speed 1, run with its own set and with the widened one (the data, the
  widening and the speed, each apart).
- Equivariance: the self-motion / object-flow duality error (:func:`fernn.world.duality_error`) in
  float64 on held-out views, per shift.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from fernn.datasets.digits import load_digits, sequence_rng, unit_pixels
from fernn.datasets.world import (WorldSample, WorldSpec, chase, look_away_and_back, mnist_world_batch,
                                  piecewise_actions, world_sequence)
from fernn.experiments.report import checked
from fernn.flows import Velocity
from fernn.measures import INTERVAL_METHOD, mean_interval
from fernn.world import WorldModel, duality_error, world_step_statistics

__all__ = ["WORLD_QUICK", "WORLD_TARGETS", "WorldEvaluationSettings", "evaluate_world_model", "fast_objects_batch",
           "world_checks", "world_report"]

# The targets for a world G-RNN / world FERNN pair.
WORLD_TARGETS = {
    "fernn_look_away_last6_mse": "<= 1e-2",
    "fernn_over_grnn_look_away_last6": "<= 0.25",
    "grnn_low_over_fernn_high": ">= 1",  # the 95% intervals of the in-distribution MSE lie apart
    "fernn_speed2_over_in_range": "<= 1.5",
    "fernn_equivariance_error": "<= 1e-12",
    "grnn_equivariance_error": ">= 1e-2",
}
# Fast objects draw from a stream of their own (MNIST World's is 4).
FAST_STREAM = 5


@dataclass(frozen=True)
class WorldEvaluationSettings:
    """The held-out protocol for world models; stored with every result."""

    context_frames: int = 10
    predict_frames: int = 10
    test_sequences: int = 256
    protocol_digits: int = 64  # held-out digits run through look-away-and-back and chase
    long_frames: int = 30
    long_sequences: int = 64
    fast_speed: int = 2
    fast_sequences: int = 128
    shifts: tuple[Velocity, ...] = ((1, 0), (1, 1))  # the duality's shifts u
    equivariance_frames: int = 8
    seed: int = 2024  # held-out stream (training uses 0, validation 1)
    batch_size: int = 32


# --quick: a few sequences per measurement, every code path.
WORLD_QUICK = {"test_sequences": 8, "protocol_digits": 3, "long_sequences": 2, "fast_sequences": 4}


def _spec(model: WorldModel, frames: int) -> WorldSpec:
    return WorldSpec(world_size=model.world_size, view_size=model.view_size, num_frames=frames)


def fast_objects_batch(digits: np.ndarray, indices, *, speed: int, seed: int, spec: WorldSpec) -> WorldSample:
    """MNIST World sequences whose digits all move at speed ``speed`` (``max(|dy|, |dx|) = speed``, each
    velocity uniform on that ring), otherwise drawn as the training recipe draws them."""
    ring = [(dy, dx) for dy in range(-speed, speed + 1) for dx in range(-speed, speed + 1) if max(abs(dy), abs(dx)) == speed]
    items = []
    for index in indices:
        rng = sequence_rng(seed, int(index), stream=FAST_STREAM)
        chosen = rng.integers(0, len(digits), size=spec.num_digits)
        starts = rng.integers(0, spec.world_size, size=(spec.num_digits, 2)).tolist()
        velocities = [ring[i] for i in rng.integers(0, len(ring), size=spec.num_digits)]
        corner = rng.integers(0, spec.world_size, size=2).tolist()
        actions, _ = piecewise_actions(rng, spec.num_frames - 1, max_step=spec.max_step, min_segment=spec.min_segment,
                                       max_segment=spec.max_segment)
        items.append(world_sequence([unit_pixels(digits[d]) for d in chosen], velocities=velocities, starts=starts,
                                    corner=corner, actions=actions.tolist(), world_size=spec.world_size,
                                    view_size=spec.view_size))
    return WorldSample(*(torch.stack([getattr(item, name) for item in items])
                         for name in ("views", "actions", "world", "corners")))


def _protocols(builder, digits: np.ndarray, count: int, world_size: int) -> list:
    """The protocol for the first ``count`` held-out digits it accepts (some digits are too wide to hide)."""
    found = []
    for index in range(len(digits)):
        try:
            found.append(builder(unit_pixels(digits[index]), world_size=world_size))
        except ValueError:
            continue
        if len(found) == count:
            break
    return found


def evaluate_world_model(model: WorldModel, settings: WorldEvaluationSettings = WorldEvaluationSettings(), *,
                         digits_root: str | None = None, log=print) -> dict:
    """The full held-out evaluation of one world model; a JSON-ready dict (:class:`fernn.records.WorldEvaluation`)."""
    started = time.perf_counter()
    digits = load_digits("test", root=digits_root)[0]
    context, batch = settings.context_frames, settings.batch_size
    test = mnist_world_batch(digits, range(settings.test_sequences), seed=settings.seed,
                             spec=_spec(model, context + settings.predict_frames))
    stats = world_step_statistics(model, test.views, test.actions, context, batch_size=batch)
    interval = mean_interval(stats["sequence_mse"])
    spread = f" [95%: {interval['low']:.4g}..{interval['high']:.4g}]" if interval["low"] is not None else ""
    log(f"  test MSE {interval['mean']:.5g}{spread}")

    away = _protocols(look_away_and_back, digits, settings.protocol_digits, model.world_size)
    views = torch.stack([p.sample.views for p in away])  # (N, T + 24, 1, S, S): one path, many digits
    actions = torch.stack([p.sample.actions for p in away])
    away_stats = world_step_statistics(model, views, actions, away[0].context_frames, batch_size=batch)
    last = list(away[0].scored)
    last_interval = mean_interval(away_stats["sequence_step_mse"][:, last].mean(axis=1))
    log(f"  look away and back: all {away_stats['mse'].mean():.5g}, last {len(last)} {last_interval['mean']:.5g}")

    chased = []
    for protocol in _protocols(chase, digits, settings.protocol_digits, model.world_size):
        sample, start = protocol.sample, protocol.context_frames
        with torch.inference_mode():
            out = model.forecast(sample.views[None, :start], protocol.predict_frames, actions=sample.actions[None]).frames
        scored = list(protocol.scored)
        chased.append(float(((out[0, scored].double() - sample.views[start:][scored].double()) ** 2).mean()))
    log(f"  chase: {np.mean(chased):.5g} over {len(chased)} digits")

    long = mnist_world_batch(digits, range(settings.long_sequences), seed=settings.seed,
                             spec=_spec(model, context + settings.long_frames))
    long_mse = world_step_statistics(model, long.views, long.actions, context, batch_size=batch)["mse"]

    fast = fast_objects_batch(digits, range(settings.fast_sequences), speed=settings.fast_speed, seed=settings.seed,
                              spec=_spec(model, context + settings.predict_frames))
    radius = settings.fast_speed if model.holds_world else None
    velocities = None if radius is None else model.flow.velocity_set(radius)
    fast_mse = float(world_step_statistics(model, fast.views, fast.actions, context, velocities=velocities,
                                           batch_size=batch)["mse"].mean())
    log(f"  objects at |v|={settings.fast_speed}: {fast_mse:.5g}" + (f" (run with V_{radius})" if radius else ""))
    same_set = own_set = None
    if radius is not None:  # objects at |v| = 1 drawn the same way, with the model's own set and the widened one
        slow = fast_objects_batch(digits, range(settings.fast_sequences), speed=1, seed=settings.seed,
                                  spec=_spec(model, context + settings.predict_frames))
        own_set, same_set = (float(world_step_statistics(model, slow.views, slow.actions, context, velocities=chosen,
                                                         batch_size=batch)["mse"].mean())
                             for chosen in (None, velocities))
        log(f"  objects at |v|=1: {own_set:.5g} with its own set, {same_set:.5g} with V_{radius}")

    exact = copy.deepcopy(model).double()
    frames_used = settings.equivariance_frames
    probe_views, probe_actions = test.views[:2, :frames_used].double(), test.actions[:2, : frames_used - 1]
    equivariance = []
    for shift in settings.shifts:
        report = duality_error(exact, probe_views, probe_actions, shift)
        equivariance.append({"shift": list(report.shift), "error": report.error, "compared": report.compared})
    log("  duality error (float64): " + ", ".join(f"u={tuple(e['shift'])} {e['error']:.2g}" for e in equivariance))
    return {
        "settings": asdict(settings),
        "test_mse": interval["mean"],
        "test_mse_interval": interval,
        "test_step_mse": stats["mse"].tolist(),
        "look_away": {"mse": float(away_stats["mse"].mean()), "last_mse": last_interval["mean"],
                      "last_interval": last_interval, "step_mse": away_stats["mse"].tolist()},
        "chase": {"mse": float(np.mean(chased))},
        "long_step_mse": long_mse.tolist(),
        "speed_2": {"mse": fast_mse, "velocity_radius": radius, "speed_1_same_set_mse": same_set,
                    "speed_1_own_set_mse": own_set},
        "equivariance": equivariance,
        "seconds": round(time.perf_counter() - started, 1),
    }


def world_checks(grnn: dict, fernn: dict) -> dict:
    """The pair's evaluations against :data:`WORLD_TARGETS`."""
    f_away, g_away = fernn["look_away"]["last_mse"], grnn["look_away"]["last_mse"]
    values = {
        "fernn_look_away_last6_mse": f_away,
        "fernn_over_grnn_look_away_last6": f_away / g_away,
        "fernn_speed2_over_in_range": fernn["speed_2"]["mse"] / fernn["test_mse"],
        "fernn_equivariance_error": max(e["error"] for e in fernn["equivariance"]),
        "grnn_equivariance_error": min(e["error"] for e in grnn["equivariance"]),
    }
    low, high = grnn["test_mse_interval"].get("low"), fernn["test_mse_interval"].get("high")
    if low is not None and high is not None:
        values["grnn_low_over_fernn_high"] = low / high
    return checked({name: values[name] for name in WORLD_TARGETS if name in values}, WORLD_TARGETS)


def world_report(results: dict[str, dict], checks: dict | None) -> str:
    """The world models' results table and, for a pair, the target checks (markdown)."""
    def number(value) -> str:
        return "n/a" if value is None else f"{value:.4g}"

    header = ["world model", "test MSE", "95% interval", "look away: all", "look away: last 6", "chase",
              "step 10", "step 30", "objects at \\|v\\| = 2", "duality error (f64)"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, result in results.items():
        e = result["evaluation"]
        interval, long = e["test_mse_interval"], e["long_step_mse"]
        spread = f"{interval['low']:.4g}..{interval['high']:.4g}" if interval.get("low") is not None else "n/a"
        radius = e["speed_2"]["velocity_radius"]
        fast = number(e["speed_2"]["mse"]) + (f" (V_{radius})" if radius else "")
        row = [name.replace("|", "\\|"), number(e["test_mse"]), spread, number(e["look_away"]["mse"]),
               number(e["look_away"]["last_mse"]), number(e["chase"]["mse"]),
               number(long[9] if len(long) >= 10 else None), number(long[29] if len(long) >= 30 else None), fast,
               f"{max(x['error'] for x in e['equivariance']):.1e}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Test MSE interval: {INTERVAL_METHOD}. Duality: copy nu of a run whose actions are shifted by u "
              "against copy nu - u (a model without copies: its state against itself)."]
    if checks:
        lines += ["", "| world target | measured | goal | met |", "|---|---|---|---|"]
        lines += [f"| {name} | {row['value']:.3g} | {row['target']} | {'yes' if row['met'] else 'no'} |"
                  for name, row in checks.items()]
    for name, result in results.items():  # what the |v| = 2 ratio is made of, for a model with copies
        fast = result["evaluation"]["speed_2"]
        own, same = fast.get("speed_1_own_set_mse"), fast.get("speed_1_same_set_mse")
        if own and same:
            test = result["evaluation"]["test_mse"]
            lines += ["", f"{name}, objects at |v| = 2 against in range ({fast['mse'] / test:.3g}x), on digits drawn "
                      f"the same way at |v| = 1 ({own:.4g} with its own set: {own / test:.3g}x the test data's): "
                      f"widening to V_{fast['velocity_radius']} alone costs {same / own:.3g}x ({same:.4g}), the "
                      f"speed with that set {fast['mse'] / same:.3g}x."]
    return "\n".join(lines) + "\n"
