"""Classifiers on the shared encoder and the Flickering Flowing MNIST task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fernn
from fernn.datasets.digits import load_digits
from fernn.datasets.flicker import FlickerSpec, flickering_mnist, flickering_mnist_batch, ring_velocities
from fernn.experiments.classification import classification_report
from fernn.flows import TRANSLATION


def small(kind: str = "fernn", **options) -> fernn.Classifier:
    options.setdefault("hidden_channels", 3)
    options.setdefault("head_channels", 4)
    return fernn.build_classifier(kind, **options).double().eval()


def test_logits_shapes_and_the_three_entry_points_agree() -> None:
    model = small(max_speed=1, num_classes=7)
    frames = torch.rand(2, 5, 1, 10, 10, dtype=torch.float64)
    logits = model.classify(frames)
    assert logits.shape == (2, 7) and model.velocities == fernn.velocity_set(1) and model.flow.name == "translation"
    torch.testing.assert_close(model(frames), logits, rtol=0, atol=1e-12)
    steps = model.classify_steps(frames)
    assert steps.shape == (2, 5, 7)
    torch.testing.assert_close(steps[:, -1], logits, rtol=0, atol=1e-12)
    torch.testing.assert_close(steps[:, 2], model.classify(frames[:, :3]), rtol=0, atol=1e-12)  # causal
    assert model.classify(frames, fernn.velocity_set(3)).shape == (2, 7)  # the same weights, 49 copies


@pytest.mark.parametrize(("head_layers", "dilation"), [(0, False), (2, False), (3, True)])
def test_logits_are_invariant_to_flows_under_a_closed_velocity_set(head_layers: int, dilation: bool) -> None:
    model = small(velocities=[(dy, dx) for dy in range(6) for dx in range(6)], head_layers=head_layers,
                  head_dilation=dilation)
    frames = torch.rand(2, 4, 1, 6, 6, dtype=torch.float64)
    for velocity in ((1, 0), (2, -1), (-3, 3)):
        moved = TRANSLATION.flow_sequence(frames, velocity)
        torch.testing.assert_close(model.classify(moved), model.classify(frames), rtol=0, atol=1e-12)


def test_the_encoders_states_are_exactly_equivariant_and_the_grnn_is_not() -> None:
    fernn_report = fernn.flow_equivariance_error(small(max_speed=2), (1, -1), size=12)
    assert fernn_report.pairs_compared == 16 and fernn_report.exact_error < 1e-12
    assert fernn.flow_equivariance_error(small("grnn"), (1, -1), size=12).truncated_error > 1e-2


def test_parameter_count_and_checkpoint_round_trip(tmp_path) -> None:
    for head_layers, dilation in ((0, False), (1, False), (3, True)):
        model = small(max_speed=1, head_layers=head_layers, head_dilation=dilation)
        assert model.config.parameter_count() == sum(p.numel() for p in model.parameters())
    model = small(max_speed=1)
    frames = torch.rand(1, 3, 1, 8, 8, dtype=torch.float64)
    loaded = fernn.load_checkpoint(fernn.save_checkpoint(tmp_path / "c.pt", model, {"note": 1})).double()
    assert isinstance(loaded, fernn.Classifier) and loaded.config == model.config and loaded.metrics == {"note": 1}
    torch.testing.assert_close(loaded.classify(frames), model.classify(frames), rtol=0, atol=0)


@pytest.mark.parametrize(("options", "message"), [
    (dict(kind="grnn", velocities=((1, 0),)), "G-RNN"),
    (dict(num_classes=0), "num_classes"),
    (dict(head_layers=-1), "head_layers"),
    (dict(pooling="median"), "pooling"),
    (dict(kind="lstm"), "kind"),
])
def test_bad_configs_are_refused_with_the_field_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fernn.ClassifierConfig(**options)


def test_peak_windows_hold_the_trained_sets_radius_around_each_copy() -> None:
    model = small(max_speed=1, pooling="peak")
    run = fernn.velocity_set(2)
    windows = model.peak_windows(run)
    for centre, row in zip(run, windows.tolist()):
        inside = {u for u, hit in zip(run, row) if hit}
        assert inside == {u for u in run if max(abs(u[0] - centre[0]), abs(u[1] - centre[1])) <= 1}
    assert windows.sum(dim=1).tolist().count(9) == 9 and windows[run.index((2, 2))].sum() == 4
    rotation = fernn.build_classifier("fernn", flow=fernn.flows.Rotation(order=12), max_speed=1, pooling="peak",
                                      hidden_channels=12, head_channels=4)
    turns = rotation.flow.velocity_set(3)
    assert [u for u, hit in zip(turns, rotation.peak_windows(turns)[turns.index(0)].tolist()) if hit] == [-1, 0, 1]


def test_the_peak_pool_is_the_max_over_the_window_of_the_strongest_copy_and_only_it_learns() -> None:
    model = small(max_speed=1, pooling="peak")
    run = fernn.velocity_set(2)
    state = torch.rand(2, len(run), 3, 5, 5, dtype=torch.float64, requires_grad=True)
    strongest = (run.index((2, 1)), run.index((0, 0)))
    with torch.no_grad():  # the largest |h|, but never the largest h: the rest of its window wins the max
        for b, copy in enumerate(strongest):
            state[b, copy] -= 6.0
    pooled = model.pool(state, run)
    for b, copy in enumerate(strongest):
        window = model.peak_windows(run)[copy]
        torch.testing.assert_close(pooled[b], state[b, window].amax(dim=0), rtol=0, atol=0)
    pooled.sum().backward()
    reached = state.grad.flatten(2).abs().sum(dim=2) > 0  # (B, V): copies that got a gradient
    peaks = torch.zeros_like(reached)
    peaks[[0, 1], list(strongest)] = True
    assert torch.equal(reached, model.peak_windows(run)[list(strongest)] & ~peaks)
    assert model.peak_windows(run)[strongest[0]].sum() == 6  # the edge of the set: a cut window
    # The peak is the copy with the most energy (mean h^2), not the largest mean |h|.
    spread, spiky = run.index((-2, -2)), run.index((2, 2))
    state = torch.zeros(1, len(run), 2, 4, 4, dtype=torch.float64)
    state[0, spread] = 1.0  # mean |h| 1, mean h^2 1
    state[0, spiky, :, :2, :2] = 2.5  # mean |h| 0.625, mean h^2 1.5625
    torch.testing.assert_close(model.pool(state, run)[0], state[0, spiky], rtol=0, atol=0)


def test_a_peak_pooled_classifier_reads_a_moving_input_as_the_still_one_widened() -> None:
    """Flowed by v and run with the set V, the logits are those of the still input run with V - v:
    copy u of the moving run is copy u - v of the still one, moved, and the peak and its window
    follow (the windows are measured between velocities, not from zero). Every pool that treats the
    copies alike has this property; what only the peak pool has is checked on the shipped FERNN below."""
    model = small(max_speed=1, pooling="peak", head_layers=2)
    frames = torch.rand(3, 5, 1, 11, 11, dtype=torch.float64)
    run = fernn.velocity_set(3)
    for velocity in ((1, 0), (2, -1), (-3, 3)):
        moved = TRANSLATION.flow_sequence(frames, velocity)
        still_set = [(u[0] - velocity[0], u[1] - velocity[1]) for u in run]
        torch.testing.assert_close(model.classify(moved, run), model.classify(frames, still_set), rtol=0, atol=1e-12)
        torch.testing.assert_close(model.classify_steps(moved, run), model.classify_steps(frames, still_set),
                                   rtol=0, atol=1e-12)


def test_a_state_and_a_velocity_set_of_different_sizes_are_refused() -> None:
    model = small(max_speed=1, pooling="peak")
    with pytest.raises(ValueError, match="the state has 25 velocity copies but 9 velocities were given"):
        model.read_out(torch.rand(1, 25, 3, 6, 6, dtype=torch.float64))


def test_peak_pooling_is_for_classifiers_only() -> None:
    with pytest.raises(ValueError, match="pooling must be one of \\('max', 'mean'\\), got 'peak'"):
        fernn.ModelConfig(pooling="peak")
    assert fernn.ClassifierConfig(pooling="peak").pooling == "peak"
    assert small("grnn", pooling="peak").classify(torch.rand(1, 2, 1, 6, 6, dtype=torch.float64)).shape == (1, 10)


def test_bad_frames_are_refused() -> None:
    model = small()
    with pytest.raises(ValueError, match=r"frames must have shape \(B, T, 1, H, W\)"):
        model.classify(torch.zeros(2, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="frame 1 of sequence 0 holds NaN"):
        frames = torch.zeros(1, 3, 1, 8, 8, dtype=torch.float64)
        frames[0, 1, 0, 2, 2] = float("nan")
        model.classify(frames)


# --- Flickering Flowing MNIST -----------------------------------------------------------------


@pytest.fixture(scope="module")
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits("test")


def test_flicker_sequences_are_pure_functions_of_seed_and_index(test_digits) -> None:
    digits, labels = test_digits
    first, label = flickering_mnist(digits, labels, 7, seed=3)
    again, label_again = flickering_mnist(digits, labels, 7, seed=3)
    assert torch.equal(first, again) and label == label_again
    assert not torch.equal(first, flickering_mnist(digits, labels, 8, seed=3)[0])
    assert not torch.equal(first, flickering_mnist(digits, labels, 7, seed=4)[0])
    frames, targets = flickering_mnist_batch(digits, labels, [7, 8], seed=3)
    assert frames.shape == (2, 16, 1, 28, 28) and targets.dtype == torch.int64 and torch.equal(frames[0], first)


def test_a_flicker_sequence_is_a_masked_moving_digit(test_digits) -> None:
    """Every visible pixel is the digit moved by offset + t v for one v of the ring, and about a tenth
    of the pixels are visible."""
    digits, labels = test_digits
    spec = FlickerSpec(speed=2, digits_in_order=True, visible=0.1)
    frames, label = flickering_mnist(digits, labels, 5, seed=0, spec=spec)
    assert label == labels[5]
    image = torch.from_numpy(digits[5].astype(np.float32) / 255).unsqueeze(0)  # (1, 28, 28)
    matches = []
    for velocity in ring_velocities(2):
        for dy in range(28):
            for dx in range(28):
                clean = TRANSLATION.flow_image(image, velocity, 16, start=(dy, dx))  # (T, 1, 28, 28)
                visible = frames > 0
                if torch.equal(frames[visible], clean[visible]) and bool((clean[visible] > 0).all()):
                    matches.append((velocity, (dy, dx)))
    assert len(matches) >= 1 and all(TRANSLATION.speed(v) == 2 for v, _ in matches)
    velocity, start = matches[0]
    clean = TRANSLATION.flow_image(image, velocity, 16, start=start)
    shown = (frames > 0).sum().item() / max((clean > 0).sum().item(), 1)
    assert 0.06 < shown < 0.14  # each inked pixel is visible with probability 0.1


def test_flicker_velocities_cover_the_box_or_the_ring(test_digits) -> None:
    assert set(ring_velocities(0)) == {(0, 0)} and len(ring_velocities(1)) == 8 and len(ring_velocities(4)) == 32
    with pytest.raises(ValueError, match="visible"):
        FlickerSpec(visible=0)
    with pytest.raises(ValueError, match="speed"):
        FlickerSpec(speed=-1)


def test_evaluate_reports_a_classifier_with_intervals_rings_and_a_widened_set(tmp_path, capsys) -> None:
    from fernn.measures import accuracy_interval
    from fernn.experiments.evaluate import main

    path = fernn.save_checkpoint(tmp_path / "flicker.pt", fernn.build_classifier("fernn", hidden_channels=2,
                                                                               head_layers=0))
    assert main([str(path), "--quick", "--output", str(tmp_path / "e.json"), "--report", str(tmp_path / "r.md")]) == 0
    evaluation = __import__("json").loads((tmp_path / "e.json").read_text())["results"]["flicker"]["evaluation"]
    assert evaluation["test_sequences"] == 20 and len(evaluation["step_accuracy"]) == 16
    assert [r["speed"] for r in evaluation["rings"]] == [0, 1, 2] and len(evaluation["widened_rings"]) == 3
    assert sum(map(sum, evaluation["confusion"])) == 20
    assert evaluation["equivariance"]["exact_error"] < 1e-12
    report = (tmp_path / "r.md").read_text()
    assert "| flicker |" in report and "flicker with V_2" in report
    low, high = accuracy_interval(45, 50)
    assert low < 0.9 < high and accuracy_interval(0, 10)[0] == 0.0


def test_a_classifier_is_evaluated_on_as_many_frames_as_it_was_trained_to_read() -> None:
    from fernn.experiments.classification import ClassificationSettings, settings_for

    model = small()
    assert settings_for(model).num_frames == 16  # nothing recorded: the task's 16 frames
    model.metrics = {"train": {"config": {"data": {"context_frames": 1}}}}
    assert settings_for(model, ClassificationSettings(sequences=7)) == ClassificationSettings(sequences=7, num_frames=1)
    model.metrics = {"train": {"config": {"data": {"context_frames": "many"}}}}
    assert settings_for(model).num_frames == 16


def _evaluation(kind: str, in_range: float, rings: list[float], *, widened: list[float] | None = None,
                widened_in_range: float = 0.0, frames: int = 16) -> dict:
    evaluation = {"settings": {"num_frames": frames}, "test_accuracy": in_range, "test_interval": [0.0, 1.0],
                  "equivariance": {"exact_error": 0.0 if kind == "fernn" else None},
                  "rings": [{"speed": s, "accuracy": a} for s, a in enumerate(rings)],
                  "widened_max_speed": 4 if widened else None, "widened_rings": None, "widened_in_range": None}
    if widened:
        evaluation["widened_rings"] = [{"speed": s, "accuracy": a} for s, a in enumerate(widened)]
        evaluation["widened_in_range"] = {"accuracy": widened_in_range, "interval": [0.0, 1.0]}
    return {"config": {"kind": kind}, "evaluation": evaluation}


def test_classification_targets_are_checked_on_the_pair_that_read_alike() -> None:
    from fernn.experiments.classification import classification_checks, classification_pair

    results = {
        "G": _evaluation("grnn", 0.89, [0.9, 0.89, 0.6, 0.44, 0.3]),
        "F": _evaluation("fernn", 0.91, [0.92, 0.9, 0.3, 0.2, 0.1], widened=[0.93, 0.91, 0.9, 0.89, 0.87],
                         widened_in_range=0.92),
        "one frame": _evaluation("grnn", 0.58, [0.58] * 5, frames=1),
    }
    assert classification_pair(results) == ("G", "F")
    checks = classification_checks(results["G"]["evaluation"], results["F"]["evaluation"])
    values = {name: round(check["value"], 6) for name, check in checks.items()}
    assert values == {"fernn_in_range_accuracy": 0.91, "fernn_minus_grnn_in_range": 0.02,
                      "fernn_widened_rings_2_4_minus_in_range": -0.05,  # ring 4 against the widened 0.92
                      "fernn_widened_minus_grnn_at_speed_3": 0.45}
    assert [check["met"] for check in checks.values()] == [True, True, False, True]
    assert "| fernn_widened_rings_2_4_minus_in_range | -0.050 | >= -0.03 | **no** |" in classification_report(results)
    quick = dict(results, G=_evaluation("grnn", 0.89, [0.9, 0.89, 0.6]))  # a --quick evaluation: rings 0-2
    assert classification_pair(quick) is None
    del results["G"]
    assert classification_pair(results) is None  # the one-frame G-RNN is no partner for a 16-frame FERNN


def test_the_shipped_fernn_widened_reads_a_fast_digit_as_the_still_one_with_its_own_set() -> None:
    """The shipped peak-pooled FERNN, widened to V_4, reads a digit moving at speed 2-3 exactly as it
    reads the same still digit with its own V_1, whenever its peak is the copy moving with the digit
    (the window is then V_1 around that copy). The same weights pooled by max over V_4 do not."""
    from dataclasses import replace
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "pretrained" / "classify" / "fernn"
    if not path.is_dir():
        pytest.skip("no shipped classifier")
    model = fernn.load_checkpoint(path).double().eval()
    assert model.config.pooling == "peak" and model.velocities == fernn.velocity_set(1)
    plain = fernn.Classifier(replace(model.config, pooling="max")).double().eval()
    plain.load_state_dict(model.state_dict())
    digits, labels = load_digits("test")
    still, _ = flickering_mnist_batch(digits, labels, range(4), seed=5, spec=FlickerSpec(speed=0))
    still = still.double()
    widened = fernn.velocity_set(4)
    own = model.classify(still)
    for velocity in ((3, 0), (-2, 2)):
        moved = TRANSLATION.flow_sequence(still, velocity)
        torch.testing.assert_close(model.classify(moved, widened), own, rtol=0, atol=1e-9)
        assert (plain.classify(moved, widened) - plain.classify(still)).abs().max() > 1e-2
