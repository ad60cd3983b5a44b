"""What a shared link may carry into the demo page: each URL value is read and validated here,
before any widget sees it (a number input meeting ``digit1=inf`` breaks the page).

Pure functions of the query parameters; ``app.py`` writes the cleaned link back and shows the
notes. No streamlit import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["MODEL_KEYS", "MOTION_KEYS", "Choice", "Flag", "LinkCheck", "LinkField", "NumberSet", "Text", "WholeNumber",
           "check_link", "demo_link_fields", "share_url", "shareable", "shown_value"]


@dataclass(frozen=True)
class WholeNumber:
    """A link value for an integer widget on ``low..high``: out of range is clamped."""

    low: int
    high: int

    def read(self, text: str) -> tuple[str | None, str]:
        """``(value for the link, or None for the widget's default; note, or "" when unchanged)``."""
        match = re.fullmatch(r"\s*([+-]?)0*([0-9]+)\s*", text)
        if match is None:  # inf, nan, 1e309, 3.5, words: no number a whole-number widget takes
            return None, "is not a whole number; using the default"
        sign, digits = match.groups()
        # Decided by length before int(): Python refuses to convert 100,000 digits.
        if len(digits) > 18:
            number = self.low if sign == "-" else self.high
            return str(number), f"is outside {self.low}..{self.high}; using {number}"
        number = -int(digits) if sign == "-" else int(digits)
        clamped = min(max(number, self.low), self.high)
        if clamped != number:
            return str(clamped), f"is outside {self.low}..{self.high}; using {clamped}"
        return str(number), ""


@dataclass(frozen=True)
class Choice:
    """A link value naming one of ``options``; ``aliases`` are older names, read silently."""

    options: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...] = ()  # (old name, option)

    def read(self, text: str) -> tuple[str | None, str]:
        if text in self.options:
            return text, ""
        if text in dict(self.aliases):
            return dict(self.aliases)[text], ""
        named = ", ".join(self.options) if len(self.options) <= 6 else f"the {len(self.options)} choices"
        return None, f"is not one of {named}; using the default"


@dataclass(frozen=True)
class Flag:
    """A link value for a toggle: ``true`` or ``false``."""

    def read(self, text: str) -> tuple[str | None, str]:
        if text.lower() in ("true", "false"):
            return text.lower(), ""
        return None, "is not true or false; using the default"


@dataclass(frozen=True)
class NumberSet:
    """A repeated link value (``?k=0&k=3``) for a multiselect of whole numbers on ``low..high``."""

    low: int
    high: int
    max_items: int


@dataclass(frozen=True)
class Text:
    """A link value for a text input: at most ``max_chars`` characters, each in ``allowed`` (what the
    widget's reader understands); anything else falls back to the default."""

    max_chars: int
    allowed: str

    def read(self, text: str) -> tuple[str | None, str]:
        if len(text) > self.max_chars:
            return None, f"is longer than {self.max_chars} characters; using the default"
        if any(character not in self.allowed for character in text):
            return None, "has characters this field does not read; using the default"
        return text, ""


LinkField = WholeNumber | Choice | Flag | NumberSet | Text


@dataclass(frozen=True)
class LinkCheck:
    """What :func:`check_link` found: the link with every bad value replaced or removed (so the
    widget shows its default), whether that differs, and one note per replaced value (Markdown)."""

    params: dict[str, list[str]]
    changed: bool
    notes: tuple[str, ...]


def check_link(params: Mapping[str, Sequence[str]], fields: Mapping[str, LinkField]) -> LinkCheck:
    """Validate a link's query parameters (``key -> every value given``) before any widget sees
    them: a widget must never meet ``inf`` or a 100,000-digit number. Keys not in ``fields``
    are left alone."""
    changes: dict[str, list[str] | None] = {}
    notes: list[str] = []
    for key, field in fields.items():
        values = [str(v) for v in params.get(key, ())]
        if not values:
            continue
        if isinstance(field, NumberSet):
            kept = _read_number_set(values, field)
            if kept != values and any(v.strip() for v in values):  # an empty value is an empty selection
                changes[key] = kept or None
                notes.append(f"Link values `{key}={shown_value(values)}`: keeping {', '.join(kept) or 'none'} "
                             f"(whole numbers {field.low}..{field.high}, at most {field.max_items}, no repeats).")
            continue
        shown = f"`{key}={shown_value(values[-1:])}`"
        if len(values) > 1:
            notes.append(f"Link value `{key}` is given {len(values)} times; using the last, {shown}.")
        if not values[-1].strip():
            changes[key] = None
            notes.append(f"Link value `{key}` is empty; using the default.")
            continue
        value, note = field.read(values[-1])
        if note:
            notes.append(f"Link value {shown} {note}.")
        if len(values) > 1 or value != values[-1]:
            changes[key] = None if value is None else [value]
    params = {key: list(values) for key, values in params.items() if key not in changes}
    params.update({key: values for key, values in changes.items() if values is not None})
    return LinkCheck(params, bool(changes), tuple(notes))


