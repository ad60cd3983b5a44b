"""What a comparison computed, as plain NumPy arrays (so it pickles and caches): one
:class:`ModelRun` per model, each with its :class:`HiddenViews`, gathered in a :class:`Comparison`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fernn.encoder import Kind
from fernn.flows import TRANSLATION, Flow, Velocity

__all__ = ["Comparison", "HiddenViews", "ModelRun"]


@dataclass(frozen=True)
class HiddenViews:
    """A run's hidden states as the demo shows them, float16 ``(T + S, C, H, W)`` each.

    pooled: the max (or mean) over velocity copies of the state after each step; with
    ``aligned`` decoding the decoder reads the same pool taken after advancing every copy by its
    own flow, with ``paper`` decoding exactly this. copy: the single copy read out as the input's
    velocity (``copy_velocity``). ``*_stabilised``: rolled back by the input's accumulated motion.
    drift: :func:`~fernn.showcase.stabilised_drift` over the context frames of the copy moving
    with the stabilising velocity, against the ``(0, 0)`` copy of the same scene seen from that
    moving frame: 0 for a flow-equivariant state (to float32 round-off), O(1) when no copy moves
    with the input (a G-RNN, or a velocity outside the set).
    """

    pooled: np.ndarray
    pooled_stabilised: np.ndarray
    copy: np.ndarray
    copy_stabilised: np.ndarray
    copy_velocity: Velocity
    drift: float

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.pooled, self.pooled_stabilised, self.copy, self.copy_stabilised))


@dataclass(frozen=True)
class ModelRun:
    """One model's rollout on a scene, reduced to what the demo shows.

    prediction: ``(S, H, W)``; mse: ``(S,)`` per predicted frame; hidden: :class:`HiddenViews`.
    activity: ``(T + S, V)`` RMS activation of each copy; readout: ``(T + S,)`` the index of the most
    active copy's velocity per step (NaN where all copies are equally active, e.g. after frame
    0); ranking: velocities by activity over the context, most active first.
    """

    name: str
    kind: Kind
    trained_velocities: tuple[Velocity, ...]
    velocities: tuple[Velocity, ...]
    evaluated: bool
    prediction: np.ndarray
    mse: np.ndarray
    hidden: HiddenViews
    activity: np.ndarray
    readout: np.ndarray
    ranking: tuple[Velocity, ...]
    seconds: float
    device: str
    # Its recorded held-out test MSE inside the training range: the headline's yardstick for "keeps".
    in_range_mse: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))  # a stored string names its kind

    @property
    def mean_mse(self) -> float:
        return float(self.mse.mean())

    @property
    def velocity_readout(self) -> Velocity | None:
        """The copy most active over the context frames, or ``None`` for a single-copy model."""
        return self.ranking[0] if len(self.velocities) > 1 and self.ranking else None

    @property
    def hidden_channels(self) -> int:
        return int(self.hidden.pooled.shape[1])

    @property
    def nbytes(self) -> int:
        return self.hidden.nbytes + sum(a.nbytes for a in (self.prediction, self.mse, self.activity, self.readout))


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`~fernn.showcase.compare` computed.

    truth: ``(T + S, H, W)`` the full input sequence; baseline_mse: ``(S,)`` MSE of repeating
    the last context frame; runs: one :class:`ModelRun` per model, in the order given.
    """

    truth: np.ndarray
    context_frames: int
    predict_frames: int
    digit_velocities: tuple[Velocity, ...]
    digit_starts: tuple[Velocity, ...]
    digit_labels: tuple[str, ...]
    stabilise_velocity: Velocity
    baseline_mse: np.ndarray
    training_max_speed: int | None = None
    runs: tuple[ModelRun, ...] = field(default_factory=tuple)
    flow: Flow = TRANSLATION  # the models' flow: speeds, labels and units of the velocities above

    @property
    def baseline_mean_mse(self) -> float:
        return float(self.baseline_mse.mean())

    @property
    def num_frames(self) -> int:
        return self.context_frames + self.predict_frames

    @property
    def nbytes(self) -> int:
        """Bytes of array data held: what a cache of comparisons is bounded by."""
        return self.truth.nbytes + self.baseline_mse.nbytes + sum(run.nbytes for run in self.runs)

    def run(self, name: str) -> ModelRun:
        for item in self.runs:
            if item.name == name:
                return item
        raise KeyError(f"no model named {name!r}; have {[r.name for r in self.runs]}")
