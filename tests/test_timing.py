"""``fernn.timing``: the one clock the bench and ``resolve_precision`` read (a fake clock; no timing asserted)."""

from __future__ import annotations

import pytest
import torch

import fernn.devices
import fernn.timing as timing


class FakeClock:
    """Stands in for ``perf_counter``: time moves only when a timed function says it does."""

    def __init__(self, *, tick: float = 0.0) -> None:
        self.now = 0.0
        self.reads = 0
        self.tick = tick  # seconds each read moves the clock on, for callers that cannot move it

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.tick
        return self.now - self.tick


def test_time_calls_counts_calls_and_returns_best_then_median(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(timing, "perf_counter", clock)
    # One warm-up call, then three repeats of two calls, each repeat's calls costing 3, 1, 2 seconds.
    costs = iter([100.0] + [3.0] * 2 + [1.0] * 2 + [2.0] * 2)
    calls = []

    def function() -> None:
        calls.append(clock.now)
        clock.now += next(costs)

    result = timing.time_calls(function, repeats=3, calls=2, warmup=1, device="cpu")
    assert len(calls) == 7
    assert result == timing.Timing(best=1.0, median=2.0)  # per call; the untimed warm-up (100 s) left out
    assert clock.reads == 6  # one start and one stop per repeat


def test_time_calls_on_the_real_clock_gives_ordered_non_negative_seconds() -> None:
    calls = []
    result = timing.time_calls(lambda: calls.append(1), repeats=5, calls=3, warmup=2, device=torch.device("cpu"))
    assert len(calls) == 2 + 5 * 3
    assert 0.0 <= result.best <= result.median


@pytest.mark.parametrize(
    ("options", "name"),
    [({"repeats": 0}, "repeats"), ({"repeats": True}, "repeats"), ({"repeats": 2.0}, "repeats"),
     ({"repeats": 1, "calls": 0}, "calls"), ({"repeats": 1, "warmup": -1}, "warmup")],
)
def test_time_calls_rejects_bad_counts(options: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be an integer"):
        timing.time_calls(lambda: None, device="cpu", **options)


def test_resolve_precision_times_fp32_and_bf16_on_the_shared_clock(monkeypatch) -> None:
    clock = FakeClock(tick=1.0)
    monkeypatch.setattr(timing, "perf_counter", clock)
    # Every measurement reads one second, in both precisions: bf16 is not 1.2x faster, so fp32.
    choice = fernn.devices.resolve_precision("auto", torch.device("cpu"), hidden_channels=4, batch=1, copies=1, size=6)
    assert choice == "fp32"
    assert clock.reads == 2 * 3 * 2  # fp32 and bf16, three timed repeats each, a start and a stop per repeat
