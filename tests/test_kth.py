"""Moving KTH on a tiny synthetic KTH written here: parsing, splits, clips, draws, the flow, errors.

The videos are 64x64 gray AVIs (lossless FFV1, so decoding is exact) of one moving square whose
brightness encodes the frame number: frame ``n`` (1-based) shows ``50 + 2 n``. Resized to 32x32
by area, the square stays an exact 8x8 block, so every decoded clip can be checked pixel for pixel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fernn.datasets import kth
from fernn.flows import TRANSLATION
from fernn.datasets.kth import ACTIONS, MovingKTH, SubSequence, Video

SIDE, SQUARE, SIZE = 64, 16, 32

# (person, action, scenario) -> frames written; None: listed as *missing* and never written.
VIDEOS = {
    (1, "walking", 1): 80,
    (1, "boxing", 1): 70,
    (2, "handclapping", 2): 80,  # its second range (41-100) runs past the last frame: truncated
    (13, "handclapping", 3): None,
    (17, "running", 1): 64,
    (21, "jogging", 4): 64,
    (22, "handwaving", 3): 50,
}
SEQUENCES = """KTH sequences, as described in the dataset: a title and prose that the parser skips.

person01_walking_d1\t\tframes\t1-40, 41-75, 76-80
person01_boxing_d1\t\tframes\t1-35, 36-70
person02_handclapping_d2\tframes\t1-32, 41-100,
person13_handclapping_d3\t\t*missing*

