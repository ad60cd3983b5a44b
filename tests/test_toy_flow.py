"""The seam, proved from outside the library: a new flow and a new head, each in a few dozen lines,
with no edit to fernn's models, cells or showcase (the recipes of docs/architecture.md)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import fernn
from fernn.checkpoints import register_model
from fernn.encoder import FlowEncoder, pool_copies
from fernn.flows import Flow, GridAxes, register_flow
from fernn.reference import reference_rollout


@register_flow
class Horizontal(Flow):
    """Translation along the width axis only: a velocity is one integer ``dx`` (px/frame)."""

    name = "horizontal"
    unit = "px/frame"

    def as_velocity(self, item: object) -> int:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValueError(f"a horizontal velocity is an integer dx, got {item!r}")
        return item

    @property
    def zero(self) -> int:
        return 0

    def combine(self, a: int, b: int, *, times: int = 1) -> int:
        return a + times * b

    def speed(self, velocity: int) -> int:
        return abs(velocity)

    def velocities_up_to(self, max_speed: int) -> tuple[int, ...]:
        return tuple(range(-max_speed, max_speed + 1))

    def canonical(self, velocity: int, shape) -> int:
        return velocity % shape[-1]  # the width wraps around

    def move(self, x: torch.Tensor, displacement: int) -> torch.Tensor:
        return torch.roll(x, displacement, dims=-1)

    def label(self, velocity: int) -> str:
        return f"{velocity:+d}"

    def grid(self, max_speed: int) -> GridAxes:
        speeds = self.velocity_set(max_speed)
        return GridAxes(velocities=(speeds,), row_name="", column_name="dx", row_values=(0,), column_values=speeds)


def test_a_flow_defined_outside_the_library_is_exactly_equivariant() -> None:
    flow = Horizontal()
    model = fernn.build_model("fernn", flow=flow, max_speed=2, hidden_channels=4, decoder_layers=2).double()
    assert model.flow is flow and model.flow.name == "horizontal" and model.velocities == (-2, -1, 0, 1, 2)
    report = fernn.flow_equivariance_error(model, 1, size=12)
    assert report.pairs_compared == 4  # nu = -1..2 have their partner nu - 1 in V
    assert report.exact_error < 1e-12
    assert report.truncated_error > 1e-3  # copy -2's partner -3 is outside V
    grnn = fernn.build_model("grnn", flow=flow, hidden_channels=4, decoder_layers=2).double()
    assert grnn.velocities == (0,)
    assert fernn.flow_equivariance_error(grnn, 1, size=12).truncated_error > 1e-2  # the negative control


def test_a_flow_defined_outside_the_library_forecasts_and_round_trips(tmp_path) -> None:
    flow = Horizontal()
    model = fernn.build_model("fernn", flow=flow, max_speed=1, hidden_channels=4, decoder_layers=2).double().eval()
    generator = torch.Generator().manual_seed(0)
    context = torch.rand(2, 4, 1, 8, 10, generator=generator, dtype=torch.float64)
    wider = flow.velocity_set(3)
    fast = model.forecast(context, 3, velocities=wider, return_hidden=True)
    slow = reference_rollout(model, context, 3, velocities=wider, return_hidden=True)
    assert fast.frames.shape == (2, 3, 1, 8, 10) and fast.velocities == wider
    torch.testing.assert_close(fast.frames, slow.frames, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.hidden, slow.hidden, rtol=0, atol=1e-12)
    loaded = fernn.load_checkpoint(fernn.save_checkpoint(tmp_path / "horizontal.pt", model)).double()
    assert loaded.flow == flow and loaded.velocities == model.velocities
    torch.testing.assert_close(loaded.forecast(context, 3).frames, model.forecast(context, 3).frames, rtol=0, atol=0)
    with pytest.raises(ValueError, match="integer dx"):
        model.forecast(context, 1, velocities=[(1, 0)])


class LastStepClassifier(nn.Module):
    """A head on the shared encoder: max over copies at the last step, mean over space, linear."""

    class Config:
        def __init__(self, *, flow: Flow, velocities, hidden_channels: int, num_classes: int) -> None:
            self.flow, self.velocities = flow, flow.as_velocities(velocities)
            self.hidden_channels, self.num_classes = hidden_channels, num_classes

        def to_dict(self) -> dict:
            return {"flow": self.flow.to_record(), "velocities": list(self.velocities),
                    "hidden_channels": self.hidden_channels, "num_classes": self.num_classes}

        @classmethod
        def from_dict(cls, data: dict) -> LastStepClassifier.Config:
            return cls(**dict(data, flow=fernn.flows.flow_from_record(data["flow"])))

        def parameter_count(self) -> int:
            hidden = self.hidden_channels
            return 9 * hidden + 9 * hidden * hidden + hidden * self.num_classes + self.num_classes

    config_class = Config

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config, self.velocities = config, config.velocities
        self.encoder = FlowEncoder(flow=config.flow, hidden_channels=config.hidden_channels)
        self.linear = nn.Linear(config.hidden_channels, config.num_classes)

    def classify(self, frames: torch.Tensor, velocities=None) -> torch.Tensor:
        state = self.encoder(frames, self.velocities if velocities is None else velocities)  # (B, V, C, H, W)
        return self.linear(pool_copies(state, "max").mean(dim=(-2, -1)))  # (B, classes)


def test_a_head_defined_outside_the_library_sits_on_the_encoder_and_round_trips(tmp_path) -> None:
    register_model("toy-classifier", LastStepClassifier)
    config = LastStepClassifier.Config(flow=fernn.flows.TRANSLATION, velocities=fernn.velocity_set(1),
                                       hidden_channels=3, num_classes=4)
    model = LastStepClassifier(config).double()
    frames = torch.rand(2, 5, 1, 8, 8, dtype=torch.float64)
    logits = model.classify(frames)
    assert logits.shape == (2, 4)
    # With every velocity of the 8x8 torus as copies (a set closed under the flow), a moving input
    # permutes the copies and moves their maps: max over copies, then mean over space, is invariant.
    torus = [(dy, dx) for dy in range(8) for dx in range(8)]
    moved = fernn.flows.flow_sequence(frames, (1, -2))
    torch.testing.assert_close(model.classify(moved, torus), model.classify(frames, torus), rtol=0, atol=1e-12)
    assert (model.classify(moved) - logits).abs().max() > 1e-6  # V_1 alone is not closed: the relation is not free
    loaded = fernn.load_checkpoint(fernn.save_checkpoint(tmp_path / "head.pt", model)).double()
    assert isinstance(loaded, LastStepClassifier)
    torch.testing.assert_close(loaded.classify(frames), logits, rtol=0, atol=0)
