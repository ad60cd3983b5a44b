"""What a public demo server needs beyond the computation: compact links for drawn and uploaded
digits, safe decoding of uploads, a comparison cache bounded by bytes, and a queue of run slots.

No streamlit import: ``app.py`` holds one :class:`ComparisonCache` and one :class:`RunSlots` per
server process.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import numpy as np

from .data import CANVAS
from .showcase.errors import DemoError
from .showcase.results import Comparison

__all__ = ["ComparisonCache", "RunSlots", "decode_digit", "decode_upload", "encode_digit"]


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


# ----------------------------------------------------------------------------- serving many users


class ComparisonCache:
    """A thread-safe LRU of comparisons bounded by bytes (:attr:`Comparison.nbytes`), not entries."""

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


# ----------------------------------------------------------------------------- uploads


MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_SIDE = 4096


def decode_upload(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> a numeric array for :func:`fernn.data.prepare_user_digit`.

    Checks the size from the header before decoding pixels and treats Pillow's decompression
    bomb warning as an error. Anything unusable raises :class:`DemoError` with a message meant
    for the person who uploaded it (no Python object names).
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_UPLOAD_BYTES:
        raise DemoError(f"the file is {len(data) / 1024**2:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 1024**2} MB")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("PNG", "JPEG"):
                    raise DemoError(f"expected a PNG or JPEG image, got {image.format or 'an unknown format'}")
                width, height = image.size
                if max(width, height) > MAX_UPLOAD_SIDE:
                    raise DemoError(f"the image is {width}x{height}; at most {MAX_UPLOAD_SIDE} pixels a side")
                if image.mode in ("I", "I;16", "F"):
                    return np.asarray(image, dtype=np.float64)
                return np.asarray(image.convert("RGBA"))
        except DemoError:
            raise
        except UnidentifiedImageError:
            raise DemoError("this file is not a readable PNG or JPEG image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DemoError("the image has too many pixels to decode safely") from None
        except (OSError, SyntaxError, ValueError):
            raise DemoError("the image is damaged or truncated and could not be decoded") from None
