"""Checkpoint files and device resolution."""

from __future__ import annotations

import pytest
import torch

import fernn
from fernn import checkpoints
from fernn.checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from fernn.models import ModelConfig


@pytest.fixture
def model(make_model) -> fernn.Forecaster:
    """A small float32 FERNN with a non-default configuration, so a lost option would show."""
    return make_model(
        "fernn", velocities=[(0, 0), (1, -1), (-2, 1)], decoding="paper", pooling="mean", dtype=torch.float32
    )


@pytest.fixture
def context(make_context) -> torch.Tensor:
    return make_context(frames=3, height=8, width=7, dtype=torch.float32)


def test_round_trip_gives_identical_forecasts(model, context, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "nested" / "model.pt", model, {"test_mse": 1.5e-3, "steps": 10})
    assert path == tmp_path / "nested" / "model.pt" and path.is_file()
    assert not list(path.parent.glob("*.tmp")), "the temporary file must be renamed into place"
    restored = load_checkpoint(path)
    assert restored.config == model.config
    assert not restored.training
    assert restored.metrics == {"test_mse": 1.5e-3, "steps": 10}
    expected = model.forecast(context, 3, return_hidden=True)
    actual = restored.forecast(context, 3, return_hidden=True)
    assert torch.equal(actual.frames, expected.frames)
    assert torch.equal(actual.hidden, expected.hidden)
    for name, tensor in model.state_dict().items():
        assert torch.equal(restored.state_dict()[name], tensor)


@pytest.mark.parametrize("kind", ["grnn", "fernn"])
def test_round_trip_of_each_kind(kind, make_model, context, tmp_path) -> None:
    original = make_model(kind, dtype=torch.float32, **({"max_speed": 1} if kind == "fernn" else {}))
    restored = load_checkpoint(save_checkpoint(tmp_path / f"{kind}.pt", original))
    assert restored.config == original.config
    assert restored.metrics == {}
    assert torch.equal(restored.forecast(context, 2).frames, original.forecast(context, 2).frames)


def test_file_loads_with_weights_only(model, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model, {"curve": [0.5, 0.25], "name": "demo"})
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == checkpoints.FORMAT
    assert payload["version"] == checkpoints.VERSION
    assert payload["config"] == model.config.to_dict()
    assert ModelConfig.from_dict(payload["config"]) == model.config
    assert payload["metrics"] == {"curve": [0.5, 0.25], "name": "demo"}
    assert set(payload["state_dict"]) == set(model.state_dict())
    assert all(tensor.device.type == "cpu" for tensor in payload["state_dict"].values())
    assert "training" not in payload


def test_training_state_is_stored(model, context, tmp_path) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    model(context, 2).square().mean().backward()
    optimizer.step()
    training_state = {"optimizer": optimizer.state_dict(), "step": 1}
    path = save_checkpoint(tmp_path / "resume.pt", model, {"loss": 0.1}, training_state=training_state)
    payload = read_checkpoint(path)
    assert payload["training"]["step"] == 1
    stored = payload["training"]["optimizer"]
    assert stored["param_groups"][0]["lr"] == 1e-3
    for index, state in optimizer.state_dict()["state"].items():
        assert torch.equal(stored["state"][index]["exp_avg"], state["exp_avg"])
    resumed = torch.optim.Adam(load_checkpoint(path).parameters(), lr=1e-3)
    resumed.load_state_dict(stored)  # the stored state is usable as is


def test_metrics_are_copied_not_aliased(model, tmp_path) -> None:
    metrics = {"test_mse": 0.5}
    path = save_checkpoint(tmp_path / "model.pt", model, metrics)
    metrics["test_mse"] = 9.0
    assert load_checkpoint(path).metrics == {"test_mse": 0.5}


def test_save_rejects_non_forecaster(tmp_path) -> None:
    with pytest.raises(TypeError, match="must be a fernn model"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))


def test_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint file at"):
        load_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="is a folder but not a model folder"):
        load_checkpoint(tmp_path)  # a folder without model.safetensors and config.json
    with pytest.raises(FileNotFoundError, match="no model at"):
        load_checkpoint(tmp_path / "absent")


