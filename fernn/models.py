"""Forecasters: encode frames with a :class:`FlowRNNCell`, pool over velocity copies, decode.

A G-RNN is a forecaster whose velocity set is ``{(0, 0)}``; a FERNN lifts its hidden state to
one copy per velocity. Both share every weight shape, so a checkpoint of one velocity set can be
run with another.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from .cells import FlowRNNCell, StepRunner
from .flows import Velocity, as_velocities, shift_copies, velocity_set

__all__ = ["ConvDecoder", "Forecast", "Forecaster", "ModelConfig", "build_model"]

KINDS = ("grnn", "fernn")
# on_step(index, state): the state (B, V, C, H, W) after recurrent step `index` (a reused buffer).
StepCallback = Callable[[int, torch.Tensor], None]
DECODINGS = ("aligned", "paper")
POOLINGS = ("max", "mean")
# A rollout this long is a mistake, not a forecast: refuse it before allocating its buffers.
MAX_STEPS = 100_000


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a forecaster; stored inside every checkpoint."""

    kind: str = "fernn"
    # The training velocity set; G-RNN is exactly {(0, 0)}. Run time may use another set.
    velocities: tuple[Velocity, ...] = field(default_factory=lambda: velocity_set(2))
    hidden_channels: int = 32
    in_channels: int = 1
    kernel_size: int = 3
    # Convolutions in the decoder, counting the linear output conv: the paper's (and the
    # research code's) decoder is 4 circular conv+ReLU layers and an output conv, 5 in all.
    decoder_layers: int = 4
    # The research code's convolutions have no bias; fernn's CPU demo models keep them.
    decoder_bias: bool = True
    # "max" is the paper's choice: the copy moving with the input dominates the pool.
    pooling: str = "max"
    # "aligned": the prediction of frame t uses the state after frame t-1, advanced by each
    # copy's own flow. "paper": the first prediction step re-reads the last context frame.
    decoding: str = "aligned"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "velocities", as_velocities(self.velocities))
        if self.kind == "grnn" and self.velocities != ((0, 0),):
            raise ValueError(f"a G-RNN has the velocity set ((0, 0),), got {self.velocities}")
        for name in ("hidden_channels", "in_channels", "decoder_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.decoder_bias, bool):
            raise ValueError(f"decoder_bias must be True or False, got {self.decoder_bias!r}")
        kernel_size = self.kernel_size
        if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {self.decoding!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")

    def parameter_count(self) -> int:
        """Weights (and biases) of the model this config builds, computed without building it."""
        taps = self.kernel_size * self.kernel_size
        hidden, inputs = self.hidden_channels, self.in_channels
        cell = hidden * inputs * taps + hidden * hidden * taps
        decoder = (self.decoder_layers - 1) * hidden * hidden * taps + inputs * hidden * taps
        if self.decoder_bias:
            decoder += (self.decoder_layers - 1) * hidden + inputs
        return cell + decoder

    def to_dict(self) -> dict:
        """Plain lists and scalars only, so ``torch.load(weights_only=True)`` can read it."""
        data = dataclasses.asdict(self)
        data["velocities"] = [list(v) for v in self.velocities]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config fields: {unknown}")
        values = dict(data)
        if "velocities" in values:
            values["velocities"] = tuple(tuple(v) for v in values["velocities"])
        return cls(**values)


@dataclass(frozen=True)
class Forecast:
    """The output of :meth:`Forecaster.forecast`.

    frames: ``(B, steps, C_in, H, W)`` predicted frames.
    hidden: ``(B, T + steps, V, C, H, W)`` state after each recurrent step, or ``None``.
    velocities: the ``(dy, dx)`` of each copy, in the order of ``hidden``'s V axis.
    """

    frames: torch.Tensor
    hidden: torch.Tensor | None
    velocities: tuple[Velocity, ...]


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


class ConvDecoder(nn.Module):
    """Translation-equivariant readout: circular 3x3 convs with ReLUs and a linear output.

    ``(B, C, H, W)`` -> ``(B, C_out, H, W)``.
    """

    def __init__(
        self, *, hidden_channels: int, out_channels: int, layers: int, kernel_size: int = 3, bias: bool = True
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for index in range(layers):
            last = index == layers - 1
            blocks.append(
                nn.Conv2d(
                    hidden_channels,
                    out_channels if last else hidden_channels,
                    kernel_size,
                    padding=kernel_size // 2,
                    padding_mode="circular",
                    bias=bias,
                )
            )
            if not last:
                blocks.append(nn.ReLU())
        self.net = nn.Sequential(*blocks)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


class _Stepper:
    """One recurrent step of a rollout, in the variant it needs.

    - autograd (training): :func:`~fernn.flows.shift_copies` and
      :meth:`FlowRNNCell.recurrent_update`, every state a fresh tensor;
    - activation-checkpointed (``Forecaster.checkpoint_steps`` in training): the same, with the
      update recomputed in the backward pass instead of storing its activations;
    - no gradient (inference): :class:`~fernn.cells.StepRunner`'s fused step into reused buffers.

    Copies move by :meth:`FlowRNNCell.displacements` of the velocities each step.
    """

    def __init__(self, cell: FlowRNNCell, velocities: tuple[Velocity, ...], like: torch.Tensor, *,
                 recompute: bool) -> None:
        batch, _, _, height, width = like.shape
        self.cell, self.recompute = cell, recompute
        self.moves = cell.displacements(velocities)
        self.shape = (batch, len(velocities), cell.hidden_channels, height, width)
        self.like = like
        self.runner = None
        if not torch.is_grad_enabled():
            self.runner = StepRunner(cell, self.moves, batch=batch, height=height, width=width, like=like)
            self._state = self.runner.new_state()  # reused every step when no history is kept

    def history(self, total: int) -> torch.Tensor:
        """An empty ``(B, total, V, C, H, W)`` buffer (channels-last) for every state of a run."""
        batch, copies, channels, height, width = self.shape
        if self.runner is None:
            storage = self.like.new_empty(batch, total, copies, height, width, channels)  # (B, T+S, V, H, W, C)
            return storage.permute(0, 1, 2, 5, 3, 4)
        storage = self.like.new_empty(total, batch, copies, height, width, channels)  # (T+S, B, V, H, W, C)
        return storage.permute(1, 0, 2, 5, 3, 4)  # time-major: each step's state is one contiguous block

    def start(self, first: torch.Tensor, *, out: torch.Tensor | None) -> torch.Tensor:
        """The state after frame 0 (``first``, a broadcast view), stored in ``out`` when given."""
        if self.runner is None:
            if out is not None:
                out.copy_(first)
            return first
        target = self._state if out is None else out
        return target.copy_(first)

    def shift(self, h: torch.Tensor) -> torch.Tensor:
        """Every copy moved one step and circularly padded: ``(B, V, C, H + 2p, W + 2p)``."""
        if self.runner is None:
            return shift_copies(h, self.moves, pad=self.cell.pad)
        return self.runner.shift(h)

    def advance(self, h: torch.Tensor, drive: torch.Tensor, *, out: torch.Tensor | None) -> torch.Tensor:
        """:meth:`update` of :meth:`shift`: one whole step. Activation-checkpointed, it keeps only
        ``h`` and the drive for the backward pass (not the padded shifted copies)."""
        if self.runner is None and self.recompute:
            new_h = activation_checkpoint(self._advance, h, drive, use_reentrant=False)
            if out is not None:
                out.copy_(new_h)
            return new_h
        return self.update(self.shift(h), drive, out=out)

    def _advance(self, h: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
        return self.cell.recurrent_update(shift_copies(h, self.moves, pad=self.cell.pad), drive)

    def update(self, shifted: torch.Tensor, drive: torch.Tensor, *, out: torch.Tensor | None) -> torch.Tensor:
        """``relu(W_rec * shifted + drive)``, also written to ``out`` when given."""
        if self.runner is not None:
            return self.runner.step(shifted, drive, out=self._state if out is None else out)
        if self.recompute:
            new_h = activation_checkpoint(self.cell.recurrent_update, shifted, drive, use_reentrant=False)
        else:
            new_h = self.cell.recurrent_update(shifted, drive)
        if out is not None:
            out.copy_(new_h)
        return new_h


class Forecaster(nn.Module):
    """Encode context frames, then predict future frames autoregressively.

    The predicted frame is fed back (detached) as the next input. Hidden copies are max- (or
    mean-) pooled over ``V`` before the decoder.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.cell = FlowRNNCell(
            in_channels=config.in_channels,
            hidden_channels=config.hidden_channels,
            kernel_size=config.kernel_size,
        )
        self.decoder = ConvDecoder(
            hidden_channels=config.hidden_channels,
            out_channels=config.in_channels,
            layers=config.decoder_layers,
            kernel_size=config.kernel_size,
            bias=config.decoder_bias,
        )
        # Recorded metrics travel with the model when it comes from a checkpoint.
        self.metrics: dict = {}
        # Training-time memory saver: recompute each recurrent step in the backward pass
        # instead of storing its activations (about |V| C H W floats a step per sample).
        self.checkpoint_steps = False

    @property
    def velocities(self) -> tuple[Velocity, ...]:
        return self.config.velocities

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """The read-out's pooling rule, max (or mean) over the copies: ``(B, V, C, H, W)`` -> ``(B, C, H, W)``.

        Reduces contiguous ``(B, V, H W C)`` rows (a free view of a channels-last state), which
        is an order of magnitude faster than reducing a strided view over V.
        """
        batch, copies, channels, height, width = h.shape
        rows = h.permute(0, 1, 3, 4, 2).reshape(batch, copies, height * width * channels)  # (B, V, H*W*C)
        pooled = max_over_copies(rows) if self.config.pooling == "max" else rows.mean(dim=1)  # (B, H*W*C)
        return pooled.view(batch, height, width, channels).permute(0, 3, 1, 2)

    def _check_context(self, context: torch.Tensor, steps: int) -> int:
        """Refuse a context or ``steps`` that ``rollout`` cannot run; returns ``steps`` as an int."""
        if not isinstance(context, torch.Tensor):
            raise TypeError(f"context must be a torch.Tensor, got {type(context).__name__}")
        if context.ndim != 5 or context.shape[2] != self.config.in_channels:
            raise ValueError(
                f"context must have shape (B, T, {self.config.in_channels}, H, W), got {tuple(context.shape)}"
            )
        batch, num_context, _, height, width = context.shape
        if num_context < 1:
            raise ValueError("context must hold at least one frame")
        if batch < 1 or height < 1 or width < 1:
            raise ValueError(
                f"context must hold at least one sequence of at least 1x1 pixels, got shape {tuple(context.shape)}"
            )
        if not context.is_floating_point():
            raise ValueError(f"context must be a floating-point tensor, got {context.dtype}")
        weight = next(self.parameters())
        if context.dtype != weight.dtype or context.device != weight.device:
            raise ValueError(
                f"context is {context.dtype} on {context.device} but the model is {weight.dtype} on "
                f"{weight.device}; move one to match, e.g. context.to(next(model.parameters()))"
            )
        # numpy integers and 0-d integer tensors are the same count; bools and floats are not.
        if isinstance(steps, torch.Tensor):
            integral = steps.ndim == 0 and not steps.is_floating_point() and not steps.is_complex() \
                and steps.dtype != torch.bool
        else:
            integral = isinstance(steps, numbers.Integral) and not isinstance(steps, bool)
        count = int(steps) if integral else -1
        if count < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        if count > MAX_STEPS:
            raise ValueError(f"steps must be at most {MAX_STEPS:,}, got {count:,}")
        # One pass over the context; only a bad context pays for finding the frame to name.
        finite = torch.isfinite(context)  # (B, T, C_in, H, W)
        if not bool(finite.all()):
            sequence, frame = (~finite.flatten(2).all(dim=2)).nonzero()[0].tolist()  # first bad (b, t)
            raise ValueError(f"context frame {frame} of sequence {sequence} holds NaN or inf values")
        return count

    def rollout(
        self,
        context: torch.Tensor,
        steps: int,
        *,
        velocities: Sequence[Velocity] | None = None,
        return_hidden: bool = False,
        on_step: StepCallback | None = None,
    ) -> Forecast:
        """Differentiable rollout; :meth:`forecast` is the inference entry point.

        context: ``(B, T, C_in, H, W)`` -> frames ``(B, steps, C_in, H, W)`` and, when asked,
        hidden ``(B, T + steps, V, C, H, W)``: the state after each recurrent step, whose
        inputs are the T context frames and then the fed-back predictions (with ``paper``
        decoding the first of those re-reads the last context frame). ``hidden`` has
        channels-last strides (a view of a ``(T + steps, B, V, H, W, C)`` buffer when no
        gradient is recorded); use ``reshape``/``contiguous`` rather than ``view`` on it.

        ``on_step(index, state)`` is called after every recurrent step with the state
        ``(B, V, C, H, W)`` that ``hidden[:, index]`` would hold, without keeping them all: a
        caller reduces each state as it comes (the app's hidden-state views, progress bars). The
        tensor is reused by the next step: copy what you keep.
        """
        steps = self._check_context(context, steps)
        velocities = self.velocities if velocities is None else as_velocities(velocities)
        recompute = self.checkpoint_steps and self.training and torch.is_grad_enabled()
        return self._rollout(context, steps, velocities, return_hidden, on_step, recompute)

    def _rollout(
        self, context: torch.Tensor, steps: int, velocities: tuple[Velocity, ...], return_hidden: bool,
        on_step: StepCallback | None, recompute: bool,
    ) -> Forecast:
        """The one rollout loop, for both clocks. Per recurrent step: one gather shifts and pads
        every copy, one convolution over all copies updates them (see :class:`_Stepper` for the
        autograd, activation-checkpointed and no-gradient variants). With aligned decoding the
        prediction pools the interior of that same gather (the copies advanced by their own
        flow), so reading out costs no extra shift.
        """
        cell = self.cell
        batch, num_context, _, height, width = context.shape
        copies, channels, pad = len(velocities), cell.hidden_channels, cell.pad
        paper = self.config.decoding == "paper"
        total = num_context + steps
        stepper = _Stepper(cell, velocities, context, recompute=recompute)
        # Time-major, so each frame's drive is one contiguous channels-last block.
        frames_first = context.transpose(0, 1).reshape(num_context * batch, *context.shape[2:])  # (T*B, C_in, H, W)
        drives = cell.input_drive(frames_first).unflatten(0, (num_context, batch))  # (T, B, C, H, W)
        hidden = stepper.history(total) if return_hidden else None  # (B, T+S, V, C, H, W)

        def update(shifted: torch.Tensor | None, drive: torch.Tensor, index: int, h: torch.Tensor | None = None):
            """The state after step ``index``: from the shifted copies of the one before, or from
            that state ``h`` itself (a whole step)."""
            out = None if hidden is None else hidden[:, index]
            new_h = stepper.advance(h, drive, out=out) if shifted is None else stepper.update(shifted, drive, out=out)
            if on_step is not None:
                on_step(index, new_h)
            return new_h

        # Step 0 reads frame 0 from the zero state, where the recurrent term vanishes: every copy
        # is relu(W_in * x_0), the same number a convolution of zeros would give.
        first = torch.relu(drives[0]).unsqueeze(1).expand(batch, copies, channels, height, width)
        h = stepper.start(first, out=None if hidden is None else hidden[:, 0])
        if on_step is not None:
            on_step(0, h)
        for t in range(1, num_context):
            h = update(None, drives[t], t, h)

        frames = []
        drive = drives[-1]
        for k in range(steps):
            if paper:
                h = update(None, drive, num_context + k, h)
                pooled = self.pool(h)
            else:
                shifted = stepper.shift(h)  # (B, V, C, H+2p, W+2p)
                pooled = self.pool(shifted)[..., pad : pad + height, pad : pad + width]  # copies advanced by their flow
            prediction = self.decoder(pooled)  # (B, C_in, H, W)
            frames.append(prediction)
            last = k == steps - 1
            if last and (paper or (hidden is None and on_step is None)):
                break
            drive = cell.input_drive(prediction.detach())  # fed back without gradient
            if not paper:
                h = update(shifted, drive, num_context + k)
        if frames:
            stacked = torch.stack(frames, dim=1)  # (B, S, C_in, H, W)
        else:
            stacked = context.new_zeros(batch, 0, *context.shape[2:])
        return Forecast(frames=stacked, hidden=hidden, velocities=tuple(velocities))

    def forward(self, context: torch.Tensor, steps: int) -> torch.Tensor:
        """Training entry point: ``(B, T, C_in, H, W)`` -> predicted frames ``(B, steps, C_in, H, W)``."""
        return self.rollout(context, steps).frames

    def forecast(
        self,
        context: torch.Tensor,
        steps: int,
        *,
        velocities: Sequence[Velocity] | None = None,
        return_hidden: bool = False,
        on_step: StepCallback | None = None,
    ) -> Forecast:
        """Predict ``steps`` frames after ``context`` without gradients (see :meth:`rollout`).

        ``velocities=None`` runs the model's own velocity set; any other set reuses the same
        weights (for a G-RNN this turns it into a FERNN with the G-RNN's weights).
        """
        with torch.inference_mode():
            return self.rollout(context, steps, velocities=velocities, return_hidden=return_hidden, on_step=on_step)


def build_model(
    kind: str,
    *,
    hidden_channels: int = 32,
    max_speed: int | None = None,
    velocities: Sequence[Sequence[int]] | None = None,
    decoding: str = "aligned",
    pooling: str = "max",
    decoder_layers: int = 4,
    decoder_bias: bool = True,
    kernel_size: int = 3,
    in_channels: int = 1,
) -> Forecaster:
    """Build a ``"grnn"`` or ``"fernn"`` forecaster.

    A FERNN's velocity set is ``{-max_speed..max_speed}^2`` (default ``max_speed=2``) or an
    explicit ``velocities`` list; give one or the other. A G-RNN takes neither.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if max_speed is not None and velocities is not None:
        raise ValueError("give either max_speed or velocities, not both")
    if kind == "grnn":
        if (max_speed not in (None, 0)) or (velocities is not None and as_velocities(velocities) != ((0, 0),)):
            raise ValueError("a G-RNN has the single velocity (0, 0); drop max_speed/velocities or use kind='fernn'")
        chosen: tuple[Velocity, ...] = ((0, 0),)
    elif velocities is not None:
        chosen = as_velocities(velocities)
    else:
        chosen = velocity_set(2 if max_speed is None else max_speed)
    config = ModelConfig(
        kind=kind,
        velocities=chosen,
        hidden_channels=hidden_channels,
        in_channels=in_channels,
        kernel_size=kernel_size,
        decoder_layers=decoder_layers,
        decoder_bias=decoder_bias,
        pooling=pooling,
        decoding=decoding,
    )
    return Forecaster(config)
