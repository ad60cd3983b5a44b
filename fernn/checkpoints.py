"""Checkpoint files: ``{format, version, model, config, state_dict, metrics}``, readable with ``weights_only=True``.

``model`` names the model class (``"forecaster"``, or any class added with :func:`register_model`),
``config`` is that class's config as plain values (its flow as a record), so a file alone rebuilds
its model. Version 1 files (before the kind was recorded) hold forecasters and load unchanged.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from fernn.devices import resolve_device
from fernn.flows import TRANSLATION, Flow, GridAxes, Velocity
from fernn.classifier import Classifier
from fernn.models import Forecaster

__all__ = ["CheckpointError", "CheckpointRecord", "VelocityGrid", "load_checkpoint", "load_safely",
           "model_from_payload", "read_checkpoint", "read_checkpoint_bytes", "register_model", "save_checkpoint"]

FORMAT = "fernn-checkpoint"
# A velocity set of {-22..22}^2 (2,025 copies) already needs gigabytes per sample.
MAX_COPIES = 2025
VERSION = 2
READABLE_VERSIONS = (1, 2)
# Model classes by the kind recorded in a file. A class is built as ``cls(config)`` from
# ``cls.config_class.from_dict(...)``; its config has ``to_dict``, ``parameter_count`` and ``velocities``.
_MODELS: dict[str, type] = {"forecaster": Forecaster, "classifier": Classifier}


def register_model(kind: str, cls: type) -> type:
    """Let checkpoints hold models of ``cls`` under the recorded ``kind`` (a new head, say)."""
    if not isinstance(kind, str) or not kind or not hasattr(cls, "config_class"):
        raise ValueError("register_model takes a kind name and a model class with a config_class")
    _MODELS[kind] = cls
    return cls


def _kind_of(model: object) -> str:
    for kind, cls in _MODELS.items():
        if type(model) is cls:
            return kind
    known = ", ".join(cls.__name__ for cls in _MODELS.values())
    raise TypeError(f"model must be a fernn model ({known}), got {type(model).__name__}")


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be used (corrupt, foreign or mismatched)."""


def save_checkpoint(
    path: str | Path, model: Forecaster, metrics: dict | None = None, *, training_state: dict | None = None
) -> Path:
    """Write ``model`` (config + weights) and its ``metrics`` (plain JSON-like values) to ``path``.

    ``training_state`` (optimizer state, step, ...) is stored for resuming; shipped checkpoints
    leave it out to stay small.
    """
    kind = _kind_of(model)
    try:
        # Plain JSON values only: anything else would make weights_only loading fail later.
        metrics = json.loads(json.dumps(dict(metrics or {})))
    except (TypeError, ValueError) as error:
        raise ValueError(f"metrics must hold plain JSON values (dict, list, str, int, float, bool): {error}") from error
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": kind,
        "config": model.config.to_dict(),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "metrics": metrics,
    }
    if training_state is not None:
        payload["training"] = training_state
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)  # never leave a half-written checkpoint behind
    return path


def load_safely(path: str | Path) -> object:
    """``torch.load(path, weights_only=True)`` on the CPU: a file can hold tensors and plain values
    but cannot run code. ``FileNotFoundError`` for a missing file, :class:`CheckpointError` (one
    line) for one the unpickler refuses."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file can fail anywhere inside the unpickler
        raise CheckpointError(f"{path} is not a readable checkpoint ({_first_line(error)})") from error


def read_checkpoint_bytes(data: bytes, name: str) -> dict:
    """:func:`read_checkpoint` for a checkpoint held in memory (an upload that never touches a disk),
    named ``name`` in errors; the same ``weights_only=True`` unpickler."""
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file can fail anywhere inside the unpickler
        raise CheckpointError(f"{name} is not a readable checkpoint ({_first_line(error)})") from error
    return _checked_payload(payload, name)


def read_checkpoint(path: str | Path) -> dict:
    """The validated raw payload of a checkpoint file (see :func:`load_checkpoint` for errors)."""
    return _checked_payload(load_safely(path), path)


def _checked_payload(payload: object, path: str | Path) -> dict:
    """``payload`` if it has a checkpoint's format, version and keys; :class:`CheckpointError` naming ``path`` if not."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a fernn checkpoint")
    if payload.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}; this fernn reads "
                              f"{', '.join(map(str, READABLE_VERSIONS))}")
    missing = [key for key in ("config", "state_dict", "metrics") if key not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}")
    return payload


def _first_line(error: BaseException) -> str:
    """An error in one line, in fernn's words where torch's would mislead: its unpickler advises
    ``weights_only=False`` (which would run the file's code; fernn never does), in colour."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(error)).strip()
    if isinstance(error, pickle.UnpicklingError) and "weights_only" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        named = f", such as {found.group(1)}," if found else ""
        return f"it holds Python objects other than tensors and plain values{named} which fernn never loads"
    lines = text.splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _check_size(path: str | Path, config, state_dict: object) -> None:
    """Refuse a config that would allocate far more weights than the file holds, before allocating."""
    if not isinstance(state_dict, dict) or not all(isinstance(t, torch.Tensor) for t in state_dict.values()):
        raise CheckpointError(f"{path}: state_dict is not a mapping of tensors")
    stored = sum(t.numel() for t in state_dict.values())
    expected = config.parameter_count()
    # Smaller mismatches are named tensor by tensor by load_state_dict, after building the model.
    if expected > 2 * stored + 1_000_000:
        raise CheckpointError(
            f"{path}: weights do not match its config: it describes {expected:,} weights but the file holds "
            f"{stored:,} (a damaged or edited file)"
        )
    if len(config.velocities) > MAX_COPIES:
        raise CheckpointError(f"{path}: {len(config.velocities)} velocity copies is more than fernn runs ({MAX_COPIES})")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the model stored in ``path`` (a :class:`~fernn.Forecaster` or any registered kind),
    in eval mode on ``device``, with ``model.metrics`` set.

    Only ``torch.load(..., weights_only=True)`` is used, so a file cannot run code.
    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` for one that
    is not a usable fernn checkpoint.
    """
    return model_from_payload(read_checkpoint(path), path, device)


