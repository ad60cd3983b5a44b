"""The translation flow on the pixel torus, and its exact fast paths (one gather moves every copy).

Velocity convention (pinned by ``tests/test_flows.py``): a velocity is ``(dy, dx)`` in
tensor-axis order (rows, then columns), in whole pixels per frame. Positive components move
content toward larger indices, exactly like ``torch.roll(x, shifts=(dy, dx), dims=(-2, -1))``.
Flowing for ``t`` frames at velocity ``v`` rolls by ``t * v``; everything wraps around the
torus, which is what makes the equivariance of circular convolutions exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch

from fernn.flows.base import Flow, GridAxes, is_whole_number, register_flow

Velocity = tuple[int, int]

__all__ = [
    "CopyShifter",
    "Translation",
    "Velocity",
    "as_velocities",
    "flow_image",
    "flow_sequence",
    "shift",
    "shift_copies",
    "velocity_set",
]


def velocity_set(max_speed: int, *, order: str = "rows") -> tuple[Velocity, ...]:
    """All integer velocities with ``max(|dy|, |dx|) <= max_speed``: the set ``V_r = {-r..r}^2``.

    ``order="rows"`` (the default) is row-major (``dy`` outer, ``dx`` inner), so the set reshapes
    to a ``(2r + 1, 2r + 1)`` grid indexed by ``(dy + r, dx + r)``; ``order="columns"`` has ``dx``
    outer (the research code's order of copies).
    """
    if isinstance(max_speed, bool) or not isinstance(max_speed, int) or max_speed < 0:
        raise ValueError(f"max_speed must be a non-negative integer, got {max_speed!r}")
    if order not in ("rows", "columns"):
        raise ValueError(f"order must be 'rows' or 'columns', got {order!r}")
    speeds = range(-max_speed, max_speed + 1)
    if order == "columns":
        return tuple((dy, dx) for dx in speeds for dy in speeds)
    return tuple((dy, dx) for dy in speeds for dx in speeds)


def as_velocities(velocities: Iterable[Sequence[int]]) -> tuple[Velocity, ...]:
    """Validate a velocity list and return it as a tuple of ``(dy, dx)`` integer pairs."""
    try:
        items = list(velocities)
    except TypeError:
        raise ValueError(f"velocities must be a list of (dy, dx) pairs, got {velocities!r}") from None
    if not items:
        raise ValueError("velocities must not be empty")
    result = []
    for item in items:
        pair = tuple(item) if isinstance(item, (list, tuple)) else None
        if pair is None or len(pair) != 2 or not all(is_whole_number(c) for c in pair):
            raise ValueError(f"each velocity must be a pair of integers (dy, dx), got {item!r}")
        result.append((int(pair[0]), int(pair[1])))
    if len(set(result)) != len(result):
        duplicates = sorted({v for v in result if result.count(v) > 1})
        raise ValueError(f"velocities must be distinct, repeated: {duplicates}")
    return tuple(result)


def shift(x: torch.Tensor, displacement: Sequence[int]) -> torch.Tensor:
    """Roll the last two axes ``(H, W)`` of ``x`` by ``displacement = (dy, dx)`` on the torus."""
    dy, dx = (int(c) for c in displacement)
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


@lru_cache(maxsize=64)
def _row_index(
    displacements: tuple[Velocity, ...], height: int, width: int, pad: int, device: torch.device
) -> torch.Tensor:
    """Source rows for shifting N stacked ``(H, W)`` maps and circularly padding them.

    Output position ``(n, i, j)`` of the ``(N, H + 2p, W + 2p)`` result reads source row
    ``n * H * W + ((i - p - dy_n) mod H) * W + ((j - p - dx_n) mod W)``.
    """
    # Cached across calls: never an inference tensor, or autograd could not use it later.
    with torch.inference_mode(False):
        return _build_row_index(displacements, height, width, pad, device)


def _build_row_index(
    displacements: tuple[Velocity, ...], height: int, width: int, pad: int, device: torch.device
) -> torch.Tensor:
    disp = torch.tensor(displacements, dtype=torch.long, device=device)  # (N, 2)
    rows = torch.arange(-pad, height + pad, device=device)  # (H + 2p,)
    cols = torch.arange(-pad, width + pad, device=device)  # (W + 2p,)
    src_rows = (rows[None, :] - disp[:, :1]) % height  # (N, H + 2p)
    src_cols = (cols[None, :] - disp[:, 1:]) % width  # (N, W + 2p)
    base = torch.arange(len(displacements), device=device)[:, None, None] * (height * width)
    index = base + src_rows[:, :, None] * width + src_cols[:, None, :]  # (N, H + 2p, W + 2p)
    return index.reshape(-1)


def _copy_index(
    velocities: Sequence[Velocity], times: int, height: int, width: int, pad: int, device: torch.device
) -> torch.Tensor:
    """The cached row index that rolls copy ``n`` by ``times * velocities[n]`` and pads by ``pad``."""
    return _row_index(_displacements(velocities, times), height, width, pad, device)  # (V*(H+2p)*(W+2p),)


def _displacements(velocities: Sequence[Velocity], times: int) -> tuple[Velocity, ...]:
    """Each copy's roll after ``times`` steps of its velocity."""
    return tuple((times * dy, times * dx) for dy, dx in velocities)


@lru_cache(maxsize=64)
def _gather_plan(
    displacements: tuple[Velocity, ...], height: int, width: int, pad: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gather's row index and what its backward needs: ``(index, inverse, rim, rim_source)``.

    Every source row is read exactly once by an interior output row (``inverse[source]`` names
    it), and once more by each padding row that wraps onto it (output rows ``rim``, reading
    ``rim_source``). The gradient is then one gather through ``inverse`` plus a small scatter-add
    over the rim, instead of a zero fill and a scatter-add of every row.
    """
    index = _row_index(displacements, height, width, pad, device)  # (N*(H+2p)*(W+2p),)
    with torch.inference_mode(False), torch.no_grad():
        padded_h, padded_w = height + 2 * pad, width + 2 * pad
        position = torch.arange(index.numel(), device=device) % (padded_h * padded_w)
        rows, cols = position // padded_w, position % padded_w
        interior = (rows >= pad) & (rows < pad + height) & (cols >= pad) & (cols < pad + width)
        inverse = torch.empty(len(displacements) * height * width, dtype=index.dtype, device=device)
        inverse[index[interior]] = torch.nonzero(interior).squeeze(1)
        rim = torch.nonzero(~interior).squeeze(1)
        return index, inverse, rim, index[rim]


class _Gather(torch.autograd.Function):
    """``rows.index_select(1, index)`` whose backward gathers (see :func:`_gather_plan`)."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, plan: tuple[torch.Tensor, ...]) -> torch.Tensor:
        ctx.plan = plan
        return rows.index_select(1, plan[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        _, inverse, rim, rim_source = ctx.plan
        grad = grad.contiguous()
        grad_rows = grad.index_select(1, inverse)  # every source row's interior reader
        if rim.numel():
            grad_rows.index_add_(1, rim_source, grad.index_select(1, rim))
        return grad_rows, None


def shift_copies(
    h: torch.Tensor, velocities: Sequence[Velocity], *, times: int = 1, pad: int = 0
) -> torch.Tensor:
    """Roll copy ``n`` of ``h`` by ``times * velocities[n]`` and circularly pad by ``pad`` pixels.

    h: ``(B, V, C, H, W)`` -> ``(B, V, C, H + 2 pad, W + 2 pad)``.

    All copies move in one ``index_select`` of ``C``-float rows (no loop over velocities); the
    result has channels-last strides, the layout the CPU convolution prefers, and
    ``result.flatten(0, 1)`` is a free view. Gradients flow, as a gather too (the inverse roll).
    """
    batch, copies, channels, height, width = h.shape
    if copies != len(velocities):
        raise ValueError(f"h has {copies} velocity copies but {len(velocities)} velocities were given")
    displacements = _displacements(velocities, times)
    # A free view when h is channels-last (as every state the cell makes); a copy otherwise.
    rows = h.permute(0, 1, 3, 4, 2).reshape(batch, copies * height * width, channels)  # (B, V*H*W, C)
    if torch.is_grad_enabled() and h.requires_grad:
        out = _Gather.apply(rows, _gather_plan(displacements, height, width, pad, h.device))
    else:
        out = rows.index_select(1, _row_index(displacements, height, width, pad, h.device))
    out = out.view(batch, copies, height + 2 * pad, width + 2 * pad, channels)  # (B, V, H+2p, W+2p, C)
    return out.permute(0, 1, 4, 2, 3)  # (B, V, C, H+2p, W+2p), channels-last strides


class CopyShifter:
    """:func:`shift_copies` for fixed velocities and shapes, into one reused buffer: the gather
    of a rollout's hot loop, with the row index and buffer views made once.

    ``shifter(h)`` fills and returns ``shifter.out`` ``(B, V, C, H + 2 pad, W + 2 pad)`` (channels-last
    storage) from h ``(B, V, C, H, W)``; the next call overwrites it. No autograd.
    """

    def __init__(
        self, velocities: Sequence[Velocity], *, batch: int, channels: int, height: int, width: int, pad: int,
        like: torch.Tensor, times: int = 1,
    ) -> None:
        self.velocities = tuple(velocities)
        copies = len(self.velocities)
        self.in_shape = (batch, copies, channels, height, width)
        index = _copy_index(self.velocities, times, height, width, pad, like.device)  # (V*(H+2p)*(W+2p),)
        storage = like.new_empty(batch, copies, height + 2 * pad, width + 2 * pad, channels)  # (B, V, H+2p, W+2p, C)
        self.out = storage.permute(0, 1, 4, 2, 3)  # (B, V, C, H+2p, W+2p)
        # ATen gathers rows along dim 1 in a serial loop (the fastest on one thread) and along
        # dim 0 in parallel over the index: with more threads, fold the batch into the index.
        self._dim = 0 if (like.device.type != "cpu" or torch.get_num_threads() > 1) else 1
        if self._dim == 0:
            with torch.inference_mode(False), torch.no_grad():
                offsets = torch.arange(batch, device=like.device)[:, None] * (copies * height * width)
                self._index = (offsets + index[None, :]).reshape(-1)  # (B*V*(H+2p)*(W+2p),)
            self._out_rows = storage.view(-1, channels)  # (B*V*(H+2p)*(W+2p), C)
            self._rows_shape = (-1, channels)
        else:
            self._index = index
            self._out_rows = storage.view(batch, -1, channels)  # (B, V*(H+2p)*(W+2p), C)
            self._rows_shape = (batch, -1, channels)

        self._source: tuple[torch.Tensor, torch.Tensor] | None = None  # (h, its rows view), reused while h is

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if self._source is not None and self._source[0] is h:
            rows = self._source[1]  # the same buffer as last step: skip rebuilding the view
        else:
            if h.shape != self.in_shape:
                raise ValueError(f"h must have shape {self.in_shape}, got {tuple(h.shape)}")
            rows = h.permute(0, 1, 3, 4, 2).reshape(self._rows_shape)  # (B*V*H*W, C) or (B, V*H*W, C)
            # Keep only a view (channels-last h): it follows later in-place writes into h.
            self._source = (h, rows) if rows._base is not None else None
        torch.index_select(rows, self._dim, self._index, out=self._out_rows)
        return self.out


def flow_image(image: torch.Tensor, velocity: Sequence[int], num_frames: int, *, start: Sequence[int] = (0, 0)) -> torch.Tensor:
    """Frames of one image moving at constant velocity: frame ``t`` is rolled by ``start + t * v``.

    image: ``(C, H, W)`` -> ``(T, C, H, W)`` with ``T = num_frames``.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    (dy, dx), (sy, sx) = velocity, start
    displacements = tuple((sy + t * dy, sx + t * dx) for t in range(num_frames))
    if not displacements:
        return image.new_zeros((0, *image.shape))
    stacked = image.unsqueeze(0).unsqueeze(0).expand(1, num_frames, *image.shape)  # (1, T, C, H, W)
    return shift_copies(stacked, displacements).squeeze(0).contiguous()


def flow_sequence(frames: torch.Tensor, velocity: Sequence[int]) -> torch.Tensor:
    """Add a constant flow to a sequence: frame ``t`` is additionally rolled by ``t * velocity``.

    frames: ``(..., T, C, H, W)``, time on axis ``-4``; returns the same shape.
    """
    if frames.ndim < 4:
        raise ValueError(f"frames must have shape (..., T, C, H, W), got {tuple(frames.shape)}")
    num_frames = frames.shape[-4]
    dy, dx = velocity
    displacements = tuple((t * dy, t * dx) for t in range(num_frames))
    lead = frames.shape[:-4]
    flat = frames.reshape(-1, *frames.shape[-4:])  # (B, T, C, H, W)
    return shift_copies(flat, displacements).reshape(*lead, *frames.shape[-4:]).contiguous()


@register_flow
class Translation(Flow):
    """Integer translations of the ``H x W`` torus: a velocity is ``(dy, dx)`` pixels per frame.

    Convention (pinned by ``tests/test_flows.py``): tensor-axis order, positive toward larger
    indices, exactly ``torch.roll(x, shifts=(dy, dx), dims=(-2, -1))``. The speed of a velocity is
    ``max(|dy|, |dx|)``; ``velocity_set(r)`` is ``{-r..r}^2`` in row-major order.
    """

    name = "translation"

    def as_velocity(self, item: object) -> Velocity:
        return as_velocities([item])[0]

    @property
    def zero(self) -> Velocity:
        return (0, 0)

    def combine(self, a: Velocity, b: Velocity, *, times: int = 1) -> Velocity:
        return (a[0] + times * b[0], a[1] + times * b[1])

    def speed(self, velocity: Velocity) -> int:
        return max(abs(velocity[0]), abs(velocity[1]))

    def velocities_up_to(self, max_speed: int) -> tuple[Velocity, ...]:
        return velocity_set(max_speed)

    def probe_velocities(self) -> tuple[Velocity, ...]:
        return ((1, 0), (1, 1), (2, -1))

    def canonical(self, velocity: Velocity, shape: Sequence[int]) -> Velocity:
        height, width = shape[-2:]
        return (velocity[0] % height, velocity[1] % width)

    def move(self, x: torch.Tensor, displacement: Velocity) -> torch.Tensor:
        return shift(x, displacement)

    def move_copies(self, h: torch.Tensor, velocities: Sequence[Velocity], *, times: int = 1,
                    pad: int = 0) -> torch.Tensor:
        return shift_copies(h, velocities, times=times, pad=pad)

    def copy_mover(self, velocities: Sequence[Velocity], *, batch: int, channels: int, height: int, width: int,
                   pad: int, like: torch.Tensor) -> CopyShifter:
        return CopyShifter(velocities, batch=batch, channels=channels, height=height, width=width, pad=pad, like=like)

    def flow_sequence(self, frames: torch.Tensor, velocity: Velocity) -> torch.Tensor:
        return flow_sequence(frames, velocity)

    def flow_image(self, image: torch.Tensor, velocity: Velocity, num_frames: int, *,
                   start: Velocity | None = None) -> torch.Tensor:
        return flow_image(image, velocity, num_frames, start=(0, 0) if start is None else start)

    def grid(self, max_speed: int) -> GridAxes:
        speeds = tuple(range(-max_speed, max_speed + 1))
        return GridAxes(velocities=tuple(tuple((dy, dx) for dx in speeds) for dy in speeds), row_name="dy",
                        column_name="dx", row_values=speeds, column_values=speeds)

