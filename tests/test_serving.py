"""fernn.serving: compact digit links, the byte-bounded comparison cache, run slots."""

from __future__ import annotations

import base64
import threading
import zlib

import numpy as np
import pytest

import fernn
from fernn import serving, showcase


def small_comparison(predict_frames: int = 2) -> showcase.Comparison:
    """A real comparison of a 2-channel G-RNN on one still diagonal stroke."""
    model = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1).eval()
    return showcase.compare({"G-RNN": model}, [showcase.Digit(np.eye(28))], context_frames=3,
                            predict_frames=predict_frames)


@pytest.mark.parametrize("image", [np.zeros((28, 28)), np.eye(28), np.random.default_rng(0).random((28, 28))])
def test_digit_links_round_trip_compactly(image):
    text = serving.encode_digit(image)
    assert len(text) <= 1400 and text.isascii() and "&" not in text and "=" not in text
    np.testing.assert_allclose(serving.decode_digit(text), np.round(image * 255) / 255, atol=1e-7)


@pytest.mark.parametrize("text", ["", "z1.", "z1.!!!", "x9.AAAA", "z1." + "A" * 5000,
                                  "z1." + base64.urlsafe_b64encode(zlib.compress(b"\0" * 10_000_000)).decode()])
def test_damaged_digit_links_raise_a_demo_error(text):
    with pytest.raises(showcase.DemoError):
        serving.decode_digit(text)


def test_comparison_cache_is_bounded_by_bytes():
    result = small_comparison()
    cache = serving.ComparisonCache(max_bytes=int(2.5 * result.nbytes))
    for key in range(5):
        cache.put(key, result)
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.get(4) is result and cache.get(0) is None
    tiny = serving.ComparisonCache(max_bytes=10)
    tiny.put("big", result)
    assert len(tiny) == 0


def test_an_oversized_comparison_does_not_empty_the_cache():
    result = small_comparison()
    cache = serving.ComparisonCache(max_bytes=int(1.5 * result.nbytes))
    cache.put("kept", result)
    big = small_comparison(predict_frames=20)
    cache.put("big", big)
    assert cache.get("kept") is result and cache.get("big") is None


def test_run_slots_queue_the_rest():
    slots = serving.RunSlots(1)
    waited, release = [], threading.Event()

    def hold_first() -> None:
        with slots.hold():
            release.wait(5)

    first = threading.Thread(target=hold_first)
    first.start()
    while slots._semaphore._value:  # noqa: SLF001 - wait until the first run holds its slot
        pass
    threading.Timer(0.1, release.set).start()
    with slots.hold(on_wait=lambda: waited.append(True)):
        pass
    first.join()
    assert waited == [True]
    with pytest.raises(showcase.DemoError, match="busy"):
        with slots.hold():
            with slots.hold(timeout=0.05):
                pass
