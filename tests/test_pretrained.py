"""The shipped checkpoints: loadable safely, small, and still reproducing their recorded numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import fernn
from fernn.experiments.evaluate import EvaluationSettings, reference_batch_mse
from fernn.experiments.report import comparison, markdown_report

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
# The demo pair, the earlier (hidden 16) demo pair, the rotation pair and the Table 1 runs.
SHIPPED = [path for folder in ("", "hidden16", "rotation", "table1") for path in sorted((PRETRAINED / folder).glob("*.pt"))]
# Recomputing on another machine or thread count changes float32 summation order only.
TOLERANCE = 1e-4


def test_the_demo_pairs_are_shipped():
    assert {path.stem for path in PRETRAINED.glob("*.pt")} >= {"grnn", "fernn"}
    assert {path.stem for path in (PRETRAINED / "hidden16").glob("*.pt")} == {"grnn", "fernn"}


@pytest.mark.parametrize("path", SHIPPED, ids=[str(path.relative_to(PRETRAINED)) for path in SHIPPED])
def test_checkpoint_loads_safely_and_reproduces_its_recorded_mse(path):
    assert path.stat().st_size < 4 * 2**20
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert "training" not in payload  # no optimizer state in shipped files
    model = fernn.load_checkpoint(path, device="cpu")
    evaluation = model.metrics["evaluation"]
    settings = EvaluationSettings(**evaluation["settings"])
    recorded = evaluation["reference_batch"]["mse"]
    assert reference_batch_mse(model, settings) == pytest.approx(recorded, rel=TOLERANCE)
    beside = json.loads(path.with_name(f"{path.stem}.metrics.json").read_text())
    assert beside == model.metrics
    assert model.metrics["train"]["history"], "the training curve ships with the checkpoint"


@pytest.mark.parametrize("folder", ["", "hidden16"])
def test_pretrained_readme_tables_are_the_ones_the_metrics_produce(folder):
    results = {}
    for name in ("grnn", "fernn"):
        model = fernn.load_checkpoint(PRETRAINED / folder / f"{name}.pt")
        results[name] = {"train": model.metrics["train"], "evaluation": model.metrics["evaluation"]}
    table = markdown_report(results, comparison(results))
    assert table in (PRETRAINED / "README.md").read_text()
    assert table in (PRETRAINED / folder / "results.md").read_text()


def test_the_rotation_pair_meets_its_targets_as_its_results_say():
    results = {}
    for name in ("grnn", "fernn"):
        model = fernn.load_checkpoint(PRETRAINED / "rotation" / f"{name}.pt")
        assert model.flow.name == "rotation" and model.flow.order == 12
        results[name] = {"train": model.metrics["train"], "evaluation": model.metrics["evaluation"],
                         "config": model.config.to_dict()}
    checks = comparison(results)
    assert set(checks) == set(fernn.experiments.report.ROTATION_TARGETS)
    assert markdown_report(results, checks) in (PRETRAINED / "rotation" / "results.md").read_text()


CLASSIFIERS = sorted((PRETRAINED / "classify").glob("*.pt"))


@pytest.mark.parametrize("path", CLASSIFIERS, ids=[path.stem for path in CLASSIFIERS])
def test_shipped_classifiers_load_safely_and_reproduce_their_recorded_logits(path):
    from fernn.experiments.classification import ClassificationSettings, reference_logits

    assert path.stat().st_size < 4 * 2**20
    assert "training" not in torch.load(path, map_location="cpu", weights_only=True)
    model = fernn.load_checkpoint(path, device="cpu")
    assert isinstance(model, fernn.Classifier)
    evaluation = model.metrics["evaluation"]
    settings = ClassificationSettings(**evaluation["settings"])
    assert reference_logits(model, settings) == pytest.approx(evaluation["reference_batch"]["mean_logits"], rel=1e-4,
                                                              abs=1e-4)
    assert json.loads(path.with_name(f"{path.stem}.metrics.json").read_text()) == model.metrics
    assert model.metrics["train"]["history"], "the training curve ships with the checkpoint"
