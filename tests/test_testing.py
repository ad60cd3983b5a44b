"""The equivariance checker itself: partners, counts, scale, and that it catches a broken model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import fernn
from fernn.flows import Translation
from fernn import flows
from fernn.testing import EquivarianceReport


def expected_partners(velocities, velocity):
    """Partner of copy ``nu``: ``nu - velocity`` when it is in ``V`` (no torus wrap on these canvases)."""
    return tuple(
        (nu[0] - velocity[0], nu[1] - velocity[1]) if (nu[0] - velocity[0], nu[1] - velocity[1]) in velocities else None
        for nu in velocities
    )


@pytest.mark.parametrize("velocity", [(0, 0), (1, 0), (-1, 1), (1, 1), (0, -1)])
def test_report_partners_and_counts(velocity, make_model) -> None:
    velocities = flows.velocity_set(1)
    report = fernn.flow_equivariance_error(make_model("fernn", max_speed=1), velocity, size=8, num_frames=3)
    assert isinstance(report, EquivarianceReport)
    assert report.velocity == velocity
    assert report.velocities == velocities
    assert report.partners == expected_partners(velocities, velocity)
    assert report.pairs_compared == (3 - abs(velocity[0])) * (3 - abs(velocity[1]))
    assert torch.equal(report.exact_mask, torch.tensor([p is not None for p in report.partners]))
    assert report.errors.shape == (9,)
    assert report.errors.dtype == torch.float32
    assert torch.isfinite(report.errors).all() and (report.errors >= 0).all()
    assert report.exact_error < 1e-12
    assert report.exact_error == float(report.errors[report.exact_mask].max())
    if velocity == (0, 0):
        assert report.partners == velocities
        assert math.isnan(report.truncated_error)
        assert float(report.errors.max()) == 0.0
    else:
        assert report.truncated_error == float(report.errors[~report.exact_mask].max())
        assert report.truncated_error > 0.05


def test_velocity_is_normalised_and_validated(make_model) -> None:
    model = make_model("fernn", max_speed=1)
    report = fernn.flow_equivariance_error(model, [np.int64(1), 0], size=6, num_frames=2)
    assert report.velocity == (1, 0) and type(report.velocity[0]) is int
    with pytest.raises(ValueError, match="pair of integers"):
        fernn.flow_equivariance_error(model, (0.5, 0), size=6, num_frames=2)


def test_model_is_not_changed(make_model) -> None:
    model = make_model("fernn", max_speed=1, dtype=torch.float32).train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    fernn.flow_equivariance_error(model, (1, 0), dtype=torch.float64, size=6, num_frames=2)
    assert model.training
    for name, tensor in model.state_dict().items():
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, before[name])


def test_default_context_is_seeded(make_model) -> None:
    model = make_model("grnn")
    first = fernn.flow_equivariance_error(model, (1, 0), size=7, num_frames=3, batch=1, seed=4)
    again = fernn.flow_equivariance_error(model, (1, 0), size=7, num_frames=3, batch=1, seed=4)
    other = fernn.flow_equivariance_error(model, (1, 0), size=7, num_frames=3, batch=1, seed=5)
    assert torch.equal(first.errors, again.errors)
    assert not torch.equal(first.errors, other.errors)


def test_errors_are_scale_free(make_model, make_context) -> None:
    """Without biases the hidden state is positively homogeneous in the input: scaling it leaves the ratio."""
    model = make_model("grnn")
    context = make_context(frames=3, height=7, width=6)
    small = fernn.flow_equivariance_error(model, (1, -1), context=context)
    large = fernn.flow_equivariance_error(model, (1, -1), context=1000 * context)
    assert small.truncated_error > 0.05
    assert large.truncated_error == pytest.approx(small.truncated_error, rel=1e-6)


def test_grnn_weights_become_exact_with_a_lifted_velocity_set(make_model, make_context) -> None:
    """Equivariance comes from the lift, not from training: a G-RNN's weights run with V_1 are exact."""
    model = make_model("grnn")
    context = make_context(frames=4, height=8, width=8, dtype=torch.float32)
    as_grnn = fernn.flow_equivariance_error(model, (1, 1), context=context)
    lifted = fernn.flow_equivariance_error(model, (1, 1), context=context, velocities=flows.velocity_set(1))
    assert as_grnn.pairs_compared == 0 and as_grnn.truncated_error > 0.05
    assert lifted.velocities == flows.velocity_set(1)
    assert lifted.pairs_compared == 4
    assert lifted.exact_error < 1e-12


def test_partners_wrap_around_the_torus(make_model, make_context) -> None:
    """On a 4x4 torus velocity 3 is velocity -1: every v has a partner in the closed set of 16 velocities."""
    closed = tuple((dy, dx) for dy in range(4) for dx in range(4))
    model = make_model("fernn", velocities=closed)
    context = make_context(frames=3, height=4, width=4)
    for velocity in [(1, 0), (3, 3), (-1, 2), (5, -6)]:
        report = fernn.flow_equivariance_error(model, velocity, context=context)
        assert report.pairs_compared == 16
        assert math.isnan(report.truncated_error)
        assert report.exact_error < 1e-12
        for nu, partner in zip(closed, report.partners):
            assert ((partner[0] + velocity[0]) % 4, (partner[1] + velocity[1]) % 4) == nu


class WrongWayTranslation(Translation):
    """A flow whose copies move against their velocity in dy: the sign bug the checker must catch."""

    def move_copies(self, h, velocities, *, times=1, pad=0):
        return super().move_copies(h, [(-dy, dx) for dy, dx in velocities], times=times, pad=pad)

    def copy_mover(self, velocities, **options):
        return super().copy_mover([(-dy, dx) for dy, dx in velocities], **options)


def test_checker_catches_a_sign_error(make_model, make_context) -> None:
    model = make_model("fernn", max_speed=1)
    context = make_context(frames=4, height=8, width=8)
    correct = fernn.flow_equivariance_error(model, (1, 0), context=context)
    model.cell.flow = WrongWayTranslation()  # the cell moves copies wrongly; the checker asks model.flow
    broken = fernn.flow_equivariance_error(model, (1, 0), context=context)
    assert correct.exact_error < 1e-12
    assert broken.pairs_compared == correct.pairs_compared > 0
    assert broken.exact_error > 0.05
