"""The world step table: one world-FERNN step on its ``W x W`` memory map (every copy of every
sequence moved by ``nu - a_t`` in one gather, the recurrent conv, the view's drive written at the
window, relu) against the recurrent convolution alone on already moved, padded copies (its bound),
and against a per-copy loop of ``torch.roll`` + circular pad + conv (the obvious way to write it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fernn.experiments.bench.harness import fast_reference_bound, side_by_side
from fernn.experiments.bench.shapes import CANVAS, CONTEXT
from fernn.flows import TRANSLATION
from fernn.world import WorldConfig, build_world_model

# The shipped world models' shape (preset world-fernn): a 48-px torus, 16 channels.
WORLD_SIZE, WORLD_HIDDEN = 48, 16


def bench_world_step(batch: int, max_speed: int, *, hidden: int = WORLD_HIDDEN, world_size: int = WORLD_SIZE,
                     device: torch.device, repeats: int, min_seconds: float, frames_per_call: int = CONTEXT) -> dict:
    """One row, per recurrent step: ``fast`` (the model's own rollout over ``frames_per_call`` context
    views: the input drive, then per step the folded gather, conv and drive), ``reference`` (per copy
    and sequence: roll, circular pad, conv, then the drive) and ``bound`` (the conv alone)."""
    velocities = TRANSLATION.velocity_set(max_speed)
    copies, steps = len(velocities), frames_per_call
    torch.manual_seed(0)
    model = build_world_model(WorldConfig(kind="fernn", velocities=velocities, hidden_channels=hidden,
                                          world_size=world_size)).to(device).eval()
    generator = torch.Generator().manual_seed(1)
    views = torch.rand(batch, steps, 1, CANVAS, CANVAS, generator=generator).to(device)  # (B, T, 1, S, S)
    actions = torch.randint(-2, 3, (batch, steps - 1, 2), generator=generator).to(device)  # (B, T - 1, 2)
    start = torch.rand(batch, copies, hidden, world_size, world_size, generator=generator).to(device)  # (B, V, C, W, W)
    weight = model.cell.recurrent_conv.weight.detach()
    w_in = model.cell.input_conv.weight.detach()
    margin = world_size - CANVAS
    with torch.inference_mode():
        moved = TRANSLATION.move_copies(start.reshape(1, batch * copies, hidden, world_size, world_size),
                                        [nu for _ in range(batch) for nu in velocities], pad=1)
        moved = moved.flatten(0, 1)  # (B*V, C, W+2, W+2), as the fast step hands it to the conv

        def fast() -> None:
            model.forecast(views, 0, actions=actions)

        def reference() -> None:
            h = start
            for t in range(1, steps):
                drive = F.pad(F.conv2d(views[:, t], w_in, padding=1), (0, margin, 0, margin))  # (B, C, W, W)
                rows = []
                for b in range(batch):
                    move = actions[b, t - 1].tolist()
                    copies_b = [F.conv2d(F.pad(torch.roll(h[b, n], (nu[0] - move[0], nu[1] - move[1]), (-2, -1))[None],
                                               (1, 1, 1, 1), mode="circular"), weight)[0] for n, nu in enumerate(velocities)]
                    rows.append(torch.relu(torch.stack(copies_b) + drive[b]))
                h = torch.stack(rows)

        def bound() -> None:
            for _ in range(steps - 1):
                F.conv2d(moved, weight)

        medians = side_by_side({"fast": fast, "reference": reference, "bound": bound}, repeats=repeats,
                               min_seconds=min_seconds, device=device)
    # fast reads steps views (the first only drives); the others make steps - 1 steps: per step alike.
    per_step = {"fast": medians["fast"] / (steps - 1), "reference": medians["reference"] / (steps - 1),
                "bound": medians["bound"] / (steps - 1)}
    return {"batch": batch, "copies": copies, "hidden": hidden, "world_size": world_size,
            **fast_reference_bound(per_step["fast"], per_step["reference"], per_step["bound"])}
