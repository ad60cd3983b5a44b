"""Tiny world models for tests of the evaluation, the app and the bench: the shipped shapes (a 48-px
world, a 28-px window, the FERNN over V_1) with 2 channels, and their fixture folder
``world/{grnn,fernn}/`` as the app reads it (model folders)."""

from __future__ import annotations

from pathlib import Path

import torch

import fernn
from fernn.flows import TRANSLATION
from fernn.world import WorldConfig, build_world_model

TINY_WORLD = dict(hidden_channels=2, decoder_layers=2)


def world_pair(seed: int = 0) -> dict[str, fernn.world.WorldModel]:
    """``{"grnn": ..., "fernn": ...}``: tiny, float32, eval mode, seeded."""
    torch.manual_seed(seed)
    return {"grnn": build_world_model(WorldConfig(kind="grnn", velocities=(TRANSLATION.zero,), **TINY_WORLD)).eval(),
            "fernn": build_world_model(WorldConfig(kind="fernn", **TINY_WORLD)).eval()}


def write_world_pair(folder: Path, metrics: dict | None = None) -> dict[str, Path]:
    """Model folders ``folder/world/grnn`` and ``folder/world/fernn``; their paths by kind."""
    paths = {}
    for kind, model in world_pair().items():
        paths[kind] = fernn.save_pretrained(folder / "world" / kind, model, dict(metrics or {}))
    return paths
