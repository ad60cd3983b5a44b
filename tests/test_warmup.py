"""A fresh server warms itself: after :func:`fernn.showcase.app.warmup.warm` the first visit's page
computes nothing, and ``streamlit run app.py`` serves app.py through ``st.App`` with that warm-up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from streamlit.web.server.app_discovery import discover_asgi_app

import fernn.showcase as showcase
import tiny
from fernn.showcase.app import resources, warmup

APP = Path(__file__).resolve().parent.parent / "app.py"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkpoint folder with the shipped pair's names, and a comparison cache of its own (a
    cache size no other test uses: one server per settings), so nothing else has warmed it."""
    torch.manual_seed(0)
    tiny.write_app_pair(tmp_path, {"grnn": {}, "fernn": {}})
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("FERNN_CACHE_MB", "97")
    return tmp_path


def test_after_the_warm_up_the_first_visit_computes_nothing(folder: Path, monkeypatch: pytest.MonkeyPatch):
    digits, settings = warmup.first_visit()
    assert [path.name for path in settings.paths] == ["grnn", "fernn"] and len(digits) == 1
    cache = resources.server()[0]
    assert len(cache) == 0
    assert "first comparison cached" in warmup.warm()
    assert len(cache) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the first visit ran a comparison")

    monkeypatch.setattr(showcase, "compare", refuse)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, [str(e.value) for e in at.exception]
    assert not at.error, [str(e.value) for e in at.error]
    labels = [item.label for item in at.metric]
    assert "G-RNN mean MSE" in labels and "FERNN mean MSE" in labels
    assert len(cache) == 1


def test_without_the_shipped_pair_it_says_so_and_the_page_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FERNN_CHECKPOINT_DIR", str(tmp_path))
    assert warmup.warm().startswith("not warmed: the shipped pair")


def test_a_misconfigured_server_is_not_warmed(folder: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FERNN_RUN_SLOTS", "0")
    assert warmup.warm().startswith("not warmed: FERNN_RUN_SLOTS=0")


def test_streamlit_run_serves_app_py_through_st_app_with_the_warm_up():
    found = discover_asgi_app(APP)
    assert found.is_asgi_app and found.import_string == "app:app"
    tree = ast.parse(APP.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and ast.unparse(node.func) == "st.App"]
    assert len(calls) == 1
    assert {keyword.arg: ast.unparse(keyword.value) for keyword in calls[0].keywords} == {"lifespan": "warmup.lifespan"}
