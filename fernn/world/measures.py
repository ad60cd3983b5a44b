"""Measures of the world models, shared by the evaluation, the showcase and the tests: per-step MSE
over predicted views, and the exact self-motion / object-flow duality (``tests/test_world.py`` says
why it is exact). Every measure takes its views and actions from the caller: the core draws no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fernn.flows import Velocity

__all__ = ["DualityReport", "duality_error", "world_step_statistics"]


def world_step_statistics(model, views: torch.Tensor, actions: torch.Tensor, context_frames: int, *,
                          velocities: Sequence[Velocity] | None = None, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Per-predicted-step ``mse`` ``(S,)``, each sequence's MSE per step, ``sequence_step_mse`` ``(N, S)``,
    and over its predicted frames, ``sequence_mse`` ``(N,)``, of a world model on ``views`` ``(N, T + S, 1, V, V)`` with ``actions``
    ``(N, T + S - 1, 2)`` (the first ``context_frames`` views are the context)."""
    if views.ndim != 5 or actions.shape != (views.shape[0], views.shape[1] - 1, 2):
        raise ValueError(f"views must be (N, T + S, 1, H, W) and actions (N, T + S - 1, 2), got "
                         f"{tuple(views.shape)} and {tuple(actions.shape)}")
    device = next(model.parameters()).device
    steps = views.shape[1] - context_frames
    total = torch.zeros(steps, dtype=torch.float64)
    per_sequence = []
    for start in range(0, len(views), batch_size):
        batch = views[start : start + batch_size].to(device)
        moves = actions[start : start + batch_size].to(device)
        frames = model.forecast(batch[:, :context_frames], steps, actions=moves, velocities=velocities).frames
        squared = (frames.double() - batch[:, context_frames:].double()) ** 2  # (B, S, 1, H, W)
        total += squared.sum(dim=(0, 2, 3, 4)).cpu()
        per_sequence.append(squared.mean(dim=(2, 3, 4)).cpu())  # (B, S)
    count = len(views) * views[0, 0].numel()
    sequence_step = torch.cat(per_sequence).numpy()  # (N, S)
    return {"mse": (total / count).numpy(), "sequence_step_mse": sequence_step, "sequence_mse": sequence_step.mean(axis=1)}


@dataclass(frozen=True)
class DualityReport:
    """The self-motion / object-flow duality measured on one pair of runs.

    error: the largest relative difference ``max |h'[nu] - h[nu - u]| / max |h|`` over the states after
    every view and the copies compared (a model without copies compares its one state with itself:
    the relation it would need is ``h' = h``); compared: how many copies were compared."""

    error: float
    compared: int
    shift: Velocity


@torch.no_grad()
def duality_error(model, views: torch.Tensor, actions: torch.Tensor, shift: Velocity, *,
                  velocities: Sequence[Velocity] | None = None) -> DualityReport:
    """Run ``model`` on ``views`` ``(B, T, 1, S, S)`` twice, with ``actions`` ``(B, T - 1, 2)`` and with
    ``actions + shift``, and compare copy ``nu`` of the second run with copy ``nu - shift`` of the first
    (every copy whose partner is in the set). Exact (rounding only) for the world FERNN; run it in
    float64 for the 1e-12 check. The views are the same in both runs: they are what two observers see
    when one moves at ``+shift`` relative to the other and every object at ``+shift`` too."""
    flow = model.flow
    shift = flow.as_velocity(shift)
    moved = actions + torch.tensor(shift, dtype=actions.dtype, device=actions.device)
    runs = [model.forecast(views, 0, actions=a, velocities=velocities, return_hidden=True) for a in (actions, moved)]
    first, second = runs[0].hidden, runs[1].hidden  # (B, T, V, C, G, G)
    copies = runs[0].velocities
    lifted = len(copies) > 1 or copies != (flow.zero,)
    scale = float(first.abs().max().clamp_min(1e-300))
    if not model.holds_world or not lifted:
        return DualityReport(float((second - first).abs().max()) / scale, 1, shift)
    size = (model.world_size, model.world_size)
    error, compared = 0.0, 0
    for index, nu in enumerate(copies):
        partner = flow.partner(nu, shift, copies, size)
        if partner is not None:
            error = max(error, float((second[:, :, index] - first[:, :, partner]).abs().max()) / scale)
            compared += 1
    if not compared:
        raise ValueError(f"no copy of {copies} has a partner under the shift {shift}: nothing was compared")
    return DualityReport(error, compared, shift)
