"""The rotation flow ``C_N``: maps turn about their centre by whole steps of ``360 / N`` degrees.

Velocity convention (pinned by ``tests/test_rotation.py``): a velocity is an integer ``k``, the
number of ``360 / N`` degree steps a map turns per frame, positive counter-clockwise as seen in an
image whose row 0 is at the top (``torch.rot90(x, 1, dims=(-2, -1))`` is one quarter turn).

The hidden state is lifted to the group: each of ``fields`` feature maps has ``N`` orientation
channels, channel ``field * N + orientation``. Moving a state by ``k`` steps turns every map and
rolls the orientation axis by ``k``. The cell's convolutions commute with that action: a lifting
convolution (image -> ``C_N``) and a group convolution (``C_N`` -> ``C_N``) whose full kernels are
built from shared weights on a steerable basis (:mod:`fernn.flows.rotation_kernels`).

Exactness: a quarter turn of a square map is a permutation of its pixels (``torch.rot90``), and
every kernel orientation ``i + N / 4`` is exactly the quarter turn of orientation ``i``, so the
cell is exactly equivariant under rotations by multiples of 90 degrees. Other angles resample the
map bilinearly (zero padding) and the relation holds only approximately. The cell pads its maps
circularly: a quarter turn of a square map is a symmetry of its torus too, so that stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from fernn.flows.base import Flow, GridAxes, is_whole_number, register_flow
from fernn.flows.words import words
from fernn.flows.rotation_kernels import GroupConv, LiftingConv, basis_size

__all__ = ["CopyRotator", "Rotation", "rotate", "rotate_each"]


def _cos_sin(degrees: float) -> tuple[float, float]:
    """``(cos, sin)`` of an angle, exact for multiples of 90 degrees (so those grids are integral)."""
    quarter, rest = divmod(float(degrees), 90.0)
    if rest == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter) % 4]
    radians = math.radians(degrees)
    return math.cos(radians), math.sin(radians)


@lru_cache(maxsize=128)
def _cached_grid(degrees: float, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """:func:`_sampling_grid` of one angle, kept: a flow turns maps by a few angles over and over."""
    return _sampling_grid((degrees,), height, width, dtype, device)


def _sources(angles: Sequence[float], rows: torch.Tensor, cols: torch.Tensor, height: int,
             width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where output pixels ``(rows[i], cols[j])`` of an ``H x W`` map turned counter-clockwise by each
    angle read the source: ``(source_row, source_col)``, each ``(A, len(rows), len(cols))`` float64
    pixel coordinates. The source of ``p`` is ``R(-angle) p`` about the centre; integral for quarter
    turns (exact trigonometry), so those read whole pixels."""
    right = cols.to(torch.float64)[None, :] - (width - 1) / 2  # (1, W')
    up = (height - 1) / 2 - rows.to(torch.float64)[:, None]  # (H', 1), y pointing up
    trig = torch.tensor([_cos_sin(angle) for angle in angles], dtype=torch.float64)  # (A, 2)
    cos, sin = trig[:, 0, None, None], trig[:, 1, None, None]  # (A, 1, 1)
    return (height - 1) / 2 - (up * cos - right * sin), right * cos + up * sin + (width - 1) / 2


def _sampling_grid(angles: tuple[float, ...], height: int, width: int, dtype: torch.dtype,
                   device: torch.device) -> torch.Tensor:
    """``grid_sample`` grids ``(A, H, W, 2)`` that turn a map counter-clockwise by each angle.

    Output pixel ``p`` reads the source at ``R(-angle) p`` about the centre, in pixel units (so a
    non-square map turns rigidly), then normalised for ``align_corners=False``.
    """
    # Possibly cached across calls: never an inference tensor, or autograd could not use it later.
    with torch.inference_mode(False), torch.no_grad():
        source_row, source_col = _sources(angles, torch.arange(height), torch.arange(width), height, width)
        grid = torch.stack([(2 * source_col + 1) / width - 1, (2 * source_row + 1) / height - 1], dim=-1)
        return grid.to(device=device, dtype=dtype)  # (A, H, W, 2)


