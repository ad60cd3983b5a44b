"""The rotation step table: one FERNN-R recurrent step (``C_N``, the state lifted to ``N``
orientations) against the group convolution alone, its bound, and against the research code's
structure, a per-velocity loop of ``grid_sample`` turns and orientation rolls."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fernn.cells import FlowRNNCell, StepRunner
from fernn.flows import Rotation
from fernn.experiments.bench.harness import fast_reference_bound, side_by_side
from fernn.experiments.bench.step import recurrent_loops
from fernn.experiments.bench.shapes import CANVAS, CONTEXT


def bench_rotation_step(
    batch: int, max_speed: int, *, order: int, fields: int, device: torch.device, repeats: int, min_seconds: float,
    frames_per_call: int = CONTEXT,
) -> dict:
    """One row: the fast step (every copy turned and padded in one gather, then the fused group
    convolution + drive + relu), the reference step (:func:`~fernn.reference.reference_cell_step`: one
    roll and one ``grid_sample`` per copy, a stack, circular padding, a convolution) and the bound
    (the group convolution alone on already moved, padded copies), per recurrent step."""
    flow = Rotation(order=order)
    velocities = flow.velocity_set(max_speed)
    copies, channels = len(velocities), fields * order
    torch.manual_seed(0)
    cell = FlowRNNCell(flow=flow, in_channels=1, hidden_channels=channels).to(device).eval()
    generator = torch.Generator().manual_seed(1)
    frames = torch.rand(batch, frames_per_call, 1, CANVAS, CANVAS, generator=generator).to(device)  # (B, T, 1, H, W)
    start = torch.rand(batch, copies, channels, CANVAS, CANVAS, generator=generator).to(device)  # (B, V, C, H, W)
    steps = frames_per_call
    with torch.inference_mode():
        weight = cell.recurrent_conv.weight.detach()  # (C, C, k, k), built once from the base weights
        runner = StepRunner(cell, velocities, batch=batch, height=CANVAS, width=CANVAS, like=frames)
        state = runner.new_state()
        state.copy_(start)
        shifted = flow.move_copies(start, velocities, pad=cell.pad).flatten(0, 1)  # (B*V, C, H+2, W+2) channels-last

        fast, reference = recurrent_loops(cell, runner, state, start, frames, velocities)

        def bound() -> None:
            for _ in range(steps):
                F.conv2d(shifted, weight)

        medians = side_by_side({"fast": fast, "reference": reference, "bound": bound}, repeats=repeats,
                               min_seconds=min_seconds, device=device)
    per_step = {name: seconds / steps for name, seconds in medians.items()}
    return {
        "batch": batch,
        "copies": copies,
        "order": order,
        "fields": fields,
        "channels": channels,
        "size": CANVAS,
        **fast_reference_bound(per_step["fast"], per_step["reference"], per_step["bound"]),
    }
