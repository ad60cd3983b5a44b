"""World models: an observer sees an ``S x S`` window of a ``W x W`` torus world, moves by known
whole-pixel actions, and the model predicts its next views (data: :mod:`fernn.datasets.world`).

    config   WorldConfig, stored in checkpoints (kind "fernn" or "grnn", world and view sizes)
    models   WorldFERNN (a memory map per velocity copy, in the observer's frame) and WorldGRNN
             (FloWM's action-concatenation baseline on the view grid); the update equations
    readout  WorldForecast, the decoder read at the window, the memory moved to world coordinates
    measures per-step MSE over predicted views; the self-motion / object-flow duality error

Both models are checkpoint kinds (``"world-fernn"``, ``"world-grnn"``) that ``fernn.load_checkpoint``
rebuilds from the file alone.
"""

from fernn.world.config import ACTION_PLANES, WorldConfig
from fernn.world.models import WorldFERNN, WorldGRNN, WorldModel, build_world_model
from fernn.world.measures import DualityReport, duality_error, world_step_statistics
from fernn.world.readout import WorldForecast, decode_window, memory_in_world, zero_padded_decode

__all__ = ["ACTION_PLANES", "DualityReport", "WorldConfig", "WorldFERNN", "WorldForecast", "WorldGRNN", "WorldModel",
           "build_world_model", "decode_window", "duality_error", "memory_in_world", "world_step_statistics",
           "zero_padded_decode"]
