"""The README's library quick start runs as written and prints what its comments promise."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quick_start_runs_and_shows_exact_equivariance():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python block"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(blocks[0], "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "torch.Size([4, 10, 1, 28, 28])"
    assert lines[1] == "torch.Size([4, 20, 25, 16, 28, 28])"
    pairs, error = lines[2].split()
    assert int(pairs) == 16 and float(error) < 1e-12
    assert float(lines[3]) > 0.05


def test_readme_names_the_commands_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```bash\n{ci}\n```" in README.read_text()


def test_the_rotation_and_classification_examples_run_as_written():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3, "README lost its rotation or classification example"
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks[:3]:  # the later examples reuse the quick start's names (digits, labels)
            exec(compile(block, "README.md", "exec"), namespace)
    assert "rotation 30.0 (-2, -1, 0, 1, 2)" in printed.getvalue().splitlines()
    assert namespace["report"].exact_error < 1e-12 and namespace["report"].pairs_compared > 0
    assert tuple(namespace["out"].frames.shape) == (2, 10, 1, 28, 28)
    assert tuple(namespace["logits"].shape) == (8, 10) and tuple(namespace["over_time"].shape) == (8, 16, 10)
