"""Memory for the bench: glibc's allocator held steady for timing, and the peak resident memory
per sample of a training step, with and without activation checkpointing (Linux)."""

from __future__ import annotations

import ctypes
import os
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from fernn.reference import reference_rollout
from fernn.experiments.bench.training import training_batch, training_model


def steady_allocator() -> str:
    """Keep freed memory in glibc's heap (raise its mmap and trim thresholds to 1 GiB).

    Otherwise large fresh outputs (a B = 32 convolution's 40 MB, and often smaller ones) keep
    coming back as new mmaps whose pages fault in on first touch. That inflates the bound and the
    reference (they allocate their outputs; the bound measured 1.5-2x slower) but not the fast
    step (it writes into buffers it keeps), so the comparison would flatter the fast path.
    Returns a description for the JSON.
    """
    if not sys.platform.startswith("linux"):
        return "default (not Linux)"
    try:
        libc = ctypes.CDLL("libc.so.6")
        mmap_threshold, trim_threshold = -3, -1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD (malloc.h)
        if libc.mallopt(mmap_threshold, 1 << 30) and libc.mallopt(trim_threshold, 1 << 30):
            return "glibc mmap and trim thresholds raised to 1 GiB (no page faults on reused memory)"
    except (OSError, AttributeError):
        pass
    return "default (mallopt unavailable)"


def _status_bytes(key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {key} in /proc/self/status")
    return int(match.group(1)) * 1024


def _peak_resident_increase(function: Callable[[], object]) -> int:
    """Bytes by which the resident set peaks above its level before ``function`` runs (Linux)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back first, so it is not reused unseen
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_bytes("VmRSS")
    function()
    return _status_bytes("VmHWM") - before


def bench_memory(
    *, batch: int, hidden: int, max_speed: int, decoder_layers: int, context: int, predict: int, repeats: int
) -> dict:
    """Peak resident memory per sample of one CPU training step (forward + backward)."""
    if not (sys.platform.startswith("linux") and os.access("/proc/self/clear_refs", os.W_OK)):
        return {"available": False, "reason": "needs Linux /proc/self/clear_refs"}
    device = torch.device("cpu")
    results = {"available": True, "batch": batch, "method": "VmHWM - VmRSS around one step, after malloc_trim"}
    inputs, targets = training_batch(batch, context, predict, device)
    for label, checkpointing, rollout in (
        ("fast", False, None),
        ("fast_checkpointed", True, None),
        ("reference", False, reference_rollout),
    ):
        model = training_model(hidden=hidden, max_speed=max_speed, decoder_layers=decoder_layers, device=device)
        model.checkpoint_steps = checkpointing

        def step() -> None:
            model.zero_grad(set_to_none=True)
            frames = model(inputs, predict) if rollout is None else rollout(model, inputs, predict).frames
            torch.mean((frames - targets) ** 2).backward()

        step()
        peaks = [_peak_resident_increase(step) for _ in range(repeats)]
        results[f"{label}_mib_per_sample"] = statistics.median(peaks) / batch / 2**20
    return results

