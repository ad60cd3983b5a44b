"""Building blocks of every figure: plotly figures from plain dicts, the one animation skeleton,
and image mosaics (tiles of ``(H, W)`` maps with a label band above each row), drawn as small
8-bit PNG images: an animation frame as a float array is ten times the bytes on the wire."""

from __future__ import annotations

import base64
import copy
import functools
import io
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io
import plotly.tools
from _plotly_utils.utils import convert_to_base64  # what plotly's own to_dict runs on every array
from PIL import Image
from plotly.basedatatypes import BaseFigure, BasePlotlyType

from fernn.showcase.viz.style import FRAME_MS, LOOPS, TEXT_COLOR

__all__ = ["CONTROLS_HEIGHT", "Figure", "LABEL_BAND", "LEVELS", "TRANSPARENT", "animated", "colorbar_trace", "figure",
           "image_axes", "label_band", "log_ticks", "mosaic", "mosaic_image", "palette", "panel_labels", "png_palette",
           "png_source", "upscale", "wire_json"]

LABEL_BAND = 3  # the fewest empty mosaic rows above each row of panels, where the panel labels go
LABEL_PX = 18  # a panel label's height on screen, which the band must hold at ...
NARROWEST_PX = 300  # ... the narrowest plot a figure gets (a 420 px phone, less margins and colour bars)
CONTROLS_HEIGHT = 120  # px under ``controls_y`` that the play buttons and the frame slider take
LEVELS = 255  # palette entries for values zmin..zmax: a step of 1/254 of the range, under what the eye sees
# The palette entry of NaN (the gaps between panels show the page, light or dark): entry 0, so the
# PNG's transparency table is one byte (entries past its end are opaque).
TRANSPARENT = 0


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(H, W[, C])`` by an integer ``factor`` (crisp pixels)."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


class Figure(go.Figure):
    """A plotly figure whose animation frames stay the plain dicts they were built as until
    someone reads them as plotly objects.

    The app sends a figure on with :meth:`to_dict` (what ``st.plotly_chart`` calls), which copies
    the plain frames as they are: building a plotly object per frame, trace and property, only
    to turn them back into dicts, was about two thirds of the time the app's figures took
    (0.11 of 0.15 s for the default comparison, 2 threads). Reading ``fig.frames`` (the tests
    do) builds the objects then, once. The frame dicts are taken as given, not copied or
    validated until then: build them fresh for the figure (as :func:`animated` does).
    """

    def __init__(self, data=None, layout=None, frames=None, **kwargs):
        if isinstance(data, BaseFigure):  # Figure(another_figure), as go.Figure allows
            data = data.to_dict()
        if isinstance(data, dict):  # Figure(fig.to_dict()), as plotly's copy and pickling call it
            spec = {key: data[key] for key in ("data", "layout", "_grid_str", "_grid_ref") if key in data}
            frames = data.get("frames")
        else:
            spec = dict(data=data, layout=layout)
        super().__init__(spec, **kwargs)
        self._plain_frames = [frame.to_plotly_json() if isinstance(frame, BasePlotlyType) else frame
                              for frame in frames or ()]

    @property
    def _frame_objs(self) -> tuple:
        plain = self.__dict__.get("_plain_frames")
        if plain:
            self.__dict__["_built_frames"] = self._frames_validator.validate_coerce(plain)
            self.__dict__["_plain_frames"] = None
        return self.__dict__.get("_built_frames", ())

    @_frame_objs.setter
    def _frame_objs(self, frames: tuple) -> None:  # plotly's own frames setter lands here
        self.__dict__["_plain_frames"] = None
        self.__dict__["_built_frames"] = frames

    def to_dict(self) -> dict:
        plain = self.__dict__.get("_plain_frames")
        if not plain:
            return super().to_dict()
        self.__dict__["_plain_frames"] = None  # plotly's to_dict copies data and layout and sees no frames
        try:
            result = super().to_dict()
        finally:
            self.__dict__["_plain_frames"] = plain
        result["frames"] = copy.deepcopy(plain)
        convert_to_base64(result["frames"])  # as plotly's to_dict does for every array
        return result


def log_ticks(low: float, high: float, *, decades: float) -> str | int:
    """A log axis's ``dtick`` from ``low`` to ``high``: 1, 2 and 5 of each decade over at most
    ``decades`` decades (plotly's own labels every digit 2..9 there, into each other), whole
    decades beyond (where the 2s and 5s would run into the powers of ten)."""
    return "D2" if math.log10(high / low) <= decades else 1


