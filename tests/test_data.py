"""Digits, Flowing MNIST sequences, the IDX reader and user-drawn digits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from fernn.datasets import digits as mnist
from fernn.datasets import flowing
from fernn import flows
from fernn.datasets.flowing import SequenceSpec

# ---------------------------------------------------------------------------------------------
# Bundled digits
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: mnist.load_digits(split) for split in mnist.SPLITS}


@pytest.mark.parametrize(("split", "per_class"), [("train", 400), ("val", 50), ("test", 50)])
def test_bundled_digits_shapes_dtype_and_balance(split, per_class, bundled_splits) -> None:
    images, labels = bundled_splits[split]
    assert images.shape == (10 * per_class, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (10 * per_class,)
    assert labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, per_class))
    assert images.max() == 255 and images.min() == 0
    # Consecutive digits cycle through the classes (ordered by rank, then label).
    assert np.array_equal(labels[:20], np.tile(np.arange(10), 2))


def test_bundled_splits_are_disjoint_and_cover_the_archive(bundled_splits) -> None:
    keys = {split: {image.tobytes() for image in images} for split, (images, _) in bundled_splits.items()}
    assert len(keys["train"]) == 4000 and len(keys["val"]) == 500 and len(keys["test"]) == 500
    assert not keys["train"] & keys["val"]
    assert not keys["train"] & keys["test"]
    assert not keys["val"] & keys["test"]
    with np.load(mnist.BUNDLED_DIGITS) as archive:
        assert {image.tobytes() for image in archive["images"]} == keys["train"] | keys["val"] | keys["test"]


def test_bundled_digits_are_stable_across_calls(bundled_splits) -> None:
    images, labels = mnist.load_digits("val")
    assert np.array_equal(images, bundled_splits["val"][0])
    assert np.array_equal(labels, bundled_splits["val"][1])


def test_load_digits_rejects_unknown_split() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        mnist.load_digits("validation")


# ---------------------------------------------------------------------------------------------
# Flowing MNIST
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits(bundled_splits) -> np.ndarray:
    return bundled_splits["train"][0][:100]


@pytest.fixture
def tiny_digits() -> np.ndarray:
    """Three random 28x28 'digits' with distinct contents, so positions can be searched exhaustively."""
    generator = np.random.default_rng(7)
    images = generator.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    images[:, 10:] = 0  # leave room so two digits do not clip everywhere
    return images


def test_flowing_mnist_shape_range_and_dtype(digits) -> None:
    sequence = flowing.flowing_mnist(digits, 0)
    assert sequence.shape == (20, 1, 28, 28)
    assert sequence.dtype == torch.float32
    assert sequence.min() >= 0 and sequence.max() <= 1
    assert sequence.max() > 0.5
    short = flowing.flowing_mnist(digits, 0, spec=SequenceSpec(num_frames=3, num_digits=3, max_speed=2))
    assert short.shape == (3, 1, 28, 28)
    assert short.min() >= 0 and short.max() <= 1


def test_flowing_mnist_is_a_pure_function_of_seed_and_index(digits) -> None:
    first = flowing.flowing_mnist(digits, 5, seed=3)
    # Unrelated draws in between must not change item 5.
    flowing.flowing_mnist(digits, 6, seed=3)
    torch.rand(10)
    np.random.rand(10)
    assert torch.equal(flowing.flowing_mnist(digits, 5, seed=3), first)
    assert not torch.equal(flowing.flowing_mnist(digits, 5, seed=4), first)
    assert not torch.equal(flowing.flowing_mnist(digits, 6, seed=3), first)


def test_flowing_mnist_batch_stacks_items(digits) -> None:
    spec = SequenceSpec(num_frames=4)
    batch = flowing.flowing_mnist_batch(digits, [3, 0, 3], seed=2, spec=spec)
    assert batch.shape == (3, 4, 1, 28, 28)
    for row, index in enumerate([3, 0, 3]):
        assert torch.equal(batch[row], flowing.flowing_mnist(digits, index, seed=2, spec=spec))


def _find_placement(frame: torch.Tensor, tiny_digits: np.ndarray) -> tuple[int, tuple[int, int]]:
    """The ``(digit, offset)`` whose rolled digit equals ``frame`` ``(1, 28, 28)``; asserts uniqueness."""
    found = []
    for digit, image in enumerate(tiny_digits):
        tensor = torch.from_numpy(image.astype(np.float32) / 255.0).unsqueeze(0)
        for dy in range(28):
            for dx in range(28):
                if torch.equal(flows.shift(tensor, (dy, dx)), frame):
                    found.append((digit, (dy, dx)))
    assert len(found) == 1, f"expected one placement, found {found}"
    return found[0]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_single_digit_moves_exactly_like_the_flows(index, tiny_digits) -> None:
    spec = SequenceSpec(num_frames=6, num_digits=1, max_speed=2)
    sequence = flowing.flowing_mnist(tiny_digits, index, spec=spec)
    _find_placement(sequence[0], tiny_digits)  # frame 0 is one digit at an integer offset
    # The velocity is some v in {-2..2}^2, and frame t is frame 0 rolled by t * v.
    matches = [
        v for v in flows.velocity_set(2)
        if all(torch.equal(sequence[t], flows.shift(sequence[0], (t * v[0], t * v[1]))) for t in range(6))
    ]
    assert len(matches) == 1, f"sequence {index} matches velocities {matches}"


@pytest.mark.parametrize("velocity", [(1, -2), (0, 0), (-3, 1)])
def test_fixed_velocity_variant_moves_every_digit_by_time_times_velocity(velocity, digits) -> None:
    for num_digits in (1, 2):
        spec = SequenceSpec(num_frames=5, num_digits=num_digits, velocity=velocity)
        sequence = flowing.flowing_mnist(digits, 4, seed=1, spec=spec)
        for t in range(5):
            assert torch.equal(sequence[t], flows.shift(sequence[0], (t * velocity[0], t * velocity[1])))


def test_fixed_velocity_keeps_placements_of_the_random_draw(tiny_digits) -> None:
    """A fixed velocity only replaces the velocities: digits and offsets come from the same draw."""
    spec = SequenceSpec(num_frames=3, num_digits=1, velocity=(2, 2))
    sequence = flowing.flowing_mnist(tiny_digits, 0, seed=9, spec=spec)
    digit, offset = _find_placement(sequence[0], tiny_digits)
    random_velocity = flowing.flowing_mnist(tiny_digits, 0, seed=9, spec=SequenceSpec(num_frames=3, num_digits=1))
    assert torch.equal(random_velocity[0], sequence[0])  # same digit, same offset
    image = torch.from_numpy(tiny_digits[digit].astype(np.float32) / 255.0).unsqueeze(0)  # (1, H, W)
    expected = flows.flow_image(image, (2, 2), 3, start=offset)
    assert torch.equal(sequence, expected)


def test_two_digits_are_summed_and_clipped() -> None:
    # Two bands of 15 bright rows on a 28-row torus always overlap, so some pixels sum past 1.
    bright = np.zeros((2, 28, 28), dtype=np.uint8)
    bright[:, :15] = 200
    level = float(np.float32(200) / np.float32(255))
    for index in range(5):
        sequence = flowing.flowing_mnist(bright, index, spec=SequenceSpec(num_frames=2, num_digits=2))
        assert sequence.max() == 1.0
        assert set(np.unique(sequence.numpy()).tolist()) <= {0.0, level, 1.0}



def test_moving_digits_is_what_flowing_mnist_draws(tiny_digits) -> None:
    """The shared drawing step: each image rolled by start + t v, summed, clipped; bad input named."""
    images = [mnist.unit_pixels(tiny_digits[0]), mnist.unit_pixels(tiny_digits[1])]
    frames = flowing.moving_digits(images, velocities=[(1, -2), (0, 3)], starts=[(4, 0), (-1, 5)], num_frames=4)
    for t in range(4):
        expected = np.roll(images[0], (4 + t, -2 * t), axis=(0, 1)) + np.roll(images[1], (-1, 5 + 3 * t), axis=(0, 1))
        np.testing.assert_array_equal(frames[t, 0].numpy(), np.clip(expected, 0.0, 1.0))
    assert mnist.unit_pixels(np.array([0, 255], dtype=np.uint8)).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="one velocity and one start per image"):
        flowing.moving_digits(images, velocities=[(0, 0)], starts=[(0, 0)] * 2, num_frames=2)
    with pytest.raises(ValueError, match="one .H, W. shape"):
        flowing.moving_digits([images[0], images[0][:5]], velocities=[(0, 0)] * 2, starts=[(0, 0)] * 2, num_frames=2)
    with pytest.raises(ValueError, match="at least one image"):
        flowing.moving_digits([], velocities=[], starts=[], num_frames=2)

def test_sequence_spec_validation() -> None:
    for options in ({"num_frames": 0}, {"num_digits": 0}, {"max_speed": -1}):
        with pytest.raises(ValueError, match="invalid sequence spec"):
            SequenceSpec(**options)
    assert SequenceSpec(velocity=(np.int64(1), -2)).velocity == (1, -2)


def test_flowing_mnist_dataset_indexing(digits) -> None:
    spec = SequenceSpec(num_frames=3)
    dataset = flowing.FlowingMNIST(digits, length=4, seed=5, spec=spec)
    assert len(dataset) == 4
    for index in range(4):
        assert torch.equal(dataset[index], flowing.flowing_mnist(digits, index, seed=5, spec=spec))
    for bad in (4, -1, 100):
        with pytest.raises(IndexError, match="out of range for 4 sequences"):
            dataset[bad]
    with pytest.raises(ValueError, match="length must be positive"):
        flowing.FlowingMNIST(digits, length=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=False)
    batches = list(loader)
    assert [b.shape for b in batches] == [(2, 3, 1, 28, 28)] * 2
    assert torch.equal(batches[1][0], dataset[2])


# ---------------------------------------------------------------------------------------------
# IDX files (the format full MNIST ships in)
# ---------------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> Path:
    """Write ``array`` as an IDX file: magic ``0 0 type ndim``, big-endian dims, big-endian data."""
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[type_code]
    payload = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += np.ascontiguousarray(array, dtype=big_endian).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)
    return path


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
@pytest.mark.parametrize(
    ("type_code", "array"),
    [
        (0x08, np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)),
        (0x08, np.array([3, 1, 4, 1, 5], dtype=np.uint8)),
        (0x09, np.array([[-3, 7], [127, -128]], dtype=np.int8)),
        (0x0B, np.array([-300, 2, 30000], dtype=np.int16)),
        (0x0C, np.array([[-70000, 1], [2, 2**30]], dtype=np.int32)),
        (0x0D, np.array([1.5, -2.25, 1e10], dtype=np.float32)),
        (0x0E, np.array([[np.pi]], dtype=np.float64)),
    ],
)
def test_load_idx_round_trip(type_code, array, name, tmp_path) -> None:
    loaded = mnist.load_idx(write_idx(tmp_path / name, array, type_code))
    assert loaded.shape == array.shape
    assert loaded.dtype.kind == array.dtype.kind and loaded.dtype.itemsize == array.dtype.itemsize
    assert loaded.dtype.isnative
    assert np.array_equal(loaded, array)


def test_load_idx_rejects_bad_magic_and_truncation(tmp_path) -> None:
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="bad magic number"):
        mnist.load_idx(bad)
    unknown_type = tmp_path / "unknown.idx"
    unknown_type.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="bad magic number"):
        mnist.load_idx(unknown_type)
    tiny = tmp_path / "tiny.idx"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="bad magic number"):
        mnist.load_idx(tiny)
    truncated = tmp_path / "truncated.idx"
    full = write_idx(tmp_path / "full.idx", np.zeros((4, 5), dtype=np.uint8)).read_bytes()
    truncated.write_bytes(full[:-3])
    with pytest.raises(ValueError, match="promises 20 bytes of data, file holds 17"):
        mnist.load_idx(truncated)


def _write_mnist(root: Path, *, train: int, test: int, gzipped: bool, dotted: bool = False) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(0)
    arrays = {
        "train-images": generator.integers(0, 256, size=(train, 28, 28), dtype=np.uint8),
        "train-labels": (np.arange(train) % 10).astype(np.uint8),
        "t10k-images": generator.integers(0, 256, size=(test, 28, 28), dtype=np.uint8),
        "t10k-labels": (np.arange(test) % 7).astype(np.uint8),
    }
    for stem, array in arrays.items():
        name = f"{stem}-idx{array.ndim}-ubyte"
        if dotted:
            name = name.replace("-idx", ".idx")
        write_idx(root / (name + (".gz" if gzipped else "")), array)
    return arrays


@pytest.mark.parametrize(("gzipped", "dotted"), [(False, False), (True, False), (True, True)])
def test_load_digits_from_idx_directory_with_validation_holdout(gzipped, dotted, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(mnist, "IDX_VALIDATION", 4)
    arrays = _write_mnist(tmp_path, train=13, test=6, gzipped=gzipped, dotted=dotted)
    train_images, train_labels = mnist.load_digits("train", root=tmp_path)
    val_images, val_labels = mnist.load_digits("val", root=str(tmp_path))
    test_images, test_labels = mnist.load_digits("test", root=tmp_path)
    assert np.array_equal(train_images, arrays["train-images"][:9])
    assert np.array_equal(val_images, arrays["train-images"][9:])
    assert np.array_equal(test_images, arrays["t10k-images"])
    assert np.array_equal(train_labels, arrays["train-labels"][:9])
    assert np.array_equal(val_labels, arrays["train-labels"][9:])
    assert np.array_equal(test_labels, arrays["t10k-labels"])
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64


def test_load_digits_default_holdout_is_the_last_5000_training_digits(tmp_path) -> None:
    assert mnist.IDX_VALIDATION == 5000
    arrays = _write_mnist(tmp_path, train=5010, test=2, gzipped=True)
    train_images, _ = mnist.load_digits("train", root=tmp_path)
    val_images, val_labels = mnist.load_digits("val", root=tmp_path)
    assert np.array_equal(train_images, arrays["train-images"][:10])
    assert val_images.shape == (5000, 28, 28)
    assert np.array_equal(val_labels, arrays["train-labels"][10:])


def test_load_digits_from_idx_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist.load_digits("train", root=tmp_path)
    generator = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", generator.integers(0, 256, size=(5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="do not hold matching images and labels"):
        mnist.load_digits("test", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# A user's own digit (canvas drawing, photo, scan)
# ---------------------------------------------------------------------------------------------


def stroke_mask(height: int, width: int) -> np.ndarray:
    """A thick '7'-like stroke covering a region away from the centre, as a boolean ``(H, W)`` mask."""
    rows, cols = np.mgrid[0:height, 0:width]
    top = height // 5
    thickness = max(2, height // 14)
    bar = (np.abs(rows - top) < thickness) & (cols > width // 5) & (cols < width // 2)
    # The diagonal leg from the bar's right end down-left.
    leg_col = width // 2 - (rows - top) * (width // 4) / max(1, (3 * height) // 5)
    leg = (np.abs(cols - leg_col) < thickness) & (rows >= top) & (rows < top + (3 * height) // 5)
    return bar | leg


def assert_mnist_like(digit: np.ndarray) -> None:
    assert digit.shape == (28, 28)
    assert digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0
    assert digit.max() > 0.5
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert height <= 20 and width <= 20, f"ink box {height}x{width} exceeds 20x20"
    assert max(height, width) >= 19, f"ink box {height}x{width}: the longer side should be scaled to 20"
    mass = digit.sum()
    centre = ((digit.sum(axis=1) * np.arange(28)).sum() / mass, (digit.sum(axis=0) * np.arange(28)).sum() / mass)
    assert abs(centre[0] - 13.5) <= 0.5 + 1e-6 and abs(centre[1] - 13.5) <= 0.5 + 1e-6, f"centre of mass {centre}"
    # Nothing wrapped around the field's edges.
    assert height < 28 and width < 28


def test_user_digit_rgba_drawing_on_transparent_background() -> None:
    mask = stroke_mask(200, 150)
    results = []
    for stroke_colour in (0, 255):  # a black or a white pen: opacity is the ink either way
        rgba = np.zeros((200, 150, 4), dtype=np.uint8)
        rgba[mask, :3] = stroke_colour
        rgba[mask, 3] = 255
        results.append(mnist.prepare_user_digit(rgba))
        assert_mnist_like(results[-1])
    assert np.array_equal(results[0], results[1])
    # The same stroke as a white-on-black grayscale image gives the same digit.
    assert np.array_equal(results[0], mnist.prepare_user_digit(mask.astype(np.uint8) * 255))


def test_user_digit_white_on_black_and_inverted_photo_agree() -> None:
    mask = stroke_mask(90, 120)
    white_on_black = np.where(mask, 255, 0).astype(np.uint8)
    expected = mnist.prepare_user_digit(white_on_black)
    assert_mnist_like(expected)
    # A grey photo of dark ink on white paper, in RGB, with mild sensor noise.
    generator = np.random.default_rng(1)
    photo = np.where(mask, 30.0, 230.0)[..., None] + generator.normal(0, 3, size=(90, 120, 3))
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    inverted = mnist.prepare_user_digit(photo)
    assert_mnist_like(inverted)
    assert np.abs(inverted - expected).max() < 0.1
    # The same digit as a single-channel (H, W, 1) scan.
    assert np.array_equal(mnist.prepare_user_digit(white_on_black[..., None]), expected)


def test_user_digit_huge_canvas() -> None:
    huge = np.zeros((3000, 2400), dtype=np.uint8)
    huge[300:2700, 400:2000] = stroke_mask(2400, 1600) * 255
    digit = mnist.prepare_user_digit(huge)
    assert_mnist_like(digit)


@pytest.mark.parametrize("low, high", [(-5.0, 300.0), (0.0, 1.0), (1e-3, 2e-3), (-1.0, 0.0)])
def test_user_digit_float_input_of_any_range(low, high) -> None:
    mask = stroke_mask(60, 60)
    image = np.where(mask, high, low).astype(np.float64)
    digit = mnist.prepare_user_digit(image)
    assert_mnist_like(digit)
    reference = mnist.prepare_user_digit(mask.astype(np.uint8) * 255)
    assert np.allclose(digit, reference, atol=1e-6)
    assert_mnist_like(mnist.prepare_user_digit(mask))  # booleans too


def test_user_digit_small_off_centre_stroke_is_centred() -> None:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[2:6, 20:27] = 255  # a small blob in a corner
    assert_mnist_like(mnist.prepare_user_digit(image))


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_user_digit_lopsided_mass_never_wraps_around(side) -> None:
    """A heavy block at one end of a long thin stroke: centring the mass exactly would move the
    20-pixel box up to 10 pixels, past the edge of the 28-pixel field (4 pixels of margin)."""
    image = np.zeros((100, 200), dtype=np.uint8)
    image[:, :30] = 255  # heavy block
    image[50, 30:] = 255  # one-pixel line to the far side
    turns = {"left": 0, "top": 3, "right": 2, "bottom": 1}[side]
    digit = mnist.prepare_user_digit(np.rot90(image, turns))
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    # One contiguous ink box of at most 20x20: nothing wrapped to the opposite edge.
    assert np.array_equal(rows, np.arange(rows[0], rows[-1] + 1))
    assert np.array_equal(cols, np.arange(cols[0], cols[-1] + 1))
    assert len(rows) <= 20 and len(cols) <= 20 and max(len(rows), len(cols)) >= 19
    # The heavy end sits as near the centre as the field allows: the long side touches the far edge.
    mass = digit.sum()
    centre = ((digit.sum(axis=1) * np.arange(28)).sum() / mass, (digit.sum(axis=0) * np.arange(28)).sum() / mass)
    long_axis = 1 if side in ("left", "right") else 0
    span = cols if long_axis == 1 else rows
    assert span[0] == 0 or span[-1] == 27
    assert abs(centre[long_axis] - 13.5) > 0.5  # could not be centred without wrapping
    assert abs(centre[1 - long_axis] - 13.5) <= 0.5 + 1e-6  # the short axis is centred as usual


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((50, 50), dtype=np.uint8), "blank"),
        (np.full((50, 50), 7.0), "blank"),
        (np.full((50, 50, 4), 255, dtype=np.uint8), "blank"),
        (np.where(np.eye(20) > 0, np.nan, 0.0), "NaN or infinite"),
        (np.where(np.eye(20) > 0, np.inf, 0.0), "NaN or infinite"),
        (np.zeros(50), r"shape \(H, W\), \(H, W, 3\) or \(H, W, 4\)"),
        (np.zeros((2, 20, 20, 3)), r"shape \(H, W\), \(H, W, 3\) or \(H, W, 4\)"),
        (np.zeros((20, 20, 2)), r"shape \(H, W\), \(H, W, 3\) or \(H, W, 4\)"),
        (np.zeros((0, 20)), "empty"),
        (np.zeros((4097, 8), dtype=np.uint8), "too large: 4097x8, at most 4096"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric array"),
        (np.array([[object(), 1]], dtype=object), "numeric array"),
    ],
)
def test_user_digit_rejects_unusable_images(image, message) -> None:
    with pytest.raises(ValueError, match=message):
        mnist.prepare_user_digit(image)
