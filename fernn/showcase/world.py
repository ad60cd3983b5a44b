"""The app's World motion: a scene of the visitor's digits on MNIST World's torus, an observer's
path, both world models run on it, and what happened said with numbers.

The visitor's digits (picked, drawn or uploaded) are :class:`~fernn.showcase.Digit` values with
translation velocities and starts in world pixels; the observer's window starts at the world's
top-left, still during the context, then follows a :data:`PATHS` path (or the visitor's own moves).
The world models are read from ``world/grnn`` and ``world/fernn`` of the checkpoint folder.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

import numpy as np

from fernn.datasets.world import WorldSample, world_sequence
from fernn.flows import TRANSLATION, Velocity
from fernn.showcase.scenes import Digit
from fernn.world import WorldModel, memory_in_world

__all__ = ["CONTEXT_FRAMES", "LOOK_AWAY", "PATHS", "PREDICT_FRAMES", "WORLD_FOLDER", "WORLD_MODELS", "WorldComparison",
           "WorldRun", "compare_world", "parse_moves", "world_actions", "world_headline", "world_models_missing", "world_npz",
           "world_scene"]

WORLD_FOLDER = "world"
WORLD_MODELS = ("grnn", "fernn")  # model folders in WORLD_FOLDER, the G-RNN first
CONTEXT_FRAMES, PREDICT_FRAMES = 10, 24
STEP = 2  # the observer's speed on the scripted paths, px/frame (the training actions reach 2)
LOOK_AWAY, CHASE, SWEEP, CIRCLE, OWN = "Look away and back", "Chase", "Sweep", "Circle", "Own moves"
PATHS = (LOOK_AWAY, CHASE, SWEEP, CIRCLE, OWN)
MAX_OWN_MOVE, MAX_OWN_FRAMES = 4, 60
DEFAULT_MOVES = "0,2 x12; 0,-2 x12"
MAX_MOVES_CHARS = 200  # the moves' text box


def parse_moves(text: str) -> list[Velocity]:
    """The visitor's own moves: ``"dy,dx xN; ..."`` (``xN`` repeats a move N times; ``;`` or a new line
    separates them), each component a whole number in ``-4..4``, at most 60 frames in all."""
    moves: list[Velocity] = []
    for part in re.split(r"[;\n]+", text.strip()):
        if not part.strip():
            continue
        match = re.fullmatch(r"\s*([+-]?\d+)\s*,\s*([+-]?\d+)\s*(?:[x×*]\s*(\d+))?\s*", part)
        if match is None:
            raise ValueError(f"cannot read the move {part.strip()[:20]!r}: write dy,dx or dy,dx x N (e.g. 0,2 x12)")
        dy, dx, repeat = int(match[1]), int(match[2]), int(match[3] or 1)
        if max(abs(dy), abs(dx)) > MAX_OWN_MOVE:
            raise ValueError(f"each move is at most {MAX_OWN_MOVE} px a frame on each axis, got {dy},{dx}")
        if repeat < 1 or len(moves) + repeat > MAX_OWN_FRAMES:
            raise ValueError(f"give 1 to {MAX_OWN_FRAMES} predicted frames of moves in all")
        moves.extend([(dy, dx)] * repeat)
    if not moves:
        raise ValueError("give at least one move, e.g. 0,2 x12; 0,-2 x12")
    return moves


def world_actions(path: str, *, chased: Velocity = (0, 1), own: str = DEFAULT_MOVES) -> list[Velocity]:
    """The observer's moves after the context (one per predicted frame): look away ``(0, +2)`` x 12 and
    back; chase (still for 12 frames while the first digit moves at ``chased``, then twice its speed for
    12 frames: the window is back on it); sweep (``(0, +2)`` x 24, one lap of the 48-px world); circle (a
    square loop home); or the visitor's own."""
    half = PREDICT_FRAMES // 2
    if path == LOOK_AWAY:
        return [(0, STEP)] * half + [(0, -STEP)] * half
    if path == CHASE:
        return [(0, 0)] * half + [TRANSLATION.combine(chased, chased)] * half
    if path == SWEEP:
        return [(0, STEP)] * PREDICT_FRAMES
    if path == CIRCLE:
        side = PREDICT_FRAMES // 4
        return [(STEP, 0)] * side + [(0, STEP)] * side + [(-STEP, 0)] * side + [(0, -STEP)] * side
    if path == OWN:
        return parse_moves(own)
    raise ValueError(f"path must be one of {', '.join(PATHS)}, got {path!r}")


