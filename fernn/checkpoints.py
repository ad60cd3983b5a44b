"""Checkpoint files: ``{format, version, model, config, state_dict, metrics}``, readable with ``weights_only=True``.

``model`` names the model class (``"forecaster"``, or any class added with :func:`register_model`),
``config`` is that class's config as plain values (its flow as a record), so a file alone rebuilds
its model. Version 1 files (before the kind was recorded) hold forecasters and load unchanged.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path

import torch

from fernn.devices import resolve_device
from fernn.classifier import Classifier
from fernn.models import Forecaster

__all__ = ["CheckpointError", "load_checkpoint", "load_safely",
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
