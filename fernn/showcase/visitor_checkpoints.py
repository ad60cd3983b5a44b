"""Checkpoints opened for visitors: the shipped folder's models and a visitor's upload (size-capped,
session-only, read without running code: safetensors, or a torch file through the ``weights_only``
unpickler), each given a name no other open model has. No streamlit import."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fernn.checkpoints import CheckpointError, is_model_folder, model_files, model_from_payload, read_checkpoint_bytes
from fernn.showcase.errors import DemoError
from fernn.showcase.serving import visitor_message
from fernn.showcase.records import is_evaluated, weights_problem
from fernn.models import Forecaster

__all__ = ["OpenedCheckpoint", "RunSettings", "UploadedCheckpoint", "check_checkpoint_upload", "checkpoint_files",
           "checkpoint_from_upload", "file_version", "open_checkpoints", "shipped_name"]


# ----------------------------------------------------------------------------- the page's requests


@dataclass(frozen=True)
class RunSettings:
    """A visitor's choices for one comparison, as the sidebar returns them."""

    paths: tuple[Path | UploadedCheckpoint, ...]  # the chosen models in slot order: shipped files, or the visitor's own
    velocities: str | int  # AUTO, AS_TRAINED or a radius r (see fernn.showcase)
    context_frames: int
    predict_frames: int
    seed: int


def checkpoint_files(folder: Path, *, skip: Sequence[str] = ()) -> list[str]:
    """The models in ``folder`` and in its subfolders one level down, as ``/``-separated paths
    relative to ``folder``: model folders (``"fernn"``, ``"rotation/fernn"``) and ``.safetensors`` or
    older ``.pt`` files (``"rotation/fernn.pt"``); the folder's own first, then each subfolder's,
    sorted; subfolders named in ``skip`` or starting with ``.`` are left out; none for a missing folder."""
    if not folder.is_dir():
        return []
    found = _models_in(folder, "")
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in skip and not p.name.startswith(".")
                      and not is_model_folder(p)):
        found += _models_in(sub, f"{sub.name}/")
    return found


def _models_in(folder: Path, prefix: str) -> list[str]:
    """The model folders and model files directly in ``folder``, sorted, each name after ``prefix``."""
    names = [p.name for p in folder.iterdir() if (p.is_dir() and is_model_folder(p) and not p.name.startswith("."))
             or (p.is_file() and p.suffix in (".safetensors", ".pt"))]
    return [prefix + name for name in sorted(names)]


# ----------------------------------------------------------------------------- a visitor's own checkpoint


# The server's own cap on any upload (.streamlit/config.toml: maxUploadSize = 2, enforced while the
# request streams in): 2 MB holds half a million float32 weights, 20x fernn's shipped forecasters.
MAX_CHECKPOINT_BYTES = 2 * 1024**2


@dataclass(frozen=True)
class UploadedCheckpoint:
    """A visitor's own forecaster, read from the uploaded bytes in memory: kept in their session
    only, never on the server's disk. ``session`` is that session's random token, part of every
    cache key made with this model (:attr:`version`), so no other session can hit those entries."""

    file_name: str  # the base name the browser sent
    model: Forecaster
    digest: str  # SHA-256 of the bytes, shortened: two uploads of one file are one model
    session: str

    @property
    def version(self) -> tuple:
        return ("upload", self.session, self.digest)


def check_checkpoint_upload(size: int) -> None:
    """Refuse an upload of ``size`` bytes over :data:`MAX_CHECKPOINT_BYTES` before it is read."""
    if size > MAX_CHECKPOINT_BYTES:
        raise DemoError(f"the file is {size / 1024**2:.1f} MB; the limit is {MAX_CHECKPOINT_BYTES // 1024**2} MB")


