"""What a public demo server needs beyond the computation: compact links for drawn and uploaded
digits (and which digit is in use), uploads bounded in pixels before decoding, checkpoints opened
for visitors, a comparison cache bounded by bytes, a queue of run slots, the server's settings
from the environment, and error messages fit for a visitor. Link values are checked in
:mod:`fernn.links` (re-exported here for ``app.py``).

No streamlit import: ``app.py`` holds one :class:`ComparisonCache` and one :class:`RunSlots` per
server process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoints import CheckpointError, model_from_payload, read_checkpoint_bytes
from .data import CANVAS, prepare_user_digit
from .showcase import Comparison, DemoError, is_evaluated, weights_problem
from .links import WholeNumber, check_link, demo_link_fields, share_url, shown_value
from .models import Forecaster

__all__ = ["ComparisonCache", "OpenedCheckpoint", "OwnDigit", "RunSettings", "RunSlots", "ServerSettings",
           "UploadedCheckpoint", "check_checkpoint_upload", "check_link", "check_upload", "checkpoint_files",
           "checkpoint_from_upload", "choose_own_digit", "decode_digit", "decode_upload",
           "demo_link_fields", "digit_from_drawing", "digit_from_upload", "encode_digit", "open_checkpoints",
           "run_cached", "settings_from_environment", "share_url", "use_own_digit", "visitor_message"]


# ----------------------------------------------------------------------------- links for drawn digits


DIGIT_PREFIX = "z1."  # format tag: zlib-compressed uint8 28x28, URL-safe base64


def encode_digit(image: np.ndarray) -> str:
    """A ``(28, 28)`` image in ``[0, 1]`` as a short URL-safe string (a few hundred characters)."""
    array = np.asarray(image, dtype=np.float32)
    if array.shape != (CANVAS, CANVAS) or not np.isfinite(array).all():
        raise DemoError(f"a digit must be a finite {CANVAS}x{CANVAS} image, got shape {array.shape}")
    raw = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8).tobytes()
    return DIGIT_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode("ascii").rstrip("=")


def decode_digit(text: str) -> np.ndarray:
    """The image of :func:`encode_digit`: ``float32 (28, 28)`` in ``[0, 1]``; a damaged or foreign
    string raises :class:`DemoError` (it is read with a size limit, so it cannot inflate)."""
    if not isinstance(text, str) or not text.startswith(DIGIT_PREFIX) or len(text) > 4096:
        raise DemoError("the link's digit is not in a format this demo reads")
    body = text[len(DIGIT_PREFIX):]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, CANVAS * CANVAS + 1)
    except (binascii.Error, ValueError, zlib.error):
        raise DemoError("the link's digit is damaged (it may have been cut short)") from None
    if len(raw) != CANVAS * CANVAS or not inflater.eof:
        raise DemoError("the link's digit is damaged (it may have been cut short)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(CANVAS, CANVAS).astype(np.float32) / 255.0


@dataclass(frozen=True)
class OwnDigit:
    """The drawn or uploaded digit in use, what the link's ``d1`` becomes, and what to say."""

    image: np.ndarray | None  # float32 (28, 28): exactly what the link carries (8-bit levels)
    link: str | None  # the new d1; None: the link carries no digit
    message: str  # why there is no image; "" when there is one
    from_link: bool = False


def choose_own_digit(made: np.ndarray | None, problem: str, *, link: str | None, made_before: bool,
                     empty: str) -> OwnDigit:
    """Which digit a Draw/Upload view uses: the one the widget ``made`` now; else nothing once this
    session has drawn or uploaded (``made_before``), so an emptied canvas or a failed upload leaves
    no older digit in use or in the link; else the link's digit (a shared view)."""
    if made is not None:
        code = encode_digit(made)
        return OwnDigit(decode_digit(code), code, "")
    if problem or made_before:
        return OwnDigit(None, None, problem or empty)
    if link is None:
        return OwnDigit(None, None, empty)
    try:
        return OwnDigit(decode_digit(link), link, "", from_link=True)
    except DemoError as error:
        return OwnDigit(None, link, f"This link's digit cannot be read: {error}. Draw or upload a new one.")


