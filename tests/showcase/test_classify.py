"""fernn.showcase.classify: a digit through a seeded flicker, every classifier's answer after each
frame, and the accuracy per velocity ring that a checkpoint records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fernn
from fernn import showcase
from fernn.records import record_of
from fernn.experiments.classification import ClassificationSettings, evaluate_classifier
from fernn.flows import TRANSLATION

SMALL = dict(hidden_channels=3, head_layers=1, head_channels=4)


@pytest.fixture
def classifiers() -> dict[str, fernn.Classifier]:
    """G-RNN, FERNN (V_1) and a single-frame G-RNN, with their seeded random weights, in float64."""
    one_frame = fernn.build_classifier("grnn", **SMALL).double().eval()
    one_frame.metrics = {"train": {"config": {"data": {"context_frames": 1}}}}
    return {"G-RNN": fernn.build_classifier("grnn", **SMALL).double().eval(),
            "FERNN": fernn.build_classifier("fernn", max_speed=1, **SMALL).double().eval(),
            "single frame": one_frame}


def test_flicker_scene_moves_the_digit_and_masks_each_frame_from_its_seed(blob):
    digit = showcase.Digit(blob(), velocity=(2, -3), start=(1, 4))
    scene = showcase.flicker_scene(digit, seed=11)
    assert scene.clean.shape == scene.mask.shape == (16, 28, 28) and scene.mask.dtype == bool
    np.testing.assert_array_equal(scene.clean, showcase.scene_frames([digit], 16)[:, 0].numpy())
    np.testing.assert_array_equal(scene.clean[5], np.roll(digit.image, (1 + 5 * 2, 4 - 5 * 3), axis=(0, 1)))
    np.testing.assert_array_equal(scene.seen, scene.clean * scene.mask)
    # 12,544 Bernoulli(0.1) pixels: the visible share is 0.1 within about 5 standard deviations.
    assert abs(scene.mask.mean() - 0.1) < 0.015
    assert not np.array_equal(scene.mask[0], scene.mask[1])  # every frame draws its own mask
    again = showcase.flicker_scene(digit, seed=11)
    np.testing.assert_array_equal(again.mask, scene.mask)  # a pure function of the seed ...
    assert not np.array_equal(showcase.flicker_scene(digit, seed=12).mask, scene.mask)  # ... and of nothing else
    dense = showcase.flicker_scene(digit, seed=11, visible=1.0, num_frames=3)
    assert dense.mask.all() and dense.num_frames == 3


@pytest.mark.parametrize(("options", "message"), [
    (dict(seed=-1), "flicker seed"), (dict(seed=2**31), "flicker seed"), (dict(seed=1.5), "flicker seed"),
    (dict(seed=0, visible=0.0), "visible"), (dict(seed=0, num_frames=0), "num_frames")])
def test_flicker_scene_refuses_bad_settings(blob, options, message):
    with pytest.raises(showcase.DemoError, match=message):
        showcase.flicker_scene(showcase.Digit(blob()), **options)


def test_classify_gives_each_models_probabilities_after_every_frame(blob, classifiers):
    digit = showcase.Digit(blob(), velocity=(3, 0))
    scene = showcase.flicker_scene(digit, seed=4)
    result = showcase.classify(classifiers, scene, true_class=7)
    assert [run.name for run in result.runs] == ["G-RNN", "FERNN", "single frame"]
    frames = torch.from_numpy(scene.seen).double()[:, None]  # (T, 1, H, W)
    for run in result.runs:
        assert run.probabilities.shape == (16, 10) and run.probabilities.dtype == np.float32
        np.testing.assert_allclose(run.probabilities.sum(axis=1), 1.0, atol=1e-6)
        assert run.answer == int(run.probabilities[-1].argmax()) and run.confidence == run.probabilities[-1].max()
    # After the last frame the sequence models say what classify() says of the whole sequence.
    fernn_run = result.run("FERNN")
    assert fernn_run.velocities == TRANSLATION.velocity_set(3)  # auto: widened to the digit's speed
    assert fernn_run.trained_velocities == TRANSLATION.velocity_set(1) and not fernn_run.one_frame
    whole = torch.softmax(classifiers["FERNN"].classify(frames[None], TRANSLATION.velocity_set(3))[0], dim=-1)
    np.testing.assert_allclose(fernn_run.probabilities[-1], whole.numpy(), atol=1e-6)
    assert result.run("G-RNN").velocities == ((0, 0),)
    # The single-frame model reads each frame alone: its answer at frame 5 ignores every other frame.
    alone = result.run("single frame")
    assert alone.one_frame and alone.reading == "each frame alone"
    only = torch.softmax(classifiers["single frame"].classify(frames[5:6][None]), dim=-1)[0]
    np.testing.assert_allclose(alone.probabilities[5], only.numpy(), atol=1e-6)
    assert result.true_class == 7 and result.nbytes > scene.clean.nbytes


def test_classify_as_trained_keeps_the_fernns_own_set(blob, classifiers):
    scene = showcase.flicker_scene(showcase.Digit(blob(), velocity=(0, 4)), seed=0)
    result = showcase.classify(classifiers, scene, velocities=showcase.AS_TRAINED, one_frame=[])
    assert result.run("FERNN").velocities == TRANSLATION.velocity_set(1)
    assert result.run("FERNN").reading == "the sequence with 9 velocity copies"
    assert not result.run("single frame").one_frame  # one_frame=[]: every model reads the sequence
    assert "(0, 4) is outside the FERNN's velocity set" in showcase.classify_headline(result)
    widened = showcase.classify(classifiers, scene)
    assert "outside" not in showcase.classify_headline(widened)


def test_classify_refuses_what_it_cannot_run(blob, classifiers):
    scene = showcase.flicker_scene(showcase.Digit(blob()), seed=0)
    with pytest.raises(showcase.DemoError, match="at least one"):
        showcase.classify({}, scene)
    with pytest.raises(showcase.DemoError, match="true_class"):
        showcase.classify(classifiers, scene, true_class=10)
    with pytest.raises(showcase.DemoError, match="one_frame"):
        showcase.classify(classifiers, scene, one_frame=["nobody"])
    with pytest.raises(showcase.DemoError, match="not a classifier"):
        showcase.classify({"forecaster": fernn.build_model("grnn", hidden_channels=2, decoder_layers=1)}, scene)


def test_headline_names_the_speed_and_every_answer(blob, classifiers):
    for model in classifiers.values():
        model.metrics = dict(model.metrics, evaluation={"settings": {"training_max_speed": 1}})
    scene = showcase.flicker_scene(showcase.Digit(blob(), velocity=(-2, 1)), seed=3)
    result = showcase.classify(classifiers, scene, true_class=4)
    assert result.training_max_speed == 1
    text = showcase.classify_headline(result)
    assert "**(-2, 1) px/frame**, 2× the fastest training motion (1 px/frame)" in text
    assert "each frame shows 10% of its pixels" in text and "(it is a 4)" in text
    for run in result.runs:
        mark = "✓" if run.answer == 4 else "✗"
        assert f"{run.name} says **{run.answer}** ({run.confidence:.0%}) {mark}" in text
        assert result.mark(run) == f" {mark}"
    unknown = showcase.classify(classifiers, showcase.flicker_scene(showcase.Digit(blob()), seed=3))
    assert "inside the training range (|v| ≤ 1)" in showcase.classify_headline(unknown)
    assert "✓" not in showcase.classify_headline(unknown) and unknown.mark(unknown.runs[0]) == ""


def test_records_are_read_as_the_evaluation_writes_them(classifiers):
    """The parser reads what fernn.experiments.classification.evaluate_classifier writes (a tiny evaluation)."""
    model = classifiers["FERNN"].float()
    settings = ClassificationSettings(num_frames=4, max_ring=2, widened_max_speed=2, sequences=6, batch_size=6)
    model.metrics = {"evaluation": evaluate_classifier(model, settings, log=lambda _: None)}
    record = record_of(model).evaluation
    written = model.metrics["evaluation"]
    assert record.training_max_speed == 1 and record.widened_max_speed == 2
    assert record.rings.speeds == (0, 1, 2) and record.widened_rings.speeds == (0, 1, 2)
    assert list(record.rings.accuracy) == [ring["accuracy"] for ring in written["rings"]]
    assert [[low, high] for low, high in zip(record.rings.low, record.rings.high)] == [
        ring["interval"] for ring in written["rings"]]
    assert record.step_accuracy == tuple(written["step_accuracy"])
    series = showcase.ring_series({"FERNN": model, "G-RNN": classifiers["G-RNN"]})  # the G-RNN records nothing
    assert [(item.label, item.model, item.widened) for item in series] == [
        ("FERNN, V = {-1..1}^2 as trained", "FERNN", False), ("FERNN, widened to V = {-2..2}^2", "FERNN", True)]


def test_a_classifier_without_readable_rings_draws_no_series(classifiers):
    model = classifiers["G-RNN"]
    model.metrics = {"evaluation": {"rings": [{"speed": 0, "accuracy": 1.5}]}}  # as a damaged file stores it
    assert showcase.ring_series({"G-RNN": model}) == ()


def test_single_frame_models_are_recognised_from_their_training_record(classifiers):
    assert showcase.reads_one_frame(classifiers["single frame"])
    assert not showcase.reads_one_frame(classifiers["G-RNN"])
    flat = fernn.build_classifier("grnn", **SMALL)
    flat.metrics = {"train": {"config": {"context_frames": 1}}}
    assert showcase.reads_one_frame(flat)
    flat.metrics = {"train": {"config": {"context_frames": True}}}
    assert not showcase.reads_one_frame(flat)


def test_the_missing_classifiers_message_names_every_file():
    text = showcase.classifiers_missing("pretrained/classify")
    assert "`pretrained/classify/`" in text and all(f"`{name}`" in text for name in showcase.CLASSIFIER_FILES)


def test_the_apps_flicker_is_the_datasets_flickering_digit_with_the_links_seed():
    """One flicker generator: the scene a link's seed gives is fernn.datasets.flicker.flickering_digit on
    item 7 of that seed's stream, so links made before keep their masks."""
    import numpy as np

    from fernn.datasets import flicker
    from fernn.datasets.digits import sequence_rng

    image = np.zeros((28, 28), dtype=np.float32)
    image[8:20, 12:16] = 1.0
    scene = showcase.flicker_scene(showcase.Digit(image, (1, -2), (3, 0)), seed=11)
    clean, mask = flicker.flickering_digit(image, (1, -2), (3, 0), scene.clean.shape[0], rng=sequence_rng(11, 7),
                                           visible=scene.visible)
    assert np.array_equal(scene.clean, clean[:, 0].numpy()) and np.array_equal(scene.mask, mask[:, 0].numpy())
    legacy = np.random.Generator(np.random.PCG64(np.random.SeedSequence([11, 7]))).random(scene.mask.shape) < 0.1
    assert np.array_equal(scene.mask, legacy) and 0 < scene.mask.mean() < 0.2
