"""The one error type of the showcase: every room below raises it for a request it cannot run."""

from __future__ import annotations

__all__ = ["DemoError"]


class DemoError(ValueError):
    """A demo request that cannot run as asked (bad settings, over the memory budget)."""
