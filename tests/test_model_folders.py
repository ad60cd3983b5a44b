"""Model folders and ``.safetensors`` files: the published format, read without any unpickler and
with every declared size checked before a tensor is made."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch

import fernn
from fernn import checkpoints, tensorfile
from fernn.checkpoints import CheckpointError, find_model, from_pretrained, load_checkpoint, save_checkpoint

import tiny


@pytest.fixture
def model() -> fernn.Forecaster:
    """A FERNN with a non-default configuration, so a lost option would show."""
    torch.manual_seed(0)
    return fernn.build_model("fernn", velocities=[(0, 0), (1, -1), (-2, 1)], hidden_channels=3, decoder_layers=2,
                             decoding="paper", pooling="mean")


@pytest.fixture
def no_unpickler(monkeypatch):
    """Every way into Python's or torch's unpickler fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model folder or .safetensors file must load without unpickling")
    for owner, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, refuse)


def test_a_model_folder_holds_weights_config_and_records(model, tmp_path):
    folder = save_checkpoint(tmp_path / "mine", model, {"train": {"step": 3}})
    assert folder == tmp_path / "mine"
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config == {"format": checkpoints.FORMAT, "version": checkpoints.VERSION, "model": "forecaster",
                      "config": model.config.to_dict()}
    assert json.loads((folder / "metrics.json").read_text()) == {"train": {"step": 3}}
    assert not list(folder.glob("*.tmp"))


@pytest.mark.parametrize("name", ["mine", "mine.safetensors"])
def test_both_forms_load_without_unpickling_and_forecast_identically(model, tmp_path, name, make_context):
    path = save_checkpoint(tmp_path / name, model, {"train": {"step": 3}, "curve": [0.5, 0.25]})
    context = make_context(frames=3, height=8, width=7, dtype=torch.float32)
    expected = model.eval().forecast(context, 3, return_hidden=True)
    with pytest.MonkeyPatch.context() as patch:
        for owner, attribute in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
            patch.setattr(owner, attribute, lambda *a, **k: pytest.fail("unpickled"))
        for restored in (from_pretrained(path), load_checkpoint(path)):
            assert restored.config == model.config and restored.metrics == {"train": {"step": 3}, "curve": [0.5, 0.25]}
            assert not restored.training
            assert all(torch.equal(restored.state_dict()[key], value) for key, value in model.state_dict().items())
            actual = restored.forecast(context, 3, return_hidden=True)
            assert torch.equal(actual.frames, expected.frames) and torch.equal(actual.hidden, expected.hidden)


def test_every_kind_round_trips_through_a_folder(tmp_path, no_unpickler):
    for index, original in enumerate([tiny.forecaster("grnn"), fernn.build_classifier("fernn", **tiny.APP_CLASSIFIER),
                                      fernn.build_model("fernn", max_speed=1, **tiny.APP_ROTATION)]):
        restored = from_pretrained(save_checkpoint(tmp_path / str(index), original))
        assert type(restored) is type(original) and restored.config == original.config and restored.metrics == {}
        assert all(torch.equal(restored.state_dict()[k], v) for k, v in original.state_dict().items())


def test_from_pretrained_refuses_torch_files_and_a_folder_that_is_not_a_model(model, tmp_path):
    save_checkpoint(tmp_path / "old.pt", model)
    with pytest.raises(CheckpointError, match="not a model folder or a .safetensors file.*python -m fernn.convert"):
        from_pretrained(tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").config == model.config  # .pt files load as before
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="is a folder but not a model folder"):
        from_pretrained(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no model at"):
        from_pretrained(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="a training state is kept in a torch file"):
        save_checkpoint(tmp_path / "state", model, training_state={"step": 1})


def test_a_folders_files_are_checked(model, tmp_path):
    folder = save_checkpoint(tmp_path / "mine", model)
    (folder / "metrics.json").unlink()
    with pytest.raises(CheckpointError, match="lacks metrics.json"):
        load_checkpoint(folder)
    (folder / "metrics.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="metrics.json is not JSON"):
        load_checkpoint(folder)
    (folder / "metrics.json").write_text("{}")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, version=99)))
    with pytest.raises(CheckpointError, match="has checkpoint version 99"):
        load_checkpoint(folder)
    (folder / "config.json").write_text(json.dumps(dict(config, config=dict(config["config"], hidden_channels=4096))))
    with pytest.raises(CheckpointError, match="weights do not match its config"):
        load_checkpoint(folder)
    (folder / "model.safetensors").write_bytes(b"\x10" + bytes(7) + b"{}")
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable model file"):
        load_checkpoint(folder)


