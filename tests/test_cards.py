"""The shipped models' Hub cards: generated from their records by ``python -m fernn.cards``, and
still what the records give (so cards and numbers never drift apart)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fernn
import fernn.records
from fernn.experiments import cards

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
FOLDERS = cards.model_folders(PRETRAINED)


def test_every_shipped_model_folder_has_a_card():
    assert len(FOLDERS) == 14
    assert all((folder / "README.md").is_file() for folder in FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS, ids=[str(f.relative_to(PRETRAINED)) for f in FOLDERS])
def test_each_card_is_the_one_its_records_give(folder):
    assert (folder / "README.md").read_text(encoding="utf-8") == cards.card_text(folder, root=PRETRAINED), \
        "the card drifted from its records: run python -m fernn.cards"


@pytest.mark.parametrize("folder", FOLDERS, ids=[str(f.relative_to(PRETRAINED)) for f in FOLDERS])
def test_each_card_has_the_hubs_metadata_and_sections(folder):
    yaml = pytest.importorskip("yaml")
    text = (folder / "README.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["license"] == "mit" and meta["library_name"] == "fernn"
    assert {"flow-equivariance", "equivariant-rnn", "arxiv:2507.14793"} <= set(meta["tags"])
    assert meta["datasets"] == ["mnist"]
    model = fernn.from_pretrained(folder)
    (result,) = meta["model-index"][0]["results"]
    (headline, low, high, *more) = result["metrics"]
    evaluation = model.metrics["evaluation"]
    world = isinstance(model, fernn.world.WorldModel)
    if world:  # and the memory protocol's number
        assert more == [{"type": "mse", "value": pytest.approx(evaluation["look_away"]["last_mse"], rel=1e-3),
                         "name": "look away and back, last 6 views"}]
        assert "Look away and back" in text and "FloWM" in text and "not comparable" in text
    else:
        assert more == []
    if isinstance(model, fernn.Classifier):
        assert headline["type"] == "accuracy" and headline["value"] == pytest.approx(evaluation["test_accuracy"], abs=1e-4)
        assert "video-classification" in meta["tags"]
    else:
        assert headline["type"] == "mse" and headline["value"] == pytest.approx(evaluation["test_mse"], rel=1e-3)
        assert "video-prediction" in meta["tags"]
    assert low["value"] <= headline["value"] <= high["value"]
    for section in ("## What it is", "## Intended use and limits", "## Training data and recipe", "## Evaluation",
                    "## The paper's numbers", "## How to load", "## Citation"):
        assert section in body, section
    assert "95%" in body and ("secondary summary" if world else "secondary sources") in body
    assert f'fernn.from_pretrained("pretrained/{folder.relative_to(PRETRAINED).as_posix()}")' in body
    training = fernn.records.record_of(model).training  # steps trained, the selected step and both wall times
    assert f"trained {training.last_step:,} steps" in body and f"step {training.selected_step:,}'s" in body


def test_the_command_checks_and_fails_in_one_line(tmp_path, capsys):
    assert cards.main(["--check"]) == 0
    assert "14 cards match their records" in capsys.readouterr().out
    fernn.save_pretrained(tmp_path / "mine", fernn.build_model("grnn", hidden_channels=2, decoder_layers=1))
    assert cards.main(["--pretrained", str(tmp_path), "--check"]) == 1
    assert "1 card(s) differ from their records" in capsys.readouterr().err
    assert cards.main(["--pretrained", str(tmp_path)]) == 0
    assert "Not recorded." in (tmp_path / "mine" / "README.md").read_text() and cards.main(
        ["--pretrained", str(tmp_path), "--check"]) == 0
    with pytest.raises(SystemExit) as exited:
        cards.main(["--pretrained", str(tmp_path / "mine" / "model.safetensors")])
    assert exited.value.code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit):
        cards.main(["--pretrained", str(empty)])
    assert "no model folders" in capsys.readouterr().err