def use_own_digit(made: np.ndarray | None, problem: str, *, empty: str, link: MutableMapping[str, str],
                  state: MutableMapping[str, object]) -> OwnDigit:
    """:func:`choose_own_digit` for one page run, kept in step with the page's ``link`` (query
    parameters: ``d1``) and the session's ``state`` (whether it has drawn or uploaded yet)."""
    made_before = bool(state.get("own_digit", False))
    chosen = choose_own_digit(made, problem, link=link.get("d1"), made_before=made_before, empty=empty)
    state["own_digit"] = made_before or made is not None or bool(problem)
    if chosen.link is None:
        link.pop("d1", None)
    elif link.get("d1") != chosen.link:
        link["d1"] = chosen.link
    return chosen


def digit_from_drawing(pixels: np.ndarray | None) -> np.ndarray | None:
    """A drawing canvas's ``(H, W, 4)`` image -> the digit ``float32 (28, 28)``; ``None`` while
    the canvas is empty; :class:`DemoError` for strokes too faint to use."""
    if pixels is None or np.asarray(pixels)[..., :3].max(initial=0) == 0:
        return None
    try:
        return prepare_user_digit(pixels)
    except ValueError as error:
        raise DemoError(str(error)) from None


# ----------------------------------------------------------------------------- serving many users


class ComparisonCache:
    """A thread-safe LRU of comparisons (and classifications) bounded by bytes (their ``nbytes``), not entries."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Comparison] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(item.nbytes for item in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Comparison | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: Hashable, item: Comparison) -> None:
        if item.nbytes > self.max_bytes:  # never kept: and it must not push the others out
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            total = sum(value.nbytes for value in self._items.values())
            while total > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                total -= dropped.nbytes


def run_cached(cache: ComparisonCache, slots: RunSlots, key: Hashable, compute: Callable[[], Comparison], *,
               on_wait: Callable[[], None] | None = None) -> Comparison:
    """``compute()`` once per ``key``: from ``cache`` when it is there, else run in one of ``slots`` and kept."""
    found = cache.get(key)
    if found is None:
        with slots.hold(on_wait=on_wait):
            found = compute()
        cache.put(key, found)
    return found


class RunSlots:
    """At most ``slots`` heavy runs at once across all sessions; the rest wait their turn."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def hold(self, *, on_wait: Callable[[], None] | None = None, timeout: float = 300.0) -> Iterator[None]:
        """Hold a slot for the ``with`` block; ``on_wait()`` is called first if none is free.
        Raises :class:`DemoError` after ``timeout`` seconds without one."""
        if not self._semaphore.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            if not self._semaphore.acquire(timeout=timeout):
                raise DemoError(f"the server is busy: no free slot for {timeout:.0f} s; try again in a moment")
        try:
            yield
        finally:
            self._semaphore.release()


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
    """The ``.pt`` files in ``folder`` and in its subfolders one level down (``"rotation/fernn.pt"``),
    as ``/``-separated paths relative to ``folder``: the folder's own files first, then each
    subfolder's, sorted; subfolders named in ``skip`` or starting with ``.`` are left out; none for
    a missing folder."""
    if not folder.is_dir():
        return []
    found = sorted(p.name for p in folder.glob("*.pt") if p.is_file())
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in skip and not p.name.startswith(".")):
        found += sorted(f"{sub.name}/{p.name}" for p in sub.glob("*.pt") if p.is_file())
    return found


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
    """An uploaded fernn forecaster checkpoint, or :class:`DemoError` with one line for the visitor.

    In order, each before any cost it guards: the size; the archive's directory (``torch.save``
    writes a zip; the sizes it declares bound what unpacking allocates); the ``weights_only=True``
    unpickler; the model kind; the config against the weights the file holds (before the model is
    built, :func:`fernn.checkpoints.model_from_payload`); one input channel; finite weights.
    """
    name = Path(file_name).name or "the file"
    check_checkpoint_upload(len(data))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise DemoError("this file is not a checkpoint written by torch.save (fernn.save_checkpoint)") from None
    if unpacked > MAX_CHECKPOINT_BYTES:
        raise DemoError(f"the file unpacks to {unpacked / 1024**2:.0f} MB; the limit is "
                        f"{MAX_CHECKPOINT_BYTES // 1024**2} MB")
    try:
        payload = read_checkpoint_bytes(data, name)
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
    back with its ``problem``. Names are unique: "G-RNN", "FERNN", then with the file's stem."""
    opened: list[OpenedCheckpoint] = []
    for path in paths:
        if isinstance(path, UploadedCheckpoint):
            model = path.model
            name = _unique_name("G-RNN" if model.config.kind == "grnn" else "FERNN", Path(path.file_name).stem, opened)
            opened.append(OpenedCheckpoint(Path(path.file_name), name, model, "", is_evaluated(model),
                                           (name, *path.version)))
            continue
        try:
            stat = path.stat()
            model = load(str(path), stat.st_mtime, stat.st_size)
        except (OSError, CheckpointError) as error:
            opened.append(OpenedCheckpoint(path, problem=visitor_message(error, folders=[path.parent])))
            continue
        problem = weights_problem(model)
        if problem:
            opened.append(OpenedCheckpoint(path, problem=problem))
            continue
        name = _unique_name("G-RNN" if model.config.kind == "grnn" else "FERNN", path.stem, opened)
        opened.append(OpenedCheckpoint(path, name, model, "", is_evaluated(model),
                                       (name, str(path), stat.st_mtime, stat.st_size)))
    return opened


