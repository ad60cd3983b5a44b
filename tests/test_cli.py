"""The command lines: bad invocations fail before any work, in one line, with argparse's exit codes
(2: a bad invocation, 1: a failure during the work), and every flag says what it takes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import fernn
from fernn.experiments import cli, convert, evaluate, figures, study, train
from fernn.checkpoints import MAX_COPIES
from fernn.experiments.train import command

COMMANDS = {"train": command, "evaluate": evaluate, "convert": convert, "figures": figures, "study": study}


def _fails(capsys: pytest.CaptureFixture, main: Callable[[list[str]], int], argv: list[str], code: int) -> str:
    """Run ``main(argv)``, expect exit ``code`` and exactly one ``python -m fernn.X: error:`` line; return it."""
    capsys.readouterr()
    try:
        result = main(argv)
    except SystemExit as exit:  # argparse's way of ending a bad invocation
        result = exit.code
    err = capsys.readouterr().err
    assert result == code, err
    lines = err.splitlines()
    program = next(f"python -m fernn.{name}" for name, module in COMMANDS.items() if module.main is main)
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), err
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file.txt"
    path.write_text("not a folder\n")
    return path


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    return {kind: fernn.save_checkpoint(folder / f"{kind}.pt", fernn.build_model(kind, hidden_channels=2,
                                                                                decoder_layers=1, **options))
            for kind, options in (("grnn", {}), ("fernn", {"max_speed": 1}))}


# --- train ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("flags", "expected"), [
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
    (["--model-max-speed", "100"], f"must be an integer in 0..{cli.MODEL_SPEED_LIMIT}"),
    (["--steps", "-5"], "argument --steps: must be an integer >= 1, got -5"),
    (["--steps", "0"], "argument --steps"),
    (["--learning-rate", "nan"], "argument --learning-rate: must be a number in (0, 10], got nan"),
    (["--learning-rate", "0"], "argument --learning-rate"),
    (["--grad-clip", "inf"], "argument --grad-clip"),
    (["--min-lr-ratio", "1.5"], "argument --min-lr-ratio"),
    (["--val-every", "0"], "argument --val-every"),
    (["--log-every", "0"], "argument --log-every"),
    (["--val-sequences", "0"], "argument --val-sequences"),
    (["--hidden-channels", "0"], "argument --hidden-channels"),
    (["--data-max-speed", "100"], f"0..{cli.DATA_SPEED_LIMIT}"),
    (["--seed", "-1"], "argument --seed"),
    (["--batch-size", "four"], "argument --batch-size: must be an integer >= 1, got 'four'"),
    (["--kind", "lstm"], "argument --kind: invalid choice: 'lstm'"),
    (["--decoder-bias", "maybe"], "expected true or false"),
    (["--final-predict-frames", "1"], "final_predict_frames must be 0 or at least predict_frames"),
    (["--digits-root", "no-such-folder"], "argument --digits-root: no folder at no-such-folder"),
])
def test_train_refuses_bad_values_before_training(capsys, tmp_path, flags, expected):
    output = tmp_path / "run"
    line = _fails(capsys, train.main, ["--preset", "tiny-grnn", "--no-progress", "--output", str(output), *flags], 2)
    assert expected in line
    assert not output.exists()  # nothing trained, nothing written


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_refuses_cuda_where_there_is_none(capsys, tmp_path):
    line = _fails(capsys, train.main, ["--preset", "tiny-grnn", "--output", str(tmp_path / "run"), "--device", "cuda"], 2)
    assert "argument --device: CUDA was asked for but is not available" in line


def test_a_cuda_device_number_beyond_the_machine_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert cli.device_name("cuda:0") == "cuda:0"
    with pytest.raises(argparse.ArgumentTypeError, match=r"cuda:3: this machine has 1 CUDA device\(s\)"):
        cli.device_name("cuda:3")
    with pytest.raises(argparse.ArgumentTypeError, match="device must be 'auto', 'cpu' or 'cuda'"):
        cli.device_name("tpu")


def test_train_refuses_output_paths_it_cannot_write(capsys, tmp_path, a_file):
    run = ["--preset", "tiny-grnn", "--no-progress"]
    assert "argument --output: " in _fails(capsys, train.main, [*run, "--output", str(a_file)], 2)
    line = _fails(capsys, train.main, [*run, "--output", str(a_file / "run")], 2)
    assert f"{a_file} is a file, not a folder" in line
    line = _fails(capsys, train.main, [*run, "--output", str(tmp_path / "run"), "--export", str(tmp_path)], 2)
    assert "argument --export: " in line and "is a folder holding other files" in line
    line = _fails(capsys, train.main, [*run, "--output", str(tmp_path / "run"), "--export", str(a_file / "m")], 2)
    assert "argument --export: cannot write" in line
    line = _fails(capsys, train.main, [*run, "--output", str(tmp_path / "run"), "--export", str(tmp_path / "m.pt")], 2)
    assert "argument --export: " in line and "give a folder path" in line and "m.safetensors" in line
    assert not (tmp_path / "run").exists()


def test_every_preset_passes_the_command_line_checks():
    for name, values in train.PRESETS.items():
        train.validate_config(train.TrainConfig.from_flat(**dict(values, output=f"runs/{name}", device="cpu")))


# --- evaluate ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("flags", "expected"), [
    (["--test-sequences", "-1"], "argument --test-sequences: must be an integer in 1..20000 (an hour's work or more), got -1"),
    (["--grid-max-speed", "100000"], f"argument --grid-max-speed: must be an integer in 0..{cli.DATA_SPEED_LIMIT}"),
    (["--widened-max-speed", "30"], f"must be an integer in 0..{cli.MODEL_SPEED_LIMIT}"),
    (["--length-frames", "0"], "argument --length-frames"),
    (["--grid-sequences", "0"], "argument --grid-sequences"),
    (["--threads", "-2"], "argument --threads"),
    (["--names", "a"], "--names needs one name per checkpoint: 1 names for 2 checkpoints"),
    (["--names", "a", "a"], "two checkpoints share a name (a)"),
    (["--write-metrics", "--reuse-metrics"], "use one or the other"),
    (["--targets", "demo", "--quick", "--grid-max-speed", "1"], "--targets demo needs --grid-max-speed >= 2"),
    (["--targets", "everything"], "argument --targets: invalid choice"),
    (["--digits-root", "no-such-folder"], "argument --digits-root: no folder at no-such-folder"),
])
def test_evaluate_refuses_bad_values_before_evaluating(capsys, tmp_path, tiny_checkpoints, flags, expected):
    output = tmp_path / "evaluation.json"
    argv = [str(tiny_checkpoints["grnn"]), str(tiny_checkpoints["fernn"]), "--quick", "--output", str(output), *flags]
    assert expected in _fails(capsys, evaluate.main, argv, 2)
    assert not output.exists()


def test_evaluate_refuses_bad_paths_before_evaluating(capsys, tmp_path, tiny_checkpoints, a_file):
    grnn = str(tiny_checkpoints["grnn"])
    assert f"no model at {tmp_path / 'missing.pt'}" in _fails(capsys, evaluate.main, [str(tmp_path / "missing.pt")], 2)
    assert "is a folder but not a model folder" in _fails(capsys, evaluate.main, [str(tmp_path)], 2)
    assert "argument --output: " in _fails(capsys, evaluate.main, [grnn, "--output", str(tmp_path)], 2)
    line = _fails(capsys, evaluate.main, [grnn, "--output", str(a_file / "evaluation.json")], 2)
    assert f"argument --output: cannot write {a_file / 'evaluation.json'}: {a_file} is a file, not a folder" in line
    assert "argument --report: cannot write" in _fails(capsys, evaluate.main, [grnn, "--report", str(a_file / "r.md")], 2)
    same = str(tmp_path / "both.md")
    assert "--output and --report are the same file" in _fails(capsys, evaluate.main,
                                                               [grnn, "--output", same, "--report", same], 2)
    twins = tmp_path / "twin"
    twins.mkdir()
    (twins / "grnn.pt").write_bytes(tiny_checkpoints["grnn"].read_bytes())
    assert "two checkpoints share a name (grnn)" in _fails(capsys, evaluate.main, [grnn, str(twins / "grnn.pt")], 2)


def test_evaluate_reads_every_checkpoint_before_evaluating_any(capsys, tmp_path, tiny_checkpoints):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all\n")
    output = tmp_path / "evaluation.json"
    line = _fails(capsys, evaluate.main, [str(tiny_checkpoints["grnn"]), str(garbage), "--quick", "--device", "cpu",
                                          "--output", str(output)], 1)
    assert f"{garbage} is not a readable checkpoint" in line
    assert not output.exists()
    line = _fails(capsys, evaluate.main, [str(tiny_checkpoints["grnn"]), "--reuse-metrics", "--output", str(output)], 1)
    assert "has no stored evaluation; run without --reuse-metrics" in line


def test_evaluate_targets_demo_needs_one_grnn_and_one_fernn(capsys, tmp_path, tiny_checkpoints):
    line = _fails(capsys, evaluate.main, [str(tiny_checkpoints["grnn"]), "--quick", "--targets", "demo",
                                          "--output", str(tmp_path / "e.json")], 1)
    assert "--targets demo compares one G-RNN with one FERNN; got 1 G-RNN(s) and 0 FERNN(s)" in line


# --- convert ----------------------------------------------------------------------------------

def _research_state_dict(hidden: int = 2) -> dict[str, torch.Tensor]:
    """The smallest Seq2SeqFERNN state dict: a cell and a one-layer (output-only) decoder."""
    return {"cell.conv_u.weight": torch.randn(hidden, 1, 3, 3), "cell.conv_h.weight": torch.randn(hidden, hidden, 3, 3),
            "decoder_conv.0.weight": torch.randn(1, hidden, 3, 3)}


def test_convert_refuses_a_velocity_range_the_loader_would_refuse(capsys, tmp_path):
    research, output = tmp_path / "research.pt", tmp_path / "model"
    torch.save(_research_state_dict(), research)
    for speed in ("100000", str(cli.MODEL_SPEED_LIMIT + 1), "30", "-1"):
        line = _fails(capsys, convert.main, [str(research), "--max-speed", speed, "--output", str(output)], 2)
        assert f"must be an integer in 0..{cli.MODEL_SPEED_LIMIT} (at most {MAX_COPIES} velocity copies)" in line
    assert not output.exists()
    # The largest range the command accepts is one the loader opens.
    assert convert.main([str(research), "--max-speed", str(cli.MODEL_SPEED_LIMIT), "--output", str(output)]) == 0
    assert len(fernn.load_checkpoint(output).config.velocities) == (2 * cli.MODEL_SPEED_LIMIT + 1) ** 2 <= MAX_COPIES


def test_convert_refuses_bad_paths(capsys, tmp_path, a_file):
    research = tmp_path / "research.pt"
    torch.save(_research_state_dict(), research)
    assert "no model at" in _fails(capsys, convert.main, [str(tmp_path / "nope.pt"), "--max-speed", "1",
                                                          "--output", str(tmp_path / "m")], 2)
    assert "is a folder holding other files" in _fails(capsys, convert.main, [str(research), "--max-speed", "1",
                                                                              "--output", str(tmp_path)], 2)
    assert "cannot write" in _fails(capsys, convert.main, [str(research), "--max-speed", "1",
                                                           "--output", str(a_file / "m")], 2)
    assert "models are written as safetensors now" in _fails(capsys, convert.main, [str(research), "--max-speed", "1",
                                                                                    "--output", str(research)], 2)
    assert "needs --max-speed" in _fails(capsys, convert.main, [str(research), "--output", str(tmp_path / "m")], 2)
    assert convert.main([str(research), "--max-speed", "1", "--output", str(tmp_path / "m")]) == 0
    assert "would overwrite the source" in _fails(capsys, convert.main, [str(tmp_path / "m"), "--output",
                                                                         str(tmp_path / "m")], 2)
    assert "leave out --max-speed" in _fails(capsys, convert.main, [str(tmp_path / "m"), "--max-speed", "1",
                                                                    "--output", str(tmp_path / "n")], 2)
    assert not (tmp_path / "n").exists()


def test_convert_turns_a_fernn_torch_file_into_a_folder_and_one_file(capsys, tmp_path, tiny_checkpoints):
    for output in (tmp_path / "grnn", tmp_path / "grnn.safetensors"):
        assert convert.main([str(tiny_checkpoints["grnn"]), "--output", str(output)]) == 0
        assert f"wrote {output}: a G-RNN forecaster" in capsys.readouterr().out
        converted, original = fernn.from_pretrained(output), fernn.load_checkpoint(tiny_checkpoints["grnn"])
        assert converted.config == original.config and converted.metrics == original.metrics
        assert all(torch.equal(converted.state_dict()[k], v) for k, v in original.state_dict().items())


# --- figures and study ------------------------------------------------------------------------

def test_figures_refuses_a_folder_without_the_pair(capsys, tmp_path, a_file, tiny_checkpoints):
    assert "argument --pretrained: no folder at" in _fails(capsys, figures.main, ["--pretrained", str(tmp_path / "x")], 2)
    assert "is a file, not a folder" in _fails(capsys, figures.main, ["--pretrained", str(a_file)], 2)
    assert "no model grnn or fernn in" in _fails(capsys, figures.main, ["--pretrained", str(tmp_path)], 2)
    for kind, path in tiny_checkpoints.items():
        (tmp_path / f"{kind}.pt").write_bytes(path.read_bytes())
    (tmp_path / "figures").write_text("a file where the figures folder goes\n")
    assert "figures is a file, not a folder" in _fails(capsys, figures.main, ["--pretrained", str(tmp_path)], 2)


@pytest.mark.parametrize(("flags", "expected"), [
    (["--jobs", "0"], "argument --jobs"),
    (["--steps", "0"], "argument --steps"),
    (["--batch-size", "-3"], "argument --batch-size"),
    (["--hidden-channels", "0"], "argument --hidden-channels"),
    (["--seeds", "-1"], "argument --seeds"),
    (["--seeds", "0", "1", "0"], "--seeds lists a seed twice"),
])
def test_study_refuses_bad_values_before_training(capsys, tmp_path, flags, expected):
    output = tmp_path / "study.json"
    assert expected in _fails(capsys, study.main, ["--output", str(output), *flags], 2)
    assert not output.exists()


def test_study_refuses_an_output_it_cannot_write(capsys, tmp_path, a_file):
    assert "is a folder" in _fails(capsys, study.main, ["--output", str(tmp_path)], 2)
    assert "cannot write" in _fails(capsys, study.main, ["--output", str(a_file / "study.json")], 2)


# --- help -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_is_plain_text_and_every_flag_is_explained(name, capsys):
    with pytest.raises(SystemExit) as exit:
        COMMANDS[name].main(["--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":class:" not in text
    assert text.startswith(f"usage: python -m fernn.{name}")
    parser = command._parser() if name == "train" else None
    if parser is not None:
        unexplained = [action.option_strings for action in parser._actions if not action.help]
        assert not unexplained


def test_train_help_lists_choices_and_ranges():
    text = " ".join(command._parser().format_help().split())
    for shown in ("--kind {grnn,fernn}", "--decoding {aligned,paper}", "--pooling {max,mean,peak}",
                  "--lr-schedule {constant,cosine}", "--precision {auto,fp32,bf16}",
                  f"an integer in 0..{cli.MODEL_SPEED_LIMIT}", "--decoder-bias {true,false}"):
        assert shown in text
    # Every help entry describes a field that exists (none left behind by a renamed field).
    assert set(command._FLAGS) == set(train.TrainConfig.flat_names())


# --- the shared helper ------------------------------------------------------------------------

def test_run_turns_any_failure_into_one_line(capsys, monkeypatch):
    monkeypatch.delenv("FERNN_TRACEBACK", raising=False)

    def failing(error: BaseException) -> Callable[[], int]:
        def work() -> int:
            raise error
        return work

    assert cli.run("python -m fernn.x", failing(OSError("disk\nfull"))) == 1
    assert capsys.readouterr().err == "python -m fernn.x: error: disk full\n"
    assert cli.run("python -m fernn.x", failing(KeyError("length"))) == 1
    assert capsys.readouterr().err == "python -m fernn.x: error: internal error (KeyError): 'length'\n"
    assert cli.run("python -m fernn.x", failing(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "python -m fernn.x: error: interrupted\n"
    monkeypatch.setenv("FERNN_TRACEBACK", "1")
    with pytest.raises(KeyError):
        cli.run("python -m fernn.x", failing(KeyError("length")))


def test_value_checks_and_plain_text():
    assert cli.Integer(1, 3)("2") == 2
    assert cli.Number(0, positive=True)("1e-3") == pytest.approx(1e-3)
    for rule, text in ((cli.Integer(1, 3), "4"), (cli.Integer(0), "1.5"), (cli.Number(0, positive=True), "0"),
                       (cli.Number(), "nan"), (cli.Number(0, 1), "-inf")):
        with pytest.raises(argparse.ArgumentTypeError):
            rule(text)
    with pytest.raises(ValueError, match="--steps must be an integer >= 1, got True"):
        cli.Integer(1).check(True, "--steps")  # a bool is not a count
    assert cli.plain_text("Run ``python -m x`` with :class:`~fernn.TrainConfig`, *once*.") == \
        "Run python -m x with TrainConfig, once."


def test_a_bad_invocation_prints_no_traceback_and_no_usage_block(tmp_path):
    """As a real process: one stderr line, exit code 2, nothing on stdout."""
    done = subprocess.run([sys.executable, "-m", "fernn.train", "--preset", "tiny-grnn", "--batch-size", "0",
                           "--output", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "python -m fernn.train: error: argument --batch-size: must be an integer >= 1, got 0\n"
    assert done.stdout == ""


def test_the_presets_print_as_a_table_and_a_bare_run_trains_the_shipped_fernn(capsys):
    from fernn.experiments.train import PRESETS
    from fernn.experiments.train.command import DEFAULT_PRESET, main

    assert main(["--list-presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["preset", "task", "model", "hidden"] and set(lines[1]) <= {"-", " "}
    assert all(len(line) <= 160 for line in lines), "a preset's line is too long to read"
    rows = {line.split()[0]: line for line in lines[2:] if line and not line.startswith("frames:")}
    assert set(rows) == set(PRESETS) and "(default)" in rows[DEFAULT_PRESET]
    assert DEFAULT_PRESET == "wide-fernn" and "FERNN V_2" in rows["wide-fernn"] and "6,000" in rows["wide-fernn"]


def test_a_quick_evaluation_of_a_shipped_pair_checks_no_target(capsys, tmp_path, tiny_checkpoints, monkeypatch):
    """--quick is a smoke run: on the pairs --targets auto would check, it reports numbers and no verdict."""
    import shutil

    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    for kind, path in tiny_checkpoints.items():
        shutil.copy(path, shipped / path.name)
    monkeypatch.setattr(evaluate, "PRETRAINED", shipped)
    arguments = [str(shipped / "grnn.pt"), str(shipped / "fernn.pt"), "--output", str(tmp_path / "e.json"),
                 "--grid-max-speed", "2", "--length-frames", "30", "--test-sequences", "2", "--widened-max-speed", "0"]
    assert evaluate.main([*arguments, "--quick"]) == 0
    out = capsys.readouterr().out
    assert "no target is checked" in out and "| met |" not in out
    assert json.loads((tmp_path / "e.json").read_text())["checks"] is None
    assert evaluate.main(arguments) == 0  # the same pair, not --quick: auto checks its targets
    assert "| met |" in capsys.readouterr().out