def test_a_lone_file_needs_fernn_metadata(model, tmp_path):
    tensorfile.write_file(tmp_path / "bare.safetensors", model.state_dict(), {"format": "pt"})
    with pytest.raises(CheckpointError, match="not a fernn model file .*metadata lacks version, model, config, metrics"):
        load_checkpoint(tmp_path / "bare.safetensors")


def test_find_model_prefers_the_folder_then_safetensors_then_pt(model, tmp_path):
    assert find_model(tmp_path, "m") is None
    save_checkpoint(tmp_path / "m.pt", model)
    assert find_model(tmp_path, "m") == tmp_path / "m.pt"
    save_checkpoint(tmp_path / "m.safetensors", model)
    assert find_model(tmp_path, "m") == tmp_path / "m.safetensors"
    save_checkpoint(tmp_path / "m", model)
    assert find_model(tmp_path, "m") == tmp_path / "m"


def test_update_metrics_writes_a_folders_records_only(model, tmp_path):
    folder = save_checkpoint(tmp_path / "m", model, {"train": {"step": 1}})
    weights = (folder / "model.safetensors").read_bytes()
    checkpoints.update_metrics(folder, model, {"train": {"step": 1}, "evaluation": {"mse": 0.5}})
    assert (folder / "model.safetensors").read_bytes() == weights
    assert load_checkpoint(folder).metrics["evaluation"] == {"mse": 0.5}
    lone = checkpoints.update_metrics(save_checkpoint(tmp_path / "m.safetensors", model), model, {"a": 1})
    assert load_checkpoint(lone).metrics == {"a": 1}


def test_writing_again_gives_the_same_bytes(model, tmp_path):
    """Rewriting a shipped folder changes nothing git would see."""
    first = (save_checkpoint(tmp_path / "a", model, {"x": 1.5}) / "model.safetensors").read_bytes()
    assert (save_checkpoint(tmp_path / "b", load_checkpoint(tmp_path / "a"), {"x": 1.5}) / "model.safetensors").read_bytes() == first


# --- the header checks, before any tensor is made --------------------------------------------------


def safetensors_bytes(header: dict, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A safetensors file with ``header`` (JSON) and ``data``; ``length`` overrides the declared header length."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


@pytest.mark.parametrize(("data", "message"), [
    (b"\x01\x02", "too short"),
    (safetensors_bytes({}, length=10**12), "its header claims 1,000,000,000,000 bytes; the limit is"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})[:-3], "truncated"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [4096, 4096, 64], "data_offsets": [0, 4 * 4096 * 4096 * 64]}}),
     "lies outside the file"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)), "share bytes"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)), "has 8 bytes for shape"),
    (safetensors_bytes({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)), "has dtype 'C64'"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)), "shape that is not"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, bytes(8)), "lies outside"),
    (safetensors_bytes({"__metadata__": {"config": {"nested": 1}}}), "__metadata__ is not a mapping of strings"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [1024, 1024], "data_offsets": [0, 4 * 1024**2]}}, bytes(4 * 1024**2)),
     "its tensors declare 4.0 MB; the limit is 2 MB"),
    (struct.pack("<Q", 5) + b"[1,2]", "not a JSON object"),
])
def test_a_header_that_cannot_be_trusted_is_refused_before_reading(data, message, monkeypatch):
    monkeypatch.setattr(tensorfile.safetensors.torch, "load", lambda *a: pytest.fail("tensors were read"))
    with pytest.raises(tensorfile.TensorFileError, match=message):
        tensorfile.read_bytes(data, max_bytes=2 * 1024**2)