def demo_link_fields(*, test_digits: int, checkpoints: Sequence[str], velocity_choices: Sequence[str],
                     tabs: Sequence[str], renamed_tabs: Mapping[str, str], max_digit_speed: int,
                     motions: Sequence[str] = ("Translate",), angular_velocities: Sequence[str] = (),
                     start_angles: Sequence[str] = (), world_paths: Sequence[str] = (), world_speed: int = 1,
                     world_size: int = 1, moves_chars: int = 200) -> dict[str, LinkField]:
    """What each of app.py's URL-bound widgets accepts, by key: the widgets' own ranges and options
    (``tests/test_app.py`` checks that they agree). Rotation: ``motion``, each digit's angular
    velocity ``w1``/``w2`` and start angle ``a1``/``a2``, in whole degrees. World (when ``world_paths``
    are given): the observer's ``path``, its own ``moves`` (text), each digit's velocity ``wvy1``..
    ``wvx2`` and start ``wy1``..``wx2`` in world pixels."""
    speed, digit = WholeNumber(-max_digit_speed, max_digit_speed), WholeNumber(0, test_digits - 1)
    # A model folder "fernn" was the file "fernn.pt" before safetensors: older links still open it.
    renamed = tuple((f"{name}.pt", name) for name in checkpoints if not name.endswith((".pt", ".safetensors")))
    shift = WholeNumber(-14, 13)  # a start position's shift from its default, in pixels
    return {"source": Choice(("MNIST", "Draw", "Upload")), "digits": Choice(("1", "2")), "digit1": digit,
            "digit2": digit, **dict.fromkeys(("vy1", "vx1", "vy2", "vx2"), speed),
            **dict.fromkeys(("y1", "x1", "y2", "x2"), shift), "model_a": Choice(tuple(checkpoints), renamed),
            "model_b": Choice(("(none)", *checkpoints), renamed), "model_c": Choice(("(none)", *checkpoints), renamed),
            "vset": Choice(tuple(velocity_choices)),
            "context": WholeNumber(1, 20), "predict": WholeNumber(1, 70), "seed": WholeNumber(0, 2**31 - 1),
            "channels": NumberSet(0, 1023, 8), "view": Choice(("pooled", "copy")), "stabilised": Flag(),
            "tab": Choice(tuple(tabs), tuple(renamed_tabs.items())),
            # the Classify view: the FERNN's velocity set and the flicker's seed
            "cvset": Choice(tuple(velocity_choices)), "flicker": WholeNumber(0, 2**31 - 1),
            "motion": Choice(tuple(motions)), **dict.fromkeys(("w1", "w2"), Choice(tuple(angular_velocities))),
            **dict.fromkeys(("a1", "a2"), Choice(tuple(start_angles))), **_world_fields(world_paths, world_speed,
                                                                                         world_size, moves_chars)}


def _world_fields(paths: Sequence[str], speed: int, size: int, moves_chars: int) -> dict[str, LinkField]:
    """The World motion's link fields (none without its paths)."""
    if not paths:
        return {}
    return {"path": Choice(tuple(paths)), "moves": Text(moves_chars, "0123456789+-,;xX*× \n"),
            **dict.fromkeys(("wvy1", "wvx1", "wvy2", "wvx2"), WholeNumber(-speed, speed)),
            **dict.fromkeys(("wy1", "wx1", "wy2", "wx2"), WholeNumber(0, size - 1))}


# Which link keys belong to which motion: a link carries only its own motion's (a switch of motion
# leaves the other's sliders in the URL, where they would mean nothing to the recipient).
MOTION_KEYS = {"Translate": ("vy1", "vx1", "vy2", "vx2", "y1", "x1", "y2", "x2"),
               "Rotate": ("w1", "w2", "a1", "a2"),
               "World": ("path", "moves", "wvy1", "wvx1", "wvy2", "wvx2", "wy1", "wx1", "wy2", "wx2")}
# Keys whose value may name a visitor's own checkpoint, which lives in the sender's session only.
MODEL_KEYS = ("model_a", "model_b", "model_c")


def shareable(params: Mapping[str, Sequence[str]], *, motion: str, own_marker: str) -> tuple[dict, list[str]]:
    """What a link may carry of ``params``: the other motions' values left out, and any model slot
    holding the sender's own checkpoint (its value starts with ``own_marker``) left out, with a note
    for the sender saying so; ``(params, notes)``."""
    other = {key for name, keys in MOTION_KEYS.items() if name != motion for key in keys}
    kept, notes = {}, []
    for key, values in params.items():
        if key in other:
            continue
        if key in MODEL_KEYS and any(str(value).startswith(own_marker) for value in values):
            notes.append(f"{shown_value([str(v).removeprefix(own_marker) for v in values])} is your own checkpoint: "
                         "it stays in your session, so the link leaves it out (its recipient gets the other models).")
            continue
        kept[key] = list(values)
    return kept, notes


def share_url(page_url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The link to a view: the page's address without its old query, then ``params`` (every value of each key)."""
    query = urlencode({key: list(values) for key, values in params.items()}, doseq=True)
    return f"{page_url.split('?')[0]}?{query}" if query else page_url


def _read_number_set(values: list[str], field: NumberSet) -> list[str]:
    kept: list[str] = []
    for text in values:
        value, note = WholeNumber(field.low, field.high).read(text)
        if value is not None and not note and value not in kept and len(kept) < field.max_items:
            kept.append(value)
    return kept


def shown_value(values: Sequence[str], limit: int = 20) -> str:
    """Link text as a note may quote it: short, and only characters with no Markdown meaning."""
    text = ",".join(values)
    safe = re.sub(r"[^A-Za-z0-9 .,+-]", "?", text[:limit])
    return safe + (f"… ({len(text):,} characters)" if len(text) > limit else "")
