"""Classifying a flickering digit: the demo's digit moving through a seeded pixel mask, as in
Flickering Flowing MNIST (:mod:`fernn.datasets.flicker`), every classifier's class probabilities after
each frame, and the held-out accuracy per velocity ring that a checkpoint records.

    scene = flicker_scene(Digit(image, (3, 0)), seed=0)           # 16 frames, 10% of pixels each
    result = classify({"FERNN": fernn_model, "G-RNN": grnn_model}, scene, velocities=AUTO)
    result.run("FERNN").answer, result.run("FERNN").confidence
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fernn.classifier import Classifier
from fernn.datasets import flicker
from fernn.datasets.digits import sequence_rng
from fernn.datasets.flicker import FlickerSpec
from fernn.encoder import Kind
from fernn.flows import Flow, Velocity
from fernn.records import ClassifierEvaluation, RingAccuracy, record_of
from fernn.showcase.errors import DemoError
from fernn.showcase.headline import training_range_note
from fernn.showcase.planning import AUTO, VelocityChoice, velocity_set_for
from fernn.showcase.records import shared_training_speed
from fernn.showcase.scenes import Digit
from fernn.flows.words import words

__all__ = ["CLASSIFIER_FILES", "Classification", "ClassifierRun", "FlickerScene",
           "RingSeries", "classifiers_missing", "classify", "classify_headline",
           "flicker_scene", "reads_one_frame", "ring_series"]

# The shipped classifiers (pretrained/classify/) and their display names, in the order shown.
CLASSIFIER_FILES = {"grnn": "G-RNN", "fernn": "FERNN", "single-frame": "single frame"}  # model folders, by name
# The task's own settings (fernn.datasets.flicker): what the shipped classifiers were trained on.
FLICKER = FlickerSpec()
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class FlickerScene:
    """One digit moving at a constant velocity, each frame seen through its own pixel mask.

    clean: ``float32 (T, H, W)`` the moving digit; mask: ``bool (T, H, W)`` the visible pixels
    (each visible with probability ``visible``, drawn from ``seed``); :attr:`seen` is what a
    model reads.
    """

    clean: np.ndarray
    mask: np.ndarray
    velocity: Velocity
    start: Velocity
    seed: int
    visible: float

    @property
    def seen(self) -> np.ndarray:
        """The masked frames, ``float32 (T, H, W)``."""
        return self.clean * self.mask

    @property
    def num_frames(self) -> int:
        return int(self.clean.shape[0])


# The app's flicker seed s draws item SCENE_ITEM of stream s (the masks links have always reproduced).
SCENE_ITEM = 7


def flicker_scene(digit: Digit, *, seed: int, num_frames: int = FLICKER.num_frames,
                  visible: float = FLICKER.visible) -> FlickerScene:
    """``digit`` rolled by ``start + t * velocity`` for ``num_frames`` frames, each masked by an
    independent Bernoulli(``visible``) draw per pixel; the mask is a pure function of ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise DemoError(f"flicker seed must be a whole number 0..{MAX_SEED}, got {seed!r}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or not 1 <= num_frames <= 64:
        raise DemoError(f"num_frames must be a whole number 1..64, got {num_frames!r}")
    if isinstance(visible, bool) or not isinstance(visible, (int, float)) or not 0 < visible <= 1:
        raise DemoError(f"visible must be a fraction in (0, 1], got {visible!r}")
    if digit.flow != flicker.FLOW:
        raise DemoError(f"the flickering digit moves by {flicker.FLOW!r}, not {digit.flow!r}")
    # Item SCENE_ITEM of the seed's stream: a flicker seed never repeats another seeded draw's numbers.
    clean, mask = flicker.flickering_digit(digit.image, digit.velocity, digit.start, int(num_frames),
                                           rng=sequence_rng(int(seed), SCENE_ITEM), visible=float(visible))
    return FlickerScene(clean[:, 0].numpy(), mask[:, 0].numpy(), digit.velocity, digit.start, int(seed), float(visible))


@dataclass(frozen=True)
class ClassifierRun:
    """One classifier on a scene: ``probabilities`` ``float32 (T, classes)``, its softmax after
    each frame. ``one_frame``: it read each frame alone (a single-frame baseline), not the sequence."""

    name: str
    kind: Kind
    trained_velocities: tuple[Velocity, ...]
    velocities: tuple[Velocity, ...]
    probabilities: np.ndarray
    one_frame: bool
    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))  # a stored string names its kind

    @property
    def answers(self) -> np.ndarray:
        """The most probable class after each frame, ``int64 (T,)``."""
        return self.probabilities.argmax(axis=1)

    @property
    def answer(self) -> int:
        """The final answer: the most probable class after the last frame."""
        return int(self.answers[-1])

    @property
    def confidence(self) -> float:
        """The final answer's probability."""
        return float(self.probabilities[-1].max())

    @property
    def reading(self) -> str:
        """What it reads, in words."""
        if self.one_frame:
            return "each frame alone"
        copies = len(self.velocities)
        return f"the sequence with {copies} velocity cop{'y' if copies == 1 else 'ies'}"


