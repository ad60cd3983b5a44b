"""Model files, in two formats, loaded by the model kind they record so that a file alone rebuilds its model.

**A model folder** (the published format, as on the Hub): ``NAME/model.safetensors`` (the weights),
``NAME/config.json`` (``{format, version, model, config}``: the model kind and its config as plain
values, its flow as a record), ``NAME/metrics.json`` (the records: training, evaluation) and, for
shipped models, ``NAME/README.md`` (its card). The same in one file: ``NAME.safetensors`` whose
metadata holds ``format``, ``version``, ``model``, ``config`` and ``metrics`` (JSON strings).
Neither can run code, and every declared size is checked before a tensor is made
(:mod:`fernn.tensorfile`). :func:`from_pretrained` reads only these.

**A torch file** ``NAME.pt``: ``{format, version, model, config, state_dict, metrics}`` read with
``weights_only=True``; the only one that can hold a training state (optimizer, step) to resume
from. Version 1 files (before the kind was recorded) hold forecasters and load unchanged.

``model`` names the model class (``"forecaster"``, ``"classifier"``, or any class added with
:func:`register_model`). :func:`load_checkpoint` reads all three; :func:`save_checkpoint` writes
the format its path names.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path

import torch

from fernn import tensorfile
from fernn.devices import resolve_device
from fernn.classifier import Classifier
from fernn.models import Forecaster

__all__ = ["CARD_FILE", "CONFIG_FILE", "CheckpointError", "METRICS_FILE", "WEIGHTS_FILE", "find_model", "from_pretrained",
           "is_model_folder", "load_checkpoint", "load_safely", "model_files", "model_from_payload", "read_checkpoint",
           "read_checkpoint_bytes", "register_model", "save_checkpoint", "save_pretrained", "update_metrics"]

FORMAT = "fernn-checkpoint"
# A velocity set of {-22..22}^2 (2,025 copies) already needs gigabytes per sample.
MAX_COPIES = 2025
VERSION = 2
READABLE_VERSIONS = (1, 2)
# A model folder's files (the names the Hub's tools look for) and the one-file form's suffix.
WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, CARD_FILE = "model.safetensors", "config.json", "metrics.json", "README.md"
SAFETENSORS = ".safetensors"
# What reading a model from disk may allocate: shipped models are under 4 MB; a visitor's upload has its own cap.
MAX_MODEL_BYTES = 1024**3
MAX_JSON_BYTES = 16 * 1024**2  # config.json and metrics.json (a training curve is tens of kB)
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
    """Write ``model`` (config + weights) and its ``metrics`` (plain JSON-like values) to ``path``, in
    the format the path names: ``NAME.pt`` a torch file, ``NAME.safetensors`` one safetensors file,
    any other path a model folder (:func:`save_pretrained`).

    ``training_state`` (optimizer state, step, ...) is stored for resuming, in a torch file only;
    shipped models leave it out to stay small.
    """
    path = Path(path)
    if path.suffix != ".pt":
        if training_state is not None:
            raise ValueError(f"{path}: a training state is kept in a torch file (.pt) only")
        return save_pretrained(path, model, metrics)
    payload = _payload_of(model, metrics)
    if training_state is not None:
        payload["training"] = training_state
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)  # never leave a half-written checkpoint behind
    return path


def save_pretrained(path: str | Path, model: Forecaster, metrics: dict | None = None) -> Path:
    """Write ``model`` in safetensors: a model folder at ``path`` (``model.safetensors``,
    ``config.json``, ``metrics.json``; a card already there is kept), or one file where ``path``
    ends in ``.safetensors``. Tensors keep their exact bytes."""
    path = Path(path)
    payload = _payload_of(model, metrics)
    weights = payload.pop("state_dict")
    if path.suffix == SAFETENSORS:
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {key: value if isinstance(value, str) else json.dumps(value) for key, value in payload.items()}
        return tensorfile.write_file(path, weights, metadata)
    if path.suffix == ".pt" or (path.exists() and not path.is_dir()):
        raise ValueError(f"{path} is not a folder path: a model folder is a path without .pt (or give NAME.safetensors)")
    path.mkdir(parents=True, exist_ok=True)
    metrics = payload.pop("metrics")
    tensorfile.write_file(path / WEIGHTS_FILE, weights, {"format": "pt"})  # the Hub's marker for torch tensors
    _write_json(path / CONFIG_FILE, payload)
    _write_json(path / METRICS_FILE, metrics)
    return path


def update_metrics(path: str | Path, model: Forecaster, metrics: dict) -> Path:
    """Store ``metrics`` as the records of the model at ``path``, in its own format: a folder's
    ``metrics.json`` only (the weights stay as they are); a file rewritten (a ``.pt`` keeps its training state)."""
    path = Path(path)
    if is_model_folder(path):
        _write_json(path / METRICS_FILE, _plain_values(metrics))
        return path
    training = read_checkpoint(path).get("training") if path.suffix == ".pt" else None
    return save_checkpoint(path, model, metrics, training_state=training)


def _payload_of(model: Forecaster, metrics: dict | None) -> dict:
    return {"format": FORMAT, "version": VERSION, "model": _kind_of(model), "config": model.config.to_dict(),
            "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
            "metrics": _plain_values(metrics or {})}


def _plain_values(metrics: dict) -> dict:
    try:
        # Plain JSON values only: anything else would make weights_only loading fail later.
        return json.loads(json.dumps(dict(metrics)))
    except (TypeError, ValueError) as error:
        raise ValueError(f"metrics must hold plain JSON values (dict, list, str, int, float, bool): {error}") from error


def _write_json(path: Path, value: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=1) + "\n")
    temporary.replace(path)


def is_model_folder(path: str | Path) -> bool:
    """Whether ``path`` is a model folder (it holds ``model.safetensors`` and ``config.json``)."""
    path = Path(path)
    return (path / WEIGHTS_FILE).is_file() and (path / CONFIG_FILE).is_file()


def model_files(path: str | Path) -> tuple[Path, ...]:
    """The files that make the model at ``path``: a folder's weights, config and metrics, or the file itself."""
    path = Path(path)
    return tuple(path / name for name in (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE)) if path.is_dir() else (path,)


