"""Tiny models for tests that need a forecaster's shapes and plumbing, not its skill; and the app's
fixture checkpoint folders (AppTest and the real browser), written as the app reads them: a pair at
the top, ``classify/``, ``rotation/``. Each writer stores the metrics dicts its caller gives, as given.

Models are built in a fixed order, so a test that seeds torch first gets the same weights each time.
"""

from __future__ import annotations

from pathlib import Path

import fernn
from fernn.flows import Rotation

# The app's fixture models: 4 channels (the Inside tab shows up to 4), a 2-layer decoder.
APP_FORECASTER = dict(hidden_channels=4, decoder_layers=2)
APP_CLASSIFIER = dict(hidden_channels=4, head_layers=1, head_channels=4)
# The rotation pair: one C_12 field each (12 channels), as the shipped rotation models' group.
APP_ROTATION = dict(hidden_channels=12, decoder_layers=2, flow=Rotation(order=12))


def forecaster(kind: str = "grnn", **options) -> fernn.Forecaster:
    """A 2-channel forecaster with a 1-layer decoder (``options`` override or add), in eval mode."""
    return fernn.build_model(kind, **{"hidden_channels": 2, "decoder_layers": 1, **options}).eval()


def pair(**options) -> dict[str, fernn.Forecaster]:
    """The demo's two models, tiny: a G-RNN, then a FERNN over V_1 (``options`` as for :func:`forecaster`)."""
    return {"G-RNN": forecaster("grnn", **options), "FERNN": forecaster("fernn", max_speed=1, **options)}


def write_app_pair(folder: Path, metrics: dict[str, dict]) -> None:
    """``grnn.pt`` and ``fernn.pt`` (|V| = 25, as shipped) in ``folder``, each with ``metrics[file name]``."""
    fernn.save_checkpoint(folder / "grnn.pt", fernn.build_model("grnn", **APP_FORECASTER), metrics["grnn.pt"])
    fernn.save_checkpoint(folder / "fernn.pt", fernn.build_model("fernn", max_speed=2, **APP_FORECASTER),
                          metrics["fernn.pt"])


def write_app_classifiers(folder: Path, metrics: dict[str, dict], **fernn_options) -> None:
    """``grnn.pt``, ``fernn.pt`` (``fernn_options``, e.g. ``pooling="peak"``) and ``single-frame.pt``
    (a G-RNN) in ``folder``, each with ``metrics[file name]``."""
    fernn.save_checkpoint(folder / "grnn.pt", fernn.build_classifier("grnn", **APP_CLASSIFIER), metrics["grnn.pt"])
    fernn.save_checkpoint(folder / "fernn.pt", fernn.build_classifier("fernn", **fernn_options, **APP_CLASSIFIER),
                          metrics["fernn.pt"])
    fernn.save_checkpoint(folder / "single-frame.pt", fernn.build_classifier("grnn", **APP_CLASSIFIER),
                          metrics["single-frame.pt"])


def write_app_rotation_pair(folder: Path, metrics: dict) -> None:
    """``grnn.pt`` and ``fernn.pt`` (trained radius 2) of the C_12 group in ``folder``, both with ``metrics``."""
    fernn.save_checkpoint(folder / "grnn.pt", fernn.build_model("grnn", **APP_ROTATION), metrics)
    fernn.save_checkpoint(folder / "fernn.pt", fernn.build_model("fernn", max_speed=2, **APP_ROTATION), metrics)
