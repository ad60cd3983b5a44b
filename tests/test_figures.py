"""The evidence commands: a speed study and the figures, end to end on tiny runs."""

from __future__ import annotations

import json
import shutil

import imageio.v3 as iio
import pytest

from fernn import evaluate, figures, study, train
from fernn.train import PRESETS, TrainConfig

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def evaluated_pair(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("pretrained")
    for kind in ("grnn", "fernn"):
        config = TrainConfig.from_flat(**dict(PRESETS[f"tiny-{kind}"], output=str(folder / f"run-{kind}"), device="cpu"))
        train.train(config, progress=False)
        train.export(config, folder / f"{kind}.pt", preset=f"tiny-{kind}")
    assert evaluate.main([str(folder / "grnn.pt"), str(folder / "fernn.pt"), "--quick", "--write-metrics",
                          "--output", str(folder / "evaluation.json")]) == 0
    return folder


def test_figures_are_drawn_from_the_recorded_metrics(evaluated_pair):
    written = figures.make_figures(evaluated_pair)
    assert [path.name for path in written] == ["curves.png", "velocity-grids.png", "length.png"]
    for path in written:
        image = iio.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
        assert image.std() > 5  # something is drawn


def test_figures_refuse_checkpoints_without_records(tmp_path, evaluated_pair):
    for kind in ("grnn", "fernn"):
        shutil.copy(evaluated_pair / f"{kind}.pt", tmp_path / f"{kind}.pt")
    import fernn

    bare = fernn.load_checkpoint(tmp_path / "grnn.pt")
    fernn.save_checkpoint(tmp_path / "grnn.pt", bare, {})
    assert figures.main(["--pretrained", str(tmp_path)]) == 1


@pytest.mark.slow
def test_speed_study_measures_both_fractions(tmp_path):
    output = tmp_path / "study.json"
    assert study.main(["--seeds", "0", "--hidden-channels", "2", "--steps", "6", "--batch-size", "2", "--jobs", "1",
                       "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    row = result["seeds"][0]
    assert row["grnn_steps"] == 6 and row["seed"] == 0
    if row["fernn_steps_to_reach"] is not None:
        assert row["step_fraction"] == pytest.approx(row["fernn_steps_to_reach"] / 6)
    assert result["step_fraction"]["of"] == 1


def test_the_classification_figure_is_drawn_when_the_classifiers_are_there(tmp_path, evaluated_pair):
    import fernn

    for kind in ("grnn", "fernn"):
        shutil.copy(evaluated_pair / f"{kind}.pt", tmp_path / f"{kind}.pt")
    (tmp_path / "classify").mkdir()
    for stem, kind in (("grnn", "grnn"), ("fernn", "fernn"), ("single-frame", "grnn")):
        path = fernn.save_checkpoint(tmp_path / "classify" / f"{stem}.pt",
                                     fernn.build_classifier(kind, hidden_channels=2, head_layers=0))
        assert evaluate.main([str(path), "--quick", "--write-metrics", "--output", str(tmp_path / f"{stem}.json")]) == 0
    written = figures.make_figures(tmp_path)
    assert written[-1].name == "classify.png"
    image = iio.imread(written[-1])
    assert image.shape[1] > 400 and image.std() > 5