def find_model(folder: str | Path, name: str) -> Path | None:
    """The model called ``name`` in ``folder``: the model folder ``name/``, else ``name.safetensors``,
    else an older ``name.pt``; ``None`` if there is none."""
    folder = Path(folder)
    if is_model_folder(folder / name):
        return folder / name
    return next((path for path in (folder / f"{name}{SAFETENSORS}", folder / f"{name}.pt") if path.is_file()), None)


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


def read_checkpoint_bytes(data: bytes, name: str, *, max_bytes: int = MAX_MODEL_BYTES) -> dict:
    """:func:`read_checkpoint` for a model file held in memory (an upload that never touches a disk),
    named ``name`` in errors: a safetensors file (its declared sizes checked against ``max_bytes``
    first), else a torch file through the same ``weights_only=True`` unpickler."""
    if not data.startswith(b"PK"):  # torch.save writes a zip archive; a safetensors file starts with its header's length
        try:
            tensors, metadata = tensorfile.read_bytes(data, max_bytes=max_bytes)
        except tensorfile.TensorFileError as error:
            raise CheckpointError(f"{name} is not a readable model file ({error})") from None
        return _payload_from_metadata(tensors, metadata, name)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file can fail anywhere inside the unpickler
        raise CheckpointError(f"{name} is not a readable checkpoint ({_first_line(error)})") from error
    return _checked_payload(payload, name)


