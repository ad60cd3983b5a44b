"""Plain stored values read leniently: a wrong type, NaN or inf reads as ``None`` (or empty), never an
exception, so a checkpoint with a damaged record still runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["EMPTY", "fraction", "integer", "mapping", "number", "numbers"]

EMPTY: Mapping = MappingProxyType({})


def number(value: object) -> float | None:
    """A finite int or float as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        found = float(value)  # an int too large for a float raises OverflowError
    except OverflowError:
        return None
    return found if math.isfinite(found) else None


def integer(value: object, default: int | None = None) -> int | None:
    """An int (not a bool), else ``default``."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def fraction(value: object) -> float | None:
    """A finite number in ``[0, 1]``."""
    found = number(value)
    return found if found is not None and 0 <= found <= 1 else None


def mapping(value: object) -> Mapping:
    """A dict as a read-only mapping (empty for anything else)."""
    return MappingProxyType(dict(value)) if isinstance(value, dict) else EMPTY


def numbers(value: object) -> tuple[float, ...]:
    """A list of finite numbers as a tuple; empty if any entry is not one."""
    if not isinstance(value, list):
        return ()
    found = tuple(number(v) for v in value)
    return () if None in found else found
