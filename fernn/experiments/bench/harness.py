"""Several functions timed side by side, so that load on the machine hits them alike."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import torch

from fernn.timing import seconds_per_call


def side_by_side(
    functions: dict[str, Callable[[], object]], *, repeats: int, min_seconds: float, device: torch.device
) -> dict[str, float]:
    """Median seconds per call of each function, timed round-robin: each repeat times every
    function once, as a batch of calls lasting at least ``min_seconds``."""
    if not functions:
        raise ValueError("side_by_side needs at least one function to time")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if not min_seconds >= 0:
        raise ValueError(f"min_seconds must be >= 0, got {min_seconds!r}")
    calls = {}
    for name, function in functions.items():
        function()  # warm-up: caches, oneDNN primitives, allocator
        once = max(seconds_per_call(function, device=device), 1e-7)
        calls[name] = max(1, math.ceil(min_seconds / once))
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            samples[name].append(seconds_per_call(function, calls=calls[name], device=device))
    return {name: statistics.median(values) for name, values in samples.items()}


def fast_reference_bound(fast: float, reference: float, bound: float) -> dict[str, float]:
    """A step row's timings (seconds per step) in milliseconds and as the ratios every row reports."""
    return {"fast_ms": fast * 1e3, "reference_ms": reference * 1e3, "bound_ms": bound * 1e3,
            "fast_over_bound": fast / bound, "reference_over_bound": reference / bound,
            "speedup_vs_reference": reference / fast}