def _unique_name(kind: str, stem: str, opened: Sequence[OpenedCheckpoint]) -> str:
    """``kind`` ("FERNN"), else ``kind (stem)``, else that with a number: a name no earlier model has."""
    taken = {item.name for item in opened}
    for candidate in (kind, f"{kind} ({stem})"):
        if candidate not in taken:
            return candidate
    return next(f"{kind} ({stem}, {n})" for n in range(2, len(taken) + 3) if f"{kind} ({stem}, {n})" not in taken)


# ----------------------------------------------------------------------------- server settings, messages


@dataclass(frozen=True)
class ServerSettings:
    """The demo server's knobs, read from the environment by :func:`settings_from_environment`."""

    run_slots: int = 2  # heavy runs at once across all visitors; the rest queue
    cache_megabytes: int = 512  # finished comparisons kept for reuse
    torch_threads: int = 1  # 28x28 maps gain nothing from more, and visitors share the cores


# variable -> (field, smallest, largest, what it sets)
ENVIRONMENT = {
    "FERNN_RUN_SLOTS": ("run_slots", 1, 64, "runs computed at once"),
    "FERNN_CACHE_MB": ("cache_megabytes", 0, 1_048_576, "megabytes of finished comparisons kept"),
    "FERNN_TORCH_THREADS": ("torch_threads", 1, 256, "torch CPU threads per run"),
}


def settings_from_environment(environ: Mapping[str, str]) -> ServerSettings:
    """:class:`ServerSettings` from ``FERNN_RUN_SLOTS``, ``FERNN_CACHE_MB`` and
    ``FERNN_TORCH_THREADS`` (unset or empty: the default). A bad value raises ``ValueError``
    naming every bad variable, so a misconfigured server says so instead of failing per page."""
    values, problems = {}, []
    for variable, (name, low, high, meaning) in ENVIRONMENT.items():
        text = environ.get(variable, "").strip()
        if not text:
            continue
        value, note = WholeNumber(low, high).read(text)
        if value is None or note:  # never clamped here: the operator asked for something else
            problems.append(f"{variable}={shown_value([text])} must be a whole number from {low} to {high:,} "
                            f"({meaning})")
        else:
            values[name] = int(value)
    if problems:
        raise ValueError("; ".join(problems))
    return ServerSettings(**values)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A directory part of an absolute POSIX or Windows path (not inside a URL or a fraction).
_DIRECTORIES = re.compile(r"(?<![\w.:/\\])(?:/|[A-Za-z]:\\)(?:[^\s/\\'\"`()]+[/\\])+")


def visitor_message(error: BaseException | str, *, folders: Sequence[Path] = ()) -> str:
    """An error's text fit for a visitor's screen: its first line, no terminal colour codes, and
    files named by their base name only (a server's folders are nobody else's business).
    ``folders`` are removed first, whatever their names hold (a space ends a path otherwise)."""
    text = _ANSI.sub("", str(error)).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, OSError) and error.filename is not None:  # "[Errno 2] No such file or directory: '/x/y'"
        first = f"{error.strerror or 'cannot be read'}: {Path(str(error.filename)).name}"
    for folder in folders:
        first = first.replace(f"{folder}{os.sep}", "")
    return _DIRECTORIES.sub("", first)


