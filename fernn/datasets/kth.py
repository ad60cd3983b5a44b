"""Moving KTH: KTH action clips, each sub-sequence carried along one constant translation flow.

The data (nothing here downloads it): the KTH actions dataset (Schuldt, Laptev & Caputo, ICPR
2004) has 6 actions done by 25 persons in 4 scenarios ``d1..d4``, one AVI per (person, action,
scenario) named like ``person01_boxing_d1_uncomp.avi``, and a file ``00sequences.txt`` listing
each video's sub-sequences as 1-based inclusive frame ranges::

    person01_boxing_d1      frames  1-95, 96-185, 186-245, 246-360

Point the loader at your own copy: unzip each action's archive into a folder named after the
action, with ``00sequences.txt`` beside the folders, and install the video extra::

    kth/                    MovingKTH("kth", "train", seed=0)
      00sequences.txt
      boxing/person01_boxing_d1_uncomp.avi
      handclapping/...      (videos lying directly in kth/ are found too)

    pip install "fernn[kth]"     # imageio-ffmpeg, which ships its own ffmpeg binary

A clip (the paper's research code): frames decoded as grayscale, resized to ``size x size``
(32), scaled to ``[0, 1]``; ``clip_frames`` (16) frames taken every ``frame_step`` (2) frames
from a start drawn uniformly inside the sub-sequence; sub-sequences shorter than
``clip_frames * frame_step`` (32) frames are dropped. The split is by person: train 1-16,
val 17-20, test 21-25. "Moving": each sub-sequence gets one velocity ``(dy, dx)`` drawn
uniformly from ``V_r = {-r..r}^2`` (``max_speed`` r = 2) or a given set, and frame ``t`` is
rolled on the torus by ``t * (dy, dx)`` (``TRANSLATION.flow_sequence``); training clips are
flipped left-right with probability 1/2. Every draw (start, velocity, flip) is a pure function
of ``(seed, index)``, at test time too; ``with_seed`` gives fresh draws per epoch while sharing
the decoded videos.

The paper's classification settings (wired by the training code, not here): hidden channels
128, model velocity set ``V_2``, Adam with learning rate 3e-4, batch 32, gradient-norm
clipping at 1.0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from fernn.flows import TRANSLATION, Velocity

__all__ = [
    "ACTIONS",
    "PERSON_SPLITS",
    "SEQUENCES_FILE",
    "ClipDraw",
    "MovingKTH",
    "SubSequence",
    "Video",
    "decode_video",
    "find_video",
    "parse_sequences",
    "read_sequences",
]

# Label i is ACTIONS[i].
ACTIONS = ("walking", "jogging", "running", "boxing", "handwaving", "handclapping")
SCENARIOS = (1, 2, 3, 4)
PERSON_SPLITS = {"train": range(1, 17), "val": range(17, 21), "test": range(21, 26)}
SEQUENCES_FILE = "00sequences.txt"
DEFAULT_MAX_SPEED = 2
EXTRA_HINT = 'reading KTH videos needs the video extra: pip install "fernn[kth]" (installs imageio-ffmpeg)'

# One line per video: "personNN_ACTION_dN  frames  A-B, C-D, ..." or "personNN_ACTION_dN  *missing*"
# (the official file marks its one absent video, person13_handclapping_d3, that way). Lines not
# starting with "person" (titles, the file's own split notes, blanks) are prose and skipped.
_LINE = re.compile(r"(?P<name>person\S*)\s+(?:frames\s+(?P<ranges>.*?)|(?P<missing>\*missing\*))\s*")
_NAME = re.compile(r"person(?P<person>\d+)_(?P<action>[a-z]+)_d(?P<scenario>\d+)")
_RANGE = re.compile(r"(?P<first>\d+)\s*-\s*(?P<last>\d+)")
# Independent random streams per item, so changing the velocity set never changes which frames
# a clip shows or whether it is flipped (the un-moved clip is the same dataset at max_speed=0).
_VELOCITY_STREAM, _START_STREAM, _FLIP_STREAM = 0, 1, 2


@dataclass(frozen=True, order=True)
class Video:
    """One KTH recording: ``person`` 1-25 doing ``action`` in scenario ``d1..d4``."""

    person: int
    action: str
    scenario: int

    @property
    def name(self) -> str:
        return f"person{self.person:02d}_{self.action}_d{self.scenario}"

    @property
    def filename(self) -> str:
        return f"{self.name}_uncomp.avi"

    @property
    def label(self) -> int:
        return ACTIONS.index(self.action)


@dataclass(frozen=True, order=True)
class SubSequence:
    """Frames ``first..last`` (1-based, inclusive, as in ``00sequences.txt``) of one video."""

    video: Video
    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class ClipDraw:
    """What item ``index`` drew: its first frame (0-based, within the sub-sequence), velocity, flip."""

    start: int
    velocity: Velocity
    flipped: bool


def parse_sequences(text: str, *, source: str = SEQUENCES_FILE) -> tuple[SubSequence, ...]:
    """Every sub-sequence listed in the text of a ``00sequences.txt``, in file order.

    Raises ``ValueError`` naming ``source`` and the line for a malformed or duplicated video line.
    """
    subsequences: list[SubSequence] = []
    seen: dict[Video, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line.startswith("person"):
            continue
        where = f"{source} line {number}"
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{where}: expected 'personNN_ACTION_dN frames A-B, C-D, ...', got {line!r}")
        video = _parse_name(match["name"], where)
        if video in seen:
            raise ValueError(f"{where}: {video.name} is listed twice (first on line {seen[video]})")
        seen[video] = number
        if match["missing"] is None:
            subsequences += [SubSequence(video, first, last) for first, last in _parse_ranges(match["ranges"], where)]
    return tuple(subsequences)


def _parse_name(name: str, where: str) -> Video:
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{where}: video name {name!r} is not of the form personNN_ACTION_dN")
    person, action, scenario = int(match["person"]), match["action"], int(match["scenario"])
    if action not in ACTIONS:
        raise ValueError(f"{where}: unknown action {action!r} in {name!r}, expected one of {ACTIONS}")
    if not 1 <= person <= 25:
        raise ValueError(f"{where}: person {person} in {name!r} is outside KTH's persons 1-25")
    if scenario not in SCENARIOS:
        raise ValueError(f"{where}: scenario d{scenario} in {name!r} is not one of d1-d4")
    return Video(person, action, scenario)


def _parse_ranges(text: str, where: str) -> list[tuple[int, int]]:
    # Empty pieces (a stray or trailing comma) carry no range and are harmless.
    pieces = [piece.strip() for piece in text.split(",") if piece.strip()]
    if not pieces:
        raise ValueError(f"{where}: no frame ranges after 'frames'")
    ranges = []
    for piece in pieces:
        match = _RANGE.fullmatch(piece)
        if match is None:
            raise ValueError(f"{where}: frame range {piece!r} is not of the form FIRST-LAST")
        first, last = int(match["first"]), int(match["last"])
        if not 1 <= first <= last:
            raise ValueError(f"{where}: frame range {piece!r} must have 1 <= FIRST <= LAST")
        ranges.append((first, last))
    return ranges


def read_sequences(root: str | Path) -> tuple[SubSequence, ...]:
    """Parse ``root/00sequences.txt``; a missing folder or file raises ``FileNotFoundError``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"KTH folder not found: {root}")
    path = root / SEQUENCES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {SEQUENCES_FILE} in {root} (it comes with the KTH actions dataset)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not a text file ({error.reason} at byte {error.start})") from None
    return parse_sequences(text, source=str(path))


