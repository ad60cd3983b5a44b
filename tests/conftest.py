"""Shared fixtures: small seeded models and inputs, so the default suite stays fast on a CPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import fernn
from fernn.models import Forecaster

# The tests use tiny tensors, where extra intra-op threads only add scheduling overhead (and
# fight any other process for the cores); one thread is several times faster here.
torch.set_num_threads(1)

# Every comparison where exactness is claimed runs in float64; float32 runs with a looser bound.
DTYPES = (torch.float32, torch.float64)
# Relative bound for an "exact" relation, per dtype (rounding noise only).
EXACT_TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}


@pytest.fixture(params=DTYPES, ids=lambda dtype: str(dtype).removeprefix("torch."))
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Run a test once in float32 and once in float64."""
    return request.param


@pytest.fixture
def exact_tolerance(dtype: torch.dtype) -> float:
    """The bound on a relative error that is exact up to rounding in ``dtype``."""
    return EXACT_TOLERANCE[dtype]


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Each test starts from the same global torch seed, so weight initialisation is repeatable."""
    torch.manual_seed(0)


@pytest.fixture
def make_model() -> Callable[..., Forecaster]:
    """Factory for small forecasters: ``make_model(kind, dtype=..., **build_model options)``.

    Defaults are a 4-channel hidden state and a 2-layer decoder, enough to exercise every code
    path while keeping each forward pass in the millisecond range.
    """

    def build(kind: str = "fernn", *, dtype: torch.dtype = torch.float64, **options) -> Forecaster:
        options.setdefault("hidden_channels", 4)
        options.setdefault("decoder_layers", 2)
        return fernn.build_model(kind, **options).to(dtype).eval()

    return build


@pytest.fixture
def make_context() -> Callable[..., torch.Tensor]:
    """Factory for seeded uniform context frames ``(B, T, C_in, H, W)``."""

    def build(
        *, batch: int = 2, frames: int = 4, channels: int = 1, height: int = 8, width: int = 8,
        dtype: torch.dtype = torch.float64, seed: int = 0,
    ) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(batch, frames, channels, height, width, generator=generator, dtype=dtype)

    return build
