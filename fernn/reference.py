"""The slow, obvious FERNN: one move per velocity copy (``torch.roll`` for translation), as the paper
writes the update.

The fast paths (:mod:`fernn.cells`, :meth:`fernn.Forecaster.rollout`) gather every copy at once,
fuse operations and write custom backward passes; these functions compute the same numbers the
plain way, sharing a model's weights. The tests check the fast paths against them in float64,
forward and backward, and ``python -m fernn.bench`` times the fast paths against them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from fernn.cells import FlowRNNCell
from fernn.flows import Velocity
from fernn.models import Forecast, Forecaster

__all__ = ["reference_cell_step", "reference_rollout"]


def reference_cell_step(cell: FlowRNNCell, x: torch.Tensor, h: torch.Tensor, velocities: Sequence[Velocity]) -> torch.Tensor:
    """``h_{t+1}[nu] = relu(W_in * x_t + W_rec * move(h_t[nu], nu))`` with one plain
    :meth:`~fernn.flows.Flow.move` per copy (``torch.roll`` for translation).

    x: ``(B, C_in, H, W)``, h: ``(B, V, C, H, W)`` -> ``(B, V, C, H, W)`` (NCHW, contiguous).
    """
    pad = (cell.pad,) * 4
    moved = [cell.flow.move_state(h[:, i], nu) for i, nu in enumerate(velocities)]
    stacked = torch.stack(moved, dim=1)  # (B, V, C, H, W)
    batch, copies = stacked.shape[:2]
    recurrent = F.conv2d(F.pad(stacked.flatten(0, 1), pad, mode="circular"), cell.recurrent_conv.weight)
    drive = F.conv2d(F.pad(x, pad, mode="circular"), cell.input_conv.weight)  # (B, C, H, W)
    return torch.relu(drive.unsqueeze(1) + recurrent.unflatten(0, (batch, copies)))


def reference_rollout(
    model: Forecaster,
    context: torch.Tensor,
    steps: int,
    *,
    velocities: Sequence[Velocity] | None = None,
    return_hidden: bool = False,
) -> Forecast:
    """:meth:`Forecaster.rollout` written the slow way: same clocks, same weights, per-copy moves."""
    velocities = model.velocities if velocities is None else model.flow.as_velocities(velocities)
    cell = model.cell
    batch, num_context, _, height, width = context.shape
    paper = model.config.decoding == "paper"
    h = context.new_zeros(batch, len(velocities), cell.hidden_channels, height, width)
    states = []

    def step(x: torch.Tensor) -> torch.Tensor:
        new_h = reference_cell_step(cell, x, h, velocities)
        states.append(new_h)
        return new_h

    def readout(state: torch.Tensor) -> torch.Tensor:
        if not paper:
            moved = [model.flow.move_state(state[:, i], v) for i, v in enumerate(velocities)]
            state = torch.stack(moved, dim=1)
        pooled = state.amax(dim=1) if model.config.pooling == "max" else state.mean(dim=1)
        return model.decoder(pooled)

    for t in range(num_context):
        h = step(context[:, t])
    frames, x = [], context[:, -1]
    for k in range(steps):
        if paper:
            h = step(x)
        prediction = readout(h)
        frames.append(prediction)
        x = prediction.detach()
        if not paper and (return_hidden or k < steps - 1):
            h = step(x)
    stacked = torch.stack(frames, dim=1) if frames else context.new_zeros(batch, 0, *context.shape[2:])
    hidden = torch.stack(states, dim=1) if return_hidden else None
    return Forecast(frames=stacked, hidden=hidden, velocities=tuple(velocities))
