"""Sequence classifiers: the shared :class:`~fernn.encoder.FlowEncoder`, a pool over velocity copies, a head.

``logits = linear(mean_space(head(pool_V(h_T))))``: the state after the last frame is pooled over
the velocity copies (``pooling``: max, as the paper's, or peak, below), passed through ``head_layers`` circular 3x3 conv + ReLU
layers (0 is the research code's head: global average pooling and a linear layer), averaged over
space and mapped to class scores. Circular convolutions and the spatial mean keep the read-out
exactly invariant to translations of the torus, so what moves the logits is only what the
recurrence kept. A G-RNN classifier is the same model with the velocity set ``{flow.zero}``.

``pooling="peak"`` takes, per sequence, the copy whose state holds the most energy (largest mean
``h**2``) and max-pools only the copies within the trained set's radius of it (``flow.speed(u - peak)
<= r``).
A max over all copies grows with the set: widened at run time, copies moving against the input
integrate smears the head never saw, and they win the max. The peak window always holds the
trained set's worth of copies around the one that moves with the input, so a set widened to
``velocity_set(R)`` reads an input at any velocity ``v`` with ``|v| <= R - r`` exactly as it reads
the same input standing still (the copies are exact shifts of one another), whenever the peak is
the copy moving with the input. The choice of the peak is not differentiated; the window's max is.
Energy picks that copy more often than mean ``|h|`` does (on validation digits, widened to
``velocity_set(4)``: 0.942 against 0.902 accuracy at speed 3, 0.956 against 0.908 at speed 4, the
same 0.950 in range with the trained set; see pretrained/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from fernn.encoder import (CLASSIFIER_POOLINGS, EncodedModel, EncoderConfig, FlowEncoder, check_frames, check_positive,
                           pool_copies, velocities_for)
from fernn.flows import TRANSLATION, Flow, Velocity

__all__ = ["Classifier", "ClassifierConfig", "build_classifier"]


@dataclass(frozen=True)
class ClassifierConfig(EncoderConfig):
    """Everything needed to rebuild a classifier; stored inside every checkpoint. The encoder's fields
    (kind, velocities, flow, widths, pooling) are :class:`~fernn.encoder.EncoderConfig`'s; a
    classifier's default set is ``V_1`` and its width 16."""

    record_name: ClassVar[str] = "classifier config"
    poolings: ClassVar[tuple[str, ...]] = CLASSIFIER_POOLINGS
    velocities: tuple[Velocity, ...] = field(default_factory=lambda: TRANSLATION.velocity_set(1))
    hidden_channels: int = 16
    num_classes: int = 10
    # Circular conv + ReLU layers between the pooled state and the spatial mean; 0 is the research
    # code's head (mean over space, then linear). Measured on Flickering Flowing MNIST: see pretrained/.
    head_layers: int = 2
    head_channels: int = 32
    # Layer i of the head dilates its kernel by 2**i when True: a receptive field of a whole digit
    # (15 px for 3 layers) at the cost of 3 layers, still exactly invariant to torus translations.
    head_dilation: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "num_classes", "head_channels")
        if not isinstance(self.head_dilation, bool):
            raise ValueError(f"head_dilation must be True or False, got {self.head_dilation!r}")
        if not isinstance(self.head_layers, int) or isinstance(self.head_layers, bool) or not 0 <= self.head_layers <= 8:
            raise ValueError(f"head_layers must be an integer in 0..8, got {self.head_layers!r}")

    def parameter_count(self) -> int:
        """Weights and biases of the model this config builds, computed without building it."""
        taps = self.kernel_size * self.kernel_size
        width, head = self.hidden_channels, 0
        for _ in range(self.head_layers):
            head += width * self.head_channels * taps + self.head_channels
            width = self.head_channels
        return self.encoder_parameters() + head + width * self.num_classes + self.num_classes


