"""The cell shapes every fast path is checked on against the reference loop, and a seeded random
cell: shared by tests/test_cells.py and tests/test_fast_path.py."""

from __future__ import annotations

import pytest
import torch

from fernn import flows
from fernn.cells import FlowRNNCell

CELL_CASE_FIELDS = ("batch", "in_channels", "hidden_channels", "kernel_size", "height", "width", "velocities")
CELL_CASES = [
    pytest.param(2, 1, 4, 3, 8, 8, flows.velocity_set(1), id="V1-square"),
    pytest.param(1, 1, 3, 3, 7, 10, flows.velocity_set(2), id="V2-non-square"),
    pytest.param(3, 1, 5, 3, 6, 6, flows.velocity_set(3), id="V3-wraps-past-canvas"),
    pytest.param(2, 2, 5, 3, 6, 9, ((0, 0), (2, -1), (-3, 4), (1, 1)), id="asymmetric-list"),
    pytest.param(3, 1, 2, 5, 9, 6, ((1, 0), (0, 0), (-1, 2)), id="kernel5-unordered"),
    pytest.param(1, 3, 4, 1, 5, 4, ((0, 1), (4, -5)), id="kernel1-long-jumps"),
    pytest.param(2, 1, 4, 3, 5, 5, ((0, 0),), id="G-RNN"),
]


def random_cell(in_channels: int, hidden_channels: int, kernel_size: int, dtype: torch.dtype) -> FlowRNNCell:
    """A cell with weights of both signs and order one, so the relu is active on some entries and not others."""
    cell = FlowRNNCell(in_channels=in_channels, hidden_channels=hidden_channels, kernel_size=kernel_size).to(dtype)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.uniform_(-0.5, 0.5)
    return cell
