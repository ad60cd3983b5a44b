"""fernn.demo: scenes, the side-by-side comparison, hidden-state views, read-out, export."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import fernn
from fernn import demo, serving
from fernn.flows import velocity_set


def blob(seed: int = 0) -> np.ndarray:
    """A non-symmetric 'digit': a few bright pixels at seeded places."""
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), dtype=np.float32)
    image[rng.integers(6, 22, 12), rng.integers(6, 22, 12)] = 1.0
    return image


def integrator_fernn(max_speed: int = 2, decay: float = 0.9) -> fernn.Forecaster:
    """A FERNN with real structure: each copy integrates its input, ``h <- relu(x + a shift(h, nu))``.

    With 1-pixel delta kernels the cell is exactly this leaky integrator, so the copy moving
    with the input stacks the digit on itself and every other copy smears it.
    """
    model = fernn.build_model("fernn", hidden_channels=1, decoder_layers=1, max_speed=max_speed)
    with torch.no_grad():
        for conv, value in ((model.cell.input_conv, 1.0), (model.cell.recurrent_conv, decay)):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = value
    return model.eval()


def tiny_grnn() -> fernn.Forecaster:
    return fernn.build_model("grnn", hidden_channels=2, decoder_layers=1).eval()


def test_scene_frames_follow_the_flow_convention():
    image = blob()
    digit = demo.Digit(image, velocity=(2, -3), start=(1, 4))
    frames = demo.scene_frames([digit], 6)
    assert frames.shape == (6, 1, 28, 28)
    for t in range(6):
        expected = np.roll(image, (1 + 2 * t, 4 - 3 * t), axis=(0, 1))  # positive = toward larger indices
        np.testing.assert_array_equal(frames[t, 0].numpy(), expected)


def test_scene_sums_and_clips_digits():
    image = blob()
    frames = demo.scene_frames([demo.Digit(image), demo.Digit(image)], 2)
    assert float(frames.max()) == 1.0
    np.testing.assert_array_equal(frames[0, 0].numpy(), image)


def test_digit_validation():
    with pytest.raises(demo.DemoError, match="28x28"):
        demo.Digit(np.zeros((10, 10)))
    with pytest.raises(demo.DemoError, match="velocity"):
        demo.Digit(blob(), velocity=(0.5, 1))
    with pytest.raises(demo.DemoError, match="NaN"):
        demo.Digit(np.full((28, 28), np.nan))


def test_mnist_scene_uses_test_digits_and_spreads_two_digits():
    digits = demo.mnist_scene([0, 1], velocities=[(1, 0), (0, -1)])
    images, labels = fernn.data.load_digits("test")
    np.testing.assert_allclose(digits[0].image, images[0] / 255.0)
    assert digits[0].start != digits[1].start
    assert f"a {labels[1]}" in digits[1].label
    with pytest.raises(demo.DemoError, match="outside"):
        demo.mnist_scene([10_000], velocities=[(0, 0)])


def test_motion_stabilisation_undoes_a_known_flow_exactly():
    generator = torch.Generator().manual_seed(0)
    base = torch.rand(3, 28, 28, generator=generator)  # (C, H, W)
    velocity = (3, -2)
    frame_indices = [0, 1, 2, 3, 4, 4]  # paper decoding repeats a frame index
    moved = torch.stack([torch.roll(base, (f * 3, f * -2), dims=(-2, -1)) for f in frame_indices])  # (N, C, H, W)
    still = demo.motion_stabilise(moved, velocity, frame_indices)
    for index in range(len(frame_indices)):
        torch.testing.assert_close(still[index], base, rtol=0, atol=0)


def test_hidden_frame_indices_per_decoding():
    np.testing.assert_array_equal(demo.hidden_frame_indices("aligned", 3, 2), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(demo.hidden_frame_indices("paper", 3, 2), [0, 1, 2, 2, 3])


@pytest.mark.parametrize("velocity", [(1, -2), (0, 2), (-1, 1), (2, 2)])
def test_velocity_readout_of_a_structured_fernn_picks_the_true_velocity(velocity):
    model = integrator_fernn()
    digits = [demo.Digit(blob(1), velocity=velocity, start=(0, 0))]
    result = demo.compare({"FERNN": model}, digits, context_frames=8, predict_frames=2)
    run = result.runs[0]
    assert run.velocity_readout == velocity
    # After the first frame (all copies still equal) the most active copy is the true one at every context step.
    for step in range(1, 8):
        assert tuple(run.readout[step].astype(int)) == velocity
    assert np.isnan(run.readout[0]).all()


def test_matching_copy_is_static_after_stabilisation():
    """The copy moving with the input holds the digit itself (scaled): stabilised, it stands still."""
    model = integrator_fernn()
    image = blob(2)
    result = demo.compare({"FERNN": model}, [demo.Digit(image, velocity=(1, 2), start=(3, -5))], context_frames=6,
                          predict_frames=1)
    copy = result.runs[0].hidden.copy_stabilised[:6, 0].astype(np.float32)  # (T, H, W), stored as float16
    expected = np.roll(image, (3, -5), axis=(0, 1))
    for step in range(6):
        np.testing.assert_allclose(copy[step] / copy[step].max(), expected / expected.max(), atol=2e-3)
    assert result.runs[0].hidden.copy_velocity == (1, 2)


def test_single_copy_model_has_no_velocity_readout():
    result = demo.compare({"G-RNN": tiny_grnn()}, [demo.Digit(blob(), velocity=(1, 1))], context_frames=3,
                          predict_frames=2)
    assert result.runs[0].velocity_readout is None
    assert result.runs[0].activity.shape == (5, 1)


def test_compare_shapes_metrics_and_baseline():
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    digits = [demo.Digit(blob(), velocity=(0, 1)), demo.Digit(blob(3), velocity=(1, -1), start=(5, 5))]
    result = demo.compare(models, digits, context_frames=4, predict_frames=3)
    assert [run.name for run in result.runs] == ["G-RNN", "FERNN"]
    assert result.truth.shape == (7, 28, 28)
    truth = result.truth
    expected_baseline = ((truth[4:] - truth[3]) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(result.baseline_mse, expected_baseline, rtol=1e-6)
    for run in result.runs:
        assert run.prediction.shape == (3, 28, 28)
        np.testing.assert_allclose(run.mse, ((run.prediction - truth[4:]) ** 2).mean(axis=(1, 2)), rtol=1e-5)
        expected_shape = (7, run.hidden_channels, 28, 28)
        views = run.hidden
        assert views.pooled.shape == views.pooled_stabilised.shape == views.copy.shape == expected_shape
        assert views.pooled.dtype == np.float16  # a cached comparison holds half-size maps
        assert run.activity.shape == (7, len(run.velocities))
        assert run.seconds >= 0 and run.device == "cpu"
        assert not run.evaluated
    assert result.stabilise_velocity == (0, 1)


def test_velocity_set_override_applies_to_fernns_only():
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    digits = [demo.Digit(blob(), velocity=(3, 0))]
    result = demo.compare(models, digits, context_frames=3, predict_frames=1, velocities=4)
    assert result.run("G-RNN").velocities == ((0, 0),)
    auto = demo.compare(models, digits, context_frames=3, predict_frames=1)  # default: "auto"
    assert auto.run("FERNN").velocities == velocity_set(3) and auto.run("G-RNN").velocities == ((0, 0),)
    trained = demo.compare(models, digits, context_frames=3, predict_frames=1, velocities=demo.AS_TRAINED)
    assert trained.run("FERNN").velocities == velocity_set(1)
    with pytest.raises(demo.DemoError, match="velocity set"):
        demo.compare(models, digits, velocities="wide")
    assert result.run("FERNN").velocities == velocity_set(4)
    assert result.run("FERNN").trained_velocities == velocity_set(1)
    widened = demo.compare(models, digits, context_frames=6, predict_frames=1, velocities=velocity_set(3))
    assert widened.run("FERNN").velocity_readout == (3, 0)


def test_memory_estimate_and_limit():
    state = 9 * 16 * 28 * 28
    small = demo.rollout_memory_bytes(num_copies=9, hidden_channels=16, num_frames=20, context_frames=10)
    assert small == 16 * state + 2 * state * 10 + 24 * 16 * 28 * 28 * 20
    wide = demo.rollout_memory_bytes(num_copies=81, hidden_channels=16, num_frames=20, context_frames=10)
    assert wide - small == (81 - 9) * 16 * 28 * 28 * (16 + 2 * 10)  # linear in the copies
    with pytest.raises(demo.DemoError, match="MiB"):
        demo.compare({"FERNN": integrator_fernn()}, [demo.Digit(blob())], velocities=8, memory_limit=1024**2)


def test_bad_settings_raise_demo_errors():
    model = {"G-RNN": tiny_grnn()}
    with pytest.raises(demo.DemoError, match="context_frames"):
        demo.compare(model, [demo.Digit(blob())], context_frames=0)
    with pytest.raises(demo.DemoError, match="at most"):
        demo.compare(model, [demo.Digit(blob())], predict_frames=demo.MAX_FRAMES)
    with pytest.raises(demo.DemoError, match="at least one digit"):
        demo.compare(model, [])
    with pytest.raises(demo.DemoError, match="at least one model"):
        demo.compare({}, [demo.Digit(blob())])


def test_checkpoint_record_is_read_as_typed_fields():
    model = tiny_grnn()
    assert demo.record(model).velocity_grid is None and not demo.is_evaluated(model)
    assert demo.training_max_speed(model) is None
    model.metrics = {"evaluation": {"velocity_grid": {"speeds": [-1, 0, 1], "mse": [[1, 2, 3]] * 3}, "test_mse": 0.5},
                     "train": {"config": {"data_max_speed": 1}, "step": 7,
                               "history": [{"step": 5, "wall_time": 1.5, "val_mse": 0.2}, {"step": 6}]}}
    record = demo.record(model)
    assert record.evaluated and record.test_mse == 0.5 and record.training_max_speed == 1
    assert record.velocity_grid.speeds == (-1, 0, 1) and record.velocity_grid.at((1, -1)) == 1
    assert record.curve == ((5, 1.5, 0.2),) and record.training_steps == 7
    assert record.widened_velocity_grid is None
    model.metrics["evaluation"]["widened_velocity_grid"] = {"speeds": [-1, 0, 1], "mse": [[4, 5, 6]] * 3, "max_speed": 4}
    widened = demo.record(model)
    assert widened.widened_max_speed == 4 and widened.widened_velocity_grid.at((0, 1)) == 6
    model.metrics = {"evaluation": {"velocity_grid": {"speeds": [-1, 0, 1], "mse": [[1, 2]]}}}
    assert demo.record(model).velocity_grid is None  # malformed: missing, not an exception


def test_headline_states_speeds_and_errors():
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    for model in models.values():
        model.metrics = {"train": {"config": {"data_max_speed": 1}}}
    result = demo.compare(models, [demo.Digit(blob(), velocity=(2, -1))], context_frames=3, predict_frames=2,
                          velocities=demo.AS_TRAINED)
    text = demo.headline(result)
    assert "**(2, -1) px/frame**, 2× the fastest training motion (1 px/frame)" in text
    assert "(2, -1) is outside the FERNN's velocity set" in text
    assert f"{result.run('FERNN').mean_mse:.1e}" in text and f"{result.run('G-RNN').mean_mse:.1e}" in text


def test_state_drift_separates_an_equivariant_state_from_a_smeared_one():
    """A FERNN holding the input's velocity has a stabilised state equal to the still scene's: drift ~0."""
    digits = [demo.Digit(blob(2), velocity=(1, 2), start=(3, -5))]
    fernn_run = demo.compare({"FERNN": integrator_fernn(max_speed=2)}, digits, context_frames=6,
                             predict_frames=1).runs[0]
    assert fernn_run.hidden.drift < 1e-5
    grnn_run = demo.compare({"G-RNN": tiny_grnn()}, digits, context_frames=6, predict_frames=1).runs[0]
    assert grnn_run.hidden.drift > 0.1
    still = demo.compare({"G-RNN": tiny_grnn()}, [demo.Digit(blob(2))], context_frames=6, predict_frames=1).runs[0]
    assert still.hidden.drift == pytest.approx(0.0, abs=1e-6)


def test_progress_reaches_one_and_names_the_model():
    seen = []
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    demo.compare(models, [demo.Digit(blob())], context_frames=3, predict_frames=2,
                 progress=lambda fraction, text: seen.append((fraction, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(seen) == 10 and "FERNN: step 5/5 with 9 velocity copies" in seen[-1][1]


@pytest.mark.parametrize("image", [np.zeros((28, 28)), np.eye(28), np.random.default_rng(0).random((28, 28))])
def test_digit_links_round_trip_compactly(image):
    text = serving.encode_digit(image)
    assert len(text) <= 1400 and text.isascii() and "&" not in text and "=" not in text
    np.testing.assert_allclose(serving.decode_digit(text), np.round(image * 255) / 255, atol=1e-7)


@pytest.mark.parametrize("text", ["", "z1.", "z1.!!!", "x9.AAAA", "z1." + "A" * 5000,
                                  "z1." + __import__("base64").urlsafe_b64encode(
                                      __import__("zlib").compress(b"\0" * 10_000_000)).decode()])
def test_damaged_digit_links_raise_a_demo_error(text):
    with pytest.raises(demo.DemoError):
        serving.decode_digit(text)


def test_comparison_cache_is_bounded_by_bytes():
    result = demo.compare({"G-RNN": tiny_grnn()}, [demo.Digit(blob())], context_frames=3, predict_frames=2)
    cache = serving.ComparisonCache(max_bytes=int(2.5 * result.nbytes))
    for key in range(5):
        cache.put(key, result)
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.get(4) is result and cache.get(0) is None
    tiny = serving.ComparisonCache(max_bytes=10)
    tiny.put("big", result)
    assert len(tiny) == 0


def test_run_slots_queue_the_rest():
    import threading

    slots = serving.RunSlots(1)
    waited, release = [], threading.Event()

    def hold_first() -> None:
        with slots.hold():
            release.wait(5)

    first = threading.Thread(target=hold_first)
    first.start()
    while slots._semaphore._value:  # noqa: SLF001 - wait until the first run holds its slot
        pass
    threading.Timer(0.1, release.set).start()
    with slots.hold(on_wait=lambda: waited.append(True)):
        pass
    first.join()
    assert waited == [True]
    with pytest.raises(demo.DemoError, match="busy"):
        with slots.hold():
            with slots.hold(timeout=0.05):
                pass


def test_nan_weights_are_named():
    model = tiny_grnn()
    assert demo.weights_problem(model) == ""
    with torch.no_grad():
        model.cell.input_conv.weight.fill_(float("nan"))
    assert "NaN" in demo.weights_problem(model)


def test_npz_export_round_trips():
    models = {"G-RNN": tiny_grnn(), "FERNN": integrator_fernn(max_speed=1)}
    result = demo.compare(models, [demo.Digit(blob(), velocity=(1, 0))], context_frames=3, predict_frames=2)
    with np.load(io.BytesIO(demo.comparison_npz(result))) as archive:
        np.testing.assert_array_equal(archive["truth"], result.truth)
        assert list(archive["model_names"]) == ["G-RNN", "FERNN"]
        np.testing.assert_array_equal(archive["model1_prediction"], result.runs[1].prediction)
        np.testing.assert_array_equal(archive["model1_velocities"], np.asarray(velocity_set(1)))
        assert float(archive["model1_drift"]) == pytest.approx(result.runs[1].hidden.drift)
        assert int(archive["context_frames"]) == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compare_on_cuda_matches_cpu():
    cpu = integrator_fernn()
    gpu = integrator_fernn().to("cuda")
    digits = [demo.Digit(blob(), velocity=(2, -1))]
    expected = demo.compare({"FERNN": cpu}, digits, context_frames=5, predict_frames=3)
    result = demo.compare({"FERNN": gpu}, digits, context_frames=5, predict_frames=3)
    assert result.runs[0].device.startswith("cuda")
    np.testing.assert_allclose(result.runs[0].prediction, expected.runs[0].prediction, atol=1e-5)
    np.testing.assert_allclose(result.runs[0].hidden_stabilised, expected.runs[0].hidden_stabilised, atol=1e-5)
    assert result.runs[0].ranking == expected.runs[0].ranking


def test_an_oversized_comparison_does_not_empty_the_cache():
    result = demo.compare({"G-RNN": tiny_grnn()}, [demo.Digit(blob())], context_frames=3, predict_frames=2)
    cache = serving.ComparisonCache(max_bytes=int(1.5 * result.nbytes))
    cache.put("kept", result)
    big = demo.compare({"G-RNN": tiny_grnn()}, [demo.Digit(blob())], context_frames=3, predict_frames=20)
    cache.put("big", big)
    assert cache.get("kept") is result and cache.get("big") is None


def test_records_with_absurd_numbers_read_as_missing():
    from fernn.checkpoints import CheckpointRecord

    record = CheckpointRecord.from_metrics({"evaluation": {"test_mse": 10**400}, "train": {"wall_time": float("nan")}})
    assert record.evaluated and record.test_mse is None and record.training_seconds is None
