"""The recurrent encoder: a flow's cell stepped over frames, one hidden copy per velocity.

``FlowEncoder`` owns the cell (and through it the flow) and knows how to step it in each variant a
caller needs — autograd, activation-checkpointed, or the fused no-gradient path into reused
buffers — and how the copies are pooled. Heads sit on top of it: :class:`~fernn.models.Forecaster`
(pool, decode, feed back) and any other head that reads the states it yields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from fernn.cells import FlowRNNCell, StepRunner
from fernn.flows import TRANSLATION, Flow, Velocity, VelocitySet, flow_from_record
from fernn.flows.words import words

__all__ = ["CLASSIFIER_POOLINGS", "KINDS", "POOLINGS", "Kind", "check_positive", "velocities_for", "EncodedModel", "EncoderConfig", "EncoderRun", "FlowEncoder", "check_frames", "max_over_copies",
           "pool_copies"]

# on_step(index, state): the state (B, V, C, H, W) after recurrent step `index` (a reused buffer).
StepCallback = Callable[[int, torch.Tensor], None]
# "max" is the paper's choice: the copy moving with the input dominates the pool.
POOLINGS = ("max", "mean")
# Classifiers may also pool by "peak": the max over the copies near the one that holds the most
# (see fernn.classifier), a pool that does not grow when the set is widened at run time.
CLASSIFIER_POOLINGS = (*POOLINGS, "peak")


class Kind(str, Enum):
    """What an encoder lifts to: a G-RNN runs the one copy of its flow's zero velocity; a FERNN lifts
    to one copy per velocity of its set. The one place a kind is named; it equals its stored string."""

    GRNN = "grnn"
    FERNN = "fernn"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def label(self) -> str:
        """How people write it: "G-RNN", "FERNN"."""
        return {"grnn": "G-RNN", "fernn": "FERNN"}[self.value]

    @property
    def lifted(self) -> bool:
        """Whether it keeps one copy per velocity (a set beyond ``{flow.zero}``)."""
        return self is Kind.FERNN


KINDS = tuple(kind.value for kind in Kind)


def velocities_for(kind: str, flow: Flow, *, max_speed: int | None, velocities: Iterable[object] | None,
                   default_max_speed: int) -> VelocitySet:
    """The velocity set a builder gives a model of ``kind``: ``{flow.zero}`` for a G-RNN (which takes
    neither option); for a FERNN ``flow.velocity_set(max_speed)`` (default ``default_max_speed``) or the
    given ``velocities``. A specific error for an unknown kind or both options."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(flow, Flow):
        raise ValueError(f"flow must be a fernn.flows.Flow, got {flow!r}")
    if max_speed is not None and velocities is not None:
        raise ValueError("give either max_speed or velocities, not both")
    if not Kind(kind).lifted:
        if (max_speed not in (None, 0)) or (velocities is not None and flow.as_velocities(velocities) != (flow.zero,)):
            raise ValueError(f"a G-RNN has the single velocity {words(flow).label(flow.zero)}; drop max_speed/velocities "
                             "or use kind='fernn'")
        return flow.as_velocities([flow.zero])
    if velocities is not None:
        return flow.as_velocities(velocities)
    return flow.velocity_set(default_max_speed if max_speed is None else max_speed)


