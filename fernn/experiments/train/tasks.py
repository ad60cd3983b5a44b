"""What a run learns: the model it builds, its training batches, its loss and its validation score.

- :class:`Forecasting` (task ``"flowing-mnist"``): next-frame prediction, MSE on the predicted frames;
- :class:`Classification` (task ``"flickering-mnist"``): sequence classification, cross-entropy,
  validated by error rate (``1 - accuracy``);
- :class:`WorldForecasting` (task ``"world"``): an observer's next views of MNIST World from its
  views and actions, MSE on the predicted views.

The loop (:mod:`fernn.experiments.train.loop`) only asks a task for these; batch ``s`` is a pure function of
``(data_seed, s)`` in both, so a resumed run continues the same stream.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from fernn.classifier import Classifier
from fernn.datasets.digits import load_digits
from fernn.measures import step_mse
from fernn.datasets.flicker import FlickerSpec, flickering_mnist_batch
from fernn.datasets.world import WorldSpec, mnist_world_batch
from fernn.models import Forecaster
from fernn.experiments.train.config import TrainConfig
from fernn.world import build_world_model

__all__ = ["TASKS", "Classification", "Forecasting", "WorldForecasting", "build_model", "task_for"]


def build_model(config: TrainConfig) -> nn.Module:
    """The untrained model a run's config describes: a forecaster, a classifier or a world model."""
    builders = {"flickering-mnist": Classifier, "world": build_world_model}
    model = builders.get(config.data.task, Forecaster)(config.model)
    if config.recurrent_init == "identity":
        weight = model.encoder.cell.recurrent_conv.weight  # (C, C, k, k)
        with torch.no_grad():
            weight.zero_()
            centre = weight.shape[-1] // 2
            weight[:, :, centre, centre] = torch.eye(weight.shape[0])
    return model


