"""The comparison as an animated GIF, drawn with NumPy and Pillow (no plotly)."""

from __future__ import annotations

from collections.abc import Sequence

import imageio.v3 as iio
import numpy as np

from fernn.showcase.results import Comparison
from fernn.showcase.viz.comparison import comparison_panels
from fernn.showcase.viz.panels import upscale

__all__ = ["comparison_gif", "gray", "label_strip"]


# A few points of matplotlib's "inferno", enough for a smooth error colormap in GIFs.
_INFERNO = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                     [250, 193, 39], [252, 255, 164]], dtype=np.float64)


def _inferno(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` in ``[0, 1]`` -> ``uint8 (H, W, 3)``."""
    stops = np.linspace(0.0, 1.0, len(_INFERNO))
    flat = np.clip(values, 0.0, 1.0).ravel()
    channels = [np.interp(flat, stops, _INFERNO[:, k]) for k in range(3)]
    return np.stack(channels, axis=-1).reshape(*values.shape, 3).astype(np.uint8)


def gray(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` in ``[0, 1]`` -> ``uint8 (H, W, 3)`` grey levels."""
    level = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=-1)


def label_strip(labels: Sequence[str], width: int, gap: int, height: int) -> np.ndarray:
    """A row of panel labels drawn with Pillow's built-in bitmap font: ``uint8 (height, W, 3)``."""
    from PIL import Image, ImageDraw, ImageFont

    total = len(labels) * width + (len(labels) - 1) * gap
    strip = Image.new("RGB", (total, height), (24, 24, 24))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    for index, label in enumerate(labels):
        text = label if len(label) <= 18 else label[:17] + "…"
        draw.text((index * (width + gap) + 3, 2), text, fill=(230, 230, 230), font=font)
    return np.asarray(strip)


def comparison_gif(comparison: Comparison, *, scale: int = 4, frame_ms: int = 300) -> bytes:
    """The comparison animation as an animated GIF: one frame per time step ``0..T+S-1``.

    Panels as in :func:`comparison_animation` (truth, predictions, errors) with a label row on
    top and a timeline bar below (grey: context, orange: prediction). The bar also makes every
    frame distinct, so GIF encoders never merge two of them.
    """
    runs = comparison.runs
    truth = comparison.truth
    context, total = comparison.context_frames, comparison.num_frames
    size = truth.shape[-1] * scale
    gap, bar = 2, 6
    labels = ["truth"] + [run.name for run in runs] + [f"{run.name} error" for run in runs]
    header = label_strip(labels, size, gap, 14)
    width = header.shape[1]
    frames = []
    for t in range(total):
        digits, errors = comparison_panels(comparison, t)
        tiles = [gray(d) for d in digits] + [_inferno(e) for e in errors]
        row = np.full((size, width, 3), 60, dtype=np.uint8)
        for index, tile in enumerate(tiles):
            left = index * (size + gap)
            row[:, left:left + size] = upscale(tile, scale)
        timeline = np.full((bar, width, 3), 40, dtype=np.uint8)
        filled = int(round(width * (t + 1) / total))
        colour = (150, 150, 150) if t < context else (255, 150, 40)
        timeline[:, :filled] = colour
        frames.append(np.concatenate([header, row, timeline], axis=0))
    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=frame_ms, loop=0)
