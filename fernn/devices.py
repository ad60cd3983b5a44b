"""Device choice: ``auto`` means CUDA when present, else CPU."""

from __future__ import annotations

import torch

from fernn.timing import time_calls

__all__ = ["PRECISIONS", "resolve_device", "resolve_precision", "set_threads_from_environment"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` | ``"cpu"`` | ``"cuda"[:N]`` -> a usable ``torch.device``; asking for missing CUDA raises."""
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but is not available on this machine; use 'auto' or 'cpu'")
        return torch.device(name)
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")


PRECISIONS = ("auto", "fp32", "bf16")


def set_threads_from_environment(variable: str, *, default: int) -> int:
    """Set torch's CPU threads from ``variable`` (a positive integer; otherwise ``default``).

    The demo runs one 28x28 rollout at a time per visitor: extra intra-op threads gain nothing
    there, and concurrent visitors would contend for the cores. Returns the thread count set.
    """
    import os

    text = os.environ.get(variable, "")
    threads = int(text) if text.isdigit() and int(text) > 0 else default
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def resolve_precision(
    precision: str, device: torch.device, *, hidden_channels: int, batch: int, copies: int, size: int = 28
) -> str:
    """``"fp32"`` or ``"bf16"`` for training: ``"auto"`` measures which is faster here.

    bf16 (autocast; weights and checkpoints stay float32) pays off only where the hardware has
    native bf16 arithmetic; elsewhere it is emulated and slower. On a CPU, ``"auto"`` times the
    recurrent convolution's forward and backward at the run's width in both precisions (on at
    most 64 maps: only the ratio matters; well under a second) and picks bf16 only when it is at
    least 1.2x faster. On CUDA it picks bf16 wherever the GPU supports it, without timing.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    seconds = {name: _conv_seconds(dtype, hidden_channels, min(batch * copies, 64), size)
               for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    return "bf16" if seconds["fp32"] >= 1.2 * seconds["bf16"] else "fp32"


def _conv_seconds(dtype: torch.dtype, channels: int, count: int, size: int, repeats: int = 3) -> float:
    """Best time of a channels-last 3x3 convolution's forward + backward on ``count`` maps."""
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(count, size + 2, size + 2, channels, generator=generator)  # (N, H+2, W+2, C)
    x = maps.permute(0, 3, 1, 2).to(dtype).requires_grad_()  # (N, C, H+2, W+2), channels-last
    weight = torch.randn(channels, channels, 3, 3, generator=generator).to(dtype).requires_grad_()

    def step() -> None:
        torch.nn.functional.conv2d(x, weight).sum().backward()

    # One untimed call first: it settles oneDNN's kernel choice.
    return time_calls(step, repeats=repeats, warmup=1, device="cpu").best