def read_checkpoint(path: str | Path) -> dict:
    """The validated raw payload of a model folder, a ``.safetensors`` file or a ``.pt`` file (see
    :func:`load_checkpoint` for errors)."""
    path = Path(path)
    if _is_torch_file(path):
        return _checked_payload(load_safely(path), path)
    return _read_safetensors(path)


def _is_torch_file(path: Path) -> bool:
    """A ``.pt`` path, or any file not named ``.safetensors`` (``best.ckpt``): read by the unpickler."""
    return path.suffix == ".pt" or (path.is_file() and path.suffix != SAFETENSORS)


def _read_safetensors(path: Path) -> dict:
    """The payload of a model folder or a ``.safetensors`` file; no unpickler anywhere on the way."""
    if path.is_dir() and not is_model_folder(path):
        raise CheckpointError(f"{path} is a folder but not a model folder (it needs {WEIGHTS_FILE} and {CONFIG_FILE})")
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    try:
        tensors, metadata = tensorfile.read_file(weights, max_bytes=MAX_MODEL_BYTES)
    except (tensorfile.TensorFileError, OSError) as error:
        raise CheckpointError(f"{weights} is not a readable model file ({error})") from None
    if not path.is_dir():
        return _payload_from_metadata(tensors, metadata, path)
    payload = _read_json(path / CONFIG_FILE)
    if not isinstance(payload, dict) or "state_dict" in payload or "metrics" in payload:
        raise CheckpointError(f"{path / CONFIG_FILE} is not a fernn model config")
    if not (path / METRICS_FILE).is_file():
        raise CheckpointError(f"{path} lacks {METRICS_FILE} (write {{}} for a model with no records)")
    return _checked_payload({**payload, "state_dict": tensors, "metrics": _read_json(path / METRICS_FILE)}, path)


def _read_json(path: Path) -> object:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError(f"{path} is over {MAX_JSON_BYTES // 1024**2} MB; fernn writes a few kB")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path} is not JSON ({_first_line(error)})") from None


def _payload_from_metadata(tensors: dict, metadata: dict[str, str], name: str | Path) -> dict:
    """A one-file model's payload: its metadata's JSON strings (format, version, model, config, metrics) and tensors."""
    missing = [key for key in ("format", "version", "model", "config", "metrics") if key not in metadata]
    if metadata.get("format") != FORMAT or missing:
        raise CheckpointError(f"{name} is not a fernn model file (its safetensors metadata lacks "
                              f"{', '.join(missing) or 'the fernn format'}; a model folder keeps them in {CONFIG_FILE})")
    try:
        values = {key: json.loads(metadata[key]) for key in ("version", "config", "metrics")}
    except ValueError as error:
        raise CheckpointError(f"{name} has metadata that is not JSON ({_first_line(error)})") from None
    return _checked_payload({"format": FORMAT, "model": metadata["model"], **values, "state_dict": tensors}, name)


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
    """Rebuild the model stored at ``path`` (a :class:`~fernn.Forecaster` or any registered kind),
    in eval mode on ``device``, with ``model.metrics`` set: a model folder, a ``.safetensors`` file
    or a ``.pt`` file.

    Nothing in the file can run code: safetensors holds none, and a ``.pt`` file is read with
    ``torch.load(..., weights_only=True)``. Raises ``FileNotFoundError`` for a missing path and
    :class:`CheckpointError` for one that is not a usable fernn model.
    """
    return model_from_payload(read_checkpoint(path), path, device)


def from_pretrained(path: str | Path, device: str | torch.device = "cpu"):
    """The model in a model folder or a ``.safetensors`` file (see :func:`load_checkpoint`), read
    without any unpickler: a ``.pt`` file is refused (``python -m fernn.convert`` turns it into a folder)."""
    path = Path(path)
    if _is_torch_file(path):
        raise CheckpointError(f"{path} is not a model folder or a .safetensors file; load a .pt file with "
                              "fernn.load_checkpoint, or convert it with python -m fernn.convert")
    return model_from_payload(_read_safetensors(path), path, device)


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
