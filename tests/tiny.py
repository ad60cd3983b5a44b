"""Tiny models for tests that need a forecaster's shapes and plumbing, not its skill; and the app's
fixture checkpoint folders (AppTest and the real browser), written as the app reads them: model
folders, a pair at the top, ``classify/``, ``rotation/``. Each writer stores the metrics dicts its
caller gives, as given.

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
    """Model folders ``grnn/`` and ``fernn/`` (|V| = 25, as shipped) in ``folder``, each with ``metrics[name]``."""
    fernn.save_pretrained(folder / "grnn", fernn.build_model("grnn", **APP_FORECASTER), metrics["grnn"])
    fernn.save_pretrained(folder / "fernn", fernn.build_model("fernn", max_speed=2, **APP_FORECASTER), metrics["fernn"])


def write_app_classifiers(folder: Path, metrics: dict[str, dict], **fernn_options) -> None:
    """Model folders ``grnn/``, ``fernn/`` (``fernn_options``, e.g. ``pooling="peak"``) and
    ``single-frame/`` (a G-RNN) in ``folder``, each with ``metrics[name]``."""
    fernn.save_pretrained(folder / "grnn", fernn.build_classifier("grnn", **APP_CLASSIFIER), metrics["grnn"])
    fernn.save_pretrained(folder / "fernn", fernn.build_classifier("fernn", **fernn_options, **APP_CLASSIFIER),
                          metrics["fernn"])
    fernn.save_pretrained(folder / "single-frame", fernn.build_classifier("grnn", **APP_CLASSIFIER),
                          metrics["single-frame"])


def write_app_rotation_pair(folder: Path, metrics: dict) -> None:
    """Model folders ``grnn/`` and ``fernn/`` (trained radius 2) of the C_12 group in ``folder``, both with ``metrics``."""
    fernn.save_pretrained(folder / "grnn", fernn.build_model("grnn", **APP_ROTATION), metrics)
    fernn.save_pretrained(folder / "fernn", fernn.build_model("fernn", max_speed=2, **APP_ROTATION), metrics)
