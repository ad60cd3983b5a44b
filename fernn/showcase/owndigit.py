"""A visitor's own digit: drawn or uploaded, bounded in pixels before decoding, and carried in
compact links (zlib-compressed ``uint8`` 28x28, URL-safe base64). No streamlit import."""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Callable, MutableMapping
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from fernn.datasets.digits import CANVAS, prepare_user_digit
from fernn.showcase.errors import DemoError
from fernn.showcase.serving import RunSlots

__all__ = ["OwnDigit", "check_upload", "choose_own_digit", "decode_digit", "decode_upload", "digit_from_drawing",
           "digit_from_upload", "encode_digit", "use_own_digit"]


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
    ``max(H, W) <= DECODE_SIDE``, for :func:`fernn.datasets.digits.prepare_user_digit`.

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
