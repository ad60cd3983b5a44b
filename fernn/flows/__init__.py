"""Flows as values: :class:`Flow` (what any flow must answer) and its instances.

:class:`Translation` (the ``Z^2`` torus, velocities ``(dy, dx)``) is the first; ``TRANSLATION`` is
its instance and the default of every model. :class:`Rotation` (``C_N``, velocities in whole
steps of ``360 / N`` degrees, the hidden state lifted to ``N`` orientations) is the second. The
module-level helpers below are the translation flow's (kept for the API documented before flows
were values): ``velocity_set``, ``shift``, ``shift_copies``, ``flow_image``, ``flow_sequence``,
``as_velocities``.
"""

from fernn.flows.base import Flow, GridAxes, VelocitySet, flow_from_record, register_flow, registered_flows
from fernn.flows.rotation import Rotation
from fernn.flows.translation import (CopyShifter, Translation, Velocity, as_velocities, flow_image, flow_sequence,
                                     shift, shift_copies, velocity_set)

TRANSLATION = Translation()

__all__ = [
    "TRANSLATION",
    "CopyShifter",
    "Flow",
    "GridAxes",
    "Rotation",
    "Translation",
    "Velocity",
    "VelocitySet",
    "as_velocities",
    "flow_from_record",
    "flow_image",
    "flow_sequence",
    "register_flow",
    "registered_flows",
    "shift",
    "shift_copies",
    "velocity_set",
]
