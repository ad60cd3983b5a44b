"""What a public demo server needs beyond the computation: a comparison cache bounded by bytes, a
queue of run slots, the page's run settings, the server's settings from the environment, and error
messages fit for a visitor.

No streamlit import: the app holds one :class:`ComparisonCache` and one :class:`RunSlots` per server
process."""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fernn.showcase.errors import DemoError
from fernn.showcase.results import Comparison
from fernn.showcase.scenes import Digit
from fernn.showcase.links import WholeNumber, shown_value

__all__ = ["ComparisonCache", "RunSlots", "ServerSettings", "comparison_key", "run_cached", "server_for",
           "settings_from_environment", "visitor_message"]


# ----------------------------------------------------------------------------- serving many users


class ComparisonCache:
    """A thread-safe LRU of comparisons (and classifications) bounded by bytes (their ``nbytes``), not entries."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Comparison] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(item.nbytes for item in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Comparison | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: Hashable, item: Comparison) -> None:
        if item.nbytes > self.max_bytes:  # never kept: and it must not push the others out
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            total = sum(value.nbytes for value in self._items.values())
            while total > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                total -= dropped.nbytes


def comparison_key(versions: tuple, digits: Sequence[Digit], velocities: object, context_frames: int,
                   predict_frames: int) -> tuple:
    """A comparison's key in the cache: the models' file versions, each digit's pixels, velocity
    and start, the velocity choice and the frame counts (everything its result depends on)."""
    return (tuple(versions), tuple((d.image.tobytes(), d.velocity, d.start) for d in digits), velocities,
            context_frames, predict_frames)


def run_cached(cache: ComparisonCache, slots: RunSlots, key: Hashable, compute: Callable[[], Comparison], *,
               on_wait: Callable[[], None] | None = None) -> Comparison:
    """``compute()`` once per ``key``: from ``cache`` when it is there, else run in one of ``slots`` and kept."""
    found = cache.get(key)
    if found is None:
        with slots.hold(on_wait=on_wait):
            found = compute()
        cache.put(key, found)
    return found


class RunSlots:
    """At most ``slots`` heavy runs at once across all sessions; the rest wait their turn."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def hold(self, *, on_wait: Callable[[], None] | None = None, timeout: float = 300.0) -> Iterator[None]:
        """Hold a slot for the ``with`` block; ``on_wait()`` is called first if none is free.
        Raises :class:`DemoError` after ``timeout`` seconds without one."""
        if not self._semaphore.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            if not self._semaphore.acquire(timeout=timeout):
                raise DemoError(f"the server is busy: no free slot for {timeout:.0f} s; try again in a moment")
        try:
            yield
        finally:
            self._semaphore.release()


# ----------------------------------------------------------------------------- server settings, messages


@dataclass(frozen=True)
class ServerSettings:
    """The demo server's knobs, read from the environment by :func:`settings_from_environment`."""

    run_slots: int = 2  # heavy runs at once across all visitors; the rest queue
    cache_megabytes: int = 512  # finished comparisons kept for reuse
    torch_threads: int = 1  # 28x28 maps gain nothing from more, and visitors share the cores


# variable -> (field, smallest, largest, what it sets)
ENVIRONMENT = {
    "FERNN_RUN_SLOTS": ("run_slots", 1, 64, "runs computed at once"),
    "FERNN_CACHE_MB": ("cache_megabytes", 0, 1_048_576, "megabytes of finished comparisons kept"),
    "FERNN_TORCH_THREADS": ("torch_threads", 1, 256, "torch CPU threads per run"),
}


def settings_from_environment(environ: Mapping[str, str]) -> ServerSettings:
    """:class:`ServerSettings` from ``FERNN_RUN_SLOTS``, ``FERNN_CACHE_MB`` and
    ``FERNN_TORCH_THREADS`` (unset or empty: the default). A bad value raises ``ValueError``
    naming every bad variable, so a misconfigured server says so instead of failing per page."""
    values, problems = {}, []
    for variable, (name, low, high, meaning) in ENVIRONMENT.items():
        text = environ.get(variable, "").strip()
        if not text:
            continue
        value, note = WholeNumber(low, high).read(text)
        if value is None or note:  # never clamped here: the operator asked for something else
            problems.append(f"{variable}={shown_value([text])} must be a whole number from {low} to {high:,} "
                            f"({meaning})")
        else:
            values[name] = int(value)
    if problems:
        raise ValueError("; ".join(problems))
    return ServerSettings(**values)


# One cache and one set of run slots per process and settings: kept here, not in st.cache_resource,
# because any visitor can send Streamlit's clear_cache message, which empties every cache_resource
# (new slots would be built while old runs go on, and the queue would stop bounding the work).
_SERVERS: dict[ServerSettings, tuple[ComparisonCache, RunSlots]] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(settings: ServerSettings) -> tuple[ComparisonCache, RunSlots]:
    """The process's comparison cache and run slots for ``settings``, made once; no client message resets them."""
    with _SERVERS_LOCK:
        if settings not in _SERVERS:
            _SERVERS[settings] = (ComparisonCache(settings.cache_megabytes * 1024**2), RunSlots(settings.run_slots))
        return _SERVERS[settings]


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A directory part of an absolute POSIX or Windows path (not inside a URL or a fraction).
_DIRECTORIES = re.compile(r"(?<![\w.:/\\])(?:/|[A-Za-z]:\\)(?:[^\s/\\'\"`()]+[/\\])+")


def visitor_message(error: BaseException | str, *, folders: Sequence[Path] = ()) -> str:
    """An error's text fit for a visitor's screen: its first line, no terminal colour codes, and
    files named by their base name only (a server's folders are nobody else's business).
    ``folders`` are removed first, whatever their names hold (a space ends a path otherwise)."""
    text = _ANSI.sub("", str(error)).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, OSError) and error.filename is not None:  # "[Errno 2] No such file or directory: '/x/y'"
        first = f"{error.strerror or 'cannot be read'}: {Path(str(error.filename)).name}"
    for folder in folders:
        first = first.replace(f"{folder}{os.sep}", "")
    return _DIRECTORIES.sub("", first)