def world_scene(digits: list[Digit], moves: list[Velocity], *, world_size: int = 48,
                context_frames: int = CONTEXT_FRAMES) -> WorldSample:
    """The world and the observer's views: the window at the top-left, still for the context, then ``moves``."""
    if not digits:
        raise ValueError("the world needs at least one digit")
    actions = [(0, 0)] * (context_frames - 1) + list(moves)
    return world_sequence([d.image for d in digits], velocities=[d.velocity for d in digits],
                          starts=[d.start for d in digits], corner=(0, 0), actions=actions, world_size=world_size)


@dataclass(frozen=True)
class WorldRun:
    """One world model's run: ``prediction (S, S_v, S_v)``, ``mse (S,)``, ``memory (S, W, W)`` in world
    coordinates or ``None`` (with ``memory_note`` saying why), and its compute time."""

    name: str
    kind: str
    prediction: np.ndarray
    mse: np.ndarray
    memory: np.ndarray | None
    memory_note: str
    seconds: float


@dataclass(frozen=True)
class WorldComparison:
    """The scene, both runs and the first digit's visibility per frame."""

    sample: WorldSample
    context_frames: int
    path: str
    runs: tuple[WorldRun, ...]
    visible: np.ndarray  # (T,) the fraction of the first digit's ink in view
    seconds: float

    @property
    def num_frames(self) -> int:
        return int(self.sample.views.shape[0])

    @property
    def nbytes(self) -> int:
        """Its arrays' bytes (the server's cache is bounded by them)."""
        arrays = [self.sample.views, self.sample.world, self.visible]
        arrays += [a for run in self.runs for a in (run.prediction, run.mse, run.memory) if a is not None]
        return sum(a.nbytes if isinstance(a, np.ndarray) else a.numel() * a.element_size() for a in arrays)

    @property
    def predict_frames(self) -> int:
        return self.num_frames - self.context_frames


def _visible(digit: Digit, sample: WorldSample, context_frames: int) -> np.ndarray:
    """The fraction of ``digit``'s ink inside the window per frame ``(T,)``."""
    alone = world_sequence([digit.image], velocities=[digit.velocity], starts=[digit.start], corner=(0, 0),
                           actions=sample.actions.tolist(), world_size=sample.world_size)
    ink = alone.world.sum(dim=(1, 2, 3)).clamp_min(1e-9)
    return (alone.views.sum(dim=(1, 2, 3)) / ink).numpy()


def compare_world(models: dict[str, WorldModel], digits: list[Digit], moves: list[Velocity], *,
                  path: str = LOOK_AWAY, context_frames: int = CONTEXT_FRAMES) -> WorldComparison:
    """Run every world model on the scene; memory read-outs moved to world coordinates."""
    started = time.perf_counter()
    sizes = {model.world_size for model in models.values()}
    if len(sizes) != 1:
        raise ValueError(f"the world models must share one world size, got {sorted(sizes)}")
    sample = world_scene(digits, moves, world_size=sizes.pop(), context_frames=context_frames)
    steps = sample.views.shape[0] - context_frames
    runs = []
    for name, model in models.items():
        began = time.perf_counter()
        weight = next(model.parameters())
        views = sample.views[None, :context_frames].to(weight)
        out = model.forecast(views, steps, actions=sample.actions[None].to(weight.device), return_memory=True)
        prediction = out.frames[0, :, 0].float().cpu()  # (S, S_v, S_v)
        truth = sample.views[context_frames:, 0]
        mse = ((prediction.double() - truth.double()) ** 2).mean(dim=(1, 2)).numpy()
        memory = None
        if out.memory is not None:
            corners = sample.corners[None, context_frames:]
            memory = memory_in_world(out.memory.float().cpu(), corners)[0, :, 0].clamp(0, 1).numpy()
        runs.append(WorldRun(name, model.config.kind, prediction.clamp(0, 1).numpy(), mse, memory, out.memory_note,
                             time.perf_counter() - began))
    return WorldComparison(sample, context_frames, path, tuple(runs), _visible(digits[0], sample, context_frames),
                           time.perf_counter() - started)