def _quarter_turns(degrees: float, height: int, width: int) -> int | None:
    """How many exact quarter turns ``degrees`` is on an ``H x W`` map (``None``: resample)."""
    quarter, rest = divmod(float(degrees), 90.0)
    if rest != 0.0:
        return None
    turns = int(quarter) % 4
    return turns if turns % 2 == 0 or height == width else None


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Maps ``(..., H, W)`` turned counter-clockwise by ``degrees`` about their centre.

    Multiples of 90 degrees on square maps (and of 180 on any) are exact (``torch.rot90``); other
    angles sample bilinearly, reading zeros outside the map.
    """
    height, width = x.shape[-2:]
    turns = _quarter_turns(degrees, height, width)
    if turns is not None:
        return torch.rot90(x, turns, dims=(-2, -1)) if turns else x.clone()
    # One sample of many channels: the bilinear weights are computed once per pixel, not per map.
    maps = x.reshape(1, -1, height, width)  # (1, M, H, W)
    grid = _cached_grid(float(degrees), height, width, x.dtype, x.device)  # (1, H, W, 2)
    turned = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return turned.reshape(x.shape)


def rotate_each(x: torch.Tensor, degrees: Sequence[float]) -> torch.Tensor:
    """Slice ``a`` of ``x`` ``(A, ..., H, W)`` turned by ``degrees[a]``, in one ``grid_sample``
    (bilinear, zeros outside; exact angles are not special-cased here)."""
    if x.shape[0] != len(degrees):
        raise ValueError(f"x has {x.shape[0]} slices but {len(degrees)} angles were given")
    height, width = x.shape[-2:]
    maps = x.reshape(x.shape[0], -1, height, width)  # (A, M, H, W): every map of a slice shares its angle
    grid = _sampling_grid(tuple(float(d) for d in degrees), height, width, x.dtype, x.device)  # (A, H, W, 2)
    turned = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return turned.reshape(x.shape)


# -- moving every velocity copy at once ---------------------------------------------------------
class _CopyPlan:
    """How to turn copy ``n`` of a lifted state by ``steps[n]`` and pad it circularly, as weighted
    gathers of channel rows.

    Spatially each output pixel (the padded rim wrapping around the torus) is the bilinear blend of
    at most 4 source pixels: ``taps`` ``(V*H'*W', T)`` rows of the ``V*H*W`` source pixels and their
    ``weights``. Quarter turns read one pixel with weight exactly 1 (the others 0), so they stay
    exact. One ``embedding_bag`` (a fused weighted sum of gathered rows) computes the blend; the
    backward pass is one too, through ``back_taps`` / ``back_weights`` ``(V*H*W, M)``: each source
    pixel's readers, padded with weight 0 (the transposed blend). On the channel axis, copy ``n``
    reads channel ``roll[n, c]`` (the orientation roll by ``steps[n]``), its gradient ``unroll[n, c]``.
    """

    def __init__(self, steps: tuple[int, ...], order: int, channels: int, height: int, width: int, pad: int,
                 dtype: torch.dtype, device: torch.device) -> None:
        copies = len(steps)
        with torch.inference_mode(False), torch.no_grad():
            # The padded rim wraps around the torus: rim pixel (i, j) is pixel (i mod H, j mod W).
            rows, cols = torch.arange(-pad, height + pad) % height, torch.arange(-pad, width + pad) % width
            angles = [step * 360.0 / order for step in steps]
            source_row, source_col = _sources(angles, rows, cols, height, width)  # (V, H', W') each
            top, left = source_row.floor(), source_col.floor()
            down, across = source_row - top, source_col - left  # bilinear fractions
            first_row = torch.arange(copies, dtype=torch.float64)[:, None, None] * (height * width)
            taps, weights = [], []
            for row_offset, col_offset, weight in ((0, 0, (1 - down) * (1 - across)), (0, 1, (1 - down) * across),
                                                   (1, 0, down * (1 - across)), (1, 1, down * across)):
                row, col = top + row_offset, left + col_offset
                # A tap outside the map reads zero (grid_sample's zero padding): weight 0, any row.
                inside = (row >= 0) & (row < height) & (col >= 0) & (col < width) & (weight != 0)
                taps.append(torch.where(inside, first_row + row * width + col, 0.0).flatten().long())
                weights.append(torch.where(inside, weight, 0.0).flatten())
            tap, weight = torch.stack(taps, dim=1), torch.stack(weights, dim=1)  # (V*H'*W', 4)
            used = [t for t in range(4) if bool(weight[:, t].any())]  # quarter turns alone use only tap 0
            tap, weight = tap[:, used], weight[:, used]
            back_tap, back_weight = _transpose(tap, weight, copies * height * width)  # (V*H*W, M)
            self.taps, self.back_taps = tap.to(device), back_tap.to(device)
            self.weights = weight.to(device=device, dtype=dtype)
            self.back_weights = back_weight.to(device=device, dtype=dtype)
            channel = torch.arange(channels)
            field, orientation = channel // order, channel % order
            shift = torch.tensor(steps)[:, None]  # (V, 1)
            self.rolls = any(step % order for step in steps)
            self.roll = (field * order + (orientation - shift) % order).to(device)  # (V, C): out c reads roll[n, c]
            self.unroll = (field * order + (orientation + shift) % order).to(device)  # (V, C)
        self.shape = (copies, channels, height, width, pad)
        self._batched: dict[tuple[int, bool], tuple[torch.Tensor, torch.Tensor]] = {}

    def batched(self, batch: int, *, backward: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The taps and weights for ``batch`` samples stacked as one table of rows: ``(B*R, T)`` each,
        sample ``b``'s taps offset by its ``b * rows`` (made once per batch size)."""
        key = (batch, backward)
        if key not in self._batched:
            taps, weights = (self.back_taps, self.back_weights) if backward else (self.taps, self.weights)
            # The forward reads the V*H*W source rows of a sample; the backward its V*H'*W' outputs.
            sources = self.back_taps.shape[0] if not backward else self.taps.shape[0]
            with torch.inference_mode(False), torch.no_grad():
                offsets = torch.arange(batch, device=taps.device)[:, None, None] * sources
                self._batched[key] = ((taps[None] + offsets).flatten(0, 1),
                                      weights[None].expand(batch, -1, -1).flatten(0, 1).contiguous())
        return self._batched[key]

    def channel_index(self, index: torch.Tensor, batch: int) -> torch.Tensor:
        """``index`` ``(V, C)`` as a stride-0 ``(B, V, H, W, C)`` gather index."""
        copies, channels, height, width, _ = self.shape
        return index[None, :, None, None, :].expand(batch, copies, height, width, channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h ``(B, V, C, H, W)`` -> the moved, padded copies as rows ``(B*V*H'*W', C)``."""
        batch, channels = h.shape[0], h.shape[2]
        source = h.permute(0, 1, 3, 4, 2)  # (B, V, H, W, C), a view of a channels-last state
        if self.rolls:
            source = source.gather(-1, self.channel_index(self.roll, batch))  # orientation o <- o - step
        taps, weights = self.batched(batch)
        return F.embedding_bag(taps, source.reshape(-1, channels), per_sample_weights=weights, mode="sum")

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """The gradient of :meth:`forward`: rows ``(B*V*H'*W', C)`` -> h's ``(B, V, C, H, W)``."""
        copies, channels, height, width, _ = self.shape
        batch = grad.shape[0] // self.taps.shape[0]
        taps, weights = self.batched(batch, backward=True)
        rows = F.embedding_bag(taps, grad.contiguous(), per_sample_weights=weights, mode="sum")  # (B*V*H*W, C)
        source = rows.view(batch, copies, height, width, channels)
        if self.rolls:
            source = source.gather(-1, self.channel_index(self.unroll, batch))
        return source.permute(0, 1, 4, 2, 3)  # (B, V, C, H, W), channels-last strides


def _transpose(taps: torch.Tensor, weights: torch.Tensor, sources: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The readers of each of ``sources`` rows, from taps ``(R, T)``: ``(sources, M)`` output rows and
    weights, padded with weight 0."""
    outputs = torch.arange(taps.shape[0])[:, None].expand_as(taps).flatten()  # (R*T,)
    source, weight = taps.flatten(), weights.flatten()
    keep = weight != 0
    source, weight, outputs = source[keep], weight[keep], outputs[keep]
    order = torch.argsort(source, stable=True)
    source, weight, outputs = source[order], weight[order], outputs[order]
    rank = torch.arange(len(source)) - torch.searchsorted(source, source)  # position among the readers
    readers = int(rank.max()) + 1 if len(source) else 1
    back_taps = torch.zeros(sources, readers, dtype=torch.long)
    back_weights = torch.zeros(sources, readers, dtype=torch.float64)
    back_taps[source, rank] = outputs
    back_weights[source, rank] = weight
    return back_taps, back_weights


@lru_cache(maxsize=64)
def _copy_plan(steps: tuple[int, ...], order: int, channels: int, height: int, width: int, pad: int,
               dtype: torch.dtype, device: torch.device) -> _CopyPlan:
    return _CopyPlan(steps, order, channels, height, width, pad, dtype, device)


class _MoveCopies(torch.autograd.Function):
    """:meth:`_CopyPlan.forward` whose backward is :meth:`_CopyPlan.backward` (the transposed blend and
    the inverse roll), instead of autograd's scatter-add into the source."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, plan: _CopyPlan) -> torch.Tensor:
        ctx.plan = plan
        return plan.forward(h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return ctx.plan.backward(grad), None


class CopyRotator:
    """:meth:`Rotation.move_copies` for fixed velocities and shapes, into one reused buffer ``out``
    ``(B, V, C, H + 2 pad, W + 2 pad)`` (channels-last storage) for a rollout's no-gradient loop: the
    fused convolution of :class:`~fernn.cells.StepRunner` reads that buffer in place."""

    def __init__(self, flow: Rotation, velocities: Sequence[int], *, batch: int, channels: int, height: int,
                 width: int, pad: int, like: torch.Tensor) -> None:
        steps = tuple(v % flow.order for v in velocities)
        flow.fields(channels)
        self.plan = _copy_plan(steps, flow.order, channels, height, width, pad, like.dtype, like.device)
        copies = len(steps)
        self.in_shape = (batch, copies, channels, height, width)
        storage = like.new_empty(batch, copies, height + 2 * pad, width + 2 * pad, channels)  # (B, V, H', W', C)
        self.out = storage.permute(0, 1, 4, 2, 3)  # (B, V, C, H', W')
        self._rows = storage.view(-1, channels)  # (B*V*H'*W', C)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if h.shape != self.in_shape:
            raise ValueError(f"h must have shape {self.in_shape}, got {tuple(h.shape)}")
        self._rows.copy_(self.plan.forward(h))
        return self.out


# -- the flow ----------------------------------------------------------------------------------
@register_flow
class Rotation(Flow):
    """Rotations by whole steps of ``360 / order`` degrees (the cyclic group ``C_N``, ``N = order``).

    A velocity is an integer ``k`` (steps per frame, positive counter-clockwise); its speed is
    ``|k|``; ``velocity_set(r)`` is ``(-r, ..., r)``. Hidden maps carry ``fields * N`` channels,
    channel ``field * N + orientation``.
    """

    name = "rotation"

    def __init__(self, *, order: int) -> None:
        if not is_whole_number(order) or int(order) < 4 or int(order) % 4:
            raise ValueError(f"order must be a positive multiple of 4 (so 90 degrees is whole steps), got {order!r}")
        self.order = int(order)

    @property
    def step_degrees(self) -> float:
        """The angle of one step, ``360 / N``."""
        return 360.0 / self.order

    def options(self) -> dict:
        return {"order": self.order}

    # -- velocities -------------------------------------------------------------------------
    def as_velocity(self, item: object) -> int:
        if not is_whole_number(item):
            raise ValueError(f"a rotation velocity is a whole number of {self.step_degrees:g}° steps, got {item!r}")
        return int(item)

    @property
    def zero(self) -> int:
        return 0

    def combine(self, a: int, b: int, *, times: int = 1) -> int:
        return a + times * b

    def speed(self, velocity: int) -> int:
        return abs(velocity)

    def velocities_up_to(self, max_speed: int) -> tuple[int, ...]:
        if isinstance(max_speed, bool) or not isinstance(max_speed, int) or max_speed < 0:
            raise ValueError(f"max_speed must be a non-negative integer, got {max_speed!r}")
        return tuple(range(-max_speed, max_speed + 1))

    def probe_velocities(self) -> tuple[int, ...]:
        """One and two steps (interpolated, approximate) and a quarter turn (exact on square maps)."""
        return tuple(dict.fromkeys((1, 2, self.order // 4)))

    def canonical(self, velocity: int, shape: Sequence[int]) -> int:
        return velocity % self.order  # N steps is a whole turn, on maps of any shape

    # -- the action on tensors --------------------------------------------------------------
    def degrees(self, displacement: int) -> float:
        """The angle of ``displacement`` steps, reduced to ``[0, 360)`` (exactly 90, 180, 270 for
        quarter turns: the whole product is divided once)."""
        return (displacement % self.order) * 360.0 / self.order

    def move(self, x: torch.Tensor, displacement: int) -> torch.Tensor:
        """Maps ``(..., H, W)`` turned by ``displacement`` steps (see :func:`rotate`)."""
        return rotate(x, self.degrees(displacement))

    def fields(self, channels: int) -> int:
        """How many ``C_N`` fields ``channels`` hold; ``ValueError`` unless ``N`` divides it."""
        if channels % self.order:
            raise ValueError(f"a rotation state has fields x {self.order} orientation channels; "
                             f"{channels} channels is not a multiple of {self.order}")
        return channels // self.order

    def move_copies(self, h: torch.Tensor, velocities: Sequence[int], *, times: int = 1,
                    pad: int = 0) -> torch.Tensor:
        """Turn copy ``n`` of ``h`` by ``times * velocities[n]`` steps (maps and orientation axis) and
        pad it circularly: ``(B, V, C, H, W)`` -> ``(B, V, C, H + 2 pad, W + 2 pad)``, channels-last.

        One orientation gather and one weighted gather of rows (``embedding_bag``: the bilinear blend
        of at most 4 taps) move every copy, and the backward is the same two gathers transposed; it
        equals :meth:`move_state` per copy (exactly for quarter turns).
        """
        batch, copies, channels, height, width = h.shape
        if copies != len(velocities):
            raise ValueError(f"h has {copies} velocity copies but {len(velocities)} velocities were given")
        self.fields(channels)
        steps = tuple((times * v) % self.order for v in velocities)
        plan = _copy_plan(steps, self.order, channels, height, width, pad, h.dtype, h.device)
        if torch.is_grad_enabled() and h.requires_grad:
            rows = _MoveCopies.apply(h, plan)
        else:
            rows = plan.forward(h)  # (B*V*H'*W', C)
        moved = rows.view(batch, copies, height + 2 * pad, width + 2 * pad, channels)
        return moved.permute(0, 1, 4, 2, 3)  # (B, V, C, H', W'), channels-last strides

    def copy_mover(self, velocities: Sequence[int], *, batch: int, channels: int, height: int, width: int,
                   pad: int, like: torch.Tensor) -> CopyRotator:
        return CopyRotator(self, velocities, batch=batch, channels=channels, height=height, width=width, pad=pad,
                           like=like)

    def move_state(self, h: torch.Tensor, displacement: int) -> torch.Tensor:
        """Hidden maps ``(..., F * N, H, W)`` turned by ``displacement`` steps, orientation axis rolled
        by as many (orientation ``o`` moves to ``o + displacement``)."""
        fields = self.fields(h.shape[-3])
        oriented = h.unflatten(-3, (fields, self.order))  # (..., F, N, H, W)
        rolled = torch.roll(oriented, displacement % self.order, dims=-3).flatten(-4, -3)  # (..., F*N, H, W)
        return self.move(rolled, displacement)

    # -- the convolutions that commute with the flow --------------------------------------
    def convolutions(self, *, in_channels: int, hidden_channels: int, kernel_size: int) -> tuple[nn.Module, nn.Module]:
        fields = self.fields(hidden_channels)
        return (LiftingConv(order=self.order, in_channels=in_channels, fields=fields, kernel_size=kernel_size),
                GroupConv(order=self.order, in_fields=fields, out_fields=fields, kernel_size=kernel_size))

    def convolution_parameters(self, *, in_channels: int, hidden_channels: int, kernel_size: int) -> int:
        fields = self.fields(hidden_channels)
        return (in_channels + fields * self.order) * fields * basis_size(kernel_size)

    # -- labels ---------------------------------------------------------------------------
    def grid(self, max_speed: int) -> GridAxes:
        speeds = self.velocity_set(max_speed)
        return GridAxes(velocities=(speeds,), row_name="", column_name="ω", row_values=(0,), column_values=speeds,
                        column_labels=tuple(words(self).label(k) for k in speeds))
