"""The step table and a 20-step rollout on the GPU, when there is one."""

from __future__ import annotations

import torch

from fernn.models import build_model
from fernn.experiments.bench.harness import side_by_side
from fernn.experiments.bench.shapes import CANVAS, CONTEXT, PREDICT, SHIPPED_DECODER_LAYERS, SHIPPED_MAX_SPEED
from fernn.experiments.bench.step import bench_step


def bench_cuda(*, hidden: int, repeats: int, min_seconds: float, quick: bool) -> dict:
    """The step table on the GPU and a 20-step B = 1 FERNN-V2 rollout (when CUDA is there)."""
    if not torch.cuda.is_available():
        return {"available": False, "reason": "no CUDA device"}
    device = torch.device("cuda")
    shapes = [(1, 25)] if quick else [(1, 1), (1, 9), (1, 25), (1, 49), (1, 81), (16, 9), (16, 25), (32, 9), (32, 25)]
    rows = [bench_step(b, v, hidden=hidden, device=device, repeats=repeats, min_seconds=min_seconds) for b, v in shapes]
    torch.manual_seed(0)
    model = build_model("fernn", hidden_channels=hidden, decoder_layers=SHIPPED_DECODER_LAYERS,
                        max_speed=SHIPPED_MAX_SPEED).to(device).eval()
    context = torch.rand(1, CONTEXT, 1, CANVAS, CANVAS, device=device)
    rollout = side_by_side(
        {"rollout": lambda: model.forecast(context, PREDICT, return_hidden=True)},
        repeats=repeats, min_seconds=min_seconds, device=device,
    )["rollout"]
    return {"available": True, "device": torch.cuda.get_device_name(device), "steps": rows,
            "rollout_20_steps_b1_v25_seconds": rollout,
            "graphs_or_compile": "not measured: written without a GPU to try them on"}