def check_positive(config: object, *names: str) -> None:
    """Refuse a config whose fields ``names`` are not positive integers (bools are not), naming the field."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class EncoderConfig:
    """What every head's config shares: the encoder (kind, flow, velocity set, widths) and the pool
    over copies; validated here, stored in checkpoints as plain values (the flow as its record).
    Heads subclass it with their own fields (all with defaults)."""

    kind: str = "fernn"
    # The velocity set (of `flow`) the model was trained with; a G-RNN's is exactly {flow.zero}.
    # Run time may use another set.
    velocities: tuple[Velocity, ...] = field(default_factory=lambda: TRANSLATION.velocity_set(2))
    # The flow the hidden copies move by: translation of the pixel torus unless stated.
    flow: Flow = TRANSLATION
    hidden_channels: int = 32
    in_channels: int = 1
    kernel_size: int = 3
    pooling: str = "max"
    #: how errors name this config ("model config", "classifier config")
    record_name: ClassVar[str] = "model config"
    #: the pooling rules this head knows
    poolings: ClassVar[tuple[str, ...]] = POOLINGS

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "kind", Kind(self.kind))
        if not isinstance(self.flow, Flow):
            raise ValueError(f"flow must be a fernn.flows.Flow, got {self.flow!r}")
        object.__setattr__(self, "velocities", self.flow.as_velocities(self.velocities))
        if not self.kind.lifted and self.velocities != (self.flow.zero,):
            raise ValueError(f"a G-RNN has the velocity set ({self.flow.zero!r},), got {self.velocities}")
        check_positive(self, "hidden_channels", "in_channels")
        kernel = self.kernel_size
        if not isinstance(kernel, int) or isinstance(kernel, bool) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel!r}")
        if self.pooling not in self.poolings:
            raise ValueError(f"pooling must be one of {self.poolings}, got {self.pooling!r}")

    def encoder_parameters(self) -> int:
        """Trainable numbers of the encoder (the cell's two convolutions)."""
        return self.flow.convolution_parameters(in_channels=self.in_channels, hidden_channels=self.hidden_channels,
                                                kernel_size=self.kernel_size)

    def to_dict(self) -> dict:
        """Plain lists and scalars only, so ``torch.load(weights_only=True)`` can read it."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["kind"] = self.kind.value
        data["velocities"] = [list(v) if isinstance(v, tuple) else v for v in self.velocities]
        data["flow"] = self.flow.to_record()
        return data

    @classmethod
    def from_dict(cls, data: dict):
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.record_name} fields: {unknown}")
        values = dict(data)
        # Checkpoints written before flows were values hold no flow: they are translation models.
        values["flow"] = flow_from_record(values.get("flow", TRANSLATION.to_record()))
        if "velocities" in values:
            values["velocities"] = tuple(tuple(v) if isinstance(v, list) else v for v in values["velocities"])
        return cls(**values)


def check_frames(frames: object, *, in_channels: int, weight: torch.Tensor, name: str = "frames") -> None:
    """Refuse frames a model cannot read, with a message naming what is wrong: not a tensor, not
    ``(B, T, C_in, H, W)`` with at least one of each, not floating point, another dtype or device than
    the model's ``weight``, or holding NaN / inf (the first bad sequence and frame are named)."""
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(frames).__name__}")
    if frames.ndim != 5 or frames.shape[2] != in_channels:
        raise ValueError(f"{name} must have shape (B, T, {in_channels}, H, W), got {tuple(frames.shape)}")
    batch, num_frames, _, height, width = frames.shape
    if num_frames < 1:
        raise ValueError(f"{name} must hold at least one frame")
    if batch < 1 or height < 1 or width < 1:
        raise ValueError(f"{name} must hold at least one sequence of at least 1x1 pixels, got shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {frames.dtype}")
    if frames.dtype != weight.dtype or frames.device != weight.device:
        raise ValueError(
            f"{name} is {frames.dtype} on {frames.device} but the model is {weight.dtype} on "
            f"{weight.device}; move one to match, e.g. {name}.to(next(model.parameters()))"
        )
    # One pass over the frames; only bad frames pay for finding the one to name.
    finite = torch.isfinite(frames)  # (B, T, C_in, H, W)
    if not bool(finite.all()):
        sequence, frame = (~finite.flatten(2).all(dim=2)).nonzero()[0].tolist()  # first bad (b, t)
        raise ValueError(f"{name} frame {frame} of sequence {sequence} holds NaN or inf values")


