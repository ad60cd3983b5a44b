"""What a flow is, as a value: the one object data, models, checks, figures and the app ask.

A flow is a one-parameter group of transformations indexed by time: a velocity ``v`` moves a map
by ``t * v`` after ``t`` frames. A FERNN keeps one hidden copy per velocity in a finite set ``V``
and moves copy ``nu`` by ``nu`` every step. Everything that depends on *which* group this is —
what a velocity looks like, its velocity sets, how a map or a stack of copies moves, which copy
is whose partner, how grids and controls are labelled, its record in a checkpoint — is a method
of a :class:`Flow`. Nobody else unpacks a velocity.

A new flow subclasses :class:`Flow`, implements the abstract methods (the group law on velocities
and :meth:`Flow.move`) and registers itself with :func:`register_flow`; the generic
:meth:`Flow.move_copies` (one :meth:`move` per copy) is correct for any flow, and a flow with a
faster exact path overrides it (translation gathers every copy at once).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Flow", "GridAxes", "VelocitySet", "flow_from_record", "is_whole_number", "register_flow", "registered_flows"]

# A velocity is whatever its flow says it is (a (dy, dx) pair, a whole number of rotation steps):
# hashable, comparable, and only ever taken apart by its flow.
Velocity = Hashable


def is_whole_number(value: object) -> bool:
    """Whether ``value`` is a whole number: an int (not a bool), a 0-d integer tensor or a numpy integer."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        return True
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iu"


@dataclass(frozen=True)
class GridAxes:
    """How a flow lays a set of velocities out as a table: ``velocities[i][j]`` sits in row ``i``
    and column ``j``; ``row_values`` / ``column_values`` label them (``column_values`` alone for a
    one-parameter flow, with a single unnamed row)."""

    velocities: tuple[tuple[Velocity, ...], ...]
    row_name: str
    column_name: str
    row_values: tuple[int, ...]
    column_values: tuple[int, ...]
    # What a table or figure prints for each column (default: the values), e.g. "+30°".
    column_labels: tuple[str, ...] = ()

    @property
    def column_ticks(self) -> tuple[str, ...]:
        """The printed label of every column: :attr:`column_labels`, or the values as text."""
        return self.column_labels or tuple(str(value) for value in self.column_values)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.velocities), len(self.velocities[0]) if self.velocities else 0

    def flat(self) -> tuple[Velocity, ...]:
        """Every velocity of the grid, row by row."""
        return tuple(v for row in self.velocities for v in row)

    @functools.cached_property
    def _cells(self) -> dict[Velocity, tuple[int, int]]:
        return {v: (row, column) for row, velocities in enumerate(self.velocities) for column, v in enumerate(velocities)}

    def cell(self, velocity: Velocity) -> tuple[int, int] | None:
        """``(row, column)`` index of ``velocity`` in the grid, ``None`` when it is not on it."""
        return self._cells.get(velocity)

    def coordinates(self, velocity: Velocity) -> tuple[int, int] | None:
        """``(row value, column value)`` of ``velocity`` (the labels a figure plots it at), or ``None``."""
        cell = self.cell(velocity)
        return None if cell is None else (self.row_values[cell[0]], self.column_values[cell[1]])


class VelocitySet(tuple):
    """A flow's velocity set as one value: the flow and its velocities (distinct, canonical, at least
    one), in order. Validated once, where it is made (a slider, a link, a command line, a checkpoint);
    every later ``flow.as_velocities`` passes it through as is, down to the rollout. It is the tuple of
    its velocities, so it indexes, iterates and compares like one."""

    flow: Flow

    def __new__(cls, flow: Flow, items: Iterable[object]) -> VelocitySet:
        if isinstance(items, VelocitySet) and items.flow == flow:
            return items
        if not isinstance(flow, Flow):
            raise ValueError(f"a velocity set needs a fernn.flows.Flow, got {flow!r}")
        try:
            values = [flow.as_velocity(item) for item in items]
        except TypeError:
            raise ValueError(f"velocities must be a list of {flow.name} velocities, got {items!r}") from None
        if not values:
            raise ValueError("velocities must not be empty")
        if len(set(values)) != len(values):
            repeated = sorted({v for v in values if values.count(v) > 1}, key=repr)
            raise ValueError(f"velocities must be distinct, repeated: {repeated}")
        made = super().__new__(cls, values)
        made.flow = flow
        return made

    def __reduce__(self):
        return VelocitySet, (self.flow, tuple(self))

    @property
    def radius(self) -> int | None:
        """``r`` when this is exactly ``flow.velocity_set(r)`` (in any order), else ``None``."""
        return self.flow.set_radius(self)

    @property
    def fastest(self) -> int:
        """The largest speed in the set."""
        return max(self.flow.speed(v) for v in self)

    def covers(self, velocity: Velocity) -> bool:
        """Whether a copy moves with ``velocity``."""
        return self.flow.as_velocity(velocity) in self

    def partner(self, nu: Velocity, velocity: Velocity, shape: Sequence[int]) -> int | None:
        """Index of copy ``nu - velocity`` (see :meth:`Flow.partner`); ``None`` when truncated."""
        return self.flow.partner(nu, velocity, self, shape)