Training:  person01, person02
person17_running_d1     frames  1-64
person21_jogging_d4     frames  1-31, 32-64
person22_handwaving_d3  frames  1-50
"""
# Sub-sequences of at least 16 * 2 frames, per split (76-80 and 1-31 are too short).
EXPECTED = {
    "train": {(1, "walking", 1, 1, 40), (1, "walking", 1, 41, 75), (1, "boxing", 1, 1, 35),
              (1, "boxing", 1, 36, 70), (2, "handclapping", 2, 1, 32), (2, "handclapping", 2, 41, 100)},
    "val": {(17, "running", 1, 1, 64)},
    "test": {(21, "jogging", 4, 32, 64), (22, "handwaving", 3, 1, 50)},
}


def brightness(frame: int) -> int:
    return 50 + 2 * frame


def corner(frame: int) -> tuple[int, int]:
    """Top-left pixel of the square in frame ``frame``: even, so a 2x2 area resize keeps it sharp."""
    return 2 * (frame % 16), 2 * ((3 * frame) % 24)


def render(frame: int) -> np.ndarray:
    """Frame ``frame`` as written: ``uint8 (64, 64)``."""
    image = np.zeros((SIDE, SIDE), dtype=np.uint8)
    row, col = corner(frame)
    image[row : row + SQUARE, col : col + SQUARE] = brightness(frame)
    return image


def expected_small(frame: int) -> torch.Tensor:
    """Frame ``frame`` as the loader must return it before any flip or flow: ``(1, 32, 32)``."""
    image = torch.zeros(1, SIZE, SIZE)
    row, col = corner(frame)
    image[0, row // 2 : (row + SQUARE) // 2, col // 2 : (col + SQUARE) // 2] = brightness(frame) / 255.0
    return image


def write_video(path: Path, num_frames: int, *, codec: str = "ffv1", pix_fmt: str = "gray") -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(str(path), (SIDE, SIDE), pix_fmt_in="gray", pix_fmt_out=pix_fmt,
                                         codec=codec, fps=25, macro_block_size=1)
    writer.send(None)
    for frame in range(1, num_frames + 1):
        writer.send(render(frame))
    writer.close()


def write_kth(root: Path, sequences: str = SEQUENCES) -> Path:
    for (person, action, scenario), num_frames in VIDEOS.items():
        if num_frames is not None:
            write_video(root / action / Video(person, action, scenario).filename, num_frames)
    (root / kth.SEQUENCES_FILE).write_text(sequences)
    return root


@pytest.fixture(scope="module")
def kth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("imageio_ffmpeg")
    return write_kth(tmp_path_factory.mktemp("kth"))


@pytest.fixture(scope="module")
def train(kth_root: Path) -> MovingKTH:
    return MovingKTH(kth_root, "train", seed=3)


def key(sub: SubSequence) -> tuple:
    return (sub.video.person, sub.video.action, sub.video.scenario, sub.first, sub.last)


# ---------------------------------------------------------------------------------------------
# 00sequences.txt
# ---------------------------------------------------------------------------------------------


def test_parse_reads_ranges_skips_prose_and_missing_videos() -> None:
    subsequences = kth.parse_sequences(SEQUENCES)
    assert [key(sub) for sub in subsequences] == [
        (1, "walking", 1, 1, 40), (1, "walking", 1, 41, 75), (1, "walking", 1, 76, 80),
        (1, "boxing", 1, 1, 35), (1, "boxing", 1, 36, 70),
        (2, "handclapping", 2, 1, 32), (2, "handclapping", 2, 41, 100),
        (17, "running", 1, 1, 64), (21, "jogging", 4, 1, 31), (21, "jogging", 4, 32, 64),
        (22, "handwaving", 3, 1, 50),
    ]
    assert subsequences[0].video.filename == "person01_walking_d1_uncomp.avi"
    assert subsequences[0].length == 40


@pytest.mark.parametrize(("line", "message"), [
    ("person01_boxing_d1 frames 1-95; 96-185", "frame range '1-95; 96-185' is not of the form FIRST-LAST"),
    ("person01_boxing_d1 frames 95-1", "frame range '95-1' must have 1 <= FIRST <= LAST"),
    ("person01_boxing_d1 frames 0-10", "frame range '0-10' must have 1 <= FIRST <= LAST"),
    ("person01_boxing_d1 frames ,", "no frame ranges"),
    ("person01_boxing_d1 1-95, 96-185", "expected 'personNN_ACTION_dN frames"),
    ("person01_boxing_d1", "expected 'personNN_ACTION_dN frames"),
    ("person01_kicking_d1 frames 1-95", "unknown action 'kicking'"),
    ("person26_boxing_d1 frames 1-95", "person 26 .* outside KTH's persons 1-25"),
    ("person01_boxing_d5 frames 1-95", "scenario d5 .* not one of d1-d4"),
    ("person01-boxing-d1 frames 1-95", "video name 'person01-boxing-d1' is not of the form personNN_ACTION_dN"),
])
def test_parse_names_the_malformed_line(line: str, message: str) -> None:
    text = f"title\nperson02_walking_d1 frames 1-40\n{line}\n"
    with pytest.raises(ValueError, match=f"^my.txt line 3: {message}") as error:
        kth.parse_sequences(text, source="my.txt")
    assert "\n" not in str(error.value)


def test_parse_refuses_a_video_listed_twice() -> None:
    text = "person02_walking_d1 frames 1-40\nperson02_walking_d1 *missing*\n"
    with pytest.raises(ValueError, match="line 2: person02_walking_d1 is listed twice \\(first on line 1\\)"):
        kth.parse_sequences(text)


def test_read_sequences_needs_the_folder_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="KTH folder not found"):
        kth.read_sequences(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no 00sequences.txt in"):
        kth.read_sequences(tmp_path)
    (tmp_path / kth.SEQUENCES_FILE).write_bytes(b"\xff\xfe person")
    with pytest.raises(ValueError, match="is not a text file"):
        kth.read_sequences(tmp_path)


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_split_by_person_keeps_long_enough_subsequences(kth_root: Path, split: str) -> None:
    dataset = MovingKTH(kth_root, split, seed=0)
    assert {key(sub) for sub in dataset.subsequences} == EXPECTED[split]
    assert len(dataset) == len(EXPECTED[split])
    assert all(sub.video.person in kth.PERSON_SPLITS[split] for sub in dataset.subsequences)
    assert dataset.labels == tuple(ACTIONS.index(sub.video.action) for sub in dataset.subsequences)


def test_items_are_clips_of_the_right_frames_and_labels(train: MovingKTH) -> None:
    for index, sub in enumerate(train.subsequences):
        frames, label = train[index]
        assert frames.shape == (16, 1, SIZE, SIZE) and frames.dtype == torch.float32
        assert 0.0 <= frames.min() and frames.max() <= 1.0
        assert isinstance(label, int) and ACTIONS[label] == sub.video.action
        draw = train.draw(index)
        decodable = min(sub.last, VIDEOS[(sub.video.person, sub.video.action, sub.video.scenario)])
        assert 0 <= draw.start <= decodable - sub.first + 1 - 31
        # Flips and the flow move the square but keep its brightness: the frame number it shows.
        shown = torch.round(frames.amax(dim=(1, 2, 3)) * 255).long()
        wanted = torch.tensor([brightness(sub.first + draw.start + 2 * k) for k in range(16)])
        assert torch.equal(shown, wanted)


def test_unmoved_clips_equal_the_written_frames(kth_root: Path) -> None:
    still = MovingKTH(kth_root, "train", seed=3, max_speed=0, flip=False, clip_frames=5, frame_step=3)
    for index, sub in enumerate(still.subsequences):
        frames, _ = still[index]
        first = sub.first + still.draw(index).start
        wanted = torch.stack([expected_small(first + 3 * k) for k in range(5)])  # (5, 1, 32, 32)
        assert torch.equal(frames, wanted)


def test_draws_are_a_pure_function_of_seed_and_index(kth_root: Path, train: MovingKTH) -> None:
    again = MovingKTH(kth_root, "train", seed=3)
    order = reversed(range(len(train)))
    for index in order:  # another order and another object: the same items
        assert again.draw(index) == train.draw(index)
        assert torch.equal(again[index][0], train[index][0])
    assert torch.equal(train[0][0], train[0][0])
    other = MovingKTH(kth_root, "train", seed=4)
    assert [other.draw(i) for i in range(len(other))] != [train.draw(i) for i in range(len(train))]
    # with_seed: the draws of a fresh dataset with that seed, on the videos already decoded.
    reseeded = train.with_seed(4)
    assert reseeded._decoded is train._decoded
    assert [reseeded.draw(i) for i in range(len(other))] == [other.draw(i) for i in range(len(other))]
    assert train.seed == 3


def test_each_clip_moves_by_its_velocity_through_the_translation_flow(kth_root: Path, train: MovingKTH) -> None:
    still = MovingKTH(kth_root, "train", seed=3, max_speed=0)
    velocities = set()
    for index in range(len(train)):
        draw = train.draw(index)
        assert draw.velocity in TRANSLATION.velocity_set(2)
        # The velocity set does not change the start or the flip, only the motion.
        assert (still.draw(index).start, still.draw(index).flipped) == (draw.start, draw.flipped)
        assert still.draw(index).velocity == (0, 0)
        assert torch.equal(train[index][0], TRANSLATION.flow_sequence(still[index][0], draw.velocity))
        velocities.add(draw.velocity)
    assert len(velocities) > 1 and velocities != {(0, 0)}


def test_preload_decodes_every_video_once_and_changes_no_item(kth_root: Path, train: MovingKTH) -> None:
    fresh = MovingKTH(kth_root, "train", seed=3)
    assert fresh.preload() is fresh
    assert set(fresh._decoded) == {sub.video for sub in fresh.subsequences}
    decoded = dict(fresh._decoded)
    for index in range(len(fresh)):
        assert torch.equal(fresh[index][0], train[index][0])
    assert all(fresh._decoded[video] is frames for video, frames in decoded.items())


def test_a_given_velocity_set_is_used(kth_root: Path) -> None:
    dataset = MovingKTH(kth_root, "train", seed=1, velocities=[(0, 3)])
    still = MovingKTH(kth_root, "train", seed=1, max_speed=0)
    assert all(dataset.draw(i).velocity == (0, 3) for i in range(len(dataset)))
    assert torch.equal(dataset[2][0], TRANSLATION.flow_sequence(still[2][0], (0, 3)))


def test_training_clips_are_flipped_left_right_by_seeded_coin(kth_root: Path) -> None:
    plain = MovingKTH(kth_root, "train", seed=5, max_speed=0, flip=False)
    flipped = {}
    for seed in range(4):
        maybe = MovingKTH(kth_root, "train", seed=seed, max_speed=0)  # flip defaults on for train
        plain = plain.with_seed(seed)
        for index in range(len(maybe)):
            draw = maybe.draw(index)
            wanted = plain[index][0].flip(-1) if draw.flipped else plain[index][0]
            assert torch.equal(maybe[index][0], wanted)
            flipped[draw.flipped] = True
    assert flipped == {True: True, False: True}
    evaluation = MovingKTH(kth_root, "test", seed=0)
    assert not evaluation.flip and not any(evaluation.draw(i).flipped for i in range(len(evaluation)))


def test_a_truncated_video_gives_clips_from_its_decodable_frames(train: MovingKTH) -> None:
    index = next(i for i, sub in enumerate(train.subsequences) if (sub.first, sub.last) == (41, 100))
    starts = {train.with_seed(seed).draw(index).start for seed in range(30)}
    assert starts <= set(range(80 - 41 + 1 - 31 + 1)) and len(starts) > 1


def test_a_video_too_truncated_for_a_clip_is_an_error(tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    write_video(tmp_path / "boxing" / "person03_boxing_d1_uncomp.avi", 40)
    (tmp_path / kth.SEQUENCES_FILE).write_text("person03_boxing_d1 frames 21-60\n")
    dataset = MovingKTH(tmp_path, "train", seed=0)
    with pytest.raises(ValueError, match="decodes to 40 frames, too few for a 16-frame clip .* in frames 21-60"):
        dataset[0]


def test_videos_lying_directly_in_the_root_are_found(tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    write_video(tmp_path / "person03_boxing_d1_uncomp.avi", 40)
    (tmp_path / kth.SEQUENCES_FILE).write_text("person03_boxing_d1 frames 1-40\n")
    frames, label = MovingKTH(tmp_path, "train", seed=0)[0]
    assert frames.shape == (16, 1, SIZE, SIZE) and ACTIONS[label] == "boxing"


def test_decode_resizes_by_averaging_each_pixels_area(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    write_video(path, 6)
    frames = kth.decode_video(path, size=8)  # 8x8 blocks: the square's edges fall inside blocks
    wanted = np.stack([render(n).reshape(8, 8, 8, 8).mean(axis=(1, 3)) for n in range(1, 7)])
    assert np.array_equal(frames, np.round(wanted).astype(np.uint8))
    assert len(np.unique(frames)) > 2  # partly covered blocks were compared, not just 0 and full


def test_decode_reads_an_mpeg4_avi_like_kth_ships(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    write_video(path, 12, codec="mpeg4", pix_fmt="yuv420p")
    frames = kth.decode_video(path, size=SIZE)
    assert frames.shape == (12, SIZE, SIZE) and frames.dtype == np.uint8
    wanted = torch.stack([expected_small(n) for n in range(1, 13)])[:, 0].numpy() * 255
    assert np.abs(frames.astype(np.float64) - wanted).mean() < 4  # lossy, but the same picture


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_missing_folder_file_or_video_is_named(kth_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="KTH folder not found"):
        MovingKTH(tmp_path / "nowhere", "train", seed=0)
    with pytest.raises(FileNotFoundError, match="no 00sequences.txt"):
        MovingKTH(tmp_path, "train", seed=0)
    copy = shutil.copytree(kth_root, tmp_path / "copy")
    (copy / "boxing" / "person01_boxing_d1_uncomp.avi").unlink()
    with pytest.raises(FileNotFoundError, match="KTH video person01_boxing_d1_uncomp.avi not found"):
        MovingKTH(copy, "train", seed=0)
    assert len(MovingKTH(copy, "val", seed=0)) == 1  # other splits do not need that video
    shutil.rmtree(copy / "running")
    with pytest.raises(FileNotFoundError, match="person17_running_d1_uncomp.avi not found in .*running"):
        MovingKTH(copy, "val", seed=0)


def test_a_malformed_sequences_file_fails_at_construction(tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    (tmp_path / kth.SEQUENCES_FILE).write_text("person01_boxing_d1 frames 1-95 96-185\n")
    with pytest.raises(ValueError, match="00sequences.txt line 1: frame range '1-95 96-185'"):
        MovingKTH(tmp_path, "train", seed=0)


@pytest.mark.parametrize(("options", "message"), [
    ({"split": "validation"}, "split must be one of \\('train', 'val', 'test'\\)"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"seed": 1.5}, "seed must be an integer >= 0"),
    ({"max_speed": -1}, "max_speed must be a non-negative integer"),
    ({"max_speed": 1, "velocities": [(0, 1)]}, "give max_speed or velocities, not both"),
    ({"velocities": [(0, 1), (0, 1)]}, "velocities must be distinct"),
    ({"clip_frames": 0}, "clip_frames must be an integer >= 1"),
    ({"frame_step": True}, "frame_step must be an integer >= 1"),
    ({"size": 0}, "size must be an integer >= 1"),
    ({"flip": "yes"}, "flip must be True, False or None"),
    ({"clip_frames": 40}, "lists no train sub-sequence \\(persons 1-16\\) of at least 80 frames"),
])
def test_bad_options_are_refused_with_a_message(kth_root: Path, options: dict, message: str) -> None:
    arguments = {"split": "train", "seed": 0, **options}
    with pytest.raises(ValueError, match=message):
        MovingKTH(kth_root, arguments.pop("split"), **arguments)


def test_indices_out_of_range_are_refused(train: MovingKTH) -> None:
    for index in (-1, len(train), 1.0):
        with pytest.raises(IndexError, match="out of range for 6 train clips"):
            train[index]


def test_a_missing_video_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # what an absent package looks like
    (tmp_path / kth.SEQUENCES_FILE).write_text("person01_boxing_d1 frames 1-40\n")
    with pytest.raises(ImportError, match='pip install "fernn\\[kth\\]"'):
        MovingKTH(tmp_path, "train", seed=0)


def test_importing_fernn_does_not_need_the_video_extra() -> None:
    code = ("import sys; sys.modules['imageio_ffmpeg'] = None\n"
            "import fernn, fernn.datasets.kth\n"
            "print(len(fernn.datasets.kth.parse_sequences('person01_boxing_d1 frames 1-40')))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
