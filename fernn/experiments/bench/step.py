"""The step table: one recurrent step against the research code's step and against the bare
convolution it cannot beat, and the best rate this machine reaches for that convolution."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fernn.cells import FlowRNNCell, StepRunner
from fernn.flows import shift_copies, velocity_set
from fernn.reference import reference_cell_step
from fernn.experiments.bench.harness import fast_reference_bound, side_by_side
from fernn.experiments.bench.shapes import CANVAS, CONTEXT


def _seeded_cell(hidden: int, device: torch.device, seed: int = 0) -> FlowRNNCell:
    torch.manual_seed(seed)
    return FlowRNNCell(in_channels=1, hidden_channels=hidden).to(device).eval()


def _conv_flops(batch: int, copies: int, hidden: int, kernel: int, height: int, width: int) -> float:
    return 2.0 * batch * copies * hidden * hidden * kernel * kernel * height * width


def recurrent_loops(cell, runner: StepRunner, state: torch.Tensor, start: torch.Tensor, frames: torch.Tensor,
                    velocities) -> tuple:
    """The two timed loops over ``frames`` ``(B, T, 1, H, W)``: ``fast`` (the rollout's input drive and the
    runner's fused step into ``state``) and ``reference`` (one plain cell step per frame from ``start``)."""
    batch, steps = frames.shape[:2]
    frames_first = frames.transpose(0, 1).reshape(-1, *frames.shape[2:])  # (T*B, 1, H, W), as the rollout orders them
    reference_state = [start.clone()]

    def fast() -> None:
        drives = cell.input_drive(frames_first).unflatten(0, (steps, batch))  # (T, B, C, H, W)
        for t in range(steps):
            runner.step(runner.shift(state), drives[t], out=state)

    def reference() -> None:
        h = reference_state[0]
        for t in range(steps):
            h = reference_cell_step(cell, frames[:, t], h, velocities)
        reference_state[0] = h

    return fast, reference


def bench_step(
    batch: int, copies: int, *, hidden: int, device: torch.device, repeats: int, min_seconds: float,
    frames_per_call: int = CONTEXT,
) -> dict:
    """One row of the step table: fast step, reference step and bound, per recurrent step."""
    radius = math.isqrt(copies) // 2
    velocities = velocity_set(radius)
    if len(velocities) != copies:
        raise ValueError(f"{copies} copies is not a square velocity set")
    cell = _seeded_cell(hidden, device)
    generator = torch.Generator().manual_seed(1)
    frames = torch.rand(batch, frames_per_call, 1, CANVAS, CANVAS, generator=generator).to(device)  # (B, T, 1, H, W)
    start = torch.rand(batch, copies, hidden, CANVAS, CANVAS, generator=generator).to(device)  # (B, V, C, H, W)
    weight = cell.recurrent_conv.weight.detach()
    steps = frames_per_call
    with torch.inference_mode():
        runner = StepRunner(cell, velocities, batch=batch, height=CANVAS, width=CANVAS, like=frames)
        state = runner.new_state()
        state.copy_(start)
        shifted = shift_copies(start, velocities, pad=cell.pad).flatten(0, 1)  # (B*V, C, H+2, W+2) channels-last
        shifted_nchw = shifted.contiguous()
        packed = None
        if device.type == "cpu" and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight"):
            packed = torch.ops.mkldnn._reorder_convolution_weight(weight, [0, 0], [1, 1], [1, 1], 1, list(shifted.shape))

        fast, reference = recurrent_loops(cell, runner, state, start, frames, velocities)

        def conv_torch() -> None:
            for _ in range(steps):
                F.conv2d(shifted, weight)

        def conv_packed() -> None:
            for _ in range(steps):
                torch.ops.mkldnn._convolution_pointwise(shifted, packed, None, [0, 0], [1, 1], [1, 1], 1, "none", [], None)

        def conv_nchw() -> None:
            for _ in range(steps):
                F.conv2d(shifted_nchw, weight)

        functions = {"fast": fast, "reference": reference, "conv_channels_last": conv_torch}
        if packed is not None:
            functions["conv_prepacked"] = conv_packed
        functions["conv_nchw"] = conv_nchw
        medians = side_by_side(functions, repeats=repeats, min_seconds=min_seconds, device=device)
    per_step = {name: seconds / steps for name, seconds in medians.items()}
    bound_name = min((n for n in per_step if n in ("conv_channels_last", "conv_prepacked")), key=per_step.get)
    bound = per_step[bound_name]
    flops = _conv_flops(batch, copies, hidden, cell.kernel_size, CANVAS, CANVAS)
    return {
        "batch": batch,
        "copies": copies,
        "hidden": hidden,
        "size": CANVAS,
        **fast_reference_bound(per_step["fast"], per_step["reference"], bound),
        "bound_variant": bound_name,
        "conv_ms": {name.removeprefix("conv_"): per_step[name] * 1e3 for name in per_step if name.startswith("conv_")},
        "conv_gflops": flops / bound / 1e9,
    }


def bench_conv_peak(*, hidden: int, device: torch.device, repeats: int, min_seconds: float, quick: bool) -> dict:
    """The best GFLOP/s of the recurrent convolution (any batch) and of a float32 matmul."""
    weight = _seeded_cell(hidden, device).recurrent_conv.weight.detach()
    best, per_batch = 0.0, {}
    with torch.inference_mode():
        for count in ((64, 256) if quick else (64, 256, 1024)):
            shifted = torch.rand(count, CANVAS + 2, CANVAS + 2, hidden, device=device).permute(0, 3, 1, 2)
            functions = {"torch": lambda: F.conv2d(shifted, weight)}
            if device.type == "cpu" and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight"):
                packed = torch.ops.mkldnn._reorder_convolution_weight(weight, [0, 0], [1, 1], [1, 1], 1, list(shifted.shape))
                functions["prepacked"] = lambda: torch.ops.mkldnn._convolution_pointwise(
                    shifted, packed, None, [0, 0], [1, 1], [1, 1], 1, "none", [], None
                )
            medians = side_by_side(functions, repeats=repeats, min_seconds=min_seconds, device=device)
            rate = _conv_flops(count, 1, hidden, 3, CANVAS, CANVAS) / min(medians.values()) / 1e9
            per_batch[count] = rate
            best = max(best, rate)
        size = 512 if quick else 1024
        a = torch.rand(size, size, device=device)
        b = torch.rand(size, size, device=device)
        matmul = side_by_side({"mm": lambda: a @ b}, repeats=repeats, min_seconds=min_seconds, device=device)["mm"]
    return {
        "conv_peak_gflops": best,
        "conv_gflops_by_copies": per_batch,
        "matmul_gflops": 2.0 * size**3 / matmul / 1e9,
        "matmul_size": size,
    }

