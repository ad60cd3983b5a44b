"""MNIST digits, offline: the bundled 5,000 (or full MNIST from IDX files), a user's own digit, and
the per-sequence random generator every dataset draws from.

Every sequence of every dataset is a pure function of ``(seed, index)`` through :func:`sequence_rng`:
item ``i`` is the same in every call, process and machine, so no split ever needs to be stored.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "BUNDLED_DIGITS",
    "CANVAS",
    "load_digits",
    "load_idx",
    "prepare_user_digit",
    "sequence_rng",
    "unit_pixels",
]

CANVAS = 28
SPLITS = ("train", "val", "test")
BUNDLED_DIGITS = Path(__file__).resolve().parents[2] / "assets" / "mnist_5k.npz"
# Fixed split of the 5,000 bundled digits (500 per class, stored sorted by class): a digit's
# split follows its rank within its class, so every split holds every class equally.
BUNDLED_SPLIT = {"train": (0, 400), "val": (400, 450), "test": (450, 500)}
# Full MNIST: the last 5,000 training digits are held out for validation.
IDX_VALIDATION = 5000


def load_digits(split: str, *, root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Digit images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)`` for ``split``.

    ``root=None`` reads the 5,000 bundled MNIST digits (4,000 / 500 / 500, balanced by class). A directory holding
    the standard MNIST IDX files reads full MNIST (55,000 / 5,000 / 10,000).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if root is None:
        if not BUNDLED_DIGITS.exists():
            raise FileNotFoundError(f"bundled digits missing: {BUNDLED_DIGITS} (run scripts/export_digits.py)")
        with np.load(BUNDLED_DIGITS) as archive:
            images, labels = archive["images"], archive["labels"]
        part = _bundled_indices(labels, *BUNDLED_SPLIT[split])
        return images[part], labels[part].astype(np.int64)
    root = Path(root)
    prefix = "t10k" if split == "test" else "train"
    images = load_idx(_find_idx(root, f"{prefix}-images-idx3-ubyte"))
    labels = load_idx(_find_idx(root, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"IDX files in {root} do not hold matching images and labels")
    if split == "train":
        images, labels = images[:-IDX_VALIDATION], labels[:-IDX_VALIDATION]
    elif split == "val":
        images, labels = images[-IDX_VALIDATION:], labels[-IDX_VALIDATION:]
    return images, labels


def _bundled_indices(labels: np.ndarray, first_rank: int, stop_rank: int) -> np.ndarray:
    """Indices of digits whose rank within their class is in ``[first_rank, stop_rank)``.

    Ordered by (rank, label), so consecutive indices cycle through the classes 0-9.
    """
    order = np.argsort(labels, kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)
    starts = np.searchsorted(labels[order], labels[order], side="left")
    rank[order] = np.arange(len(labels)) - starts
    chosen = np.flatnonzero((rank >= first_rank) & (rank < stop_rank))
    return chosen[np.lexsort((labels[chosen], rank[chosen]))]


def _find_idx(root: Path, stem: str) -> Path:
    for name in (stem, f"{stem}.gz", stem.replace("-idx", ".idx"), f"{stem.replace('-idx', '.idx')}.gz"):
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(f"no {stem}[.gz] in {root}")


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped), the format MNIST is distributed in."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: header promises {expected} bytes of data, file holds {len(data) - header}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def sequence_rng(seed: int, index: int, *, stream: int | None = None) -> np.random.Generator:
    """The random generator of item ``index`` of a dataset seeded ``seed``. A dataset that must never
    share draws with another's item ``index`` names a ``stream`` of its own (Flowing MNIST has none)."""
    key = [int(seed), int(index)] + ([int(stream)] if stream is not None else [])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


def unit_pixels(images: np.ndarray) -> np.ndarray:
    """``uint8`` pixels (0..255) as ``float32`` in ``[0, 1]``, any shape: how digits enter a frame."""
    return np.asarray(images).astype(np.float32) / 255.0


# A user's image is refused past this many pixels per side before any resampling work.
MAX_USER_IMAGE_SIDE = 4096


