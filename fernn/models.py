"""Forecasters: a :class:`~fernn.encoder.FlowEncoder`, a pool over velocity copies, a decoder.

A G-RNN is a forecaster whose velocity set is ``{0}`` (its flow's zero velocity); a FERNN lifts its
hidden state to one copy per velocity. Both share every weight shape, so a checkpoint of one
velocity set can be run with another.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fernn.encoder import (EncodedModel, EncoderConfig, FlowEncoder, StepCallback, check_frames, pool_copies,
                           velocities_for)
from fernn.flows import TRANSLATION, Flow, Velocity

__all__ = ["ConvDecoder", "Forecast", "Forecaster", "ModelConfig", "build_model", "step_count"]

DECODINGS = ("aligned", "paper")
# A rollout this long is a mistake, not a forecast: refuse it before allocating its buffers.
MAX_STEPS = 100_000


@dataclass(frozen=True)
class ModelConfig(EncoderConfig):
    """Everything needed to rebuild a forecaster; stored inside every checkpoint. The encoder's
    fields (kind, velocities, flow, widths, pooling) are :class:`~fernn.encoder.EncoderConfig`'s."""

    # Convolutions in the decoder, counting the linear output conv: the paper's (and the
    # research code's) decoder is 4 circular conv+ReLU layers and an output conv, 5 in all.
    decoder_layers: int = 4
    # The research code's convolutions have no bias; fernn's CPU demo models keep them.
    decoder_bias: bool = True
    # "aligned": the prediction of frame t uses the state after frame t-1, advanced by each
    # copy's own flow. "paper": the first prediction step re-reads the last context frame.
    decoding: str = "aligned"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.decoder_layers, int) or isinstance(self.decoder_layers, bool) or self.decoder_layers < 1:
            raise ValueError(f"decoder_layers must be a positive integer, got {self.decoder_layers!r}")
        if not isinstance(self.decoder_bias, bool):
            raise ValueError(f"decoder_bias must be True or False, got {self.decoder_bias!r}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {self.decoding!r}")

    def parameter_count(self) -> int:
        """Weights (and biases) of the model this config builds, computed without building it."""
        taps = self.kernel_size * self.kernel_size
        hidden, inputs = self.hidden_channels, self.in_channels
        decoder = (self.decoder_layers - 1) * hidden * hidden * taps + inputs * hidden * taps
        if self.decoder_bias:
            decoder += (self.decoder_layers - 1) * hidden + inputs
        return self.encoder_parameters() + decoder

    def rollout_macs(self, *, copies: int, context_frames: int, predict_frames: int, height: int, width: int) -> int:
        """Multiply-accumulates of one rollout of one sequence, counted from the config (kernel, widths,
        decoder depth, copies, frames): every step runs the cell on every copy, every predicted frame
        the decoder once. An upper bound that grows as the real work does; the input drive, shared by
        the copies, is counted per copy."""
        decoder = self.parameter_count() - self.encoder_parameters()
        steps = context_frames + predict_frames
        return height * width * (steps * copies * self.encoder_parameters() + predict_frames * decoder)


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


def step_count(steps: object) -> int:
    """``steps`` of a rollout as an int in ``0..MAX_STEPS``: numpy integers and 0-d integer tensors are
    the same count; bools and floats are not (a specific ``ValueError`` for each)."""
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
    return count


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


