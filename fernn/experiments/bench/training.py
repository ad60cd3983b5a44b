"""One training step, forward + backward: the fast path (float32 and bf16 autocast) against the
reference rollout, with the largest gradient difference between them as a check."""

from __future__ import annotations

from collections.abc import Callable

import torch

from fernn.models import Forecaster, build_model
from fernn.reference import reference_rollout
from fernn.experiments.bench.harness import side_by_side
from fernn.experiments.bench.machine import native_bf16
from fernn.experiments.bench.shapes import CANVAS


def training_model(*, hidden: int, max_speed: int, decoder_layers: int, device: torch.device) -> Forecaster:
    torch.manual_seed(0)
    model = build_model("fernn", hidden_channels=hidden, max_speed=max_speed, decoder_layers=decoder_layers)
    return model.to(device).train()


def training_batch(batch: int, context: int, predict: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    sequence = torch.rand(batch, context + predict, 1, CANVAS, CANVAS, generator=generator).to(device)
    return sequence[:, :context], sequence[:, context:]


def bench_training(
    *, batch: int, hidden: int, max_speed: int, decoder_layers: int, context: int, predict: int,
    device: torch.device, repeats: int, min_seconds: float,
) -> dict:
    """Forward + backward of an MSE training step, timed side by side: the reference rollout in
    float32, the fast path in float32, and the fast path under bf16 autocast (what
    ``python -m fernn.train --precision bf16`` runs; weights stay float32)."""
    model = training_model(hidden=hidden, max_speed=max_speed, decoder_layers=decoder_layers, device=device)
    inputs, targets = training_batch(batch, context, predict, device)

    def step(rollout: Callable[[], torch.Tensor], bf16: bool = False) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                frames = rollout()
            torch.mean((frames.float() - targets) ** 2).backward()
        return run

    variants = {
        "reference_fp32": step(lambda: reference_rollout(model, inputs, predict).frames),
        "fast_fp32": step(lambda: model(inputs, predict)),
        "fast_bf16": step(lambda: model(inputs, predict), bf16=True),
    }
    gradients = {}
    for name, function in variants.items():
        function()
        gradients[name] = [p.grad.detach().clone() for p in model.parameters()]

    def difference(name: str) -> float:
        pairs = zip(gradients[name], gradients["reference_fp32"])
        return max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in pairs)

    medians = side_by_side(variants, repeats=repeats, min_seconds=min_seconds, device=device)
    return {
        "batch": batch,
        "copies": (2 * max_speed + 1) ** 2,
        "hidden": hidden,
        "decoder_layers": decoder_layers,
        "frames": [context, predict],
        "reference_s": medians["reference_fp32"],
        "fast_s": medians["fast_fp32"],
        "fast_bf16_s": medians["fast_bf16"],
        "speedup_vs_reference": medians["reference_fp32"] / medians["fast_fp32"],
        "bf16_speedup_vs_fast_fp32": medians["fast_fp32"] / medians["fast_bf16"],
        "bf16_speedup_vs_reference": medians["reference_fp32"] / medians["fast_bf16"],
        "max_relative_gradient_difference": difference("fast_fp32"),
        "bf16_max_relative_gradient_difference": difference("fast_bf16"),
        "native_bf16": native_bf16(),
    }

