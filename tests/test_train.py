"""Training from the command line: loss goes down, checkpoints load, resume continues, DDP runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fernn
from fernn.showcase.appserver import free_port
from fernn.datasets.flowing import SequenceSpec, flowing_mnist_batch
from fernn.datasets.digits import load_digits
from fernn.measures import step_mse
from fernn.experiments.train import PRESETS, TrainConfig, main, train


def tiny(tmp_path: Path, name: str = "run", **overrides) -> TrainConfig:
    values = dict(PRESETS["tiny-fernn"], output=str(tmp_path / name), device="cpu")
    values.update(overrides)
    return TrainConfig.from_flat(**values)


def validation_set(config: TrainConfig) -> torch.Tensor:
    digits, _ = load_digits("val")
    return flowing_mnist_batch(digits, range(config.val_sequences), seed=config.val_seed, spec=config.data.sequences())


def test_training_lowers_validation_loss_and_writes_loadable_checkpoints(tmp_path):
    config = tiny(tmp_path, steps=40, learning_rate=3e-3, val_every=20)
    torch.manual_seed(config.seed)
    untrained = fernn.Forecaster(config.model)
    sequences = validation_set(config)
    before = float(step_mse(untrained, sequences, config.data.context_frames).mean())

    final = train(config, progress=False)

    best = fernn.load_checkpoint(Path(config.output) / "best.pt")
    after = float(step_mse(best, sequences, config.data.context_frames).mean())
    assert after < 0.9 * before, (before, after)
    assert final["best_val_mse"] == pytest.approx(after, rel=1e-6)
    for name in ("best.pt", "last.pt"):
        payload = torch.load(Path(config.output) / name, weights_only=True)
        assert payload["config"]["kind"] == "fernn"
    history = json.loads((Path(config.output) / "log.json").read_text())["history"]
    assert [r["step"] for r in history] == list(range(5, 41, 5))
    assert {"step", "sequences", "train_mse", "wall_time"} <= set(history[0])
    assert [r["step"] for r in history if "val_mse" in r] == [20, 40]


def test_resume_continues_from_the_saved_step_and_matches_an_uninterrupted_run(tmp_path):
    straight = train(tiny(tmp_path, "straight", steps=20), progress=False)

    train(tiny(tmp_path, "resumed", steps=10), progress=False)
    payload = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert payload["training"]["step"] == 10
    resumed = train(tiny(tmp_path, "resumed", steps=20), resume=True, progress=False)

    assert resumed["step"] == 20
    assert resumed["val_mse"] == pytest.approx(straight["val_mse"], rel=1e-6)
    history = json.loads((tmp_path / "resumed" / "log.json").read_text())["history"]
    assert [r["step"] for r in history] == [5, 10, 15, 20]


def test_resume_refuses_a_different_model(tmp_path):
    train(tiny(tmp_path, steps=10), progress=False)
    with pytest.raises(ValueError, match="hidden_channels"):
        train(tiny(tmp_path, steps=20, hidden_channels=6), resume=True, progress=False)


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = fernn.build_model("fernn", hidden_channels=4, max_speed=1, decoder_layers=2).double()
    digits, _ = load_digits("train")
    batch = flowing_mnist_batch(digits, range(2), spec=SequenceSpec(num_frames=6)).double()

    def gradients(checkpointing: bool) -> list[torch.Tensor]:
        model.zero_grad()
        model.checkpoint_steps = checkpointing
        loss = ((model(batch[:, :3], 3) - batch[:, 3:]) ** 2).mean()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    model.train()
    for plain, recomputed in zip(gradients(False), gradients(True), strict=True):
        torch.testing.assert_close(plain, recomputed, rtol=1e-10, atol=1e-12)


def test_command_line_trains_and_exports(tmp_path, capsys):
    output, exported = tmp_path / "cli", tmp_path / "shipped" / "grnn"
    main(["--preset", "tiny-grnn", "--output", str(output), "--device", "cpu", "--steps", "10",
          "--no-progress", "--export", str(exported)])
    printed = capsys.readouterr()
    final = json.loads(printed.out.strip().splitlines()[-1])
    assert f"wrote {exported}" in printed.err
    assert final["step"] == 10
    model = fernn.from_pretrained(exported)
    assert model.config.kind == "grnn"
    assert model.metrics["train"]["preset"] == "tiny-grnn"
    assert [r["step"] for r in model.metrics["train"]["history"]] == [5, 10]
    assert sorted(path.name for path in exported.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    assert json.loads((exported / "metrics.json").read_text()) == model.metrics  # no optimizer state: it stays small


def test_every_option_is_a_flag_and_presets_are_valid():
    for name, values in PRESETS.items():
        TrainConfig.from_flat(**values)  # raises on an unknown setting
    from fernn.experiments.train.command import _parser

    help_text = _parser().format_help()
    for name in TrainConfig.flat_names():
        assert "--" + name.replace("_", "-") in help_text
    with pytest.raises(ValueError, match="unknown training settings: colour"):
        TrainConfig.from_flat(colour="red")


@pytest.mark.slow
def test_two_process_gloo_run_matches_a_single_process_run(tmp_path):
    """DDP over 2 CPU processes averages the same gradients as one process on the whole batch."""
    single = train(tiny(tmp_path, "single", steps=10, batch_size=4), progress=False)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "fernn.train", "--preset", "tiny-fernn", "--device", "cpu",
               "--steps", "10", "--batch-size", "4", "--no-progress", "--output", str(tmp_path / "ddp")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "terminate called without an active exception" in result.stderr:
        # gloo's teardown aborted a process after training (seen once in 8 runs on a loaded 2-core
        # machine): one more try, so that only a failure that repeats fails the test.
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    distributed = json.loads(result.stdout.strip().splitlines()[-1])
    assert distributed["step"] == 10
    assert distributed["val_mse"] == pytest.approx(single["val_mse"], rel=1e-4)
    assert fernn.load_checkpoint(tmp_path / "ddp" / "best.pt").config.kind == "fernn"


def test_learning_rate_schedule_and_rollout_curriculum():
    config = TrainConfig.from_flat(steps=100, learning_rate=1e-3, lr_schedule="cosine", min_lr_ratio=0.1, warmup_steps=10,
                         predict_frames=10, final_predict_frames=20, curriculum_start=0.5)
    assert config.learning_rate_at(0) == pytest.approx(1e-4)
    assert config.learning_rate_at(9) == pytest.approx(1e-3)
    assert config.learning_rate_at(10) == pytest.approx(1e-3)
    assert config.learning_rate_at(99) == pytest.approx(1e-4, rel=0.01)
    rates = [config.learning_rate_at(s) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    lengths = [config.predict_frames_at(s) for s in range(100)]
    assert lengths[:50] == [10] * 50 and lengths[-10:] == [20] * 10  # full length over the last 20% of the ramp
    assert all(a <= b for a, b in zip(lengths, lengths[1:]))
    assert TrainConfig(lr_schedule="constant").learning_rate_at(5000) == 1e-3
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_bf16_training_learns_keeps_float32_weights_and_resumes_exactly(tmp_path):
    options = dict(precision="bf16", lr_schedule="cosine", final_predict_frames=3, curriculum_start=0.5)
    straight = train(tiny(tmp_path, "straight", steps=20, **options), progress=False)

    def interrupt(record: dict) -> None:  # the run is killed after its step-10 state was saved
        if record["step"] == 15:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, "resumed", steps=20, **options), progress=False, callback=interrupt)
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["training"]["step"] == 10
    resumed = train(tiny(tmp_path, "resumed", steps=20, **options), resume=True, progress=False)
    assert resumed["val_mse"] == pytest.approx(straight["val_mse"], rel=1e-6)
    assert resumed["precision"] == "bf16"
    history = json.loads((tmp_path / "resumed" / "log.json").read_text())["history"]
    assert [r["predict_frames"] for r in history] == [2, 2, 2, 3]
    payload = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert payload["training"]["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in payload["state_dict"].values())


def test_a_classifier_trains_on_flickering_mnist_resumes_exactly_and_exports(tmp_path):
    """The classification task through the same loop: a Classifier checkpoint, accuracy in the log,
    and a resumed run that ends where an uninterrupted one does."""
    def flicker(name: str, **overrides) -> TrainConfig:
        values = dict(PRESETS["tiny-flicker"], output=str(tmp_path / name), device="cpu", **overrides)
        return TrainConfig.from_flat(**values)

    straight = train(flicker("straight", steps=20, learning_rate=3e-3), progress=False)
    assert 0.0 <= straight["val_accuracy"] <= 1.0 and straight["val_error"] == pytest.approx(1 - straight["val_accuracy"])
    assert "train_loss" in straight and "best_val_error" in straight
    train(flicker("resumed", steps=10, learning_rate=3e-3), progress=False)
    resumed = train(flicker("resumed", steps=20, learning_rate=3e-3), resume=True, progress=False)
    assert resumed["val_loss"] == pytest.approx(straight["val_loss"], rel=1e-6)
    best = fernn.load_checkpoint(tmp_path / "straight" / "best.pt")
    assert isinstance(best, fernn.Classifier) and best.velocities == fernn.velocity_set(1)
    with pytest.raises(ValueError, match="trains a ClassifierConfig"):
        TrainConfig(model=fernn.ModelConfig(), data=fernn.experiments.train.DataSpec(task="flickering-mnist"))


def test_identity_recurrent_init_starts_the_kernel_at_the_identity():
    from fernn.experiments.train.tasks import build_model

    config = TrainConfig.from_flat(**dict(PRESETS["tiny-flicker"], recurrent_init="identity"))
    weight = build_model(config).encoder.cell.recurrent_conv.weight.detach()  # (C, C, 3, 3)
    expected = torch.zeros_like(weight)
    expected[:, :, 1, 1] = torch.eye(weight.shape[0])
    assert torch.equal(weight, expected)
    default = build_model(TrainConfig.from_flat(**PRESETS["tiny-flicker"])).encoder.cell.recurrent_conv.weight
    assert not torch.equal(default.detach(), expected)
    with pytest.raises(ValueError, match="recurrent_init"):
        TrainConfig.from_flat(recurrent_init="orthogonal")


def test_a_rotation_forecaster_trains_on_rotating_mnist_and_loads_with_its_flow(tmp_path):
    config = TrainConfig.from_flat(**dict(PRESETS["tiny-rot"], output=str(tmp_path / "rot"), device="cpu"))
    assert config.model.flow == fernn.flows.Rotation(order=4) and config.model.velocities == (-1, 0, 1)
    assert config.flat()["rotation_order"] == 4 and TrainConfig.from_flat(**config.flat()) == config
    final = train(config, progress=False)
    assert final["step"] == 20 and final["val_mse"] > 0
    model = fernn.load_checkpoint(tmp_path / "rot" / "best.pt")
    assert model.flow.name == "rotation" and model.flow.step_degrees == 90.0
    grnn = TrainConfig.from_flat(**dict(PRESETS["tiny-rot"], kind="grnn")).model
    assert grnn.velocities == (0,) and grnn.flow == config.model.flow


def test_a_world_model_trains_on_mnist_world_resumes_exactly_and_exports(tmp_path):
    """The world task through the same loop: a WorldFERNN checkpoint, a resumed run that ends where an
    uninterrupted one does, and an exported file that loads by its kind."""
    def world(name: str, **overrides) -> TrainConfig:
        return TrainConfig.from_flat(**dict(PRESETS["tiny-world"], output=str(tmp_path / name), device="cpu",
                                            **overrides))

    straight = train(world("straight", steps=10, val_every=5), progress=False)
    assert straight["val_mse"] > 0 and "train_mse" in straight
    train(world("resumed", steps=5, val_every=5), progress=False)
    resumed = train(world("resumed", steps=10, val_every=5), resume=True, progress=False)
    assert resumed["val_mse"] == pytest.approx(straight["val_mse"], rel=1e-6)
    main(["--preset", "tiny-world", "--kind", "grnn", "--output", str(tmp_path / "grnn"), "--device", "cpu",
          "--steps", "5", "--val-every", "5", "--no-progress", "--export", str(tmp_path / "world-grnn")])
    exported = fernn.from_pretrained(tmp_path / "world-grnn")
    assert isinstance(exported, fernn.WorldGRNN) and exported.world_size == 48
    assert isinstance(fernn.load_checkpoint(tmp_path / "straight" / "best.pt"), fernn.WorldFERNN)
    with pytest.raises(ValueError, match="trains a WorldConfig"):
        TrainConfig(model=fernn.ModelConfig(), data=fernn.experiments.train.DataSpec(task="world"))