def find_video(root: str | Path, video: Video) -> Path:
    """The AVI of ``video``: in ``root/ACTION/`` (as the archives unzip) or directly in ``root``."""
    root = Path(root)
    for path in (root / video.action / video.filename, root / video.filename):
        if path.is_file():
            return path
    raise FileNotFoundError(f"KTH video {video.filename} not found in {root / video.action} or {root}")


def _read_frames():
    """imageio-ffmpeg's frame reader, imported only when videos are read (an optional extra)."""
    try:
        from imageio_ffmpeg import read_frames
    except ImportError:
        raise ImportError(EXTRA_HINT) from None
    return read_frames


def decode_video(path: str | Path, *, size: int) -> np.ndarray:
    """Every frame of a video, grayscale, resized to ``size x size``: ``uint8 (N, size, size)``.

    Resizing averages over each output pixel's area (no aliasing when shrinking KTH's 160x120
    frames); the result is rounded back to ``uint8`` so a decoded video costs ``size^2`` bytes a frame.
    """
    size = _integer("size", size, 1)
    read_frames = _read_frames()
    try:
        reader = read_frames(str(path), pix_fmt="gray", bits_per_pixel=8)
        meta = reader.send(None)
        width, height = meta["size"]
        pixels = [np.frombuffer(frame, dtype=np.uint8) for frame in reader]
    except (OSError, RuntimeError) as error:
        # ffmpeg's own message is many lines of log; its last line says what went wrong.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        raise ValueError(f"cannot decode {path}: {reason}") from None
    if not pixels:
        raise ValueError(f"{path} holds no frames")
    frames = torch.from_numpy(np.stack(pixels).reshape(len(pixels), 1, height, width))  # (N, 1, H, W) uint8
    resized = F.interpolate(frames.float(), size=(size, size), mode="area")  # (N, 1, size, size)
    return resized.round_().clamp_(0, 255).to(torch.uint8).squeeze(1).numpy()  # (N, size, size)


