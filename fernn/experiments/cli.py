"""What every ``python -m fernn.X`` command shares: one-line errors, checked values and paths.

A command checks its arguments and output paths before any work and fails in one line,
``python -m fernn.X: error: ...``: exit code 2 for a bad invocation (as argparse does), 1 for a
failure during the work, never a traceback (set ``FERNN_TRACEBACK=1`` to see one).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from fernn.checkpoints import MAX_COPIES, SAFETENSORS, is_model_folder
from fernn.datasets.digits import CANVAS
from fernn.devices import resolve_device

__all__ = ["DATA_SPEED_LIMIT", "MODEL_SPEED_LIMIT", "BadValue", "Integer", "Number", "Parser", "device_name",
           "existing_file", "existing_folder", "existing_model", "one_line", "output_file", "output_folder", "output_model",
           "plain_text", "run"]

# The largest velocity range r whose set {-r..r}^2 a checkpoint may hold: (2r + 1)^2 <= MAX_COPIES,
# the limit fernn.load_checkpoint enforces.
MODEL_SPEED_LIMIT = (math.isqrt(MAX_COPIES) - 1) // 2
# On the 28-pixel torus a speed above 14 px/frame is the same motion as a slower one backwards.
DATA_SPEED_LIMIT = CANVAS // 2


class BadValue(argparse.ArgumentTypeError, ValueError):
    """A refused value: argparse reports it as that argument's error; code that checks a whole
    config catches it as the ``ValueError`` it also is."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def plain_text(docstring: str | None) -> str:
    """A docstring as --help shows it: RST markup (````x````, ``:class:`X```, ``*x*``) dropped."""
    text = docstring or ""
    text = re.sub(r":\w+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)  # :class:`~a.B` -> B
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\1", text)


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (no usage block) and whose description is plain text."""

    def __init__(self, *, prog: str, doc: str | None, **options) -> None:
        super().__init__(prog=prog, description=plain_text(doc), formatter_class=argparse.RawDescriptionHelpFormatter,
                         **options)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {one_line(message)}", file=sys.stderr)
        raise SystemExit(2)


def run(prog: str, work: Callable[[], int]) -> int:
    """``work()``'s exit code; a failure inside it becomes one line on stderr and exit code 1."""
    try:
        return work()
    except KeyboardInterrupt:
        print(f"{prog}: error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a command line shows one line, whatever failed
        if os.environ.get("FERNN_TRACEBACK") == "1":
            raise
        expected = isinstance(error, (OSError, ValueError, RuntimeError))
        # An unexpected type is a bug in fernn: name it, so the one line is still worth reporting.
        detail = one_line(error) if expected else f"internal error ({type(error).__name__}): {one_line(error)}"
        print(f"{prog}: error: {detail}", file=sys.stderr)
        return 1


@dataclass(frozen=True)
class Integer:
    """An argparse ``type`` (and a value check) for an integer in ``low..high`` (``None``: unbounded)."""

    low: int | None = None
    high: int | None = None
    why: str = ""  # said when a value is out of range

    def describe(self) -> str:
        if self.high is None:
            return "an integer" if self.low is None else f"an integer >= {self.low}"
        return f"an integer in {self.low}..{self.high}"

    def check(self, value: object, name: str = "") -> int:
        """``value`` if it is in range, else :class:`BadValue` naming ``name`` (argparse names the flag)."""
        inside = isinstance(value, int) and not isinstance(value, bool) and (self.low is None or value >= self.low) \
            and (self.high is None or value <= self.high)
        if not inside:
            why = f" ({self.why})" if self.why else ""
            raise BadValue(f"{name} must be {self.describe()}{why}, got {value!r}".lstrip())
        return value

    def __call__(self, text: str) -> int:
        return self.check(_parsed(text, int, self.describe()))


@dataclass(frozen=True)
class Number:
    """An argparse ``type`` (and a value check) for a finite float in ``low..high``; with
    ``positive``, ``low`` itself is excluded."""

    low: float | None = None
    high: float | None = None
    positive: bool = False

    def describe(self) -> str:
        if self.positive:
            return "a number > 0" if self.high is None else f"a number in (0, {self.high}]"
        if self.low is None:
            return "a finite number"
        return f"a number >= {self.low}" if self.high is None else f"a number in [{self.low}, {self.high}]"

    def check(self, value: object, name: str = "") -> float:
        """``value`` as a float if it is in range, else :class:`BadValue` naming ``name``."""
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
        above_low = self.low is None or number > self.low or (number == self.low and not self.positive)
        if not (math.isfinite(number) and above_low and (self.high is None or number <= self.high)):
            raise BadValue(f"{name} must be {self.describe()}, got {value!r}".lstrip())
        return number

    def __call__(self, text: str) -> float:
        return self.check(_parsed(text, float, self.describe()))


def _parsed(text: str, parse: Callable[[str], object], description: str) -> object:
    """``parse(text)``, or :class:`BadValue` saying what was expected."""
    try:
        return parse(text)
    except ValueError:
        raise BadValue(f"must be {description}, got {text!r}") from None


def device_name(text: str) -> str:
    """argparse ``type`` for ``--device``: auto, cpu, cuda or cuda:N, refused here when CUDA is missing."""
    try:
        resolve_device(text)
    except (RuntimeError, ValueError) as error:
        raise BadValue(str(error)) from None
    if text.strip().lower().startswith("cuda:") and int(text.split(":")[1]) >= torch.cuda.device_count():
        raise BadValue(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text


def existing_file(text: str) -> Path:
    """argparse ``type`` for an input file: it must exist and be a file."""
    path = Path(text)
    if path.is_dir():
        raise BadValue(f"{path} is a folder; give a file")
    if not path.is_file():
        raise BadValue(f"no file at {path}")
    return path


def existing_folder(text: str) -> Path:
    """argparse ``type`` for an input folder: it must exist and be a folder."""
    path = Path(text)
    if not path.is_dir():
        raise BadValue(f"{path} is a file, not a folder" if path.exists() else f"no folder at {path}")
    return path


def existing_model(text: str) -> Path:
    """argparse ``type`` for a model to read: a model folder, or a ``.safetensors`` or ``.pt`` file."""
    path = Path(text)
    if path.is_dir() and not is_model_folder(path):
        raise BadValue(f"{path} is a folder but not a model folder (no model.safetensors and config.json)")
    if not path.exists():
        raise BadValue(f"no model at {path}")
    return path


def output_model(text: str | Path) -> Path:
    """argparse ``type`` for a model to write in safetensors: a model folder (a path without a
    suffix, new or a model folder to replace) or ``NAME.safetensors``; never a ``.pt`` file."""
    path = Path(text)
    if path.suffix == ".pt":
        raise BadValue(f"{path}: models are written as safetensors now: give a folder path ({path.with_suffix('')}) "
                       f"or {path.with_suffix(SAFETENSORS).name}")
    if path.suffix == SAFETENSORS:
        return output_file(path)
    if path.exists() and not path.is_dir():
        raise BadValue(f"{path} is a file; give a folder path for a model folder, or NAME.safetensors")
    if path.is_dir() and any(path.iterdir()) and not is_model_folder(path):
        raise BadValue(f"{path} is a folder holding other files; give a new folder or a model folder to replace")
    return output_folder(path)


def output_file(text: str | Path) -> Path:
    """argparse ``type`` for a file to write: not a folder, and writable or creatable, so an
    unwritable path is found before the work, not after it."""
    path = Path(text)
    if path.is_dir():
        raise BadValue(f"{path} is a folder; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadValue(f"{path} is not writable")
    _check_creatable(path.parent, path)
    return path


def output_folder(text: str | Path) -> Path:
    """argparse ``type`` for a folder to write into: a writable folder, or one that can be created."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise BadValue(f"{path} is a file, not a folder")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise BadValue(f"cannot write in {path}")
    _check_creatable(path, path)
    return path


def _check_creatable(folder: Path, path: Path) -> None:
    """Refuse ``path`` when its nearest existing ancestor of ``folder`` is a file or not writable."""
    ancestor = folder.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise BadValue(f"cannot write {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BadValue(f"cannot write {path}: {ancestor} is not writable")