# ----------------------------------------------------------------------------- uploads


MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# Refused from the header alone, before any pixel is decoded: a 2 KB file can claim 4096x4096
# (0.9 GB once decoded and converted). One megapixel is a phone photo at half size, 4 MB as RGBA.
MAX_UPLOAD_PIXELS = 1024 * 1024
MAX_UPLOAD_SIDE = 4096  # a 1 x 1,000,000 strip fits the pixel budget but is no digit
# Decoded images are reduced to this side before any arithmetic: the digit ends as 20 pixels, so
# it survives the reduction as long as it spans a 25th of the image.
DECODE_SIDE = 512
UPLOAD_WAIT_SECONDS = 60.0


def check_upload(data: bytes) -> tuple[int, int]:
    """The ``(width, height)`` of PNG/JPEG bytes, read from the header only (nothing is decoded).

    Raises :class:`DemoError`, with a message meant for the person who uploaded the file, for a
    file over :data:`MAX_UPLOAD_BYTES`, another format, or an image over :data:`MAX_UPLOAD_PIXELS`.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_UPLOAD_BYTES:
        raise DemoError(f"the file is {len(data) / 1024**2:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 1024**2} MB")
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header; pixels are decoded on load()
            kind, (width, height) = image.format, image.size
    except UnidentifiedImageError:
        raise DemoError("this file is not a readable PNG or JPEG image") from None
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise DemoError("the image is damaged or truncated and could not be decoded") from None
    if kind not in ("PNG", "JPEG"):
        raise DemoError(f"expected a PNG or JPEG image, got {kind or 'an unknown format'}")
    if max(width, height) > MAX_UPLOAD_SIDE:
        raise DemoError(f"the image is {width}x{height}; at most {MAX_UPLOAD_SIDE} pixels a side")
    if width * height > MAX_UPLOAD_PIXELS:
        raise DemoError(f"the image is {width}x{height} pixels ({width * height / 1e6:.1f} MP); the limit is "
                        f"{MAX_UPLOAD_PIXELS / 1e6:.1f} MP, for example 1024x1024: scale or crop it first")
    return width, height


def decode_upload(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> ``uint8 (H, W, 4)``, or ``(H, W)`` for 16-bit and float images, with
    ``max(H, W) <= DECODE_SIDE``, for :func:`fernn.data.prepare_user_digit`.

    :func:`check_upload` runs first, so at most :data:`MAX_UPLOAD_PIXELS` are ever decoded; a JPEG
    is decoded straight at a reduced scale. Anything unusable raises :class:`DemoError`.
    """
    import warnings

    from PIL import Image

    check_upload(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format == "JPEG":  # libjpeg scales by 1/2, 1/4 or 1/8 while decoding
                    image.draft("RGB", (DECODE_SIDE, DECODE_SIDE))
                image.load()
                deep = image.mode in ("I", "I;16", "I;16B", "F")
                image = image if deep or image.mode in ("L", "LA", "RGB", "RGBA") else image.convert("RGBA")
                image.thumbnail((DECODE_SIDE, DECODE_SIDE), Image.Resampling.LANCZOS)
                if deep:
                    return np.asarray(image)
                return np.asarray(image.convert("RGBA"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DemoError("the image has too many pixels to decode safely") from None
        except (OSError, SyntaxError, ValueError):
            raise DemoError("the image is damaged or truncated and could not be decoded") from None


def digit_from_upload(data: bytes, *, slots: RunSlots | None = None, on_wait: Callable[[], None] | None = None,
                      timeout: float = UPLOAD_WAIT_SECONDS) -> np.ndarray:
    """PNG/JPEG bytes -> the MNIST-like digit ``float32 (28, 28)``, or :class:`DemoError`.

    The header is checked at once; decoding and preparing (the costly part) hold one of ``slots``
    so that uploads queue with the runs instead of adding to them.
    """
    check_upload(data)
    with slots.hold(on_wait=on_wait, timeout=timeout) if slots is not None else nullcontext():
        pixels = decode_upload(data)
        try:
            return prepare_user_digit(pixels)
        except ValueError as error:
            raise DemoError(str(error)) from None