def world_headline(result: WorldComparison) -> str:
    """What happened in this run, with its numbers (Markdown): how long digit 1 was out of view (less
    than half its ink in the window) and each model's MSE once it was back, against an empty view's."""
    context = result.context_frames
    seen = result.visible[context:]
    away = np.flatnonzero(seen < 0.5)
    runs = {run.kind: run for run in result.runs}
    labels = {"fernn": "FERNN", "grnn": "G-RNN"}
    if len(away) and away[-1] < len(seen) - 1:
        back = np.arange(away[-1] + 1, len(seen))  # predicted frames after the last one away
        told = {kind: float(run.mse[back].mean()) for kind, run in runs.items()}
        blank = float((result.sample.views[context:, 0].double().numpy()[back] ** 2).mean())  # an empty view's MSE
        gone = int((seen < 0.02).sum())
        said = [f"The observer looked away: digit 1 was out of view for **{len(away)} frames**"
                + (f" (wholly for {gone})" if gone else "") + f", then back for {len(back)}."]
        for kind in ("fernn", "grnn"):
            if kind in told:
                verdict = "still had the digit" if told[kind] < 0.5 * blank else "lost it"
                said.append(f"The {labels[kind]} **{verdict}**: MSE {told[kind]:.2g} once it was back.")
        said.append(f"An empty view would score {blank:.2g}.")
        if "fernn" in told and "grnn" in told and told["fernn"] > 0:
            said.append(f"The G-RNN's error is {told['grnn'] / told['fernn']:.1f}x the FERNN's.")
        return " ".join(said)
    overall = ", ".join(f"{labels.get(kind, kind)} MSE {float(run.mse.mean()):.2g}"
                        for kind, run in sorted(runs.items(), reverse=True))
    if not len(away):
        return f"Digit 1 stayed mostly in view: {overall} over the {len(seen)} predicted frames."
    return (f"Digit 1 left the view for {len(away)} frames and was still out of it at the end: {overall} over the "
            f"{len(seen)} predicted frames.")


def world_models_missing(folder: str) -> str:
    """What to say while the world models are not shipped (Markdown)."""
    names = ", ".join(f"`{name}`" for name in WORLD_MODELS)
    return (f"The world models are not shipped yet: they are being trained, and will be read from `{folder}/` "
            f"({names}). The other motions work without them.")



def world_npz(result: WorldComparison) -> bytes:
    """The run's raw arrays as ``.npz`` bytes: ``world (T, W, W)``, ``views (T, S, S)``, ``actions (T - 1, 2)``,
    ``corners (T, 2)``, ``context_frames``, ``path``, ``visible (T,)``, ``model_names`` and, for model
    ``k``, ``model{k}_prediction (S_p, S, S)``, ``_mse (S_p,)`` and ``_memory (S_p, W, W)`` (world
    coordinates; absent for a model that holds nothing beyond its view)."""
    sample = result.sample
    arrays = {"world": sample.world[:, 0].numpy(), "views": sample.views[:, 0].numpy(),
              "actions": sample.actions.numpy(), "corners": sample.corners.numpy(),
              "context_frames": np.asarray(result.context_frames), "path": np.asarray(result.path),
              "visible": result.visible, "model_names": np.asarray([run.name for run in result.runs])}
    for k, run in enumerate(result.runs):
        arrays[f"model{k}_prediction"], arrays[f"model{k}_mse"] = run.prediction, run.mse
        if run.memory is not None:
            arrays[f"model{k}_memory"] = run.memory
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
