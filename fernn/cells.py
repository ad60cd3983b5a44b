"""The flow-equivariant recurrent cell. A G-RNN is the same cell run with ``V = {(0, 0)}``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .flows import Velocity, shift_copies

__all__ = ["FlowRNNCell"]


class FlowRNNCell(nn.Module):
    """One recurrent step over the lifted hidden state, one copy per velocity in ``V``.

    ``h_{t+1}[nu] = relu(W_in * x_t + W_rec * shift(h_t[nu], nu))``

    with circular ``k x k`` convolutions and no bias. Every copy shares ``W_in`` and ``W_rec``,
    so the velocity set is chosen at run time and the parameter count does not depend on it.

    Shapes: x ``(B, C_in, H, W)``, h ``(B, V, C, H, W)`` -> ``(B, V, C, H, W)``.
    """

    def __init__(self, *, in_channels: int = 1, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.input_conv = nn.Conv2d(in_channels, hidden_channels, kernel_size, bias=False)
        self.recurrent_conv = nn.Conv2d(hidden_channels, hidden_channels, kernel_size, bias=False)

    @property
    def pad(self) -> int:
        return self.kernel_size // 2

    def initial_state(self, x: torch.Tensor, num_copies: int) -> torch.Tensor:
        """The zero state ``(B, V, C, H, W)`` for input frames like ``x`` ``(B, C_in, H, W)``."""
        batch, _, height, width = x.shape
        state = x.new_zeros(batch, num_copies, height, width, self.hidden_channels)  # channels-last
        return state.permute(0, 1, 4, 2, 3)

    def input_drive(self, x: torch.Tensor) -> torch.Tensor:
        """``W_in * x`` with circular padding: ``(B, C_in, H, W)`` -> ``(B, C, H, W)``, channels-last.

        The input lift is trivial, so this term is computed once and shared by every copy.
        """
        padded = F.pad(x, (self.pad,) * 4, mode="circular")  # (B, C_in, H+2p, W+2p)
        return self.input_conv(padded.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor, h: torch.Tensor, velocities: Sequence[Velocity]) -> torch.Tensor:
        batch, copies, channels, height, width = h.shape
        if x.shape != (batch, self.in_channels, height, width):
            raise ValueError(
                f"x must have shape {(batch, self.in_channels, height, width)} to match h, got {tuple(x.shape)}"
            )
        shifted = shift_copies(h, velocities, pad=self.pad)  # (B, V, C, H+2p, W+2p), channels-last
        recurrent = self.recurrent_conv(shifted.flatten(0, 1))  # (B*V, C, H, W)
        recurrent = recurrent.unflatten(0, (batch, copies))  # (B, V, C, H, W)
        drive = self.input_drive(x).unsqueeze(1)  # (B, 1, C, H, W)
        return torch.relu(recurrent + drive)
