"""A comparison's raw arrays as one ``.npz`` file, for analysis outside the app."""

from __future__ import annotations

import io
import json

import numpy as np

from fernn.showcase.results import Comparison

__all__ = ["comparison_npz"]


def comparison_npz(comparison: Comparison) -> bytes:
    """The raw arrays of a comparison as ``.npz`` bytes (``np.load`` reads them back).

    Keys: ``truth``, ``baseline_mse``, ``context_frames``, ``predict_frames``,
    ``flow`` (its checkpoint record as JSON text, e.g. ``{"name": "rotation", "order": 12}``),
    ``digit_velocities``, ``digit_starts``, ``stabilise_velocity`` (velocities as the flow writes
    them: ``(dy, dx)`` rows for translation, whole steps for rotation), ``model_names`` and, for
    model ``k``, ``model{k}_prediction``, ``_mse``, ``_hidden`` (the pooled state),
    ``_hidden_stabilised``, ``_activity``, ``_velocities``, ``_drift`` (see
    :func:`~fernn.showcase.stabilised_drift`).
    """
    arrays: dict[str, np.ndarray] = {
        "truth": comparison.truth,
        "baseline_mse": comparison.baseline_mse,
        "context_frames": np.asarray(comparison.context_frames),
        "predict_frames": np.asarray(comparison.predict_frames),
        "flow": np.asarray(json.dumps(comparison.flow.to_record())),
        "digit_velocities": np.asarray(comparison.digit_velocities, dtype=np.int64),
        "digit_starts": np.asarray(comparison.digit_starts, dtype=np.int64),
        "stabilise_velocity": np.asarray(comparison.stabilise_velocity, dtype=np.int64),
        "model_names": np.asarray([run.name for run in comparison.runs]),
    }
    for k, run in enumerate(comparison.runs):
        prefix = f"model{k}_"
        arrays[prefix + "prediction"] = run.prediction
        arrays[prefix + "mse"] = run.mse
        arrays[prefix + "hidden"] = run.hidden.pooled.astype(np.float32)
        arrays[prefix + "hidden_stabilised"] = run.hidden.pooled_stabilised.astype(np.float32)
        arrays[prefix + "drift"] = np.asarray(run.hidden.drift)
        arrays[prefix + "activity"] = run.activity
        arrays[prefix + "velocities"] = np.asarray(run.velocities, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
