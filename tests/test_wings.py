"""The package's wings and which may import which.

    core         fernn/*.py and fernn/flows/: flows, cells, encoder, models and heads, checkpoints,
                 records, measures, testing, reference
    datasets     fernn/datasets/: digit sources and sequence generators
    showcase     fernn/showcase/: the demo's computations, figures, serving and Streamlit views
    experiments  fernn/experiments/ and the command entry modules (python -m fernn.train, ...)

A wing imports only itself and the wings listed above it; ``import fernn`` loads no plotting or web
library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fernn

PACKAGE = Path(fernn.__file__).parent
ORDER = ("core", "datasets", "showcase", "experiments")
# `python -m fernn.<command>` needs a module of that name at the top: one line each, into experiments.
ENTRY_MODULES = {"train", "evaluate", "figures", "study", "convert", "bench", "cards"}


def wing_of(module: str) -> str:
    """The wing of a dotted module name inside fernn."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("datasets", "showcase", "experiments"):
        return parts[1]
    if len(parts) == 2 and parts[1] in ENTRY_MODULES:
        return "experiments"
    return "core"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every fernn module ``path`` imports, at any depth (lazy imports inside functions count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path} imports relatively at line {node.lineno}: name the wing")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "fernn":
            found.add(node.module)
            # `from fernn import showcase` names a module, not a function
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")).is_dir()
                      or (PACKAGE.parent / (f"{node.module}.{alias.name}".replace(".", "/") + ".py")).is_file()}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "fernn"}
    return found


def test_each_wing_imports_only_itself_and_the_wings_below():
    crossings = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        wing = wing_of(module_name(path))
        allowed = set(ORDER[: ORDER.index(wing) + 1])
        for module in imported_modules(path):
            target = wing_of(module)
            assert target in allowed, f"{module_name(path)} ({wing}) imports {module} ({target})"
            crossings += target != wing
    assert crossings > 50, "too few imports across wings were found: the reader no longer sees them"


def test_entry_modules_only_start_their_command():
    for name in ENTRY_MODULES:
        path = PACKAGE / f"{name}.py"
        code = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith(('"""', "``"))]
        assert len(code) <= 4, f"{path.name} does more than start its command: {code}"
        assert all(wing_of(module) == "experiments" for module in imported_modules(path))


def test_the_datasets_wing_and_the_core_are_folders_of_their_own():
    wings = {wing_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert wings == set(ORDER)
    assert (PACKAGE / "datasets").is_dir() and (PACKAGE / "experiments").is_dir() and (PACKAGE / "showcase").is_dir()


def test_import_fernn_loads_no_plotting_or_web_library():
    probe = ("import sys, fernn\n"
             "heavy = sorted(m for m in ('streamlit', 'plotly', 'matplotlib') if m in sys.modules)\n"
             "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_no_private_name_is_imported_across_modules():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fernn"):
                found += [f"{module_name(path)}: {node.module}.{alias.name}" for alias in node.names
                          if alias.name.startswith("_")]
    assert not found, f"private names imported across modules: {found}"
