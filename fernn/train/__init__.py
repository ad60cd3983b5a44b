"""Training: ``python -m fernn.train --preset NAME [--option value ...]``.

- :mod:`~fernn.train.config`: :class:`TrainConfig` (a ``ModelConfig``, a :class:`DataSpec`, the run's settings);
- :mod:`~fernn.train.presets`: the named runs;
- :mod:`~fernn.train.loop`: :func:`train` and :func:`export`;
- :mod:`~fernn.train.command`: the command line (checks every value before any work).
"""

from .command import config_from_args, main, validate_config
from .config import LR_SCHEDULES, DataSpec, TrainConfig
from .loop import export, train
from .presets import PRESETS

__all__ = ["LR_SCHEDULES", "PRESETS", "DataSpec", "TrainConfig", "config_from_args", "export", "main", "train",
           "validate_config"]
