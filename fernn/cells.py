"""The flow-equivariant recurrent cell, built from a flow. A G-RNN is the same cell run with ``V = {0}``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from fernn.flows import TRANSLATION, Flow, Velocity

__all__ = ["FlowRNNCell", "StepRunner"]


class FlowRNNCell(nn.Module):
    """One recurrent step over the lifted hidden state, one copy per velocity in ``V``.

    ``h_{t+1}[nu] = relu(W_in * x_t + W_rec * move(h_t[nu], nu))``

    with circular ``k x k`` convolutions and no bias; ``move`` is the cell's ``flow`` acting on copy
    ``nu`` (a roll on the torus for :class:`~fernn.flows.Translation`). Every copy shares ``W_in`` and
    ``W_rec``, so the velocity set is chosen at run time and the parameter count does not depend on it.

    Shapes: x ``(B, C_in, H, W)``, h ``(B, V, C, H, W)`` -> ``(B, V, C, H, W)``.

    The step is split in two so a rollout can reuse the middle: :meth:`~fernn.flows.Flow.move_copies`
    moves and circularly pads every copy (one gather for translation), then :meth:`recurrent_update` runs one
    unpadded convolution over all ``B * V`` copies (channels-last, the CPU convolution's fast
    layout) and adds the input drive, which the trivial input lift computes once per frame.
    """

    def __init__(self, *, flow: Flow = TRANSLATION, in_channels: int = 1, hidden_channels: int,
                 kernel_size: int = 3) -> None:
        super().__init__()
        if not isinstance(flow, Flow):
            raise ValueError(f"flow must be a fernn.flows.Flow, got {flow!r}")
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.flow = flow
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        # The flow chooses the convolutions that commute with it (plain ones for translation; kernels
        # built from shared weights for a group such as rotations), each an unpadded module whose
        # ``.weight`` is the full (out, in, k, k) kernel the fast paths read.
        self.input_conv, self.recurrent_conv = flow.convolutions(
            in_channels=in_channels, hidden_channels=hidden_channels, kernel_size=kernel_size)

    @property
    def pad(self) -> int:
        return self.kernel_size // 2

    def initial_state(self, x: torch.Tensor, num_copies: int) -> torch.Tensor:
        """The zero state ``(B, V, C, H, W)`` for input frames like ``x`` ``(B, C_in, H, W)``."""
        batch, _, height, width = x.shape
        state = x.new_zeros(batch, num_copies, height, width, self.hidden_channels)  # channels-last
        return state.permute(0, 1, 4, 2, 3)

    def input_drive(self, x: torch.Tensor) -> torch.Tensor:
        """``W_in * x`` with circular padding: ``(N, C_in, H, W)`` -> ``(N, C, H, W)``, channels-last.

        The input lift is trivial, so this term is computed once per frame and shared by every
        copy; a rollout computes it for all context frames in one call (``N = B * T``). With one
        input channel a convolution is a poor fit (and hands back NCHW, which would make adding
        it to a channels-last state a transposing pass), so the ``k * k`` circular neighbours of
        every pixel are gathered in one ``index_select`` and multiplied by ``W_in`` in one matmul,
        whose ``(N H W, C)`` result already is the channels-last drive.
        """
        count, in_channels, height, width = x.shape
        taps = self.kernel_size * self.kernel_size
        index = _neighbour_index(height, width, self.kernel_size, x.device)  # (H*W*k*k,)
        rows = x.permute(0, 2, 3, 1).reshape(count, height * width, in_channels)  # (N, H*W, C_in)
        patches = rows.index_select(1, index).view(count * height * width, taps * in_channels)  # (N*H*W, k*k*C_in)
        weight = self.input_conv.weight.permute(2, 3, 1, 0).reshape(taps * in_channels, self.hidden_channels)
        drive = patches @ weight  # (N*H*W, C)
        return drive.view(count, height, width, self.hidden_channels).permute(0, 3, 1, 2)  # (N, C, H, W)

    def recurrent_update(self, shifted: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
        """``relu(W_rec * shifted[nu] + drive)`` for every copy (differentiable).

        shifted: ``(B, V, C, H + 2p, W + 2p)`` shifted, circularly padded copies (channels-last,
        as :meth:`~fernn.flows.Flow.move_copies` makes them); drive: ``(B, C, H, W)`` -> ``(B, V, C, H, W)``.
        """
        batch, copies, channels = shifted.shape[:3]
        height, width = drive.shape[-2:]
        recurrent = self.recurrent_conv(shifted.flatten(0, 1))  # (B*V, C, H, W), unpadded conv, channels-last
        # Add and relu on contiguous (B, V, H*W*C) rows: on the 5-d channels-last view,
        # TensorIterator picks slow loop orders (several times slower), and so does the sum over
        # V that the backward of the broadcast add needs.
        recurrent_rows = recurrent.permute(0, 2, 3, 1).reshape(batch, copies, -1)  # (B, V, H*W*C), a view
        drive_rows = drive.permute(0, 2, 3, 1).reshape(batch, 1, -1)  # (B, 1, H*W*C)
        # The sum is a fresh tensor, so relu_ may overwrite it (and saves only its output).
        updated = torch.relu_(recurrent_rows + drive_rows)  # (B, V, H*W*C)
        return updated.view(batch, copies, height, width, channels).permute(0, 1, 4, 2, 3)  # (B, V, C, H, W)

    def forward(self, x: torch.Tensor, h: torch.Tensor, velocities: Sequence[Velocity]) -> torch.Tensor:
        batch, copies, channels, height, width = h.shape
        if x.shape != (batch, self.in_channels, height, width):
            raise ValueError(
                f"x must have shape {(batch, self.in_channels, height, width)} to match h, got {tuple(x.shape)}"
            )
        drive = self.input_drive(x)  # (B, C, H, W)
        shifted = self.flow.move_copies(h, velocities, pad=self.pad)  # (B, V, C, H+2p, W+2p)
        return self.recurrent_update(shifted, drive)


class StepRunner:
    """Runs :class:`FlowRNNCell` steps without gradients, allocating nothing per step.

    Made once per rollout for fixed velocities and shapes: it owns the buffer of shifted, padded
    copies (the flow's :meth:`~fernn.flows.Flow.copy_mover`; for translation a
    :class:`~fernn.flows.CopyShifter`) and, on CPU in float32, the recurrent weight
    prepacked for oneDNN. :meth:`step` writes ``relu(W_rec * shifted + drive)`` into a
    caller-given channels-last buffer: it broadcasts the drive into it, then one fused oneDNN
    convolution adds ``W_rec * shifted`` and applies the relu in the same pass (no separate add
    or relu pass, no temporary). Elsewhere (float64, CUDA) the step is convolution, add, relu.

    The weights are read when the runner is made; make a new runner after changing them.
    """

    def __init__(
        self,
        cell: FlowRNNCell,
        velocities: Sequence[Velocity],
        *,
        batch: int,
        height: int,
        width: int,
        like: torch.Tensor,
    ) -> None:
        self.cell = cell
        self._like = like
        self.velocities = tuple(velocities)
        self.shape = (batch, len(self.velocities), cell.hidden_channels, height, width)
        self.shift = cell.flow.copy_mover(
            self.velocities, batch=batch, channels=cell.hidden_channels, height=height, width=width, pad=cell.pad,
            like=like,
        )  # shift(h) -> (B, V, C, H+2p, W+2p), possibly one buffer overwritten by the next call
        self._weight = cell.recurrent_conv.weight.detach()
        self._fused = None
        self._out: tuple[torch.Tensor, torch.Tensor] | None = None
        buffer = getattr(self.shift, "out", None)  # only a mover with one reused buffer can be fused
        if buffer is not None and _fusable(self._weight, like):
            shifted = buffer.flatten(0, 1)  # (B*V, C, H+2p, W+2p)
            try:
                packed = torch.ops.mkldnn._reorder_convolution_weight(
                    self._weight, [0, 0], [1, 1], [1, 1], 1, list(shifted.shape)
                )
            except RuntimeError:  # a oneDNN build without this layout: the plain path is exact too
                packed = None
            if packed is not None:
                self._fused = (torch.ops.mkldnn._convolution_pointwise_.binary, shifted, packed)

    def new_state(self) -> torch.Tensor:
        """An uninitialised channels-last state buffer ``(B, V, C, H, W)``."""
        return _channels_last_empty(self.shape, self._like)

    def step(self, shifted: torch.Tensor, drive: torch.Tensor, *, out: torch.Tensor) -> torch.Tensor:
        """``out = relu(W_rec * shifted[nu] + drive)``: shifted from :meth:`shift`, drive
        ``(B, C, H, W)``, out ``(B, V, C, H, W)`` channels-last (from :meth:`new_state`)."""
        out.copy_(drive.unsqueeze(1))  # (B, V, C, H, W): the drive, broadcast over copies
        if self._fused is not None and shifted is getattr(self.shift, "out", None):
            operator, shifted_flat, packed = self._fused
            if self._out is None or self._out[0] is not out:
                self._out = (out, out.flatten(0, 1))  # (B*V, C, H, W) view, reused while out is
            # out = relu(out + W_rec * shifted) in one pass
            operator(self._out[1], shifted_flat, packed, None, [0, 0], [1, 1], [1, 1], 1, "add", None, "relu", [], None)
            return out
        recurrent = F.conv2d(shifted.flatten(0, 1), self._weight).unflatten(0, self.shape[:2])  # (B, V, C, H, W)
        return out.add_(recurrent).relu_()


def _channels_last_empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An empty ``(B, V, C, H, W)`` tensor whose storage is a contiguous ``(B, V, H, W, C)``."""
    batch, copies, channels, height, width = shape
    return like.new_empty(batch, copies, height, width, channels).permute(0, 1, 4, 2, 3)


