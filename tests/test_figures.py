"""The evidence commands: a speed study and the figures, end to end on tiny runs."""

from __future__ import annotations

import json
import shutil

import imageio.v3 as iio
import pytest
from PIL import Image
from tiny_world import world_pair

import fernn
from fernn.experiments import evaluate, figures, study, train, world_figures
from fernn.experiments.train import PRESETS, TrainConfig
from fernn.records import WorldEvaluation

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


# --- the world models: curves and protocols from their records ------------------------------------

def _world_metrics(scale: float, *, evaluated: bool = True) -> dict:
    """A world model's metrics as the commands record them: a validation curve and, if ``evaluated``, a
    WorldEvaluation with 24 look-away frames (the digit lost, then found again) and a 30-frame rollout."""
    history = [{"step": step, "val_mse": scale * 0.05 / (1 + step / 100), "wall_time": step * 0.2}
               for step in range(100, 1100, 100)]
    metrics = {"train": {"step": 700, "wall_time": 140.0, "history": history,
                         "config": {"data": {"predict_frames": 10}, "final_predict_frames": 20}}}
    if evaluated:
        away = [scale * (0.002 + 0.03 * min(frame, 24 - frame) / 12) for frame in range(1, 25)]
        evaluation = WorldEvaluation(test_mse=scale * 0.01, look_away_mse=float(sum(away) / 24),
                                     look_away_last_mse=float(sum(away[-6:]) / 6), look_away_step_mse=tuple(away),
                                     long_step_mse=tuple(scale * 0.004 * 1.1 ** frame for frame in range(30)))
        metrics["evaluation"] = evaluation.to_dict()
    return metrics


def _write_world_pair(folder, **metrics) -> None:
    """Tiny world models ``folder/world/{grnn,fernn}`` with the given metrics by kind (a kind left out is not written)."""
    for kind, model in world_pair().items():
        if kind in metrics:
            fernn.save_pretrained(folder / "world" / kind, model, metrics[kind])


def test_the_world_figures_are_drawn_from_the_world_models_records(tmp_path, evaluated_pair, capsys):
    for kind in ("grnn", "fernn"):
        shutil.copytree(evaluated_pair / kind, tmp_path / kind)
    _write_world_pair(tmp_path, grnn=_world_metrics(1.0), fernn=_world_metrics(0.1))
    capsys.readouterr()
    assert figures.main(["--pretrained", str(tmp_path)]) == 0
    printed, errors = capsys.readouterr()
    lines = printed.splitlines()
    assert lines[-2:] == [f"wrote {tmp_path / 'figures' / 'world-curves.png'}",
                          f"wrote {tmp_path / 'figures' / 'world-protocols.png'}"] and not errors
    assert lines[0] == f"wrote {tmp_path / 'figures' / 'curves.png'}"  # the pair's figures come first, as before
    for name, least_width in (("world-curves.png", 600), ("world-protocols.png", 1200)):
        path = tmp_path / "figures" / name
        assert path.stat().st_size > 20_000
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= least_width and image.height >= 400
        assert iio.imread(path).std() > 5


def test_the_look_away_phases_are_the_evaluations_protocol():
    """The marks on world-protocols.png: 10 context frames, 12 moves of (0, +2), 12 of (0, -2), the last 6 scored."""
    protocol = world_figures.look_away_protocol(24, world_size=48, view_size=28)
    moves = protocol.sample.actions[protocol.context_frames - 1:].tolist()
    assert protocol.context_frames == 10 and moves == [[0, 2]] * 12 + [[0, -2]] * 12
    assert protocol.scored == tuple(range(18, 24))
    with pytest.raises(ValueError, match="even number of frames"):
        world_figures.look_away_protocol(23, world_size=48, view_size=28)


def test_the_world_figures_are_skipped_in_one_line(tmp_path, evaluated_pair, capsys):
    # No world/ folder: the pair's figures are drawn as before, the world's skipped in one line.
    for kind in ("grnn", "fernn"):
        shutil.copytree(evaluated_pair / kind, tmp_path / kind)
    capsys.readouterr()
    assert figures.main(["--pretrained", str(tmp_path)]) == 0
    printed, errors = capsys.readouterr()
    skipped = [line for line in printed.splitlines() if not line.startswith("wrote ")]
    assert skipped == [f"world figures skipped: no folder {tmp_path / 'world'} (it holds the world models grnn and "
                       "fernn)"] and not errors
    assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == ["curves.png", "length.png",
                                                                             "velocity-grids.png"]
    # One world model: nothing drawn.
    lines = []
    _write_world_pair(tmp_path, grnn=_world_metrics(1.0, evaluated=False))
    assert world_figures.make_world_figures(tmp_path, colors=figures.COLORS, log=lines.append) == []
    assert lines == [f"world figures skipped: no world model fernn in {tmp_path / 'world'} "
                     f"(python -m fernn.train --preset world-fernn --export {tmp_path / 'world' / 'fernn'})"]
    # Both, one not evaluated yet: its curves are drawn, the protocols skipped.
    lines.clear()
    _write_world_pair(tmp_path, fernn=_world_metrics(0.1))
    written = world_figures.make_world_figures(tmp_path, colors=figures.COLORS, log=lines.append)
    assert [path.name for path in written] == ["world-curves.png"] and written[0].stat().st_size > 20_000
    world = tmp_path / "world"
    assert lines == ["world-protocols.png skipped: world/grnn records no look-away or long-rollout evaluation "
                     f"(python -m fernn.evaluate {world / 'grnn'} {world / 'fernn'} --write-metrics)"]
    # No training record either: nothing to draw, one line per figure.
    lines.clear()
    _write_world_pair(tmp_path, grnn={})
    assert world_figures.make_world_figures(tmp_path, colors=figures.COLORS, log=lines.append) == []
    assert [line.split(":")[0] for line in lines] == ["world-curves.png skipped", "world-protocols.png skipped"]
    # A forecaster where a world model goes is an error, not a skip.
    shutil.rmtree(tmp_path / "world" / "grnn")
    shutil.copytree(evaluated_pair / "grnn", tmp_path / "world" / "grnn")
    with pytest.raises(ValueError, match="holds a forecaster model, not a world model"):
        world_figures.make_world_figures(tmp_path, colors=figures.COLORS, log=lines.append)
