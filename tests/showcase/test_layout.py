"""The showcase's rooms import only rooms below them (no cycles, nothing upwards), and each
stays a size one reads in a sitting; streamlit is imported only by the app's package and its entry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fernn.showcase

ROOMS = Path(fernn.showcase.__file__).parent
APP_PACKAGE = ROOMS / "app"  # the Streamlit views and sidebar sections
REPOSITORY = ROOMS.parents[1]
APP_ENTRY = REPOSITORY / "app.py"  # `streamlit run app.py`: page config and main() wiring only
MAX_ENTRY_LINES = 120
# Lowest first: a room may import only rooms earlier in this list.
ORDER = ("errors", "links", "appserver", "scenes", "planning", "analysis", "results", "records", "runs", "export",
         "headline", "classify", "cards", "study", "serving", "visitor_checkpoints", "owndigit",
         "world")


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


def imports_streamlit(path: Path) -> bool:
    """Whether ``path`` imports streamlit or a streamlit component (``streamlit_drawable_canvas``), at any depth."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(name.split(".")[0].startswith("streamlit") for name in names):
            return True
    return False


def test_only_the_app_package_and_its_entry_import_streamlit():
    files = [*ROOMS.parent.rglob("*.py"), *REPOSITORY.glob("*.py"), *(REPOSITORY / "scripts").glob("*.py")]
    importers = {path for path in files if imports_streamlit(path)}
    outside = sorted(str(path.relative_to(REPOSITORY)) for path in importers
                     if path != APP_ENTRY and APP_PACKAGE not in path.parents)
    assert not outside, f"only fernn/showcase/app/ and app.py may import streamlit: {outside}"
    assert APP_ENTRY in importers and len(importers) > 5, "the app's streamlit imports were not found"


def test_the_app_entry_stays_thin_and_its_modules_small():
    lines = len(APP_ENTRY.read_text().splitlines())
    assert lines <= MAX_ENTRY_LINES, f"app.py has {lines} lines; move sections and views into fernn/showcase/app/"
    for path in APP_PACKAGE.glob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines < 400, f"app/{path.name} has {lines} lines; split it"


def test_importing_the_showcase_loads_neither_streamlit_nor_the_app():
    probe = ("import sys, fernn, fernn.showcase\n"
             "loaded = (m for m in sys.modules if m.split('.')[0] == 'streamlit' or m == 'fernn.showcase.app')\n"
             "print(','.join(sorted(loaded)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
