"""Reading hidden states: which frame each step has read, undoing the input's motion, how far a
stabilised state drifts from the still scene's, and which velocity copy is most active.

Index convention of :meth:`fernn.Forecaster.rollout`: hidden step ``i`` is the state after
reading input ``i``; with ``aligned`` decoding input ``i`` is frame ``i`` (true or predicted),
with ``paper`` decoding the prediction steps re-read one frame late.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fernn.flows import TRANSLATION, Flow, Velocity
from fernn.showcase.errors import DemoError

__all__ = [
    "drift_copies",
    "hidden_frame_indices",
    "most_active_copy",
    "motion_stabilise",
    "stabilised_drift",
    "velocity_readout",
]


def hidden_frame_indices(decoding: str, context_frames: int, predict_frames: int) -> np.ndarray:
    """For each hidden step ``i``, the index of the frame it has read: ``int64 (T + S,)``.

    With ``aligned`` decoding hidden step ``i`` follows frame ``i``; with ``paper`` decoding the
    first prediction step re-reads frame ``T - 1``, so prediction steps lag one frame behind.
    """
    indices = np.arange(context_frames + predict_frames)
    if decoding == "paper":
        indices[context_frames:] -= 1
    return indices


def motion_stabilise(maps: torch.Tensor, velocity: Velocity, frame_indices: Sequence[int],
                     flow: Flow = TRANSLATION, *, images: bool = False) -> torch.Tensor:
    """Undo a constant input motion: map ``i`` is moved back by ``frame_indices[i] * velocity``.

    maps: ``(N, C, H, W)`` -> ``(N, C, H, W)``: hidden states, moved as the flow moves a state
    (rotation also rolls the orientation channels back), or with ``images=True`` frames, of which
    only the picture moves. A structure that moves with the input stands still afterwards; a
    structure left behind by the input (a smear) moves backwards.
    """
    if len(frame_indices) != maps.shape[0]:
        raise DemoError(f"{maps.shape[0]} maps but {len(frame_indices)} frame indices")
    back = tuple(flow.scale(flow.as_velocity(velocity), -int(f)) for f in frame_indices)
    if images:
        return torch.stack([flow.move(image, displacement) for image, displacement in zip(maps, back)])
    return flow.move_copies(maps.unsqueeze(0), back)[0].contiguous()  # (N, C, H, W)


def stabilised_drift(stabilised: torch.Tensor, reference: torch.Tensor, steps: slice) -> float:
    """How far motion-stabilised maps are from the maps of the same scene seen from the moving
    frame: the mean over ``steps`` of ``||S_t - R_t|| / ||R_t||``.

    stabilised, reference: ``(N, C, H, W)``. For a flow-equivariant state ``S_t = R_t`` (exactly
    for the copies whose partner is in ``V``, approximately after the max-pool), so the drift is
    near 0; a G-RNN's state smears behind a moving input and drifts by O(1).

    This is the app's view of the relation :func:`fernn.flow_equivariance_error` checks (there: every
    copy against its partner, max relative error; here: the one co-moving copy, mean relative L2 over
    the context, on the visitor's scene). Both vanish and both fail together
    (``tests/showcase/test_analysis.py``).
    """
    moved, still = stabilised[steps].flatten(1).double(), reference[steps].flatten(1).double()  # (K, C*H*W)
    if moved.shape[0] == 0:
        return float("nan")
    error = torch.linalg.vector_norm(moved - still, dim=1)
    size = torch.linalg.vector_norm(still, dim=1).clamp_min(1e-12)
    return float((error / size).mean())


def drift_copies(velocities: tuple[Velocity, ...], velocity: Velocity, flow: Flow = TRANSLATION) -> tuple[int, int]:
    """(copy of the moving run, copy of the still reference) that flow equivariance pairs up: the
    copy moving at ``velocity`` with the reference's zero-velocity copy; where no copy moves with it
    (a G-RNN, or a set without it) the zero copies, which then drift. A set without the zero
    velocity compares its first copies."""
    if flow.zero not in velocities:
        return 0, 0
    still = velocities.index(flow.zero)
    return (velocities.index(velocity) if velocity in velocities else still), still


def velocity_readout(activity: np.ndarray, velocities: Sequence[Velocity], steps: slice) -> tuple[Velocity, ...]:
    """Velocities ranked by their copy's mean activity over hidden ``steps`` (most active first).

    activity: ``(T + S, V)`` per-copy RMS activation. In a FERNN the copy that moves with the
    input sees a standing stimulus and builds up coherent, strong structure; other copies see it
    slide past and smear it, so the top-ranked copy reads out the input's velocity.
    """
    mean = activity[steps].mean(axis=0)  # (V,)
    order = np.argsort(-mean, kind="stable")
    return tuple(velocities[int(i)] for i in order)  # the flow's own velocities, whatever their form


def most_active_copy(activity: np.ndarray) -> np.ndarray:
    """Per hidden step, the index of the most active copy: ``int64 (T + S,)`` (its velocity is
    ``velocities[index]``, whatever the flow).

    activity: ``(T + S, V)``. A step where every copy is equally active (to a relative 1e-6,
    e.g. step 0, read from the zero state) has no winner and reads -1.
    """
    spread = activity.max(axis=1) - activity.min(axis=1)  # (T+S,)
    best = activity.argmax(axis=1).astype(np.int64)  # (T+S,)
    best[spread <= 1e-6 * np.maximum(activity.max(axis=1), 1e-12)] = -1
    return best
