"""What a training run is: the model it builds, the data it sees, how it optimises, where it writes.

:class:`TrainConfig` holds a :class:`~fernn.models.ModelConfig` (the model, rebuilt from it alone) and
a :class:`DataSpec` (the sequences), beside the optimisation and bookkeeping settings. Presets and the
command line speak in flat names (``--hidden-channels``, ``--data-max-speed``); :meth:`TrainConfig.from_flat`
and :meth:`TrainConfig.flat` translate between the two.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from fernn.datasets.flowing import SequenceSpec
from fernn.flows import Flow, Rotation
from fernn.datasets.sequences import moving_digits_batch
from fernn.devices import PRECISIONS
from fernn.encoder import Kind
from fernn.flows import TRANSLATION
from fernn.classifier import ClassifierConfig
from fernn.models import ModelConfig
from fernn.world import WorldConfig

__all__ = ["LR_SCHEDULES", "DataSpec", "TrainConfig"]

LR_SCHEDULES = ("constant", "cosine")
TASK_NAMES = ("flowing-mnist", "rotating-mnist", "flickering-mnist", "world")
RECURRENT_INITS = ("default", "identity")


@dataclass(frozen=True)
class DataSpec:
    """The training sequences: Flowing MNIST as in the paper (2 digits, 10 context + 10 predicted),
    Rotating MNIST (the same with each digit turning, fernn.datasets.rotating), or Flickering Flowing MNIST for
    classification (one digit, ``context_frames`` masked frames, fernn.datasets.flicker), or MNIST World
    (an observer's views of a torus world and its actions, fernn.datasets.world)."""

    task: str = "flowing-mnist"  # "rotating-mnist", "flickering-mnist" (sequence classification) or "world"
    max_speed: int = 1  # each digit's velocity is drawn from the flow's velocity_set(r) (px or steps/frame)
    num_digits: int = 2
    context_frames: int = 10
    predict_frames: int = 10
    digits_root: str = ""  # empty: the bundled 5k digits; else a folder of MNIST IDX files
    visible: float = 0.1  # flickering-mnist: the probability that a pixel shows in a frame

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise ValueError(f"task must be one of {TASK_NAMES}, got {self.task!r}")

    def sequences(self, predict_frames: int | None = None) -> SequenceSpec:
        """The generator's spec for sequences of the context and ``predict_frames`` (default: the spec's)."""
        predict = self.predict_frames if predict_frames is None else predict_frames
        return SequenceSpec(num_frames=self.context_frames + predict, num_digits=self.num_digits,
                            max_speed=self.max_speed)

    def batch(self, digits, indices, *, seed: int, flow: Flow, predict_frames: int | None = None) -> torch.Tensor:
        """Forecasting sequences ``indices`` of this spec's task: ``(B, T, 1, H, W)`` (rotations in ``flow``'s steps)."""
        spec = self.sequences(predict_frames)
        return moving_digits_batch(flow, digits, indices, seed=seed, num_frames=spec.num_frames,
                                   num_digits=spec.num_digits, max_speed=spec.max_speed)


# Flat names (flags, presets) of the nested fields: model ones build the ModelConfig, data ones the DataSpec.
MODEL_FLAT = ("kind", "hidden_channels", "model_max_speed", "decoding", "pooling", "decoder_layers", "decoder_bias",
              "head_layers", "head_channels", "head_dilation", "rotation_order")
DATA_FLAT = {"task": "task", "data_max_speed": "max_speed", "num_digits": "num_digits",
             "context_frames": "context_frames", "predict_frames": "predict_frames", "digits_root": "digits_root",
             "visible": "visible"}
# The hidden-16 demo FERNN (pretrained/hidden16/) as the default model of a run (decoder settings for forecasters, head
# settings for classifiers).
_MODEL_DEFAULTS = dict(kind="fernn", hidden_channels=16, model_max_speed=2, decoding="aligned", pooling="max",
                       decoder_layers=4, decoder_bias=True, head_layers=2, head_channels=32,
                       head_dilation=False, rotation_order=12)


def _model_config(task: str, *, kind: str, hidden_channels: int, model_max_speed: int, decoding: str, pooling: str,
                  decoder_layers: int, decoder_bias: bool, head_layers: int, head_channels: int,
                  head_dilation: bool, rotation_order: int):
    # rotating-mnist models lift their state to C_N (hidden_channels = fields x N); the rest translate.
    flow = Rotation(order=rotation_order) if task == "rotating-mnist" else TRANSLATION
    velocities = flow.velocity_set(model_max_speed) if Kind(kind).lifted else (flow.zero,)
    if task == "world":
        return WorldConfig(kind=kind, velocities=velocities, hidden_channels=hidden_channels, pooling=pooling,
                           decoder_layers=decoder_layers, decoder_bias=decoder_bias)
    if task == "flickering-mnist":
        return ClassifierConfig(kind=kind, velocities=velocities, hidden_channels=hidden_channels, pooling=pooling,
                                head_layers=head_layers, head_channels=head_channels, head_dilation=head_dilation)
    return ModelConfig(kind=kind, velocities=velocities, flow=flow, hidden_channels=hidden_channels, decoding=decoding,
                       pooling=pooling, decoder_layers=decoder_layers, decoder_bias=decoder_bias)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the CPU demo FERNN; presets override some fields."""

    model: ModelConfig | ClassifierConfig | WorldConfig = field(
        default_factory=lambda: _model_config("flowing-mnist", **_MODEL_DEFAULTS))
    data: DataSpec = field(default_factory=DataSpec)
    # optimisation (the paper: Adam 1e-3, batch 128, grad-clip 1.0)
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    # "cosine" decays the rate to min_lr_ratio * learning_rate over `steps` (after a short
    # warm-up); "constant" is the paper's schedule.
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.05
    warmup_steps: int = 0
    grad_clip: float = 1.0
    # Rollout curriculum: from curriculum_start * steps on, the predicted length grows linearly
    # from predict_frames to final_predict_frames (0: no curriculum), so long rollouts neither
    # blur nor fade. Validation always scores predict_frames frames.
    final_predict_frames: int = 0
    curriculum_start: float = 0.5
    # "auto" measures fp32 against bf16 autocast on this machine (see fernn.devices.resolve_precision).
    precision: str = "auto"
    seed: int = 0  # model initialisation
    data_seed: int = 0  # training sequences
    # bookkeeping
    val_every: int = 100
    val_sequences: int = 256
    val_seed: int = 1
    log_every: int = 10
    output: str = "runs/demo-fernn"
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    activation_checkpointing: bool = False
    # "identity": start the recurrent kernel at the identity (centre tap 1, as IRNNs do), so the state
    # carries what it read from the first step on; "default": PyTorch's initialisation.
    recurrent_init: str = "default"

    def __post_init__(self) -> None:
        models = (ModelConfig, ClassifierConfig, WorldConfig)
        if not isinstance(self.model, models) or not isinstance(self.data, DataSpec):
            raise ValueError("TrainConfig takes a ModelConfig, ClassifierConfig or WorldConfig as model and a DataSpec "
                             "as data (TrainConfig.from_flat builds both from flat names)")
        wanted = {"flickering-mnist": ClassifierConfig, "world": WorldConfig}.get(self.data.task, ModelConfig)
        if not isinstance(self.model, wanted):
            raise ValueError(f"the task {self.data.task!r} trains a {wanted.__name__}, got a {type(self.model).__name__}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.recurrent_init not in RECURRENT_INITS:
            raise ValueError(f"recurrent_init must be one of {RECURRENT_INITS}, got {self.recurrent_init!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.final_predict_frames and self.final_predict_frames < self.data.predict_frames:
            raise ValueError("final_predict_frames must be 0 or at least predict_frames")

    # -- flat names: presets, flags, logs ------------------------------------------------------
    @classmethod
    def flat_names(cls) -> tuple[str, ...]:
        """Every flat name, in the order of the flags: model, data, then the run's own fields."""
        own = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("model", "data"))
        return (*MODEL_FLAT, *DATA_FLAT, *own)

    @classmethod
    def from_flat(cls, **values) -> TrainConfig:
        """A config from flat names (any left out take their defaults); unknown names are refused."""
        unknown = sorted(set(values) - set(cls.flat_names()))
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        model = dict(_MODEL_DEFAULTS, **{name: values.pop(name) for name in MODEL_FLAT if name in values})
        data = DataSpec(**{DATA_FLAT[name]: values.pop(name) for name in DATA_FLAT if name in values})
        return cls(model=_model_config(data.task, **model), data=data, **values)

    def flat(self) -> dict:
        """The flat names and values (the inverse of :meth:`from_flat`)."""
        radius = self.model.flow.set_radius(self.model.velocities)
        model = dict(_MODEL_DEFAULTS, model_max_speed=radius if self.model.kind.lifted
                     else _MODEL_DEFAULTS["model_max_speed"])
        model.update({name: getattr(self.model, name) for name in MODEL_FLAT if hasattr(self.model, name)})
        model.update({f"{self.model.flow.name}_{key}": value for key, value in self.model.flow.options().items()})
        data = {name: getattr(self.data, attribute) for name, attribute in DATA_FLAT.items()}
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "data")}
        return {**model, **data, **own}

    def to_dict(self) -> dict:
        """Plain values for logs and checkpoint metrics: ``{"model": ..., "data": ..., **run settings}``."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "data")}
        return {"model": self.model.to_dict(), "data": dataclasses.asdict(self.data), **own}

    # -- schedules -----------------------------------------------------------------------------
    def predict_frames_at(self, step: int) -> int:
        """Predicted frames trained at ``step`` under the rollout curriculum."""
        final, first = self.final_predict_frames, self.data.predict_frames
        start = self.curriculum_start * self.steps
        if final <= first or step < start:
            return first
        fraction = min(1.0, (step - start) / max(self.steps - start, 1) * 1.25)  # full for the last 20% of the ramp
        return first + round(fraction * (final - first))

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based) under ``lr_schedule``."""
        if self.warmup_steps and step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.learning_rate
        progress = min(1.0, (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1))
        floor = self.min_lr_ratio * self.learning_rate
        return floor + (self.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * progress))
