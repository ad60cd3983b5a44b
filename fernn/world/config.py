"""What rebuilds a world model: :class:`WorldConfig`, stored in its checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from fernn.encoder import EncoderConfig, check_positive
from fernn.flows import TRANSLATION, Translation, Velocity

__all__ = ["ACTION_PLANES", "WorldConfig"]

# The G-RNN's action input: one constant plane per component (dy, dx).
ACTION_PLANES = 2


@dataclass(frozen=True)
class WorldConfig(EncoderConfig):
    """Everything needed to rebuild a world model; stored in its checkpoints. The encoder's fields
    (kind, velocities, flow, widths, pooling) are :class:`~fernn.encoder.EncoderConfig`'s: ``kind``
    ``"fernn"`` builds :class:`~fernn.world.WorldFERNN`, ``"grnn"`` :class:`~fernn.world.WorldGRNN`."""

    record_name: ClassVar[str] = "world model config"
    # The training digits move at |v| <= 1: V_1 holds every one of them (widen at run time).
    velocities: tuple[Velocity, ...] = field(default_factory=lambda: TRANSLATION.velocity_set(1))
    hidden_channels: int = 16
    # The world's torus (the FERNN's map is exactly this size, so self-motion is an exact roll).
    world_size: int = 48
    view_size: int = 28
    # Convolutions in the decoder, counting the linear output conv.
    decoder_layers: int = 3
    decoder_bias: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.flow, Translation):
            raise ValueError(f"world models move by translations of the torus, got the flow {self.flow!r}")
        check_positive(self, "world_size", "view_size", "decoder_layers")
        if self.view_size > self.world_size:
            raise ValueError(f"view_size ({self.view_size}) must not exceed world_size ({self.world_size})")
        if not isinstance(self.decoder_bias, bool):
            raise ValueError(f"decoder_bias must be True or False, got {self.decoder_bias!r}")

    @property
    def cell_inputs(self) -> int:
        """Channels the input conv reads: the view, and for the G-RNN the action planes."""
        return self.in_channels + (ACTION_PLANES if self.kind == "grnn" else 0)

    def parameter_count(self) -> int:
        """Weights and biases of the model this config builds, computed without building it."""
        taps = self.kernel_size * self.kernel_size
        hidden = self.hidden_channels
        encoder = self.flow.convolution_parameters(in_channels=self.cell_inputs, hidden_channels=hidden,
                                                   kernel_size=self.kernel_size)
        decoder = (self.decoder_layers - 1) * hidden * hidden * taps + self.in_channels * hidden * taps
        if self.decoder_bias:
            decoder += (self.decoder_layers - 1) * hidden + self.in_channels
        return encoder + decoder