class _Task:
    """Shared: the digits of each split, this process's share of the validation sequences."""

    #: the key of the validation score (lower is better) in the log records
    score: str = ""
    #: the key of the training loss in the log records
    loss_name: str = ""

    def __init__(self, config: TrainConfig, *, rank: int, world: int, device: torch.device, bf16: bool) -> None:
        self.config, self.rank, self.world, self.device = config, rank, world, device
        self.bf16 = bf16  # the forward pass under bf16 autocast (weights and loss stay float32)
        root = config.data.digits_root or None
        self.train_digits, self.train_labels = load_digits("train", root=root)
        self.val_digits, self.val_labels = load_digits("val", root=root)
        share = math.ceil(config.val_sequences / world)
        self.val_indices = range(rank * share, min((rank + 1) * share, config.val_sequences))

    def batch_indices(self, step: int) -> range:
        """This process's sequences of training batch ``step``."""
        per_rank = self.config.batch_size // self.world
        first = step * self.config.batch_size + self.rank * per_rank
        return range(first, first + per_rank)

    def _all_reduce(self, sums: list[float]) -> torch.Tensor:
        total = torch.tensor(sums, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(total)
        return total


class Forecasting(_Task):
    """Flowing or Rotating MNIST: read the context, predict the next frames; MSE."""

    score, loss_name = "val_mse", "train_mse"

    def __init__(self, config: TrainConfig, **options) -> None:
        super().__init__(config, **options)
        self.val_set = config.data.batch(self.val_digits, self.val_indices, seed=config.val_seed,
                                         flow=config.model.flow)

    def loss(self, model: nn.Module, step: int, predict: int) -> torch.Tensor:
        context = self.config.data.context_frames
        batch = self.config.data.batch(self.train_digits, self.batch_indices(step), seed=self.config.data_seed,
                                       flow=self.config.model.flow, predict_frames=predict).to(self.device)  # (B, T, 1, H, W)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            prediction = model(batch[:, :context], predict)
        return torch.mean((prediction.float() - batch[:, context:]) ** 2)

    def validate(self, model: nn.Module) -> dict:
        """Validation MSE over every process's share of the validation sequences."""
        count = len(self.val_set)
        local = float(step_mse(model, self.val_set, self.config.data.context_frames).mean()) * count if count else 0.0
        total = self._all_reduce([local, float(count)])
        return {"val_mse": float(total[0] / total[1])}


class Classification(_Task):
    """Flickering Flowing MNIST: read every frame, name the digit; cross-entropy."""

    score, loss_name = "val_error", "train_loss"

    def __init__(self, config: TrainConfig, **options) -> None:
        super().__init__(config, **options)
        self.spec = FlickerSpec(num_frames=config.data.context_frames, max_speed=config.data.max_speed,
                                visible=config.data.visible)
        self.val_frames, self.val_targets = flickering_mnist_batch(
            self.val_digits, self.val_labels, self.val_indices, seed=config.val_seed, spec=self.spec)

    def loss(self, model: nn.Module, step: int, predict: int) -> torch.Tensor:
        frames, targets = flickering_mnist_batch(self.train_digits, self.train_labels, self.batch_indices(step),
                                                 seed=self.config.data_seed, spec=self.spec)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = model(frames.to(self.device))  # (B, classes)
        return F.cross_entropy(logits.float(), targets.to(self.device))

    def validate(self, model: nn.Module) -> dict:
        """Error rate, accuracy and cross-entropy over the validation sequences."""
        correct, loss = 0.0, 0.0
        with torch.inference_mode():
            for start in range(0, len(self.val_frames), 64):
                frames = self.val_frames[start:start + 64].to(self.device)
                targets = self.val_targets[start:start + 64].to(self.device)
                logits = model(frames).float()
                correct += float((logits.argmax(dim=1) == targets).sum())
                loss += float(F.cross_entropy(logits, targets, reduction="sum"))
        total = self._all_reduce([correct, loss, float(len(self.val_frames))])
        accuracy = float(total[0] / total[2])
        return {"val_error": 1.0 - accuracy, "val_accuracy": accuracy, "val_loss": float(total[1] / total[2])}


class WorldForecasting(_Task):
    """MNIST World: read the context views and the actions, predict the next views; MSE."""

    score, loss_name = "val_mse", "train_mse"

    def __init__(self, config: TrainConfig, **options) -> None:
        super().__init__(config, **options)
        self.val_set = mnist_world_batch(self.val_digits, self.val_indices, seed=config.val_seed,
                                         spec=self.spec(config.data.predict_frames)) if self.val_indices else None

    def spec(self, predict: int) -> WorldSpec:
        """Sequences of the context and ``predict`` frames in the model's world (a longer sequence of
        item ``i`` starts with the shorter one: its actions are drawn last, segment by segment)."""
        data, model = self.config.data, self.config.model
        return WorldSpec(world_size=model.world_size, view_size=model.view_size, num_digits=data.num_digits,
                         max_speed=data.max_speed, num_frames=data.context_frames + predict)

    def loss(self, model: nn.Module, step: int, predict: int) -> torch.Tensor:
        context = self.config.data.context_frames
        batch = mnist_world_batch(self.train_digits, self.batch_indices(step), seed=self.config.data_seed,
                                  spec=self.spec(predict))
        views, actions = batch.views.to(self.device), batch.actions.to(self.device)  # (B, T, 1, S, S), (B, T-1, 2)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            prediction = model(views[:, :context], predict, actions=actions)
        return torch.mean((prediction.float() - views[:, context:]) ** 2)

    def validate(self, model: nn.Module) -> dict:
        """Validation MSE over every process's share of the validation sequences."""
        context, squared, count = self.config.data.context_frames, 0.0, 0
        for start in range(0, len(self.val_indices), 64):
            views = self.val_set.views[start:start + 64].to(self.device)
            actions = self.val_set.actions[start:start + 64].to(self.device)
            frames = model.forecast(views[:, :context], views.shape[1] - context, actions=actions).frames
            squared += float(((frames.double() - views[:, context:].double()) ** 2).sum())
            count += views[:, context:].numel()
        total = self._all_reduce([squared, float(count)])
        return {"val_mse": float(total[0] / total[1])}


TASKS = {"flowing-mnist": Forecasting, "rotating-mnist": Forecasting, "flickering-mnist": Classification,
         "world": WorldForecasting}


def task_for(config: TrainConfig, *, rank: int, world: int, device: torch.device, precision: str) -> _Task:
    return TASKS[config.data.task](config, rank=rank, world=world, device=device, bf16=precision == "bf16")
