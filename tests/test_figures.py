"""The evidence commands: a speed study and the figures, end to end on tiny runs."""

from __future__ import annotations

import json
import shutil

import imageio.v3 as iio
import pytest

from fernn.experiments import evaluate, figures, study, train
from fernn.experiments.train import PRESETS, TrainConfig

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def evaluated_pair(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("pretrained")
    for kind in ("grnn", "fernn"):
        config = TrainConfig.from_flat(**dict(PRESETS[f"tiny-{kind}"], output=str(folder / f"run-{kind}"), device="cpu"))
        train.train(config, progress=False)
        train.export(config, folder / kind, preset=f"tiny-{kind}")
    assert evaluate.main([str(folder / "grnn"), str(folder / "fernn"), "--quick", "--write-metrics",
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
        shutil.copytree(evaluated_pair / kind, tmp_path / kind)
    import fernn

    bare = fernn.load_checkpoint(tmp_path / "grnn")
    fernn.save_checkpoint(tmp_path / "grnn", bare, {})
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
        shutil.copytree(evaluated_pair / kind, tmp_path / kind)
    (tmp_path / "classify").mkdir()
    for stem, kind in (("grnn", "grnn"), ("fernn", "fernn"), ("single-frame", "grnn")):
        path = fernn.save_checkpoint(tmp_path / "classify" / stem,
                                     fernn.build_classifier(kind, hidden_channels=2, head_layers=0))
        assert evaluate.main([str(path), "--quick", "--write-metrics", "--output", str(tmp_path / f"{stem}.json")]) == 0
    written = figures.make_figures(tmp_path)
    assert written[-1].name == "classify.png"
    image = iio.imread(written[-1])
    assert image.shape[1] > 400 and image.std() > 5


# --- Table 1: validation curves from exported checkpoints or runs in progress -------------------

@pytest.fixture(scope="module")
def table1_runs(tmp_path_factory: pytest.TempPathFactory):
    """Three tiny runs laid out as runs/ holds them (table1-ROLE/log.json), the G-RNN also exported."""
    folder = tmp_path_factory.mktemp("table1")
    for role, preset, options in (("grnn", "tiny-grnn", {}), ("fernn-v1", "tiny-fernn", {"model_max_speed": 1}),
                                  ("fernn-v2", "tiny-fernn", {"model_max_speed": 2})):
        config = TrainConfig.from_flat(**dict(PRESETS[preset], output=str(folder / f"table1-{role}"), device="cpu",
                                              data_max_speed=2, **options))
        train.train(config, progress=False)
        if role == "grnn":
            train.export(config, folder / "grnn", preset=preset)
    return folder


def test_table1_figure_is_drawn_from_checkpoints_and_run_logs(table1_runs, tmp_path, capsys):
    assert figures.table1_sources(table1_runs) == {"grnn": table1_runs / "grnn",  # the export wins over its log
                                                   "fernn-v1": table1_runs / "table1-fernn-v1" / "log.json",
                                                   "fernn-v2": table1_runs / "table1-fernn-v2" / "log.json"}
    output = tmp_path / "curves.png"
    assert figures.main(["--table1", str(table1_runs), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert f"FERNN-V2: {table1_runs / 'table1-fernn-v2' / 'log.json'}" in printed and f"wrote {output}" in printed
    image = iio.imread(output)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 800 and image.std() > 5
    # Without --output the figure goes beside the runs; a run not started yet is named, not fatal.
    partial = tmp_path / "partial"
    shutil.copytree(table1_runs / "table1-fernn-v1", partial / "table1-fernn-v1")
    assert figures.main(["--table1", str(partial)]) == 0
    assert "G-RNN: no curve" in capsys.readouterr().out
    assert iio.imread(partial / "figures" / "table1-curves.png").std() > 5


def test_table1_figure_refuses_in_one_line(table1_runs, tmp_path, capsys):
    def error(argv: list[str], code: int) -> str:
        capsys.readouterr()
        try:
            result = figures.main(argv)
        except SystemExit as exit:
            result = exit.code
        lines = capsys.readouterr().err.splitlines()
        assert result == code and len(lines) == 1 and lines[0].startswith("python -m fernn.figures: error: "), lines
        return lines[0]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no Table 1 run in" in error(["--table1", str(empty)], 2)
    assert "give one" in error(["--table1", str(table1_runs), "--pretrained", str(table1_runs)], 2)
    assert "--output must be a .png file" in error(["--table1", str(table1_runs), "--output", str(tmp_path / "c.pdf")], 2)
    assert "--output goes with --table1" in error(["--output", str(tmp_path / "c.png")], 2)
    damaged = tmp_path / "damaged"
    (damaged / "table1-fernn-v2").mkdir(parents=True)
    (damaged / "table1-fernn-v2" / "log.json").write_text("{not json")
    assert "log.json is not valid JSON" in error(["--table1", str(damaged)], 1)
    (damaged / "table1-fernn-v2" / "log.json").write_text(json.dumps({"history": [{"step": 5, "train_mse": 0.1}]}))
    assert "records no validation MSE yet" in error(["--table1", str(damaged)], 1)
    assert not (damaged / "figures").exists()


def test_a_rotation_pairs_figures_lay_the_grid_out_by_angle(tmp_path):
    """The same command draws a rotation pair: the grids are one row of angular velocities."""
    for kind in ("grnn", "fernn"):
        settings = dict(PRESETS["tiny-rot"], kind=kind, output=str(tmp_path / f"run-{kind}"), device="cpu")
        if kind == "grnn":
            settings.pop("model_max_speed")
        config = TrainConfig.from_flat(**settings)
        train.train(config, progress=False)
        train.export(config, tmp_path / kind, preset="tiny-rot")
    assert evaluate.main([str(tmp_path / "grnn"), str(tmp_path / "fernn"), "--quick", "--write-metrics",
                          "--output", str(tmp_path / "evaluation.json")]) == 0
    written = figures.make_figures(tmp_path)
    assert [path.name for path in written] == ["curves.png", "velocity-grids.png", "length.png"]
    grids = iio.imread(written[1])
    assert grids.shape[0] < grids.shape[1] / 3  # one row of cells per panel: a wide, low figure
    assert grids.std() > 5