def wire_json(fig: go.Figure) -> str:
    """The JSON ``st.plotly_chart`` sends for ``fig`` (the same two plotly calls): what a figure
    costs the server past building it."""
    return plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)


def figure(data: list[dict], layout: dict, frames: list[dict]) -> go.Figure:
    """A figure from plain dicts, skipping plotly's per-property validation, its frames kept plain
    (:class:`Figure`).

    Validation costs about ten times the build itself; everything here is built from fixed
    dicts that the tests render, so it buys nothing.
    """
    return Figure(data, layout, frames, _validate=False)


def animated(traces: Callable[[int], list[dict]], layout: dict, *, titles: Sequence[str], start: int,
             play_from: int, controls_y: float = 0.0, labels: Sequence[str] | None = None,
             static: Sequence[dict] = ()) -> go.Figure:
    """The one animation skeleton: a frame per time step (``titles[t]`` its title), one slider and
    a looping play button for every panel. The figure opens on frame ``start``; play runs from
    ``play_from`` to the end, then loops over every frame. ``labels``: the slider's step labels
    (default: the frame indices ``0..T-1``). ``static``: traces drawn after the animated ones
    and sent once (a frame's data replaces the first ``len(traces(t))`` traces only)."""
    total = len(titles)
    if not 0 <= start < total or not 0 <= play_from < total:
        raise ValueError(f"start and play_from must be frames 0..{total - 1}, got {start} and {play_from}")
    if labels is not None and len(labels) != total:
        raise ValueError(f"give one slider label per frame: {total} frames, {len(labels)} labels")
    names = [str(t) for t in range(total)]
    labels = names if labels is None else list(labels)
    frames = [dict(name=names[t], data=traces(t), layout=dict(title=dict(text=titles[t]))) for t in range(total)]
    still = dict(frame=dict(duration=0, redraw=True), transition=dict(duration=0), mode="immediate")
    play = dict(frame=dict(duration=FRAME_MS, redraw=True), transition=dict(duration=0), mode="immediate",
                fromcurrent=True)
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    looped = names[play_from:] + names * LOOPS  # plotly.js has no loop option: the play list repeats
    # The title (it names the frame) at the very top; the buttons, then the slider on a row of
    # its own under them (CONTROLS_HEIGHT px in all), so neither runs into the other on a phone.
    layout = dict(
        layout,
        title=dict(text=titles[start], x=0.0, xanchor="left", y=1.0, yref="container", yanchor="top",
                   pad=dict(t=6), font=dict(size=15, color=TEXT_COLOR)),
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.0, y=controls_y, xanchor="left",
                          yanchor="top", pad=dict(r=8, t=16),
                          buttons=[dict(label="▶ Play", method="animate", args=[looped, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(active=start, x=0.0, len=1.0, y=controls_y, yanchor="top", pad=dict(t=58, b=0),
                      steps=[dict(method="animate", label=label, args=[[name], still])
                             for name, label in zip(names, labels)],
                      currentvalue=dict(visible=False))],
    )
    return figure([*traces(start), *static], layout, frames)


def label_band(width: int) -> int:
    """Empty mosaic rows above each row of panels for a mosaic ``width`` pixels wide: enough for
    a label :data:`LABEL_PX` high when the mosaic is drawn :data:`NARROWEST_PX` wide."""
    return max(LABEL_BAND, -(-width * LABEL_PX // NARROWEST_PX))


def mosaic(tiles: Sequence[np.ndarray | None], columns: int, gap: int = 1, band: int = LABEL_BAND) -> np.ndarray:
    """Tile ``(H, W)`` maps row-major into one ``float32`` image with NaN (transparent) gaps.

    Every row of tiles has ``band`` empty rows above it, room for the panel labels: plotly
    hides annotations placed outside the axis range. A ``None`` tile stays empty.
    """
    height, width = next(t for t in tiles if t is not None).shape
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (band + height + gap) - gap, columns * (width + gap) - gap), np.nan, dtype=np.float32)
    for index, tile in enumerate(tiles):
        if tile is None:
            continue
        top, left = band + (index // columns) * (band + height + gap), (index % columns) * (width + gap)
        out[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
    return out


def palette(colorscale: Sequence[Sequence], levels: int = LEVELS) -> np.ndarray:
    """``uint8 (levels, 3)``: the colour scale sampled at ``levels`` evenly spaced values, each
    colour interpolated linearly in RGB between the scale's stops as plotly.js does."""
    positions = np.array([float(position) for position, _ in colorscale])
    colors = np.array([[float(c) for c in re.findall(r"[\d.]+", color)[:3]] for _, color in colorscale])
    values = np.linspace(0.0, 1.0, levels)
    return np.stack([np.interp(values, positions, colors[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


@functools.lru_cache(maxsize=16)
def png_palette(colorscale: tuple[tuple, ...]) -> bytes:
    """:func:`png_source`'s palette as PIL takes it, made once per colour scale: black for
    :data:`TRANSPARENT`, then the scale's :data:`LEVELS` entries, as ``r, g, b`` bytes."""
    return np.concatenate([[[0, 0, 0]], palette(colorscale)]).astype(np.uint8).tobytes()


def png_source(z: np.ndarray, colorscale: Sequence[Sequence], *, zmin: float = 0.0, zmax: float = 1.0) -> str:
    """A ``(H, W)`` map as an 8-bit palette PNG in a data URI: value ``v`` is palette entry
    ``1 + round((v - zmin) / (zmax - zmin) * (LEVELS - 1))`` (clipped), coloured by
    ``colorscale``; NaN is entry :data:`TRANSPARENT`, fully transparent."""
    if zmax <= zmin:
        raise ValueError(f"zmax must be above zmin, got zmin={zmin} and zmax={zmax}")
    z = np.asarray(z, dtype=np.float32)  # (H, W)
    missing = np.isnan(z)
    scaled = np.clip((np.nan_to_num(z, nan=zmin) - zmin) / (zmax - zmin), 0.0, 1.0)
    index = np.where(missing, TRANSPARENT, 1 + np.rint(scaled * (LEVELS - 1))).astype(np.uint8)  # (H, W)
    image = Image.fromarray(index, mode="P")
    image.putpalette(png_palette(tuple((position, color) for position, color in colorscale)))
    buffer = io.BytesIO()
    # zlib's default level: PIL's optimize=True took 2.7 times as long for 0.3% fewer bytes (the
    # widest comparison's 455 mosaics: 0.18 s against 0.07 s, 937 against 940 kB).
    image.save(buffer, format="PNG", transparency=bytes([0]))
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def mosaic_image(z: np.ndarray, colorscale: Sequence[Sequence], *, y0: float = 0.0, zmax: float = 1.0) -> dict:
    """An image trace of a mosaic (:func:`png_source`), its pixel ``(row, column)`` centred at
    ``(x, y0 + row)``. No hover: the picture carries no numbers."""
    return dict(type="image", source=png_source(z, colorscale, zmax=zmax), x0=0, dx=1, y0=y0, dy=1,
                hoverinfo="skip")


def colorbar_trace(colorscale: Sequence[Sequence], colorbar: dict, *, zmax: float = 1.0) -> dict:
    """A colour bar for image traces (which have none): a one-cell heat map left of the axes'
    range, so only its colour bar shows. Static: it never needs to travel with the frames."""
    bar = dict(colorbar)
    return dict(type="heatmap", z=[[0.0]], x=[-1e6], y=[0], colorscale=colorscale, zmin=0.0, zmax=zmax,
                showscale=True, hoverinfo="skip", colorbar=dict(thickness=10, len=bar.pop("len", 0.5), **bar))


def image_axes(width: float, height: float, *, align: str = "center") -> dict:
    """Axes for a mosaic: square pixels, row 0 on top, no ticks; ``align``: where the mosaic
    sits in a figure wider than it ("left": row titles at paper x = 0 sit beside it), always
    centred vertically (colour bars placed by paper height stay level with their rows)."""
    if align not in ("left", "center"):
        raise ValueError(f"align must be 'left' or 'center', got {align!r}")
    common = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", constrain="domain")
    return dict(xaxis=dict(common, range=[-0.5, width - 0.5], constraintoward=align),
                yaxis=dict(common, range=[height - 0.5, -0.5], scaleanchor="x"),
                plot_bgcolor="rgba(0, 0, 0, 0)")  # gaps between panels show the page, light or dark


def panel_labels(labels: Sequence[str], columns: int, size: tuple[int, int], gap: int = 1, y0: float = 0.0,
                 band: int = LABEL_BAND, align: str = "center") -> list[dict]:
    """One annotation in the label band above each mosaic tile, in data coordinates, centred on
    the tile or (``align="left"``) starting at its left edge, for a label wider than its tile
    with nothing to its right."""
    height, width = size
    notes = []
    for index, label in enumerate(labels):
        row, column = index // columns, index % columns
        left = column * (width + gap) - 0.5
        notes.append(dict(text=label, showarrow=False, xref="x", yref="y", yanchor="bottom",
                          font=dict(size=12, color=TEXT_COLOR),
                          x=left if align == "left" else left + width / 2, xanchor=align,
                          y=y0 + band + row * (band + height + gap) - 0.6))
    return notes