class Classifier(EncodedModel, nn.Module):
    """Classify frame sequences ``(B, T, C_in, H, W)`` into ``num_classes`` (see the module docstring)."""

    config_class = ClassifierConfig
    evaluation_kind = "classifier"

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FlowEncoder.for_config(config)
        layers: list[nn.Module] = []
        width = config.hidden_channels
        for index in range(config.head_layers):
            dilation = 2**index if config.head_dilation else 1
            layers += [nn.Conv2d(width, config.head_channels, config.kernel_size, dilation=dilation,
                                 padding=dilation * (config.kernel_size // 2), padding_mode="circular"), nn.ReLU()]
            width = config.head_channels
        self.head = nn.Sequential(*layers)
        self.linear = nn.Linear(width, config.num_classes)
        self.metrics: dict = {}  # recorded metrics travel with the model when it comes from a checkpoint
        self.checkpoint_steps = False  # the training loop's memory saver (see Forecaster)
        self._windows: dict[tuple, torch.Tensor] = {}  # peak windows per run-time set

    def peak_windows(self, velocities: Sequence[Velocity]) -> torch.Tensor:
        """``(V, V)`` booleans: row ``i`` marks the copies of ``velocities`` within the trained set's
        radius of copy ``i`` (the window ``pooling="peak"`` reads when copy ``i`` is the peak).
        Distances are between the velocities as given: a set so wide that two of its velocities move
        maps alike (a rotation set past half a turn) is not folded together."""
        chosen = self.flow.as_velocities(velocities)
        device = self.linear.weight.device
        key = (chosen, device)
        if key not in self._windows:
            flow, radius = self.flow, max(self.flow.speed(v) for v in self.velocities)
            self._windows[key] = torch.tensor([[flow.speed(flow.combine(u, centre, times=-1)) <= radius
                                                for u in chosen] for centre in chosen], device=device)
        return self._windows[key]

    def pool(self, state: torch.Tensor, velocities: Sequence[Velocity]) -> torch.Tensor:
        """The pooling rule over the copies of ``velocities``: ``(B, V, C, H, W)`` -> ``(B, C, H, W)``."""
        if state.shape[1] != len(velocities):
            raise ValueError(f"the state has {state.shape[1]} velocity copies but {len(velocities)} velocities were given")
        if self.config.pooling != "peak":
            return pool_copies(state, self.config.pooling)
        with torch.no_grad():
            peak = state.detach().float().square().mean(dim=(2, 3, 4)).argmax(dim=1)  # (B,): the most energy
        window = self.peak_windows(velocities).to(state.device)[peak]  # (B, V); a no-op on the model's device
        outside = torch.tensor(float("-inf"), dtype=state.dtype, device=state.device)
        return torch.where(window[:, :, None, None, None], state, outside).amax(dim=1)

    def read_out(self, state: torch.Tensor, velocities: Sequence[Velocity] | None = None) -> torch.Tensor:
        """Class scores of one state of the copies of ``velocities`` (default: the model's own set):
        ``(B, V, C, H, W)`` -> ``(B, num_classes)``."""
        pooled = self.pool(state, self.velocities if velocities is None else velocities)  # (B, C, H, W)
        return self.linear(self.head(pooled).mean(dim=(-2, -1)))  # (B, num_classes)

    def forward(self, frames: torch.Tensor, velocities: Sequence[Velocity] | None = None) -> torch.Tensor:
        """Training entry point: logits ``(B, num_classes)`` after the last frame (differentiable)."""
        check_frames(frames, in_channels=self.config.in_channels, weight=self.linear.weight)
        velocities = self.velocities if velocities is None else self.flow.as_velocities(velocities)
        recompute = self.checkpoint_steps and self.training and torch.is_grad_enabled()
        run = self.encoder.begin(frames, velocities, recompute=recompute)
        return self.read_out(self.encoder.read(run, self.encoder.drives(frames)), velocities)

    def classify(self, frames: torch.Tensor, velocities: Sequence[Velocity] | None = None) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for frames ``(B, T, C_in, H, W)``, without gradients.
        ``velocities=None`` runs the model's own set; any other set reuses the same weights."""
        with torch.inference_mode():
            return self.forward(frames, velocities)

    def classify_steps(self, frames: torch.Tensor, velocities: Sequence[Velocity] | None = None) -> torch.Tensor:
        """Logits after every frame, ``(B, T, num_classes)``: how the answer forms as evidence comes in."""
        check_frames(frames, in_channels=self.config.in_channels, weight=self.linear.weight)
        velocities = self.velocities if velocities is None else self.flow.as_velocities(velocities)
        scores: list[torch.Tensor] = []
        with torch.inference_mode():
            run = self.encoder.begin(frames, velocities, on_step=lambda _, state: scores.append(self.read_out(state, velocities)))
            self.encoder.read(run, self.encoder.drives(frames))
        return torch.stack(scores, dim=1)  # (B, T, num_classes)


def build_classifier(kind: str, *, max_speed: int | None = None, velocities: Sequence[object] | None = None,
                     flow: Flow = TRANSLATION, **options) -> Classifier:
    """A ``"grnn"`` or ``"fernn"`` classifier of ``flow``; a FERNN's set is ``flow.velocity_set(max_speed)``
    (default 1) or ``velocities``. ``options`` are :class:`ClassifierConfig` fields."""
    chosen = velocities_for(kind, flow, max_speed=max_speed, velocities=velocities, default_max_speed=1)
    return Classifier(ClassifierConfig(kind=kind, velocities=chosen, flow=flow, **options))
