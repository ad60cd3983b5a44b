"""Measuring flow equivariance of the hidden state: the library's one check, used by the tests, the
evaluations and the records.

:func:`flow_equivariance_error` compares every copy of a flowed run with its partner copy of the
unflowed run, moved (max relative error per copy). The app's "state drift"
(:func:`fernn.showcase.analysis.stabilised_drift`) is a view of the same relation on a visitor's scene:
the one copy that moves with the digit, mean relative L2 over the context. A test runs both on one
scene: they vanish together for a FERNN and fail together for a G-RNN."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fernn.flows import Velocity
from fernn.classifier import Classifier
from fernn.models import Forecaster

__all__ = ["EquivarianceReport", "flow_equivariance_error", "lifting_equivariance_error"]


@dataclass(frozen=True)
class EquivarianceReport:
    """Hidden-state equivariance error of one model under one input flow ``velocity``.

    For each copy ``nu`` of the flowed run, the reference is the unflowed run's copy
    ``nu - velocity`` moved by the model's flow by the displacement accumulated so far
    (``t * velocity`` after frame ``t``). Where ``nu - velocity`` lies outside the velocity set (as a
    motion of the maps: translations wrap on the torus), the copy is *truncated*: its reference is
    the unflowed run's own copy ``nu`` moved the same way, which is what a plain conv RNN (G-RNN)
    would have to satisfy.

    errors: ``(V,)`` max-abs error of each copy over batch, time, channels and pixels,
    divided by the largest absolute hidden value of the unflowed run (scale-free).
    """

    velocity: Velocity
    velocities: tuple[Velocity, ...]
    partners: tuple[Velocity | None, ...]
    errors: torch.Tensor

    @property
    def exact_mask(self) -> torch.Tensor:
        return torch.tensor([partner is not None for partner in self.partners])

    @property
    def pairs_compared(self) -> int:
        """Number of copies compared against a lifted partner (where the relation is exact)."""
        return int(self.exact_mask.sum())

    @property
    def exact_error(self) -> float:
        """Largest error over copies with a partner; ``nan`` when there is none."""
        mask = self.exact_mask
        return float(self.errors[mask].max()) if mask.any() else float("nan")

    @property
    def truncated_error(self) -> float:
        """Largest error over truncated copies; ``nan`` when there is none."""
        mask = ~self.exact_mask
        return float(self.errors[mask].max()) if mask.any() else float("nan")


def flow_equivariance_error(
    model: Forecaster | Classifier,
    velocity: Sequence[int],
    *,
    context: torch.Tensor | None = None,
    velocities: Sequence[Sequence[int]] | None = None,
    dtype: torch.dtype = torch.float64,
    num_frames: int = 6,
    batch: int = 2,
    size: int = 28,
    seed: int = 0,
) -> EquivarianceReport:
    """Run ``model`` on ``context`` and on ``context`` flowed by ``velocity``; compare hidden states.

    context: ``(B, T, C_in, H, W)``; by default seeded uniform noise of shape
    ``(batch, num_frames, C_in, size, size)``. The model is copied to ``dtype`` (float64 by
    default, where an exact relation shows errors near 1e-15); ``model`` itself is not changed.
    """
    flow = model.flow
    velocity = flow.as_velocity(velocity)
    run_velocities = model.velocities if velocities is None else flow.as_velocities(velocities)
    reference_model = copy.deepcopy(model).to(device="cpu", dtype=dtype).eval()
    if context is None:
        generator = torch.Generator().manual_seed(seed)
        shape = (batch, num_frames, model.config.in_channels, size, size)
        context = torch.rand(shape, generator=generator, dtype=dtype)
    context = context.to(device="cpu", dtype=dtype)
    shape = context.shape[-2:]

    still = _states(reference_model, context, run_velocities)  # (B, T, V, C, H, W)
    moved = _states(reference_model, flow.flow_sequence(context, velocity), run_velocities)

    scale = still.abs().max().clamp_min(torch.finfo(dtype).tiny)
    errors, partners = [], []
    for index, nu in enumerate(run_velocities):
        source = flow.partner(nu, velocity, run_velocities, shape)
        partners.append(None if source is None else run_velocities[source])
        reference_copy = index if source is None else source
        worst = still.new_zeros(())
        for t in range(still.shape[1]):
            expected = flow.move_state(still[:, t, reference_copy], flow.scale(velocity, t))
            worst = torch.maximum(worst, (moved[:, t, index] - expected).abs().max())
        errors.append(worst / scale)
    return EquivarianceReport(
        velocity=velocity,
        velocities=tuple(run_velocities),
        partners=tuple(partners),
        errors=torch.stack(errors).float(),
    )


def _states(model: Forecaster | Classifier, frames: torch.Tensor, velocities: tuple[Velocity, ...]) -> torch.Tensor:
    """The encoder's state after every frame, ``(B, T, V, C, H, W)``: what any head reads."""
    with torch.inference_mode():
        run = model.encoder.begin(frames, velocities, total=frames.shape[1])
        model.encoder.read(run, model.encoder.drives(frames))
    return run.hidden


def lifting_equivariance_error(
    model: Forecaster | Classifier, velocity: Velocity, images: torch.Tensor, *, dtype: torch.dtype = torch.float64
) -> float:
    """How far the input lift is from commuting with the flow, the research code's measure for rotations:
    ``||lift(g x) - g lift(x)||^2 / ||g lift(x)||^2`` over the central disc (radius half the map's
    side), ``g`` the flow's motion by ``velocity`` (a map moved by :meth:`Flow.move`, a state by
    :meth:`Flow.move_state`), summed over ``images`` ``(N, C_in, H, W)``.

    0 up to rounding where the motion is exact on the grid (translations; quarter turns); for other
    angles it measures what resampling a map costs.
    """
    flow = model.flow
    velocity = flow.as_velocity(velocity)
    cell = copy.deepcopy(model.encoder.cell).to(device="cpu", dtype=dtype)
    images = images.to(device="cpu", dtype=dtype)
    with torch.no_grad():
        lifted_moved = cell.input_drive(flow.move(images, velocity))  # (N, C, H, W)
        moved_lifted = flow.move_state(cell.input_drive(images), velocity)
    height, width = images.shape[-2:]
    rows = torch.arange(height, dtype=dtype) - (height - 1) / 2
    cols = torch.arange(width, dtype=dtype) - (width - 1) / 2
    disc = (rows[:, None] ** 2 + cols[None, :] ** 2) <= (min(height, width) / 2) ** 2  # (H, W)
    error = ((lifted_moved - moved_lifted) ** 2 * disc).sum()
    return float(error / ((moved_lifted ** 2) * disc).sum().clamp_min(torch.finfo(dtype).tiny))
