"""The showcase's rooms import only rooms below them (no cycles, nothing upwards), and each
stays a size one reads in a sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import fernn.showcase

ROOMS = Path(fernn.showcase.__file__).parent
# Lowest first: a room may import only rooms earlier in this list.
ORDER = ("errors", "links", "appserver", "scenes", "planning", "analysis", "results", "records", "runs", "export",
         "headline", "classify", "cards", "study", "serving", "visitor_checkpoints", "owndigit")


def sibling_imports(path: Path) -> set[str]:
    """The showcase rooms ``path`` imports (``from fernn.showcase.x import ...`` or ``from fernn.showcase import x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "fernn.showcase":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fernn.showcase."):
            found.add(node.module.split(".")[2])
    return found


def test_rooms_import_rooms_by_their_full_name():
    """Relative imports would hide a room from the order below."""
    for path in ROOMS.rglob("*.py"):
        relative = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.level]
        assert not relative, f"{path.name} imports relatively at lines {relative}"


def test_every_room_is_in_the_order():
    assert {path.stem for path in ROOMS.glob("*.py")} - {"__init__"} == set(ORDER)


def test_rooms_import_only_rooms_below_them():
    edges = 0
    for rank, room in enumerate(ORDER):
        below = set(ORDER[:rank])
        imported = sibling_imports(ROOMS / f"{room}.py")
        assert imported <= below, f"{room} imports {sorted(imported - below)}, which are not below it"
        edges += len(imported)
    assert edges > 10, "the rooms' imports were not found: the reader no longer matches how rooms import"


def test_rooms_stay_small():
    for path in ROOMS.glob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines < 400, f"{path.name} has {lines} lines; split it"
