"""Training: ``python -m fernn.train --preset NAME [--option value ...]``.

- :mod:`~fernn.experiments.train.config`: :class:`TrainConfig` (a ``ModelConfig``, a :class:`DataSpec`, the run's settings);
- :mod:`~fernn.experiments.train.presets`: the named runs;
- :mod:`~fernn.experiments.train.loop`: :func:`train` and :func:`export`;
- :mod:`~fernn.experiments.train.command`: the command line (checks every value before any work).
"""

from fernn.experiments.train.command import config_from_args, main, validate_config
from fernn.experiments.train.config import LR_SCHEDULES, DataSpec, TrainConfig
from fernn.experiments.train.loop import export, train
from fernn.experiments.train.presets import PRESETS

__all__ = ["LR_SCHEDULES", "PRESETS", "DataSpec", "TrainConfig", "config_from_args", "export", "main", "train",
           "validate_config"]
