"""The World motion's figures: the world with the observer's window outlined, the true view, each
world model's predicted view and its memory of the whole world, animated over the frames; and the
same as an animated GIF."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import plotly.graph_objects as go

from fernn.showcase.viz.gif import gray, label_strip
from fernn.showcase.viz.panels import (CONTROLS_HEIGHT, animated, image_axes, label_band, mosaic, mosaic_image,
                                       panel_labels, upscale)
from fernn.showcase.viz.style import DIGIT_COLORSCALE

__all__ = ["world_animation", "world_gif", "world_panels"]

WINDOW_COLOR = "#FFA15A"


def _centred(view: np.ndarray, size: int) -> np.ndarray:
    """A ``(S, S)`` view in the middle of a ``(size, size)`` tile of NaN (transparent)."""
    tile = np.full((size, size), np.nan, dtype=np.float32)
    top = (size - view.shape[0]) // 2
    tile[top:top + view.shape[0], top:top + view.shape[1]] = view
    return tile


def world_panels(result, t: int) -> list[np.ndarray | None]:
    """Frame ``t``'s tiles, row-major with ``1 + len(runs)`` columns: ``[world, each model's predicted
    view, true view, each model's memory]`` (views centred in world-sized tiles; ``None``: nothing to
    show, a G-RNN's memory or any memory during the context, when the models read the true view)."""
    sample, context = result.sample, result.context_frames
    world = sample.world[t, 0].numpy()
    size = world.shape[-1]
    truth = sample.views[t, 0].numpy()
    predicted = t - context
    views = [_centred(truth if predicted < 0 else run.prediction[predicted], size) for run in result.runs]
    memories = [None if predicted < 0 or run.memory is None else run.memory[predicted] for run in result.runs]
    return [world, *views, _centred(truth, size), *memories]


def _outline(corner: tuple[int, int], view: int, world: int, y0: float) -> dict:
    """The window's outline on the world tile, cut where it wraps on the torus (a scatter trace)."""
    xs, ys = [], []
    row_spans = _spans(corner[0], view, world)
    column_spans = _spans(corner[1], view, world)
    for top, height in row_spans:
        for left, width in column_spans:
            x0, x1, y_top, y_bottom = left - 0.5, left + width - 0.5, y0 + top - 0.5, y0 + top + height - 0.5
            xs += [x0, x1, x1, x0, x0, None]
            ys += [y_top, y_top, y_bottom, y_bottom, y_top, None]
    return dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color=WINDOW_COLOR, width=2), hoverinfo="skip",
                showlegend=False)


def _spans(start: int, length: int, size: int) -> list[tuple[int, int]]:
    """``[start, start + length)`` on a circle of ``size`` as one or two ``(first, length)`` pieces."""
    first = min(length, size - start)
    return [(start, first)] + ([(0, length - first)] if first < length else [])


def world_animation(result, *, height: int = 520) -> go.Figure:
    """Top row: the world (the observer's window outlined) and each model's predicted view; bottom
    row: the true view and each model's memory of the whole world, in world coordinates. During the
    context every view panel shows the input. Opens on the last prediction (after looking away and
    back, where a model that lost the digit shows it before anyone presses Play); plays from the first."""
    runs = result.runs
    columns = 1 + len(runs)
    size = result.sample.world_size
    view = result.sample.views.shape[-1]
    width = columns * (size + 1) - 1
    band = label_band(width)
    context, total = result.context_frames, result.num_frames
    corners = result.sample.corners.tolist()

    def traces(t: int) -> list[dict]:
        tiles = world_panels(result, t)
        return [mosaic_image(mosaic(tiles, columns, band=band), DIGIT_COLORSCALE),
                _outline(tuple(corners[t]), view, size, band)]

    notes = panel_labels(["World (window)", *(f"{run.name} view" for run in runs)], columns, (size, size), band=band)
    notes += panel_labels(["True view", *(f"{run.name} memory" for run in runs)], columns, (size, size),
                          y0=band + size + 1, band=band)
    for index, run in enumerate(runs, start=1):
        if run.memory is None:  # say it where the memory would be
            notes.append(dict(text="holds nothing<br>beyond its view", showarrow=False, xref="x", yref="y",
                              x=index * (size + 1) + size / 2, y=2 * band + size + 1 + size / 2,
                              font=dict(size=11, color="#888888")))
    titles = [f"frame {t}: INPUT {t + 1}/{context} (the models read the view)" if t < context else
              f"frame {t}: prediction {t - context + 1}/{total - context}" + (
                  "" if result.visible[t] >= 0.5 else " · digit 1 out of view") for t in range(total)]
    layout = dict(height=height, margin=dict(l=4, r=4, t=36, b=CONTROLS_HEIGHT), annotations=notes, showlegend=False,
                  **image_axes(width, 2 * (band + size + 1) - 1))
    return animated(traces, layout, titles=titles, start=total - 1, play_from=min(context, total - 1))


def world_gif(result, *, scale: int = 3, frame_ms: int = 250) -> bytes:
    """The animation as a GIF: the top row of :func:`world_animation` and the memories beneath, the
    window outlined in orange, a timeline bar (grey: context, orange: prediction)."""
    runs = result.runs
    columns, size = 1 + len(runs), result.sample.world_size
    tile, gap = size * scale, 2
    labels = ["world", *(f"{run.name} view" for run in runs)], ["true view", *(f"{run.name} memory" for run in runs)]
    width = columns * tile + (columns - 1) * gap
    frames = []
    view = result.sample.views.shape[-1]
    for t in range(result.num_frames):
        tiles = world_panels(result, t)
        rows = []
        for row, names in enumerate(labels):
            strip = np.full((tile, width, 3), 60, dtype=np.uint8)
            for column in range(columns):
                image = tiles[row * columns + column]
                if image is None:
                    continue
                picture = upscale(gray(np.nan_to_num(image, nan=0.25)), scale)
                if row == 0 and column == 0:
                    _draw_window(picture, tuple(result.sample.corners[t].tolist()), view, size, scale)
                strip[:, column * (tile + gap):column * (tile + gap) + tile] = picture
            rows += [label_strip(names, tile, gap, 14), strip]
        timeline = np.full((6, width, 3), 40, dtype=np.uint8)
        timeline[:, :int(round(width * (t + 1) / result.num_frames))] = (
            (150, 150, 150) if t < result.context_frames else (255, 150, 40))
        frames.append(np.concatenate([*rows, timeline], axis=0))
    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=frame_ms, loop=0)


def _draw_window(picture: np.ndarray, corner: tuple[int, int], view: int, world: int, scale: int) -> None:
    """The window's outline in orange on an upscaled world ``(W*scale, W*scale, 3)``, in place."""
    colour = (255, 161, 90)
    for top, height in _spans(corner[0], view, world):
        for left, width in _spans(corner[1], view, world):
            y0, y1, x0, x1 = top * scale, (top + height) * scale - 1, left * scale, (left + width) * scale - 1
            picture[y0, x0:x1 + 1] = picture[y1, x0:x1 + 1] = colour
            picture[y0:y1 + 1, x0] = picture[y0:y1 + 1, x1] = colour