class Flow(ABC):
    """A flow: its velocities, its action on maps and on stacks of velocity copies, its labels.

    Instances are immutable values; two instances with the same :meth:`to_record` are equal.
    """

    #: The registry key, stored in checkpoints (``{"name": ..., **options}``).
    name: str = ""

    # -- velocities: the group law -------------------------------------------------------------
    @abstractmethod
    def as_velocity(self, item: object) -> Velocity:
        """``item`` as this flow's canonical velocity; ``ValueError`` naming the expected form."""

    @property
    @abstractmethod
    def zero(self) -> Velocity:
        """The velocity that does not move (a G-RNN's only copy)."""

    @abstractmethod
    def combine(self, a: Velocity, b: Velocity, *, times: int = 1) -> Velocity:
        """``a + times * b`` in the velocity group (``times`` may be negative: ``combine(a, b,
        times=-1)`` is ``a - b``)."""

    @abstractmethod
    def speed(self, velocity: Velocity) -> int:
        """How fast ``velocity`` moves, in the flow's steps per frame (the radius of the smallest
        :meth:`velocity_set` that holds it)."""

    @abstractmethod
    def velocities_up_to(self, max_speed: int) -> tuple[Velocity, ...]:
        """Every velocity with :meth:`speed` at most ``max_speed``, in a fixed order (what
        :meth:`velocity_set` holds)."""

    def velocity_set(self, max_speed: int) -> VelocitySet:
        """The set ``V_r``: every velocity with :meth:`speed` at most ``max_speed``, as one value."""
        return VelocitySet(self, self.velocities_up_to(max_speed))

    def scale(self, velocity: Velocity, times: int) -> Velocity:
        """``times * velocity``: the displacement after ``times`` frames."""
        return self.combine(self.zero, velocity, times=times)

    def canonical(self, velocity: Velocity, shape: Sequence[int]) -> Velocity:
        """The representative of ``velocity`` as a motion of maps of ``shape`` ``(H, W)``: two
        velocities with the same canonical form move every map alike (translation wraps on the
        torus). The default treats every velocity as distinct."""
        return velocity

    def as_velocities(self, items: Iterable[object]) -> VelocitySet:
        """``items`` as a :class:`VelocitySet` of this flow: validated here unless it already is one."""
        return VelocitySet(self, items)

    def probe_velocities(self) -> tuple[Velocity, ...]:
        """The input flows an evaluation checks hidden-state equivariance at: a few slow and fast ones."""
        return tuple(v for v in self.velocity_set(2) if v != self.zero)[:3]

    def set_radius(self, velocities: Sequence[Velocity]) -> int | None:
        """``r`` when ``velocities`` is exactly :meth:`velocity_set` ``(r)`` (in any order), else ``None``."""
        radius = max(self.speed(v) for v in velocities)
        return radius if sorted(velocities, key=repr) == sorted(self.velocity_set(radius), key=repr) else None

    def partner(self, nu: Velocity, velocity: Velocity, velocities: Sequence[Velocity],
                shape: Sequence[int]) -> int | None:
        """Index in ``velocities`` of copy ``nu - velocity``: the copy of the unmoved run that copy
        ``nu`` of a run flowed by ``velocity`` must equal, moved; ``None`` when it is outside the set
        (a *truncated* copy)."""
        wanted = self.canonical(self.combine(nu, velocity, times=-1), shape)
        for index, candidate in enumerate(velocities):
            if self.canonical(candidate, shape) == wanted:
                return index
        return None

    # -- the action on tensors -----------------------------------------------------------------
    @abstractmethod
    def move(self, x: torch.Tensor, displacement: Velocity) -> torch.Tensor:
        """Move maps ``(..., H, W)`` by the group element ``displacement`` (exactly, on the
        flow's domain)."""

    def move_state(self, h: torch.Tensor, displacement: Velocity) -> torch.Tensor:
        """Move hidden maps ``(..., C, H, W)`` by ``displacement``: where the state is lifted to the
        group (rotation: an orientation axis inside ``C``), the group acts on that axis too. The
        default is :meth:`move` (translation acts on space alone)."""
        return self.move(h, displacement)

    def move_copies(self, h: torch.Tensor, velocities: Sequence[Velocity], *, times: int = 1,
                    pad: int = 0) -> torch.Tensor:
        """Move copy ``n`` of ``h`` by ``times * velocities[n]`` and circularly pad by ``pad``.

        h: ``(B, V, C, H, W)`` -> ``(B, V, C, H + 2 pad, W + 2 pad)``. The generic version moves one
        copy at a time; a flow overrides it with a faster exact path.
        """
        if h.shape[1] != len(velocities):
            raise ValueError(f"h has {h.shape[1]} velocity copies but {len(velocities)} velocities were given")
        moved = torch.stack([self.move_state(h[:, n], self.scale(v, times)) for n, v in enumerate(velocities)], dim=1)
        if not pad:
            return moved
        batch, copies = moved.shape[:2]
        padded = F.pad(moved.flatten(0, 1), (pad,) * 4, mode="circular")  # (B*V, C, H+2p, W+2p)
        return padded.unflatten(0, (batch, copies))

    def copy_mover(self, velocities: Sequence[Velocity], *, batch: int, channels: int, height: int, width: int,
                   pad: int, like: torch.Tensor):
        """A callable ``mover(h)`` equal to :meth:`move_copies` ``(h, velocities, pad=pad)`` for a
        rollout's no-gradient hot loop. A flow may return an object that writes into one reused
        buffer exposed as ``mover.out``; the default allocates per call."""
        velocities = tuple(velocities)
        return lambda h: self.move_copies(h, velocities, pad=pad)

    def flow_sequence(self, frames: torch.Tensor, velocity: Velocity) -> torch.Tensor:
        """Add a constant flow to frames ``(..., T, C, H, W)``: frame ``t`` is moved by ``t * velocity``."""
        if frames.ndim < 4:
            raise ValueError(f"frames must have shape (..., T, C, H, W), got {tuple(frames.shape)}")
        velocity = self.as_velocity(velocity)
        moved = [self.move(frames[..., t, :, :, :], self.scale(velocity, t)) for t in range(frames.shape[-4])]
        return torch.stack(moved, dim=-4) if moved else frames.clone()

    def flow_image(self, image: torch.Tensor, velocity: Velocity, num_frames: int, *,
                   start: Velocity | None = None) -> torch.Tensor:
        """Frames of one image ``(C, H, W)`` moving at ``velocity`` from ``start``: ``(T, C, H, W)``;
        frame ``t`` is the image moved by ``start + t * velocity``."""
        if num_frames < 0:
            raise ValueError(f"num_frames must be >= 0, got {num_frames}")
        velocity = self.as_velocity(velocity)
        origin = self.zero if start is None else self.as_velocity(start)
        frames = [self.move(image, self.combine(origin, velocity, times=t)) for t in range(num_frames)]
        return torch.stack(frames) if frames else image.new_zeros((0, *image.shape))

    # -- the convolutions that commute with the flow -----------------------------------------
    def convolutions(self, *, in_channels: int, hidden_channels: int, kernel_size: int) -> tuple[nn.Module, nn.Module]:
        """The cell's input and recurrent convolutions, ``(C_in -> C, C -> C)``, bias-free and
        unpadded (the cell pads circularly). Each module's ``.weight`` must be the full
        ``(out, in, k, k)`` kernel. Plain convolutions commute with translations; a flow of another
        group returns modules whose kernels are built from shared weights."""
        return (nn.Conv2d(in_channels, hidden_channels, kernel_size, bias=False),
                nn.Conv2d(hidden_channels, hidden_channels, kernel_size, bias=False))

    def convolution_parameters(self, *, in_channels: int, hidden_channels: int, kernel_size: int) -> int:
        """Trainable numbers in :meth:`convolutions` (for checking a checkpoint before building it)."""
        return (in_channels + hidden_channels) * hidden_channels * kernel_size * kernel_size

    # -- tables --------------------------------------------------------------------------------
    @abstractmethod
    def grid(self, max_speed: int) -> GridAxes:
        """:meth:`velocity_set` ``(max_speed)`` laid out as a table (its words: :mod:`fernn.flows.words`)."""

    # -- identity and records ------------------------------------------------------------------
    def options(self) -> dict:
        """The flow's parameters (none for translation; ``N`` for rotation), as plain values."""
        return {}

    def to_record(self) -> dict:
        """The flow's record in a checkpoint: ``{"name": ..., **options}``."""
        return {"name": self.name, **self.options()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Flow) and self.to_record() == other.to_record()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_record().items())))

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.options().items())
        return f"{type(self).__name__}({options})"


_REGISTRY: dict[str, type[Flow]] = {}


def register_flow(cls: type[Flow]) -> type[Flow]:
    """Make a flow class loadable from checkpoints by its ``name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Flow)) or not cls.name:
        raise ValueError(f"register_flow takes a Flow subclass with a name, got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


def registered_flows() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def flow_from_record(record: object) -> Flow:
    """The flow a checkpoint record describes (see :meth:`Flow.to_record`)."""
    if isinstance(record, str):
        record = {"name": record}
    if not isinstance(record, dict) or not isinstance(record.get("name"), str):
        raise ValueError(f"a flow record is a dict with a 'name', got {record!r}")
    options = {key: value for key, value in record.items() if key != "name"}
    cls = _REGISTRY.get(record["name"])
    if cls is None:
        raise ValueError(f"unknown flow {record['name']!r}; known: {', '.join(registered_flows())}")
    try:
        return cls(**options)
    except TypeError as error:
        raise ValueError(f"bad options for flow {record['name']!r}: {error}") from None