def prepare_user_digit(image: np.ndarray, *, ink_threshold: float = 0.1) -> np.ndarray:
    """Turn a drawing, photo or scan of a digit into an MNIST-like ``float32 (28, 28)`` in ``[0, 1]``.

    Accepts ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` arrays of any numeric range. Transparent
    pixels count as background (a canvas drawing), a bright background is inverted (dark ink on
    paper), then, as in MNIST: crop to the ink, scale the longer side to 20 pixels keeping the
    aspect ratio, and place the centre of mass at the centre of the 28x28 field.
    Raises ``ValueError`` for a blank or unusable image.
    """
    array = np.asarray(image)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"the image must be a numeric array, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        pass
    elif array.ndim != 2:
        raise ValueError(f"the image must have shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    height, width = array.shape[:2]
    if min(height, width) < 1:
        raise ValueError(f"the image is empty: shape {array.shape}")
    if max(height, width) > MAX_USER_IMAGE_SIDE:
        raise ValueError(f"the image is too large: {height}x{width}, at most {MAX_USER_IMAGE_SIDE} pixels a side")
    if not np.isfinite(array).all():
        raise ValueError("the image holds NaN or infinite values")
    if array.dtype.kind == "f" and array.dtype.itemsize > 4 and np.abs(array).max() > 1e30:
        array = array / np.abs(array).max()  # float32 ends near 3e38; only the relative levels matter
    # float32 from here on, one channel as early as possible: a 4096x4096 RGBA image would take
    # 0.5 GB as float64 channels, 64 MB as one float32 map.
    gray = _ink_intensity(array)  # (H, W) float32
    low, high = gray.min(), gray.max()
    if high - low < 1e-6:
        raise ValueError("the image is blank: draw or upload a digit with visible strokes")
    gray = (gray - low) / (high - low)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:
        gray = 1.0 - gray  # dark ink on a light background
    ink = gray > ink_threshold
    if not ink.any():
        raise ValueError("the image is blank: draw or upload a digit with visible strokes")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = 20.0 / max(crop.shape)
    size = (max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale)))
    resized = F.interpolate(
        torch.from_numpy(np.ascontiguousarray(crop))[None, None], size=size, mode="bilinear", antialias=True,
        align_corners=False,
    )[0, 0].clamp(0, 1).numpy()
    field = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = (CANVAS - size[0]) // 2, (CANVAS - size[1]) // 2
    field[top : top + size[0], left : left + size[1]] = resized
    mass = field.sum(dtype=np.float64)
    if mass <= 0:
        raise ValueError("the image is blank after scaling: use bolder strokes")
    centre_y = (field.sum(axis=1, dtype=np.float64) * np.arange(CANVAS)).sum() / mass
    centre_x = (field.sum(axis=0, dtype=np.float64) * np.arange(CANVAS)).sum() / mass
    dy, dx = round((CANVAS - 1) / 2 - centre_y), round((CANVAS - 1) / 2 - centre_x)
    # A lopsided digit (its mass near one end of the box) would need a shift of up to 10 pixels,
    # but the 20-pixel box has only 4 pixels of margin: stop at the edge instead of wrapping.
    dy = min(max(dy, -top), CANVAS - top - size[0])
    dx = min(max(dx, -left), CANVAS - left - size[1])
    return np.roll(field, (dy, dx), axis=(0, 1))


def _ink_intensity(array: np.ndarray) -> np.ndarray:
    """``(H, W[, C])`` of any numeric dtype -> ``(H, W)`` float32 brightness, with transparent
    pixels as background."""
    if array.ndim == 2:
        return array.astype(np.float32)
    if array.shape[-1] == 1:
        return array[..., 0].astype(np.float32)
    if array.shape[-1] == 4:
        alpha = array[..., 3]
        if alpha.max() > alpha.min():  # a drawing on a transparent background: opacity is the ink
            return alpha.astype(np.float32)
    return array[..., :3].mean(axis=-1, dtype=np.float32)