def model_from_payload(payload: dict, path: str | Path, device: str | torch.device = "cpu"):
    """The model a validated checkpoint payload (:func:`read_checkpoint`) describes; its config is
    checked against the weights the payload holds before anything is allocated. ``path`` names the
    checkpoint in errors (a file name for an upload that never touched a disk)."""
    payload = _checked_payload(payload, path)
    kind = payload.get("model", "forecaster")
    cls = _MODELS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CheckpointError(f"{path} holds a model of unknown kind {kind!r}; known: {', '.join(sorted(_MODELS))}")
    try:
        config = cls.config_class.from_dict(payload["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path} has an invalid model config: {error}") from error
    _check_size(path, config, payload["state_dict"])
    model = cls(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not match its config: {error}") from error
    model.metrics = payload["metrics"]
    return model.to(resolve_device(device)).eval()


@dataclass(frozen=True)
class VelocityGrid:
    """Test MSE at fixed velocities, laid out as the flow lays them (``flow.grid``):
    ``mse[i][j]`` at ``axes.velocities[i][j]``."""

    axes: GridAxes
    mse: tuple[tuple[float, ...], ...]

    @property
    def speeds(self) -> tuple[int, ...]:
        """The column labels (for translation: ``dx``; rows are the same speeds of ``dy``)."""
        return self.axes.column_values

    def at(self, velocity: Velocity) -> float | None:
        for row, velocities in enumerate(self.axes.velocities):
            if velocity in velocities:
                return self.mse[row][velocities.index(velocity)]
        return None


@dataclass(frozen=True)
class CheckpointRecord:
    """What a checkpoint records about its training and evaluation, read as fields.

    Built from ``model.metrics`` (written by ``python -m fernn.train --export`` and
    ``python -m fernn.evaluate --write-metrics``); anything missing or malformed is ``None``
    (or empty), never an exception: a checkpoint without records still runs.
    """

    training_max_speed: int | None = None  # per-axis |v| of the training data
    training_steps: int | None = None
    training_seconds: float | None = None
    curve: tuple[tuple[int, float, float], ...] = ()  # (step, wall seconds, validation MSE)
    evaluated: bool = False
    test_mse: float | None = None  # held-out, at the training velocities
    velocity_grid: VelocityGrid | None = None
    widened_velocity_grid: VelocityGrid | None = None  # a FERNN run with V = {-r..r}^2 at inference
    widened_max_speed: int | None = None

    @classmethod
    def from_metrics(cls, metrics: object, flow: Flow = TRANSLATION) -> CheckpointRecord:
        metrics = metrics if isinstance(metrics, dict) else {}
        train = metrics.get("train") if isinstance(metrics.get("train"), dict) else {}
        config = train.get("config") if isinstance(train.get("config"), dict) else {}
        evaluation = metrics.get("evaluation") if isinstance(metrics.get("evaluation"), dict) else None
        settings = (evaluation or {}).get("settings") if isinstance((evaluation or {}).get("settings"), dict) else {}
        data = config.get("data") if isinstance(config.get("data"), dict) else {}  # nested since codebase v3
        speed = _integer(config.get("data_max_speed"), _integer(data.get("max_speed"), _integer(settings.get("data_max_speed"))))
        curve = []
        for record in train.get("history", []) if isinstance(train.get("history"), list) else []:
            if isinstance(record, dict) and _number(record.get("val_mse")) is not None:
                curve.append((_integer(record.get("step"), 0), _number(record.get("wall_time")) or 0.0,
                              _number(record["val_mse"])))
        return cls(
            training_max_speed=speed,
            training_steps=_integer(train.get("step")),
            training_seconds=_number(train.get("wall_time")),
            curve=tuple(curve),
            evaluated=evaluation is not None,
            test_mse=_number((evaluation or {}).get("test_mse")),
            velocity_grid=_grid((evaluation or {}).get("velocity_grid"), flow),
            widened_velocity_grid=_grid((evaluation or {}).get("widened_velocity_grid"), flow),
            widened_max_speed=_integer(((evaluation or {}).get("widened_velocity_grid") or {}).get("max_speed")),
        )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)  # an int too large for a float raises OverflowError
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _integer(value: object, default: int | None = None) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def _grid(value: object, flow: Flow) -> VelocityGrid | None:
    """A grid record ``{"max_speed" or "speeds", "mse"}`` as the flow lays it out; ``None`` if malformed."""
    if not isinstance(value, dict):
        return None
    speeds, mse = value.get("speeds"), value.get("mse")
    radius = _integer(value.get("grid_max_speed"))
    if radius is None:  # records before flows were values list the speeds -r..r
        if not isinstance(speeds, list) or not speeds or not all(_integer(s) is not None for s in speeds):
            return None
        radius = max(abs(s) for s in speeds)
        if list(speeds) != list(range(-radius, radius + 1)):
            return None
    if radius < 0 or radius > 64 or not isinstance(mse, list):
        return None
    axes = flow.grid(radius)
    rows = []
    for row, velocities in zip(mse, axes.velocities):
        if not isinstance(row, list) or len(row) != len(velocities):
            return None
        numbers = [_number(v) for v in row]
        rows.append(tuple(float("nan") if v is None else v for v in numbers))
    if len(rows) != len(axes.velocities) or len(mse) != len(rows):
        return None
    return VelocityGrid(axes, tuple(rows))