def _integer(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class MovingKTH(Dataset):
    """Moving KTH clips of one split: item ``i`` is ``(frames float32 (T, 1, size, size), label)``.

    ``T = clip_frames``, values in ``[0, 1]``, ``label`` indexes :data:`ACTIONS`. Item ``i`` is
    sub-sequence ``i`` (ordered by person, action name, scenario, frames) with the draws of
    :meth:`draw`. Videos are decoded on first use (or all at once by :meth:`preload`) and kept
    in memory as ``uint8`` (``size^2`` bytes a frame: 1 KB at size 32).

    Options (keyword-only): ``seed`` (>= 0) fixes every draw; ``max_speed`` r draws velocities
    from ``{-r..r}^2`` (default 2), or ``velocities`` gives the set itself (not both);
    ``clip_frames``, ``frame_step``, ``size`` as in the module docstring; ``flip`` (default: only
    for ``split="train"``) flips each clip left-right with probability 1/2.
    """

    def __init__(
        self, root: str | Path, split: str, *, seed: int, max_speed: int | None = None,
        velocities: Sequence[Velocity] | None = None, clip_frames: int = 16, frame_step: int = 2,
        size: int = 32, flip: bool | None = None,
    ) -> None:
        if split not in PERSON_SPLITS:
            raise ValueError(f"split must be one of {tuple(PERSON_SPLITS)}, got {split!r}")
        if max_speed is not None and velocities is not None:
            raise ValueError("give max_speed or velocities, not both")
        if velocities is None:
            self.velocities = TRANSLATION.velocity_set(DEFAULT_MAX_SPEED if max_speed is None else max_speed)
        else:
            self.velocities = TRANSLATION.as_velocities(velocities)
        if flip is not None and not isinstance(flip, bool):
            raise ValueError(f"flip must be True, False or None (flip training clips only), got {flip!r}")
        self.root, self.split = Path(root), split
        self.seed = _integer("seed", seed, 0)
        self.clip_frames = _integer("clip_frames", clip_frames, 1)
        self.frame_step = _integer("frame_step", frame_step, 1)
        self.size = _integer("size", size, 1)
        self.flip = split == "train" if flip is None else flip
        _read_frames()  # a missing extra fails here, before any work
        persons = PERSON_SPLITS[split]
        shortest = self.clip_frames * self.frame_step  # the paper drops sub-sequences shorter than 16 * 2
        self.subsequences = tuple(sorted(
            sub for sub in read_sequences(self.root) if sub.video.person in persons and sub.length >= shortest
        ))
        if not self.subsequences:
            raise ValueError(f"{self.root / SEQUENCES_FILE} lists no {split} sub-sequence (persons "
                             f"{persons.start}-{persons.stop - 1}) of at least {shortest} frames")
        # Every video is located now, so a missing file fails at construction, not mid-epoch.
        self.paths = {sub.video: find_video(self.root, sub.video) for sub in self.subsequences}
        self._decoded: dict[Video, np.ndarray] = {}  # video -> uint8 (N, size, size); shared by with_seed

    def with_seed(self, seed: int) -> MovingKTH:
        """The same clips with every draw redone from ``seed``, sharing the decoded videos."""
        other = object.__new__(MovingKTH)
        other.__dict__.update(self.__dict__)
        other.seed = _integer("seed", seed, 0)
        return other

    def preload(self) -> MovingKTH:
        """Decode every video of the split now and return ``self``.

        Call it before a ``DataLoader`` forks its workers: they then share the decoded frames
        instead of each decoding (and holding) its own copy.
        """
        for index in range(len(self)):
            self._frames(index)
        return self

    @property
    def span(self) -> int:
        """Frames from a clip's first to its last: ``(clip_frames - 1) * frame_step + 1``."""
        return (self.clip_frames - 1) * self.frame_step + 1

    def __len__(self) -> int:
        return len(self.subsequences)

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(sub.video.label for sub in self.subsequences)

    def _frames(self, index: int) -> np.ndarray:
        """The decoded frames of sub-sequence ``index``: ``uint8 (L, size, size)``."""
        sub = self.subsequences[index]
        if sub.video not in self._decoded:
            self._decoded[sub.video] = decode_video(self.paths[sub.video], size=self.size)
        video = self._decoded[sub.video]
        # Ranges may run past the decodable end (one official KTH video is truncated): use what is there.
        frames = video[sub.first - 1 : sub.last]
        if len(frames) < self.span:
            raise ValueError(f"{self.paths[sub.video]} decodes to {len(video)} frames, too few for a "
                             f"{self.clip_frames}-frame clip (step {self.frame_step}) in frames {sub.first}-{sub.last}")
        return frames

    def _stream(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index, stream])

    def draw(self, index: int) -> ClipDraw:
        """Item ``index``'s start, velocity and flip: a pure function of ``(seed, index)``."""
        index = self._check_index(index)
        starts = len(self._frames(index)) - self.span + 1
        velocity = self.velocities[int(self._stream(index, _VELOCITY_STREAM).integers(len(self.velocities)))]
        start = int(self._stream(index, _START_STREAM).integers(starts))
        flipped = self.flip and bool(self._stream(index, _FLIP_STREAM).integers(2))
        return ClipDraw(start=start, velocity=velocity, flipped=flipped)

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self):
            raise IndexError(f"index {index!r} out of range for {len(self)} {self.split} clips")
        return int(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        draw = self.draw(index)
        index = int(index)
        pixels = self._frames(index)[draw.start : draw.start + self.span : self.frame_step]  # (T, size, size) uint8
        frames = torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1)  # (T, 1, size, size)
        if draw.flipped:
            frames = frames.flip(-1)
        return TRANSLATION.flow_sequence(frames, draw.velocity), self.subsequences[index].video.label

    def __repr__(self) -> str:
        return (f"MovingKTH({str(self.root)!r}, {self.split!r}, seed={self.seed}, clips={len(self)}, "
                f"velocities={len(self.velocities)}, clip_frames={self.clip_frames}, frame_step={self.frame_step}, "
                f"size={self.size}, flip={self.flip})")
