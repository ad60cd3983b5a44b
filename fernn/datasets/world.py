"""MNIST World: digits moving on a ``W x W`` torus, seen through an observer's window that moves by
known actions. Offline and deterministic from ``(seed, index)``.

Conventions (translation's, see :mod:`fernn.flows.translation`): positions and moves are ``(dy, dx)``
in tensor-axis order, positive toward larger indices, everything wrapping on the torus.

- World frame ``t``: each digit's 28x28 image, its top-left at ``start + t * velocity``, pasted on a
  zero ``W x W`` canvas (rolled, as :func:`fernn.datasets.flowing.moving_digits` does), summed and
  clipped to ``[0, 1]``.
- The window's top-left corner is ``p_t``; view ``t`` is ``world_t[p_t : p_t + S]`` on both axes,
  wrapping (``S = view_size``, 28).
- Action ``a_t = p_{t+1} - p_t``: the window moves by ``+a_t``, so content already in view appears
  shifted by ``-a_t``. Training actions are piecewise constant (segments of 3 to 8 frames, each
  segment's action uniform in ``{-2..2}^2``); the initial corner is uniform.

The protocols the evaluation measures (look away and back, chase) are built here too, from explicit
digits and actions with :func:`world_sequence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fernn.datasets.digits import CANVAS, sequence_rng, unit_pixels
from fernn.datasets.flowing import moving_digits
from fernn.flows import TRANSLATION, Velocity

__all__ = ["STREAM", "WorldProtocol", "WorldSample", "WorldSpec", "chase", "crop_views", "ink_span",
           "look_away_and_back", "mnist_world", "mnist_world_batch", "piecewise_actions", "world_sequence"]

# MNIST World draws from a stream of its own: item i never shares draws with another dataset's item i.
STREAM = 4


def _count(value: object, name: str, *, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class WorldSpec:
    """How an MNIST World sequence is drawn."""

    # 48: a 28-px window then leaves 20 px of each axis unseen, room to hide a digit's ink (MNIST
    # draws it in a 20x20 box) while the world stays small enough for a CPU.
    world_size: int = 48
    view_size: int = CANVAS
    num_frames: int = 20
    num_digits: int = 2
    # Each digit's velocity is uniform in {-max_speed..max_speed}^2 (px/frame), constant.
    max_speed: int = 1
    # Each action segment's move is uniform in {-max_step..max_step}^2 (px/frame) ...
    max_step: int = 2
    # ... and lasts a uniform number of frames in [min_segment, max_segment]: an observer that
    # keeps a heading for a while, not a random walk.
    min_segment: int = 3
    max_segment: int = 8

    def __post_init__(self) -> None:
        for name in ("world_size", "view_size", "num_frames", "num_digits", "min_segment"):
            _count(getattr(self, name), name)
        for name in ("max_speed", "max_step"):
            _count(getattr(self, name), name, least=0)
        _count(self.max_segment, "max_segment", least=self.min_segment)
        if self.view_size > self.world_size:
            raise ValueError(f"view_size ({self.view_size}) must not exceed world_size ({self.world_size})")
        if self.world_size < CANVAS:
            raise ValueError(f"world_size must hold a {CANVAS}x{CANVAS} digit, got {self.world_size}")


@dataclass(frozen=True)
class WorldSample:
    """One MNIST World sequence, or a batch of them with a leading ``B`` axis (:func:`mnist_world_batch`).

    views: ``float32 ([B,] T, 1, S, S)``, what the observer sees (the models' input and target);
    actions: ``int64 ([B,] T - 1, 2)``, ``actions[t] = corners[t + 1] - corners[t]`` (not wrapped);
    world: ``float32 ([B,] T, 1, W, W)``, the whole world (for display only: no model reads it);
    corners: ``int64 ([B,] T, 2)``, the window's top-left on the torus, in ``[0, W)``.
    """

    views: torch.Tensor
    actions: torch.Tensor
    world: torch.Tensor
    corners: torch.Tensor

    @property
    def world_size(self) -> int:
        return int(self.world.shape[-1])


def crop_views(world: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """The window of each frame, wrapping on the torus: world ``(T, C, W, W)``, corners ``(T, 2)`` ->
    ``(T, C, size, size)``; frame ``t`` is ``world[t, :, p_t + i, p_t + j]`` (indices mod ``W``)."""
    frames, _, height, width = world.shape
    offsets = torch.arange(size)
    rows = (corners[:, :1] + offsets) % height  # (T, S)
    cols = (corners[:, 1:] + offsets) % width  # (T, S)
    steps = torch.arange(frames)[:, None, None]
    return world.permute(0, 2, 3, 1)[steps, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def _pairs(items: object) -> list:
    """``(dy, dx)`` pairs given as a list, a numpy array or a tensor, as plain lists for the flow to check."""
    return items.tolist() if isinstance(items, (np.ndarray, torch.Tensor)) else [
        item.tolist() if isinstance(item, (np.ndarray, torch.Tensor)) else item for item in items]


def world_sequence(images: Sequence[np.ndarray], *, velocities: Sequence[Velocity], starts: Sequence[Velocity],
                   corner: Velocity, actions: Sequence[Velocity], world_size: int = 48,
                   view_size: int = CANVAS) -> WorldSample:
    """A world sequence from explicit digits and an explicit path (what the protocols and the app build).

    images: ``float32 (h, w)`` each, in ``[0, 1]`` (at most ``W`` a side); image ``k``'s top-left sits at
    ``starts[k] + t * velocities[k]`` in frame ``t``. corner: the window's first top-left ``p_0``;
    actions: ``T - 1`` moves, ``p_{t+1} = p_t + actions[t]``. ``T = len(actions) + 1``.
    """
    world_size, view_size = _count(world_size, "world_size"), _count(view_size, "view_size")
    if view_size > world_size:
        raise ValueError(f"view_size ({view_size}) must not exceed world_size ({world_size})")
    moves = [TRANSLATION.as_velocity(a) for a in _pairs(actions)]
    first = TRANSLATION.as_velocity(_pairs([corner])[0])
    canvases = []
    for image in images:
        pixels = np.asarray(image, dtype=np.float32)
        if pixels.ndim != 2 or max(pixels.shape) > world_size:
            raise ValueError(f"each image must be (h, w) with sides at most {world_size}, got {pixels.shape}")
        canvas = np.zeros((world_size, world_size), dtype=np.float32)
        canvas[: pixels.shape[0], : pixels.shape[1]] = pixels
        canvases.append(canvas)
    num_frames = len(moves) + 1
    world = moving_digits(canvases, velocities=[TRANSLATION.as_velocity(v) for v in _pairs(velocities)],
                          starts=[TRANSLATION.as_velocity(s) for s in _pairs(starts)], num_frames=num_frames)  # (T, 1, W, W)
    steps = torch.tensor([first] + moves, dtype=torch.int64)  # (T, 2): p_0, then the moves
    corners = torch.cumsum(steps, dim=0) % world_size  # (T, 2)
    views = crop_views(world, corners, view_size)  # (T, 1, S, S)
    return WorldSample(views=views, actions=steps[1:].reshape(-1, 2), world=world, corners=corners)


def piecewise_actions(rng: np.random.Generator, count: int, *, max_step: int, min_segment: int,
                      max_segment: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``count`` actions ``int64 (count, 2)`` in segments, and the segments' lengths (the last cut to fit):
    each segment lasts a uniform number of frames in ``[min_segment, max_segment]`` and repeats one
    move uniform in ``{-max_step..max_step}^2`` (two segments may draw the same move)."""
    actions, lengths = [], []
    while len(actions) < count:
        length = int(rng.integers(min_segment, max_segment + 1))
        move = rng.integers(-max_step, max_step + 1, size=2).tolist()
        length = min(length, count - len(actions))
        actions.extend([move] * length)
        lengths.append(length)
    return np.asarray(actions, dtype=np.int64).reshape(count, 2), tuple(lengths)


def mnist_world(digits: np.ndarray, index: int, *, seed: int = 0, spec: WorldSpec = WorldSpec()) -> WorldSample:
    """Sequence ``index`` of MNIST World: ``spec.num_digits`` digits at uniform positions with
    velocities uniform in ``{-r..r}^2``, a uniform first corner and piecewise-constant actions.
    A pure function of ``(seed, index)`` (and the digit array)."""
    rng = sequence_rng(seed, index, stream=STREAM)
    chosen = rng.integers(0, len(digits), size=spec.num_digits)
    starts = rng.integers(0, spec.world_size, size=(spec.num_digits, 2)).tolist()
    velocities = rng.integers(-spec.max_speed, spec.max_speed + 1, size=(spec.num_digits, 2)).tolist()
    corner = rng.integers(0, spec.world_size, size=2).tolist()
    actions, _ = piecewise_actions(rng, spec.num_frames - 1, max_step=spec.max_step, min_segment=spec.min_segment,
                                   max_segment=spec.max_segment)
    return world_sequence([unit_pixels(digits[d]) for d in chosen], velocities=velocities, starts=starts,
                          corner=corner, actions=actions.tolist(), world_size=spec.world_size,
                          view_size=spec.view_size)


def mnist_world_batch(digits: np.ndarray, indices: Sequence[int], *, seed: int = 0,
                      spec: WorldSpec = WorldSpec()) -> WorldSample:
    """Sequences ``indices`` stacked: every field gains a leading ``B`` axis."""
    items = [mnist_world(digits, int(i), seed=seed, spec=spec) for i in indices]
    if not items:
        raise ValueError("indices must name at least one sequence")
    return WorldSample(*(torch.stack([getattr(item, name) for item in items])
                         for name in ("views", "actions", "world", "corners")))


# -- the protocols ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorldProtocol:
    """A fixed scenario: its sequence, how many of its frames are context, and which predicted frames
    (indices into the predictions, ``0`` = the first frame after the context) its score reads."""

    name: str
    sample: WorldSample
    context_frames: int
    scored: tuple[int, ...]

    @property
    def predict_frames(self) -> int:
        return int(self.sample.views.shape[0]) - self.context_frames


def ink_span(image: np.ndarray, *, axis: int = 1) -> tuple[int, int]:
    """First and last index along ``axis`` (1: columns) where ``image`` ``(h, w)`` has ink (> 0)."""
    inked = np.flatnonzero(np.asarray(image).max(axis=1 - axis) > 0)
    if not len(inked):
        raise ValueError("the image has no ink")
    return int(inked[0]), int(inked[-1])


def _unseen(columns: np.ndarray, left: int, *, view_size: int, world_size: int) -> bool:
    """Whether no world column in ``columns`` lies in the window ``[left, left + view_size)`` (mod W)."""
    return bool(np.all((columns - left) % world_size >= view_size))


def look_away_and_back(image: np.ndarray, *, world_size: int = 48, view_size: int = CANVAS,
                       context_frames: int = 10, away_frames: int = 12, step: int = 2, corner: Velocity = (0, 0),
                       scored_frames: int = 6) -> WorldProtocol:
    """One still digit in view for ``context_frames`` frames (the observer still), then the observer
    moves ``(0, +step)`` for ``away_frames`` frames and ``(0, -step)`` for as many, back to where it
    was. The digit sits at the first window, moved sideways by at most 2 px so that its ink is wholly
    out of view at the far point (``ValueError`` if no such placement exists). Scored: the last
    ``scored_frames`` predicted frames, the digit back in full view."""
    pixels = np.asarray(image, dtype=np.float32)
    first, last = ink_span(pixels)
    far = away_frames * step
    for shift in sorted(range(-2, 3), key=abs):
        ink = np.arange(first, last + 1) + shift
        if ink.min() >= 0 and ink.max() < view_size and _unseen(ink, far, view_size=view_size, world_size=world_size):
            break
    else:
        raise ValueError(f"this digit's ink spans columns {first}..{last}: no placement within 2 px hides it "
                         f"from a window {far} px away in a {world_size}-px world")
    corner = TRANSLATION.as_velocity(corner)
    actions = [(0, 0)] * (context_frames - 1) + [(0, step)] * away_frames + [(0, -step)] * away_frames
    sample = world_sequence([pixels], velocities=[(0, 0)], starts=[(corner[0], corner[1] + shift)], corner=corner,
                            actions=actions, world_size=world_size, view_size=view_size)
    predicted = 2 * away_frames
    return WorldProtocol("look away and back", sample, context_frames,
                         tuple(range(predicted - min(scored_frames, predicted), predicted)))


def chase(image: np.ndarray, *, world_size: int = 48, view_size: int = CANVAS, context_frames: int = 10,
          speed: int = 1, step: int = 2, after_frames: int = 6, corner: Velocity = (0, 0)) -> WorldProtocol:
    """One digit moving ``(0, +speed)``, in view during the context (the observer still). The observer
    stays still until the digit's ink has wholly left the view, then moves ``(0, +step)`` until its
    window has caught up (the digit back where it was in the view), then follows at ``(0, +speed)``
    for ``after_frames`` frames. Scored: the predicted frames from the catch-up on."""
    if not 0 < speed < step:
        raise ValueError(f"the chase needs 0 < speed < step, got speed {speed} and step {step}")
    pixels = np.asarray(image, dtype=np.float32)
    first, last = ink_span(pixels)
    ink = np.arange(first, last + 1)
    # The first frame at which the ink is out of the still window (at most one lap away).
    leave = next((t for t in range(context_frames, context_frames + world_size)
                  if _unseen(ink + t * speed, 0, view_size=view_size, world_size=world_size)), None)
    if leave is None:
        raise ValueError(f"this digit's ink spans columns {first}..{last}: it never leaves a {view_size}-px window "
                         f"in a {world_size}-px world")
    catch = -(-leave * speed // (step - speed))  # frames at +step until the window is back on the digit
    actions = [(0, 0)] * leave + [(0, step)] * catch + [(0, speed)] * after_frames
    corner = TRANSLATION.as_velocity(corner)
    sample = world_sequence([pixels], velocities=[(0, speed)], starts=[corner], corner=corner, actions=actions,
                            world_size=world_size, view_size=view_size)
    caught = leave + catch  # the frame at which the window has caught up
    total = len(actions) + 1
    return WorldProtocol("chase", sample, context_frames, tuple(range(caught - context_frames, total - context_frames)))