class _MaxOverCopies(torch.autograd.Function):
    """``rows.amax(dim=1)`` for ``(B, V, N)`` rows, with a cheaper backward and amax's gradient:
    split evenly among the copies that attain the max.

    The backward writes each copy's winner mask with one compare into its own slice, counts the
    winners with one sum and scales each slice with one multiply: contiguous passes that are
    several times faster on a CPU than autograd's broadcast compare-count-divide over a strided
    view.
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        values = rows.amax(dim=1)  # (B, N)
        ctx.save_for_backward(rows, values)
        return values

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        rows, values = ctx.saved_tensors
        grad_rows = torch.empty_like(rows, memory_format=torch.contiguous_format)  # (B, V, N)
        for copy in range(rows.shape[1]):
            torch.eq(rows[:, copy], values, out=grad_rows[:, copy])  # 1 where this copy wins
        share = grad / grad_rows.sum(dim=1)  # (B, N): ties split the gradient, as amax's does
        for copy in range(rows.shape[1]):
            grad_rows[:, copy].mul_(share)
        return grad_rows


def max_over_copies(rows: torch.Tensor) -> torch.Tensor:
    """Max over the copies of ``(B, V, N)`` rows -> ``(B, N)``; differentiable (see :class:`_MaxOverCopies`)."""
    if torch.is_grad_enabled() and rows.requires_grad:
        return _MaxOverCopies.apply(rows)
    return rows.amax(dim=1)


def pool_copies(h: torch.Tensor, rule: str) -> torch.Tensor:
    """The pooling rule over velocity copies, ``"max"`` or ``"mean"``: ``(B, V, C, H, W)`` -> ``(B, C, H, W)``.

    Reduces contiguous ``(B, V, H W C)`` rows (a free view of a channels-last state), which is an
    order of magnitude faster than reducing a strided view over V.
    """
    if rule not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {rule!r}")
    batch, copies, channels, height, width = h.shape
    rows = h.permute(0, 1, 3, 4, 2).reshape(batch, copies, height * width * channels)  # (B, V, H*W*C)
    pooled = max_over_copies(rows) if rule == "max" else rows.mean(dim=1)  # (B, H*W*C)
    return pooled.view(batch, height, width, channels).permute(0, 3, 1, 2)


class EncodedModel:
    """What every head on a :class:`FlowEncoder` answers from its ``config`` (an :class:`EncoderConfig`)."""

    config: EncoderConfig
    #: which evaluation record its checkpoint holds ("forecaster", "classifier", "world"): fernn.records reads it
    evaluation_kind: ClassVar[str] = "forecaster"

    @property
    def flow(self) -> Flow:
        """The flow the hidden copies move by (``model.flow.velocity_set(r)`` for run-time sets)."""
        return self.config.flow

    @property
    def velocities(self) -> tuple[Velocity, ...]:
        """The velocity set the model was trained with (any other set runs the same weights)."""
        return self.config.velocities


class EncoderRun:
    """One run of the encoder over a batch: its step variant, its buffers and what it reports.

    - autograd (training): the flow's :meth:`~fernn.flows.Flow.move_copies` and
      :meth:`FlowRNNCell.recurrent_update`, every state a fresh tensor;
    - activation-checkpointed (``recompute``): the same, with each step recomputed in the backward
      pass instead of storing its activations;
    - no gradient (inference): :class:`~fernn.cells.StepRunner`'s fused step into reused buffers.

    With ``total`` set, every state is also written to :attr:`hidden` ``(B, total, V, C, H, W)``;
    ``on_step(index, state)`` sees each state as it is made.
    """

    def __init__(self, cell: FlowRNNCell, velocities: tuple[Velocity, ...], like: torch.Tensor, *,
                 recompute: bool = False, total: int | None = None, on_step: StepCallback | None = None) -> None:
        batch, _, _, height, width = like.shape
        self.cell, self.velocities, self.recompute, self.on_step = cell, velocities, recompute, on_step
        self.shape = (batch, len(velocities), cell.hidden_channels, height, width)
        self.like = like
        self.runner = None
        if not torch.is_grad_enabled():
            self.runner = StepRunner(cell, velocities, batch=batch, height=height, width=width, like=like)
            self._state = self.runner.new_state()  # reused every step when no history is kept
        self.hidden = None if total is None else self._history(total)  # (B, T+S, V, C, H, W)

    def _history(self, total: int) -> torch.Tensor:
        """An empty ``(B, total, V, C, H, W)`` buffer (channels-last) for every state of a run."""
        batch, copies, channels, height, width = self.shape
        if self.runner is None:
            storage = self.like.new_empty(batch, total, copies, height, width, channels)  # (B, T+S, V, H, W, C)
            return storage.permute(0, 1, 2, 5, 3, 4)
        storage = self.like.new_empty(total, batch, copies, height, width, channels)  # (T+S, B, V, H, W, C)
        return storage.permute(1, 0, 2, 5, 3, 4)  # time-major: each step's state is one contiguous block

    @property
    def reports(self) -> bool:
        """Whether anyone reads the states (a history or a callback)."""
        return self.hidden is not None or self.on_step is not None

    def _out(self, index: int) -> torch.Tensor | None:
        return None if self.hidden is None else self.hidden[:, index]

    def _report(self, index: int, state: torch.Tensor) -> torch.Tensor:
        if self.on_step is not None:
            self.on_step(index, state)
        return state

    def start(self, drive: torch.Tensor) -> torch.Tensor:
        """The state after frame 0 from the zero state, where the recurrent term vanishes: every
        copy is ``relu(W_in * x_0)``, the number a convolution of zeros would give."""
        batch, copies, channels, height, width = self.shape
        first = torch.relu(drive).unsqueeze(1).expand(batch, copies, channels, height, width)
        out = self._out(0)
        if self.runner is None:
            if out is not None:
                out.copy_(first)
            return self._report(0, first)
        return self._report(0, (self._state if out is None else out).copy_(first))

    def shift(self, h: torch.Tensor) -> torch.Tensor:
        """Every copy moved one step by its velocity and circularly padded: ``(B, V, C, H + 2p, W + 2p)``."""
        if self.runner is None:
            return self.cell.flow.move_copies(h, self.velocities, pad=self.cell.pad)
        return self.runner.shift(h)

    def step(self, index: int, drive: torch.Tensor, *, h: torch.Tensor | None = None,
             shifted: torch.Tensor | None = None) -> torch.Tensor:
        """The state after step ``index``: from ``h``, the state before (a whole step), or from
        ``shifted``, its moved copies (:meth:`shift`) when the caller already made them."""
        out = self._out(index)
        if shifted is None and self.runner is None and self.recompute:
            # Keep only h and the drive for the backward pass, not the padded moved copies.
            new_h = activation_checkpoint(self._whole_step, h, drive, use_reentrant=False)
        else:
            shifted = self.shift(h) if shifted is None else shifted
            if self.runner is not None:
                return self._report(index, self.runner.step(shifted, drive, out=self._state if out is None else out))
            if self.recompute:
                new_h = activation_checkpoint(self.cell.recurrent_update, shifted, drive, use_reentrant=False)
            else:
                new_h = self.cell.recurrent_update(shifted, drive)
        if out is not None:
            out.copy_(new_h)
        return self._report(index, new_h)

    def _whole_step(self, h: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
        return self.cell.recurrent_update(self.cell.flow.move_copies(h, self.velocities, pad=self.cell.pad), drive)


class FlowEncoder(nn.Module):
    """A flow's recurrent cell over frames: ``(B, T, C_in, H, W)`` -> states ``(B, V, C, H, W)``.

    ``h_t[nu] = relu(W_in * x_t + W_rec * move(h_{t-1}[nu], nu))``, ``h_{-1} = 0``, for every
    velocity ``nu`` of the run's set (the model's own or any other: the weights are shared).
    """

    def __init__(self, *, flow: Flow = TRANSLATION, in_channels: int = 1, hidden_channels: int,
                 kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = FlowRNNCell(flow=flow, in_channels=in_channels, hidden_channels=hidden_channels,
                                kernel_size=kernel_size)

    @classmethod
    def for_config(cls, config: EncoderConfig) -> FlowEncoder:
        """The encoder a head's config describes (its flow, widths and kernel)."""
        return cls(flow=config.flow, in_channels=config.in_channels, hidden_channels=config.hidden_channels,
                   kernel_size=config.kernel_size)

    @property
    def flow(self) -> Flow:
        return self.cell.flow

    def drives(self, frames: torch.Tensor) -> torch.Tensor:
        """Every frame's input drive in one call: frames ``(B, T, C_in, H, W)`` -> ``(T, B, C, H, W)``,
        time-major, so each frame's drive is one contiguous channels-last block."""
        batch, num_frames = frames.shape[:2]
        frames_first = frames.transpose(0, 1).reshape(num_frames * batch, *frames.shape[2:])  # (T*B, C_in, H, W)
        return self.cell.input_drive(frames_first).unflatten(0, (num_frames, batch))  # (T, B, C, H, W)

    def begin(self, like: torch.Tensor, velocities: tuple[Velocity, ...], *, recompute: bool = False,
              total: int | None = None, on_step: StepCallback | None = None) -> EncoderRun:
        """A run over frames shaped like ``like`` ``(B, T, C_in, H, W)`` (see :class:`EncoderRun`)."""
        return EncoderRun(self.cell, velocities, like, recompute=recompute, total=total, on_step=on_step)

    def read(self, run: EncoderRun, drives: torch.Tensor) -> torch.Tensor:
        """Step ``run`` over frames with these ``drives`` ``(T, B, C, H, W)`` from the zero state;
        returns the state after the last one ``(B, V, C, H, W)`` (states ``0..T-1``)."""
        h = run.start(drives[0])
        for t in range(1, drives.shape[0]):
            h = run.step(t, drives[t], h=h)
        return h

    def forward(self, frames: torch.Tensor, velocities: Sequence[Velocity]) -> torch.Tensor:
        """The state after the last frame, ``(B, V, C, H, W)`` (differentiable)."""
        velocities = self.flow.as_velocities(velocities)
        return self.read(self.begin(frames, velocities), self.drives(frames))