class Forecaster(EncodedModel, nn.Module):
    """Encode context frames, then predict future frames autoregressively.

    The predicted frame is fed back (detached) as the next input. Hidden copies are max- (or
    mean-) pooled over ``V`` before the decoder.
    """

    config_class = ModelConfig

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FlowEncoder.for_config(config)
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
        self._register_load_state_dict_pre_hook(_rename_legacy_keys)

    @property
    def cell(self):
        """The encoder's recurrent cell (:class:`~fernn.cells.FlowRNNCell`)."""
        return self.encoder.cell

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """The read-out's pooling rule over the copies: ``(B, V, C, H, W)`` -> ``(B, C, H, W)``."""
        return pool_copies(h, self.config.pooling)

    def _check_context(self, context: torch.Tensor, steps: int) -> int:
        """Refuse a context or ``steps`` that ``rollout`` cannot run; returns ``steps`` as an int."""
        check_frames(context, in_channels=self.config.in_channels, weight=next(self.parameters()), name="context")
        return step_count(steps)

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
        velocities = self.velocities if velocities is None else self.flow.as_velocities(velocities)
        recompute = self.checkpoint_steps and self.training and torch.is_grad_enabled()
        return self._rollout(context, steps, velocities, return_hidden, on_step, recompute)

    def _rollout(
        self, context: torch.Tensor, steps: int, velocities: tuple[Velocity, ...], return_hidden: bool,
        on_step: StepCallback | None, recompute: bool,
    ) -> Forecast:
        """The one rollout loop, for both clocks. Per recurrent step the flow moves and pads every
        copy, one convolution over all copies updates them (see :class:`~fernn.encoder.EncoderRun`
        for the autograd, activation-checkpointed and no-gradient variants). With aligned decoding the
        prediction pools the interior of that same gather (the copies advanced by their own
        flow), so reading out costs no extra shift.
        """
        batch, num_context, _, height, width = context.shape
        pad, paper = self.cell.pad, self.config.decoding == "paper"
        run = self.encoder.begin(context, velocities, recompute=recompute,
                                 total=num_context + steps if return_hidden else None, on_step=on_step)
        drives = self.encoder.drives(context)  # (T, B, C, H, W)
        h = self.encoder.read(run, drives)

        frames = []
        drive = drives[-1]
        for k in range(steps):
            if paper:
                h = run.step(num_context + k, drive, h=h)
                pooled = self.pool(h)
            else:
                shifted = run.shift(h)  # (B, V, C, H+2p, W+2p)
                pooled = self.pool(shifted)[..., pad : pad + height, pad : pad + width]  # copies advanced by their flow
            prediction = self.decoder(pooled)  # (B, C_in, H, W)
            frames.append(prediction)
            if k == steps - 1 and (paper or not run.reports):
                break
            drive = self.encoder.cell.input_drive(prediction.detach())  # fed back without gradient
            if not paper:
                h = run.step(num_context + k, drive, shifted=shifted)
        if frames:
            stacked = torch.stack(frames, dim=1)  # (B, S, C_in, H, W)
        else:
            stacked = context.new_zeros(batch, 0, *context.shape[2:])
        return Forecast(frames=stacked, hidden=run.hidden, velocities=tuple(velocities))

    def forward(self, context: torch.Tensor, steps: int) -> torch.Tensor:
        """Training entry point: ``(B, T, C_in, H, W)`` -> predicted frames ``(B, steps, C_in, H, W)``."""
        return self.rollout(context, steps).frames

    def forecast(self, context: torch.Tensor, steps: int, **options) -> Forecast:
        """Predict ``steps`` frames after ``context`` without gradients; ``options`` (``velocities``,
        ``return_hidden``, ``on_step``) as for :meth:`rollout`.

        ``velocities=None`` runs the model's own velocity set; any other set reuses the same
        weights (for a G-RNN this turns it into a FERNN with the G-RNN's weights).
        """
        with torch.inference_mode():
            return self.rollout(context, steps, **options)


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
    flow: Flow = TRANSLATION,
) -> Forecaster:
    """Build a ``"grnn"`` or ``"fernn"`` forecaster of ``flow`` (translation by default).

    A FERNN's velocity set is ``flow.velocity_set(max_speed)`` (default ``max_speed=2``; for
    translation ``{-max_speed..max_speed}^2``) or an explicit ``velocities`` list; give one or the
    other. A G-RNN takes neither: its set is ``{flow.zero}``.
    """
    chosen = velocities_for(kind, flow, max_speed=max_speed, velocities=velocities, default_max_speed=2)
    config = ModelConfig(
        flow=flow,
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


def _rename_legacy_keys(state_dict: dict, prefix: str, *_) -> None:
    """Weights saved before the encoder was its own part name the cell ``cell.*``; it is
    ``encoder.cell.*`` now. Renamed in place, so every old checkpoint loads unchanged."""
    for key in [k for k in state_dict if k.startswith(prefix + "cell.")]:
        state_dict[prefix + "encoder." + key[len(prefix):]] = state_dict.pop(key)