@dataclass(frozen=True)
class Classification:
    """Everything :func:`classify` computed: the scene, one :class:`ClassifierRun` per model in the
    order given, the true class when known (an MNIST test digit) and the training speed limit."""

    scene: FlickerScene
    runs: tuple[ClassifierRun, ...]
    true_class: int | None = None
    training_max_speed: int | None = None
    flow: Flow = flicker.FLOW

    @property
    def nbytes(self) -> int:
        """Bytes of array data held: what a byte-bounded cache counts."""
        arrays = (self.scene.clean, self.scene.mask, *(run.probabilities for run in self.runs))
        return sum(array.nbytes for array in arrays)

    def mark(self, run: ClassifierRun) -> str:
        """``" ✓"`` or ``" ✗"`` after ``run``'s final answer when the true class is known, else ``""``."""
        if self.true_class is None:
            return ""
        return " ✓" if run.answer == self.true_class else " ✗"

    def run(self, name: str) -> ClassifierRun:
        for item in self.runs:
            if item.name == name:
                return item
        raise KeyError(f"no classifier named {name!r}; have {[r.name for r in self.runs]}")


def classify(models: Mapping[str, Classifier], scene: FlickerScene, *,
             velocities: VelocityChoice | Sequence[Velocity] | None = AUTO, true_class: int | None = None,
             one_frame: Collection[str] | None = None) -> Classification:
    """Every classifier's class probabilities after each frame of ``scene``.

    velocities: the FERNNs' set at inference, as in :func:`~fernn.showcase.velocity_set_for`
    (``"auto"`` covers the digit's velocity); a G-RNN keeps ``{(0, 0)}``. one_frame: names of
    models that read each frame alone (``classify`` on a 1-frame sequence per frame); by default
    those whose checkpoint records training on single frames (:func:`reads_one_frame`).
    """
    if not models:
        raise DemoError("give at least one classifier")
    if one_frame is None:
        one_frame = [name for name, model in models.items() if reads_one_frame(model)]
    unknown = sorted(set(one_frame) - set(models))
    if unknown:
        raise DemoError(f"one_frame names {unknown}, which are not among the models {sorted(models)}")
    for name, model in models.items():
        if not isinstance(model, Classifier) or model.config.in_channels != 1:
            raise DemoError(f"{name} is not a classifier of 1-channel frames")
        if model.flow != flicker.FLOW:
            raise DemoError(f"{name} moves its copies by {model.flow!r}; the flickering digit moves by {flicker.FLOW!r}")
    classes = min(model.config.num_classes for model in models.values())
    if true_class is not None and (isinstance(true_class, bool) or not isinstance(true_class, (int, np.integer))
                                   or not 0 <= true_class < classes):
        raise DemoError(f"true_class must be a class 0..{classes - 1}, got {true_class!r}")
    seen = torch.from_numpy(scene.seen)[:, None]  # (T, 1, H, W)
    runs = []
    for name, model in models.items():
        alone = name in one_frame
        chosen = tuple(model.velocities) if alone else velocity_set_for(model, velocities, [scene.velocity])
        weight = next(model.parameters())
        started = time.perf_counter()
        if alone:  # T sequences of one frame each
            logits = model.classify(seen[:, None].to(weight), chosen)  # (T, classes)
        else:
            logits = model.classify_steps(seen[None].to(weight), chosen)[0]  # (T, classes)
        probabilities = torch.softmax(logits.double(), dim=-1).float().cpu().numpy()  # (T, classes)
        runs.append(ClassifierRun(name, model.config.kind, tuple(model.velocities), chosen, probabilities, alone,
                                  time.perf_counter() - started))
    return Classification(scene, tuple(runs), None if true_class is None else int(true_class),
                          shared_training_speed(models), flicker.FLOW)


