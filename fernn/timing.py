"""Wall-clock timing of a callable: the one clock that ``python -m fernn.bench`` and ``resolve_precision`` read.

A GPU queues work and returns at once, so every measurement synchronises the device before it
starts the clock and before it reads it; on a CPU that costs nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import torch

__all__ = ["Timing", "seconds_per_call", "synchronize", "time_calls"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call over several repeats: the fastest repeat, then the median one (best <= median)."""

    best: float
    median: float


def synchronize(device: torch.device | str) -> None:
    """Wait until the device has run everything queued on it (CUDA); a CPU has no queue."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(function: Callable[[], object], *, calls: int = 1, device: torch.device | str) -> float:
    """Seconds per call of ``calls`` back-to-back calls of ``function``, the device synchronised around them.

    Several calls in one measurement let a call far shorter than the clock's overhead be timed.
    """
    _check_count("calls", calls, least=1)
    synchronize(device)
    started = perf_counter()
    for _ in range(calls):
        function()
    synchronize(device)
    return (perf_counter() - started) / calls


def time_calls(
    function: Callable[[], object], *, repeats: int, calls: int = 1, warmup: int = 1, device: torch.device | str
) -> Timing:
    """``warmup`` untimed calls, then ``repeats`` measurements of ``calls`` calls each (see :func:`seconds_per_call`).

    The warm-up is not timed because first calls pay for caches, oneDNN's kernel choice and the
    allocator growing, none of which a steady loop pays again.
    """
    _check_count("repeats", repeats, least=1)
    _check_count("warmup", warmup, least=0)
    for _ in range(warmup):
        function()
    samples = [seconds_per_call(function, calls=calls, device=device) for _ in range(repeats)]
    return Timing(best=min(samples), median=statistics.median(samples))


def _check_count(name: str, value: object, *, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
