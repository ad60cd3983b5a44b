"""Small scenes and models for the showcase tests: a seeded 'digit' and two tiny forecasters,
one of which (the integrator FERNN) has structure a test can predict exactly."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import fernn
import tiny


def make_blob(seed: int = 0) -> np.ndarray:
    """A non-symmetric 'digit': a few bright pixels at seeded places, ``float32 (28, 28)``."""
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), dtype=np.float32)
    image[rng.integers(6, 22, 12), rng.integers(6, 22, 12)] = 1.0
    return image


def make_integrator_fernn(max_speed: int = 2, decay: float = 0.9) -> fernn.Forecaster:
    """A FERNN with real structure: each copy integrates its input, ``h <- relu(x + a shift(h, nu))``.

    With 1-pixel delta kernels the cell is exactly this leaky integrator, so the copy moving
    with the input stacks the digit on itself and every other copy smears it.
    """
    model = fernn.build_model("fernn", hidden_channels=1, decoder_layers=1, max_speed=max_speed)
    with torch.no_grad():
        for conv, value in ((model.cell.input_conv, 1.0), (model.cell.recurrent_conv, decay)):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = value
    return model.eval()


def make_tiny_grnn() -> fernn.Forecaster:
    return tiny.forecaster("grnn")


@pytest.fixture
def blob() -> Callable[..., np.ndarray]:
    """``blob(seed=0)``: see :func:`make_blob`."""
    return make_blob


@pytest.fixture
def integrator_fernn() -> Callable[..., fernn.Forecaster]:
    """``integrator_fernn(max_speed=2, decay=0.9)``: see :func:`make_integrator_fernn`."""
    return make_integrator_fernn


@pytest.fixture
def tiny_grnn() -> Callable[[], fernn.Forecaster]:
    """``tiny_grnn()``: a 2-channel G-RNN with its seeded random weights."""
    return make_tiny_grnn
