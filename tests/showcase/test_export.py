"""fernn.showcase.export: a comparison's arrays round-trip through .npz."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import fernn
from fernn import showcase
from fernn.flows import velocity_set


def test_npz_export_round_trips(blob, integrator_fernn, tiny_grnn):
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    result = showcase.compare(models, [showcase.Digit(blob(), velocity=(1, 0))], context_frames=3, predict_frames=2)
    with np.load(io.BytesIO(showcase.comparison_npz(result))) as archive:
        np.testing.assert_array_equal(archive["truth"], result.truth)
        assert list(archive["model_names"]) == ["G-RNN", "FERNN"]
        np.testing.assert_array_equal(archive["model1_prediction"], result.runs[1].prediction)
        np.testing.assert_array_equal(archive["model1_velocities"], np.asarray(velocity_set(1)))
        assert float(archive["model1_drift"]) == pytest.approx(result.runs[1].hidden.drift)
        assert int(archive["context_frames"]) == 3


def test_npz_export_of_a_rotation_comparison_names_its_flow(blob):
    twelve = fernn.flows.Rotation(order=12)
    model = fernn.build_model("fernn", hidden_channels=12, decoder_layers=1, max_speed=1, flow=twelve).eval()
    result = showcase.compare({"FERNN": model}, [showcase.Digit(blob(), velocity=2, flow=twelve)],
                              context_frames=2, predict_frames=1)
    with np.load(io.BytesIO(showcase.comparison_npz(result))) as archive:
        assert json.loads(str(archive["flow"])) == {"name": "rotation", "order": 12}
        np.testing.assert_array_equal(archive["digit_velocities"], [2])
        np.testing.assert_array_equal(archive["model0_velocities"], [-2, -1, 0, 1, 2])