def checkpoint_from_upload(data: bytes, *, file_name: str, session: str) -> UploadedCheckpoint:
    """An uploaded fernn forecaster, or :class:`DemoError` with one line for the visitor.

    In order, each before any cost it guards: the size; for a safetensors file (one file with its
    config and records in its metadata, ``python -m fernn.convert ... --output NAME.safetensors``),
    its header: every tensor's dtype, shape and byte range checked against the cap and the file's
    size (:mod:`fernn.tensorfile`); for a torch file, the archive's directory (``torch.save``
    writes a zip; the sizes it declares bound what unpacking allocates) and the ``weights_only=True``
    unpickler; then the model kind; the config against the weights the file holds (before the
    model is built, :func:`fernn.checkpoints.model_from_payload`); one input channel; finite weights.
    """
    name = Path(file_name).name or "the file"
    check_checkpoint_upload(len(data))
    if data.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unpacked = sum(item.file_size for item in archive.infolist())
        except (zipfile.BadZipFile, ValueError, OSError):
            raise DemoError("this file is not a checkpoint written by torch.save (fernn.save_checkpoint)") from None
        if unpacked > MAX_CHECKPOINT_BYTES:
            raise DemoError(f"the file unpacks to {unpacked / 1024**2:.0f} MB; the limit is "
                            f"{MAX_CHECKPOINT_BYTES // 1024**2} MB")
    elif data[8:9] != b"{":  # a safetensors file's header is a JSON object after its 8-byte length
        raise DemoError("this file is neither a safetensors model file (python -m fernn.convert MODEL --output "
                        "NAME.safetensors) nor a checkpoint written by torch.save")
    try:
        payload = read_checkpoint_bytes(data, name, max_bytes=MAX_CHECKPOINT_BYTES)
        kind = payload.get("model", "forecaster")
        if kind != "forecaster":
            raise DemoError(f"it holds a {kind if isinstance(kind, str) else 'model of unknown kind'}; "
                            "the comparison runs forecasters")
        model = model_from_payload(payload, name)
    except CheckpointError as error:
        text = visitor_message(error)  # "NAME: weights do not match ..." or "NAME is not ...": a clause
        text = text[len(name) + 2:] if text.startswith(f"{name}: ") else \
            "it " + text[len(name) + 1:] if text.startswith(f"{name} ") else text
        raise DemoError(text) from None
    if model.config.in_channels != 1:
        raise DemoError(f"the model reads {model.config.in_channels} channels; the demo's digits have 1")
    problem = weights_problem(model)
    if problem:
        raise DemoError(problem)
    return UploadedCheckpoint(name, model, hashlib.sha256(data).hexdigest()[:16], session)


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A chosen checkpoint as the demo uses it: a model and its display name, or why not."""

    path: Path
    name: str = ""  # "G-RNN" or "FERNN", with the file's stem when two share a kind
    model: Forecaster | None = None
    problem: str = ""  # why it cannot be used, fit for a visitor (base file names only)
    evaluated: bool = False
    version: tuple = ()  # (name, path, mtime, size): names this file's version in cache keys


def open_checkpoints(paths: Sequence[Path | UploadedCheckpoint],
                     load: Callable[[str, float, int], Forecaster]) -> list[OpenedCheckpoint]:
    """``load(path, mtime, size)`` (a cached loader) for each of ``paths``, or the visitor's own
    :class:`UploadedCheckpoint`; a file that cannot be read or whose weights are not finite comes
    back with its ``problem``. Names are unique: a shipped model's (:func:`shipped_name`), then with the
    file's stem."""
    opened: list[OpenedCheckpoint] = []
    for path in paths:
        if isinstance(path, UploadedCheckpoint):
            model = path.model
            name = _unique_name(model.config.kind.label, Path(path.file_name).stem, opened)
            opened.append(OpenedCheckpoint(Path(path.file_name), name, model, "", is_evaluated(model),
                                           (name, *path.version)))
            continue
        try:
            modified, size = file_version(path)
            model = load(str(path), modified, size)
        except (OSError, CheckpointError) as error:
            opened.append(OpenedCheckpoint(path, problem=visitor_message(error, folders=[path.parent])))
            continue
        problem = weights_problem(model)
        if problem:
            opened.append(OpenedCheckpoint(path, problem=problem))
            continue
        name = _unique_name(shipped_name(model, path), path.stem, opened)
        opened.append(OpenedCheckpoint(path, name, model, "", is_evaluated(model),
                                       (name, str(path), modified, size)))
    return opened


# The shipped folders whose models share a kind with the demo pair's, and how their names say which:
# folder -> (what the name adds, whether a FERNN's name also says its velocity set).
FOLDER_NAMES = {"table1": ("Table 1", True), "hidden16": ("hidden 16", False)}


def shipped_name(model: Forecaster, path: Path) -> str:
    """A model's name on the page, from its kind and where it ships: "FERNN" for the demo pair's,
    "FERNN-V1 (Table 1)", "G-RNN (hidden 16)" for the others, so one name always means one model."""
    label = model.config.kind.label
    found = FOLDER_NAMES.get(Path(path).parent.name)
    if found is None:
        return label
    role, with_set = found
    radius = model.flow.set_radius(model.velocities) if model.config.kind.lifted else None
    return f"{label}{f'-V{radius}' if with_set and radius else ''} ({role})"


def file_version(path: Path) -> tuple[float, int]:
    """``(latest modification time, total size)`` of the files that make the model at ``path``
    (a folder's weights, config and records, or one file): a new evaluation is a new version."""
    stats = [item.stat() for item in model_files(path)]
    return max(stat.st_mtime for stat in stats), sum(stat.st_size for stat in stats)


def _unique_name(kind: str, stem: str, opened: Sequence[OpenedCheckpoint]) -> str:
    """``kind`` ("FERNN"), else ``kind (stem)``, else that with a number: a name no earlier model has."""
    taken = {item.name for item in opened}
    for candidate in (kind, f"{kind} ({stem})"):
        if candidate not in taken:
            return candidate
    return next(f"{kind} ({stem}, {n})" for n in range(2, len(taken) + 3) if f"{kind} ({stem}, {n})" not in taken)
