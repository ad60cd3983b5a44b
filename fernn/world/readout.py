"""Reading a world model: its forecast, the decoder read at the window, the memory in world coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fernn.flows import TRANSLATION, Velocity
from fernn.models import ConvDecoder

__all__ = ["WorldForecast", "decode_window", "memory_in_world", "zero_padded_decode"]


@dataclass(frozen=True)
class WorldForecast:
    """The output of :meth:`fernn.world.WorldModel.forecast`.

    frames: ``(B, steps, C_in, S, S)`` predicted views.
    memory: ``(B, steps, C_in, W, W)``, per predicted step the decoder applied to the whole map (its
    window ``[0:S, 0:S]`` is ``frames``), **in the observer's frame** of that step (see
    :func:`memory_in_world`); ``None`` when not asked for or when the model holds no world (the G-RNN).
    memory_note: what ``memory`` is, or why there is none.
    hidden: ``(B, T + steps, V, C, G, G)`` the state after each view (context, then fed-back
    predictions; ``G`` is ``W`` for the FERNN, ``S`` for the G-RNN), or ``None``.
    velocities: the copies of ``hidden``'s ``V`` axis.
    """

    frames: torch.Tensor
    memory: torch.Tensor | None
    memory_note: str
    hidden: torch.Tensor | None
    velocities: tuple[Velocity, ...]


def decode_window(decoder: ConvDecoder, maps: torch.Tensor, size: int) -> torch.Tensor:
    """``decoder`` (circular on the torus) read only at the window ``[0:size, 0:size]`` of ``maps``
    ``(B, C, W, W)`` -> ``(B, C_out, size, size)``.

    Each of the decoder's ``L`` convolutions reads ``k // 2`` pixels around each output, so the window
    plus a halo of ``L * (k // 2)`` pixels (wrapping on the torus) decoded without padding gives the
    numbers the whole map's circular decoding gives at the window, at a fraction of the cost.
    """
    halo = sum(m.kernel_size[0] // 2 for m in decoder.net if isinstance(m, nn.Conv2d))
    height, width = maps.shape[-2:]
    span = torch.arange(-halo, size + halo, device=maps.device)  # (S + 2 halo,), wrapping on the torus
    window = maps.index_select(-2, span % height).index_select(-1, span % width)  # (B, C, S + 2h, S + 2h)
    return zero_padded_decode(decoder, window, padded=False)


def zero_padded_decode(decoder: ConvDecoder, x: torch.Tensor, *, padded: bool = True) -> torch.Tensor:
    """``decoder``'s layers on ``x`` ``(B, C, H, W)`` with zero padding (``padded``: ``H x W`` out) or
    none (``padded=False``: each conv trims ``k // 2`` pixels a side), instead of its circular padding."""
    for module in decoder.net:
        if isinstance(module, nn.Conv2d):
            x = F.conv2d(x, module.weight, module.bias, padding=module.kernel_size[0] // 2 if padded else 0)
        else:
            x = module(x)
    return x


def memory_in_world(memory: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Memory maps in the observer's frame, ``(B, S, C, W, W)``, moved to world coordinates given the
    window's corners ``(B, S, 2)`` at those frames: map position ``m`` is world position ``m + p_t``."""
    if memory.ndim != 5 or corners.shape != (*memory.shape[:2], 2):
        raise ValueError(f"memory must be (B, S, C, W, W) and corners (B, S, 2) to match, got "
                         f"{tuple(memory.shape)} and {tuple(corners.shape)}")
    flat, shifts = memory.flatten(0, 1), corners.reshape(-1, 2).tolist()  # (B*S, C, W, W), (B*S, 2)
    moved = [TRANSLATION.move(m, tuple(shift)) for m, shift in zip(flat, shifts)]
    return (torch.stack(moved) if moved else flat.clone()).unflatten(0, tuple(memory.shape[:2]))