def _fusable(weight: torch.Tensor, like: torch.Tensor) -> bool:
    """Whether the fused oneDNN convolution + add + relu serves this dtype and device."""
    return (
        like.device.type == "cpu"
        and weight.device.type == "cpu"
        and like.dtype == torch.float32
        and weight.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise_")
        and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight")
    )


@lru_cache(maxsize=16)
def _neighbour_index(height: int, width: int, kernel_size: int, device: torch.device) -> torch.Tensor:
    """Pixel ``y * W + x`` of every circular ``k x k`` neighbour, in the order ``(y, x, ky, kx)``.

    Neighbour ``(ky, kx)`` of pixel ``(y, x)`` is ``((y + ky - p) mod H, (x + kx - p) mod W)``:
    what a circularly padded cross-correlation (``conv2d``) reads.
    """
    pad = kernel_size // 2
    # Cached across calls, so never an inference tensor: autograd saves it in training.
    with torch.inference_mode(False), torch.no_grad():
        offsets = torch.arange(kernel_size, device=device) - pad  # (k,)
        rows = (torch.arange(height, device=device)[:, None, None, None] + offsets[None, None, :, None]) % height
        cols = (torch.arange(width, device=device)[None, :, None, None] + offsets[None, None, None, :]) % width
        return (rows * width + cols).reshape(-1)  # (H*W*k*k,)
