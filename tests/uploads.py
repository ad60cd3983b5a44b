"""Image files as visitors upload them, for the app's and the server's upload tests: ordinary
PNGs, and small files whose headers claim a huge picture."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_claiming(side: int) -> bytes:
    """A 16x16 JPEG whose header is edited to claim ``side x side`` pixels (about 600 bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(buffer, format="JPEG", quality=50)
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")  # start of frame: length, precision, then height and width
    struct.pack_into(">HH", data, frame + 5, side, side)
    return bytes(data)


def blank_png(side: int) -> bytes:
    """A black ``side x side`` PNG: a few KB on disk however large its picture."""
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
