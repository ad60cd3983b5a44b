"""The shipped models: model folders in safetensors (no pickle anywhere), small, predicting what the
torch files they were converted from predicted, and still reproducing their recorded numbers."""

from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

import pytest
import torch

import fernn
from fernn.checkpoints import is_model_folder
from fernn.experiments.evaluate import EvaluationSettings, reference_batch_mse
from fernn.experiments.report import comparison, markdown_report

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
# The demo pair, the earlier (hidden 16) demo pair, the rotation pair and the Table 1 runs.
SHIPPED = [path for folder in ("", "hidden16", "rotation", "table1")
           for path in sorted(p for p in (PRETRAINED / folder).iterdir() if is_model_folder(p))]
CLASSIFIERS = sorted(p for p in (PRETRAINED / "classify").iterdir() if is_model_folder(p))
# The last commit that shipped the torch files these folders were converted from (python -m fernn.convert).
TORCH_FILES_COMMIT = "3ce6564"
# Recomputing on another machine or thread count changes float32 summation order only.
TOLERANCE = 1e-4


def test_the_demo_pairs_are_shipped_as_model_folders_only():
    assert {path.name for path in SHIPPED if path.parent == PRETRAINED} >= {"grnn", "fernn"}
    assert {path.name for path in SHIPPED if path.parent.name == "hidden16"} == {"grnn", "fernn"}
    assert {path.name for path in CLASSIFIERS} == {"grnn", "fernn", "single-frame"}
    pickles = [path for path in PRETRAINED.rglob("*") if path.suffix in (".pt", ".pth", ".pkl", ".bin")
               and "resume" not in path.parts]
    assert not pickles, "pretrained/ ships safetensors only (resume states aside)"


@pytest.fixture
def no_unpickler(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a shipped model must load without unpickling")
    for owner, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, refuse)


def _torch_file_at_commit(path: Path, folder: Path) -> Path | None:
    """The ``.pt`` file ``path`` (a model folder) was converted from, written from git's history into ``folder``."""
    relative = f"{path.relative_to(ROOT).as_posix()}.pt"
    try:
        data = subprocess.run(["git", "show", f"{TORCH_FILES_COMMIT}:{relative}"], cwd=ROOT, capture_output=True,
                              check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    (folder / "old.pt").write_bytes(data)
    return folder / "old.pt"


@pytest.mark.parametrize("path", SHIPPED + CLASSIFIERS, ids=[str(p.relative_to(PRETRAINED)) for p in SHIPPED + CLASSIFIERS])
def test_each_folder_holds_exactly_the_torch_file_it_was_converted_from(path, tmp_path):
    """Same config, records and tensor bytes as the ``.pt`` file, so the same predictions (bit for bit):
    ``scripts/compare_predictions.py --old`` runs the older code on the older files too."""
    old_file = _torch_file_at_commit(path, tmp_path)
    if old_file is None:
        pytest.skip(f"git history with {TORCH_FILES_COMMIT} is not in this checkout")
    old, new = fernn.load_checkpoint(old_file), fernn.from_pretrained(path)
    assert new.config == old.config and new.metrics == old.metrics
    for name, tensor in old.state_dict().items():
        assert new.state_dict()[name].dtype == tensor.dtype and torch.equal(new.state_dict()[name], tensor), name
    frames = torch.rand(2, 4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    if isinstance(new, fernn.Classifier):
        assert torch.equal(new.classify_steps(frames), old.classify_steps(frames))
    else:
        assert torch.equal(new.forecast(frames, 3).frames, old.forecast(frames, 3).frames)


@pytest.mark.parametrize("path", SHIPPED, ids=[str(path.relative_to(PRETRAINED)) for path in SHIPPED])
def test_model_loads_without_a_pickle_and_reproduces_its_recorded_mse(path, no_unpickler):
    assert sum(item.stat().st_size for item in path.iterdir()) < 4 * 2**20
    model = fernn.from_pretrained(path, device="cpu")
    evaluation = model.metrics["evaluation"]
    settings = EvaluationSettings(**evaluation["settings"])
    recorded = evaluation["reference_batch"]["mse"]
    assert reference_batch_mse(model, settings) == pytest.approx(recorded, rel=TOLERANCE)
    assert json.loads((path / "metrics.json").read_text()) == model.metrics
    assert model.metrics["train"]["history"], "the training curve ships with the checkpoint"


@pytest.mark.parametrize("folder", ["", "hidden16"])
def test_pretrained_readme_tables_are_the_ones_the_metrics_produce(folder):
    results = {}
    for name in ("grnn", "fernn"):
        model = fernn.from_pretrained(PRETRAINED / folder / name)
        results[name] = {"train": model.metrics["train"], "evaluation": model.metrics["evaluation"]}
    table = markdown_report(results, comparison(results))
    assert table in (PRETRAINED / "README.md").read_text()
    assert table in (PRETRAINED / folder / "results.md").read_text()


def test_the_rotation_pair_meets_its_targets_as_its_results_say():
    results = {}
    for name in ("grnn", "fernn"):
        model = fernn.from_pretrained(PRETRAINED / "rotation" / name)
        assert model.flow.name == "rotation" and model.flow.order == 12
        results[name] = {"train": model.metrics["train"], "evaluation": model.metrics["evaluation"],
                         "config": model.config.to_dict()}
    checks = comparison(results)
    assert set(checks) == set(fernn.experiments.report.ROTATION_TARGETS)
    assert markdown_report(results, checks) in (PRETRAINED / "rotation" / "results.md").read_text()


@pytest.mark.parametrize("path", CLASSIFIERS, ids=[path.name for path in CLASSIFIERS])
def test_shipped_classifiers_load_without_a_pickle_and_reproduce_their_recorded_logits(path, no_unpickler):
    from fernn.experiments.classification import ClassificationSettings, reference_logits

    assert sum(item.stat().st_size for item in path.iterdir()) < 4 * 2**20
    model = fernn.from_pretrained(path, device="cpu")
    assert isinstance(model, fernn.Classifier)
    evaluation = model.metrics["evaluation"]
    settings = ClassificationSettings(**evaluation["settings"])
    assert reference_logits(model, settings) == pytest.approx(evaluation["reference_batch"]["mean_logits"], rel=1e-4,
                                                              abs=1e-4)
    assert json.loads((path / "metrics.json").read_text()) == model.metrics
    assert model.metrics["train"]["history"], "the training curve ships with the checkpoint"