def test_garbage_bytes(tmp_path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x89PNG\r\n this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(empty)


def test_truncated_file(model, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


class Untrusted:
    """A class ``weights_only`` loading does not know: unpickling it would import and run code."""


def test_file_that_needs_arbitrary_code_is_refused(tmp_path) -> None:
    path = tmp_path / "pickled.pt"
    torch.save({"format": checkpoints.FORMAT, "version": checkpoints.VERSION, "payload": Untrusted()}, path)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("payload", [{"weights": torch.zeros(2)}, [1, 2, 3], {"format": "other"}])
def test_plain_torch_file_without_format(payload, tmp_path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="is not a fernn checkpoint"):
        load_checkpoint(path)


def _rewrite(path, **changes) -> None:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    torch.save(payload, path)


@pytest.mark.parametrize("version", [0, 3, "1", None])
def test_wrong_version(version, model, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model)
    payload = torch.load(path, weights_only=True)
    payload["version"] = version
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"checkpoint version {version!r}; this fernn reads 1, 2"):
        load_checkpoint(path)


@pytest.mark.parametrize("missing", ["config", "state_dict", "metrics"])
def test_missing_payload_entry(missing, model, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model)
    _rewrite(path, **{missing: None})
    with pytest.raises(CheckpointError, match=f"lacks \\['{missing}'\\]"):
        load_checkpoint(path)


def test_state_dict_mismatch(model, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model)
    # Weights of a model with more hidden channels under this model's config.
    bigger = fernn.build_model("fernn", hidden_channels=6, decoder_layers=2)
    _rewrite(path, state_dict=bigger.state_dict())
    with pytest.raises(CheckpointError, match="weights do not match its config"):
        load_checkpoint(path)
    # A missing weight.
    path = save_checkpoint(tmp_path / "model2.pt", model)
    state = model.state_dict()
    del state["encoder.cell.recurrent_conv.weight"]
    _rewrite(path, state_dict=state)
    with pytest.raises(CheckpointError, match=r"(?s)weights do not match its config.*recurrent_conv"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "config_change",
    [
        {"decoding": "sideways"},
        {"kind": "grnn"},
        {"unknown_option": 1},
        {"hidden_channels": -3},
        {"kernel_size": 4},
        {"velocities": 5},
        {"velocities": [[0, 0], [0, 0]]},
    ],
)
def test_invalid_config(config_change, model, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model)
    _rewrite(path, config={**model.config.to_dict(), **config_change})
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(path)


def test_checkpoint_error_is_a_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


def test_resolve_device_auto_and_cpu() -> None:
    expected_auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert fernn.resolve_device().type == expected_auto
    assert fernn.resolve_device("auto").type == expected_auto
    assert fernn.resolve_device(" AUTO ").type == expected_auto
    assert fernn.resolve_device("cpu") == torch.device("cpu")
    assert fernn.resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_resolve_device_cuda_without_cuda_raises() -> None:
    for name in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(RuntimeError, match="CUDA was asked for but is not available"):
            fernn.resolve_device(name)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resolve_device_cuda_with_cuda(model, context, tmp_path) -> None:
    assert fernn.resolve_device("cuda").type == "cuda"
    restored = load_checkpoint(save_checkpoint(tmp_path / "model.pt", model), device="cuda")
    assert next(restored.parameters()).device.type == "cuda"
    frames = restored.forecast(context.cuda(), 2).frames.cpu()
    assert torch.allclose(frames, model.forecast(context, 2).frames, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", ["tpu", "gpu", "", 0, None])
def test_resolve_device_rejects_unknown(device) -> None:
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda'"):
        fernn.resolve_device(device)


def test_load_checkpoint_to_explicit_device(model, tmp_path) -> None:
    restored = load_checkpoint(save_checkpoint(tmp_path / "model.pt", model), device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert all(parameter.device.type == expected for parameter in restored.parameters())


def test_randomly_damaged_files_fail_only_with_checkpoint_error(tmp_path):
    """Flipped bytes anywhere in the file: either the load still works or CheckpointError says why."""
    import random

    model = fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)
    original = bytearray(fernn.save_checkpoint(tmp_path / "good.pt", model).read_bytes())
    rng = random.Random(1)
    refused = 0
    for attempt in range(60):
        damaged = bytearray(original)
        for _ in range(5):
            damaged[rng.randrange(len(damaged))] ^= 0xFF
        path = tmp_path / f"damaged{attempt}.pt"
        path.write_bytes(damaged)
        try:
            fernn.load_checkpoint(path)
        except fernn.CheckpointError:
            refused += 1
    assert refused > 30  # most damage hits the structure, not just weight bytes


def test_a_config_that_would_allocate_absurd_memory_is_refused_before_allocating(tmp_path):
    path = fernn.save_checkpoint(tmp_path / "model.pt", fernn.build_model("grnn", hidden_channels=2, decoder_layers=2))
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_channels"] = 1_000_000  # 10^12 recurrent weights if built
    torch.save(payload, path)
    with pytest.raises(fernn.CheckpointError, match="describes .* weights but the file holds"):
        fernn.load_checkpoint(path)


def test_unreadable_checkpoint_error_is_one_line_without_unsafe_advice(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "fernn-checkpoint", "object": object()}, path)
    with pytest.raises(fernn.CheckpointError) as caught:
        fernn.load_checkpoint(path)
    assert "weights_only=False" not in str(caught.value) and "\n" not in str(caught.value)


def test_paper_presets_use_the_research_architecture():
    from fernn.experiments.train import PRESETS, TrainConfig

    for name in ("paper-grnn", "paper-fernn-v2", "paper-vgen-fernn"):
        model_config = TrainConfig.from_flat(**PRESETS[name]).model
        assert (model_config.decoder_layers, model_config.decoder_bias, model_config.decoding) == (5, False, "paper")


def test_threads_from_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("FERNN_TEST_THREADS", "1")
        assert fernn.devices.set_threads_from_environment("FERNN_TEST_THREADS", default=2) == 1
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("FERNN_TEST_THREADS", "many")
        assert fernn.devices.set_threads_from_environment("FERNN_TEST_THREADS", default=1) == 1
    finally:
        torch.set_num_threads(before)
