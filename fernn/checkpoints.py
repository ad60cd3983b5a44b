"""Checkpoint files: ``{format, version, config, state_dict, metrics}``, readable with ``weights_only=True``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .devices import resolve_device
from .models import Forecaster, ModelConfig

__all__ = ["CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT = "fernn-checkpoint"
# A velocity set of {-22..22}^2 (2,025 copies) already needs gigabytes per sample.
MAX_COPIES = 2025
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be used (corrupt, foreign or mismatched)."""


def save_checkpoint(
    path: str | Path, model: Forecaster, metrics: dict | None = None, *, training_state: dict | None = None
) -> Path:
    """Write ``model`` (config + weights) and its ``metrics`` (plain JSON-like values) to ``path``.

    ``training_state`` (optimizer state, step, ...) is stored for resuming; shipped checkpoints
    leave it out to stay small.
    """
    if not isinstance(model, Forecaster):
        raise TypeError(f"model must be a fernn Forecaster, got {type(model).__name__}")
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


def read_checkpoint(path: str | Path) -> dict:
    """The validated raw payload of a checkpoint file (see :func:`load_checkpoint` for errors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file can fail anywhere inside the unpickler
        raise CheckpointError(f"{path} is not a readable checkpoint ({_first_line(error)})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a fernn checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}; this fernn reads {VERSION}")
    missing = [key for key in ("config", "state_dict", "metrics") if key not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}")
    return payload


def _first_line(error: BaseException) -> str:
    """An error in one line: torch's unpickler appends advice (``weights_only=False``) that
    would run the file's code, which fernn never does."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _check_size(path: str | Path, config: ModelConfig, state_dict: object) -> None:
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


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Forecaster:
    """Rebuild the model stored in ``path``, in eval mode on ``device``, with ``model.metrics`` set.

    Only ``torch.load(..., weights_only=True)`` is used, so a file cannot run code.
    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` for one that
    is not a usable fernn checkpoint.
    """
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path} has an invalid model config: {error}") from error
    _check_size(path, config, payload["state_dict"])
    model = Forecaster(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not match its config: {error}") from error
    model.metrics = payload["metrics"]
    return model.to(resolve_device(device)).eval()
