"""How prose, tables and controls say a flow's velocities: one formatter per flow, registered by the
flow's name. A :class:`~fernn.flows.Flow` keeps the group law and the action; what is said in words
lives here (``words(flow).rate(v)``: ``"(1, -2) px/frame"``, ``"+60°/frame"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from fernn.flows.base import Flow, Velocity

__all__ = ["FlowWords", "RotationWords", "TranslationWords", "register_words", "words"]


class FlowWords:
    """The words of one flow. The defaults suit a flow that registers nothing better."""

    #: The unit of a velocity in the app and figures, e.g. ``"px/frame"``.
    unit: str = "steps/frame"
    #: How prose says a digit goes under this flow ("moves", "turns").
    verb: str = "moves"

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def label(self, velocity: Velocity) -> str:
        """A short label of a velocity, without unit (``"(1, -2)"``, ``"-30°"``)."""
        return str(velocity)

    def set_label(self, max_speed: int) -> str:
        """How ``flow.velocity_set(max_speed)`` is written, e.g. ``"V = {-2..2}^2"``."""
        return f"V_{max_speed}"

    def rate(self, velocity: Velocity) -> str:
        """A velocity with its unit: ``"(1, -2) px/frame"``, ``"+60°/frame"``."""
        return f"{self.label(velocity)} {self.unit}"

    def speed_text(self, speed: int) -> str:
        """A speed (``flow.speed``) with its unit: ``"2 px/frame"``, ``"60°/frame"``."""
        return f"{speed} {self.unit}"

    def range_text(self, limit: int) -> str:
        """The speeds up to ``limit``: ``"|v| ≤ 1"``, ``"|ω| ≤ 30°/frame"``."""
        return f"|v| ≤ {limit}"

    def describe_channels(self, channels: Sequence[int]) -> str:
        """What hidden ``channels`` are where the state has a group axis; ``""`` where a channel is a channel."""
        return ""

    def one_velocity(self) -> str:
        """A grid cell's motion in words: "one fixed velocity (dy, dx)"."""
        return "one fixed velocity"


class TranslationWords(FlowWords):
    unit = "px/frame"

    def one_velocity(self) -> str:
        return "one fixed velocity (dy, dx)"

    def label(self, velocity: Velocity) -> str:
        return f"({velocity[0]}, {velocity[1]})"

    def set_label(self, max_speed: int) -> str:
        return f"V = {{-{max_speed}..{max_speed}}}^2" if max_speed else "V = {(0, 0)}"


class RotationWords(FlowWords):
    unit = "°/frame"
    verb = "turns"

    def one_velocity(self) -> str:
        return "one fixed angular velocity ω"

    def label(self, velocity: int) -> str:
        return f"{velocity * self.flow.step_degrees:+g}°" if velocity else "0°"

    def set_label(self, max_speed: int) -> str:
        return f"V = {{-{max_speed}..{max_speed}}} × {self.flow.step_degrees:g}°" if max_speed else "V = {0°}"

    def rate(self, velocity: int) -> str:
        return f"{self.label(velocity)}/frame"

    def speed_text(self, speed: int) -> str:
        return f"{speed * self.flow.step_degrees:g}°/frame"

    def range_text(self, limit: int) -> str:
        return f"|ω| ≤ {limit * self.flow.step_degrees:g}°/frame"

    def describe_channels(self, channels: Sequence[int]) -> str:
        order, step = self.flow.order, self.flow.step_degrees
        return "; ".join(f"ch {c}: field {c // order}, orientation {c % order * step:g}°" for c in channels)


# Each flow's formatter, by the flow's registry name.
_WORDS: dict[str, type[FlowWords]] = {"translation": TranslationWords, "rotation": RotationWords}


def register_words(flow_name: str, cls: type[FlowWords]) -> type[FlowWords]:
    """Let :func:`words` say the velocities of the flow registered as ``flow_name``."""
    _WORDS[flow_name] = cls
    words.cache_clear()
    return cls


@lru_cache(maxsize=64)
def words(flow: Flow) -> FlowWords:
    """The formatter of ``flow``'s velocities."""
    return _WORDS.get(flow.name, FlowWords)(flow)