def classifiers_missing(folder: str) -> str:
    """What to say while no classifier checkpoint is in ``folder`` (Markdown)."""
    names = ", ".join(f"`{name}`" for name in CLASSIFIER_FILES)
    return (f"The classifiers are not here yet: they are being trained, and will be read from `{folder}/` ({names}). "
            "The other tabs work without them.")


def classify_headline(result: Classification) -> str:
    """The run in plain words (Markdown): the digit's speed against the training range, then
    each model's final answer, its confidence and, when the true class is known, whether it is right."""
    flow, scene = result.flow, result.scene
    where = training_range_note(flow, scene.velocity, result.training_max_speed, who="classifiers")
    parts = [f"The digit moves at **{words(flow).rate(scene.velocity)}**{where}; each frame shows "
             f"{scene.visible:.0%} of its pixels."]
    answers = [f"{run.name} says **{run.answer}** ({run.confidence:.0%}){result.mark(run)}" for run in result.runs]
    truth = "" if result.true_class is None else f" (it is a {result.true_class})"
    parts.append(", ".join(answers) + truth + ".")
    for run in result.runs:
        if run.kind.lifted and not run.one_frame and scene.velocity not in run.velocities:
            parts.append(f"{words(flow).label(scene.velocity)} is outside the {run.name}'s velocity set: no hidden copy "
                         "moves with the digit to line its frames up. Choose 'auto' to widen the set.")
    return " ".join(parts)


# ----------------------------------------------------------------------------- what checkpoints record


def reads_one_frame(model: Classifier) -> bool:
    """Whether ``model``'s checkpoint records training on sequences of one frame (a single-frame
    baseline: the same network, which then reads each frame alone)."""
    training = record_of(model).training
    return training is not None and training.context_frames == 1


@dataclass(frozen=True)
class RingSeries:
    """One line of an accuracy-per-ring chart: ``model``'s recorded accuracy, as trained or widened."""

    label: str
    model: str
    widened: bool
    rings: RingAccuracy


def ring_series(models: Mapping[str, Classifier]) -> tuple[RingSeries, ...]:
    """The recorded accuracy per ring of every model, in order: a FERNN as trained (its set
    named) and, where recorded, widened at inference; models without a record are left out."""
    series = []
    for name, model in models.items():
        record = record_of(model).evaluation
        if not isinstance(record, ClassifierEvaluation):
            continue
        radius = model.flow.set_radius(model.velocities)
        trained = f", {words(model.flow).set_label(radius)} as trained" if model.config.kind.lifted and radius else ""
        if record.rings is not None:
            series.append(RingSeries(f"{name}{trained}", name, False, record.rings))
        if record.widened_rings is not None and record.widened_max_speed:
            label = f"{name}, widened to {words(model.flow).set_label(record.widened_max_speed)}"
            series.append(RingSeries(label, name, True, record.widened_rings))
    return tuple(series)
