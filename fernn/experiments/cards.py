"""Hub model cards for model folders: ``python -m fernn.cards [--pretrained DIR] [--check]``.

Writes each model folder's ``README.md`` under DIR (default ``pretrained``; resume states left out)
from the folder's own files: the Hub's YAML front matter (license, library, tags, datasets, metrics,
``model-index`` with the held-out results), then what the model is, its intended use and limits,
its training data and recipe, its evaluation with 95% intervals, the paper's numbers (from secondary
sources, :mod:`fernn.paper`), how to load it and how to cite it. Nothing is run: every number is a
record (``metrics.json``) or the config, so cards and numbers cannot drift apart. ``--check``
writes nothing and fails, naming them, when cards differ from what the records give.
"""

from __future__ import annotations

import json
from pathlib import Path

import fernn.paper as paper
from fernn.checkpoints import CARD_FILE, is_model_folder, load_checkpoint
from fernn.classifier import Classifier
from fernn.datasets.digits import load_digits
from fernn.experiments import cli
from fernn.experiments.world_figures import look_away_protocol
from fernn.flows.words import words
from fernn.records import ClassifierEvaluation, ForecasterEvaluation, TrainingRecord, WorldEvaluation, record_of
from fernn.showcase.cards import model_card, paper_number
from fernn.world import WorldConfig

__all__ = ["card_text", "main", "model_folders"]

# Each training task: the Hub's task type and name, the data set's name, and its data in words.
TASKS = {
    "flowing-mnist": ("video-prediction", "Video prediction", "Flowing MNIST",
                      "two MNIST digits on a 28x28 torus, each moving at its own constant velocity"),
    "rotating-mnist": ("video-prediction", "Video prediction", "Rotating MNIST",
                       "two MNIST digits on a 28x28 canvas, each turning about its centre at its own constant "
                       "angular velocity"),
    "flickering-mnist": ("video-classification", "Video classification", "Flickering Flowing MNIST",
                         "one MNIST digit moving at a constant velocity on a 28x28 torus, each frame showing an "
                         "independent random fraction of its pixels; the label is the digit's class"),
    "world": ("video-prediction", "Video prediction", "MNIST World",
              "two MNIST digits on a 48x48 torus, each moving at its own constant velocity, seen through a 28x28 "
              "window that the observer moves by known whole-pixel actions; the model predicts the window's views"),
}
# What each shipped folder is part of, by its parent folder's name (see pretrained/README.md).
COLLECTIONS = {"": ("the demo pair the app opens with", "pretrained-checkpoints"),
               "hidden16": ("the earlier, hidden-16 demo pair", "the-hidden-16-pair-hidden16"),
               "table1": ("the paper's Table 1 at CPU scale", "the-papers-table-1-at-cpu-scale-table1"),
               "rotation": ("the rotation pair", "rotating-mnist-rotation"),
               "classify": ("the sequence classifiers",
                            "sequence-classification-flickering-flowing-mnist-classify"),
               "world": ("the world models", "the-world-models-mnist-world-world")}


def model_folders(root: Path) -> list[Path]:
    """Every model folder under ``root``, sorted; ``resume/`` (training states) left out."""
    return sorted(path.parent for path in root.rglob("model.safetensors")
                  if is_model_folder(path.parent) and "resume" not in path.relative_to(root).parts)


def card_text(folder: Path, *, root: Path) -> str:
    """The card of the model folder ``folder`` (its name relative to ``root`` names it)."""
    model = load_checkpoint(folder)
    record, config = record_of(model), model.config
    name = folder.relative_to(root).as_posix()
    training = record.training or TrainingRecord()
    data = dict(training.settings.get("data", {}))
    task = TASKS.get(data.get("task", ""), TASKS["flowing-mnist"])
    flow, says = model.flow, words(model.flow)
    radius = max((flow.speed(v) for v in config.velocities), default=0)
    classifier, world = isinstance(model, Classifier), isinstance(config, WorldConfig)
    title = (f"{'World ' if world else ''}{config.kind.label} {'classifier' if classifier else 'forecaster'}: "
             f"{task[2]} (pretrained/{name})")
    part, anchor = COLLECTIONS.get(folder.parent.relative_to(root).as_posix() if folder.parent != root else "",
                                   ("a fernn model", "pretrained-checkpoints"))
    results = _results(record.evaluation, task, flow, training.data_max_speed)
    up = "../" * (name.count("/") + 1)  # from this card to pretrained/
    lines = ["---", *_yaml({"license": "mit", "library_name": "fernn",
                            **({"pipeline_tag": "video-classification"} if classifier else {}),
                            "tags": ["flow-equivariance", "equivariant-rnn", "equivariant-neural-networks",
                                     "recurrent-neural-network", task[0], "pytorch", "safetensors",
                                     f"arxiv:{paper.ARXIV_ID}"],
                            "datasets": ["mnist"], "metrics": ["accuracy" if classifier else "mse"],
                            "model-index": [{"name": f"fernn-{name.replace('/', '-')}", "results": results}]}), "---", "",
             f"# {title}", "",
             f"A {config.kind.label} ({'flow equivariant' if config.kind.lifted else 'plain convolutional'} "
             f"recurrent network) from [fernn]({up}../README.md), a PyTorch implementation of "
             f"*{paper.TITLE}* (Keller, [arXiv {paper.ARXIV_ID}]({paper.URL}), NeurIPS 2025); part of {part} "
             f"([pretrained/README.md]({up}README.md#{anchor})).", "",
             "## What it is", ""]
    lines += [f"- **Task:** {task[1].lower()} on {task[2]}: {task[3]}.",
              f"- **Flow:** {flow.name}, velocities in {says.unit}; "
              + (f"**velocity set** {says.set_label(radius)} ({len(config.velocities)} hidden copies, one per "
                 "velocity, sharing their weights)." if config.kind.lifted else
                 "no velocity set: one hidden state (the paper's G-RNN baseline)."),
              f"- **Size:** {config.parameter_count():,} parameters; hidden {config.hidden_channels} channels, "
              + (f"{config.head_layers}-layer head, {config.pooling} pooling over the copies." if classifier else
                 _world_size_text(config) if world else
                 f"{config.decoder_layers}-layer decoder, {config.pooling} pooling over the copies, "
                 f"`{config.decoding}` decoding."),
              "- **Files:** `model.safetensors` (float32 weights), `config.json` (the model kind and config that "
              "rebuild it), `metrics.json` (the training and evaluation records this card is written from).", ""]
    speed = training.data_max_speed
    lines += ["## Intended use and limits", "",
              "For research and teaching: reproducing and probing flow equivariance (the same weights run with any "
              "velocity set; widen it at run time to cover faster motion), and as the models of fernn's demo app. "
              f"It was trained on synthetic {task[2]} only ({_range(says, speed)}"
              ", 28x28 single-channel frames): it is not a model of natural video, and its numbers say nothing about "
              "other data. "
              + ("A G-RNN has no copies to widen: motion faster than its training data is outside what it learned."
                 if not config.kind.lifted else
                 "Its equivariance is exact only for motions in its velocity set and on the torus it was built for; "
                 "beyond the set, or with objects that leave the frame, it degrades like any model."), "",
              "## Training data and recipe", ""]
    lines += _training_lines(training, data, task, says)
    lines += ["", "## Evaluation", ""] + (_world_evaluation_lines(record.evaluation, says, speed, training, config) if world else
                                          _evaluation_lines(model, record.evaluation, says))
    lines += ["", "## The paper's numbers", ""] + (_flowm_lines(up) if world else _paper_lines(model, record, up))
    path = f"pretrained/{name}"
    usage = (f"logits = model(frames)  # frames (B, T, 1, 28, 28) in [0, 1] -> (B, 10)" if classifier else
             "frames = model.forecast(views, 10, actions=actions).frames  # views (B, T, 1, 28, 28) in [0, 1], "
             "actions (B, T + 9, 2) whole-pixel moves of the window -> (B, 10, 1, 28, 28)" if world else
             f"frames = model.forecast(context, 10).frames  # context (B, T, 1, 28, 28) in [0, 1] -> (B, 10, 1, 28, 28)")
    lines += ["", "## How to load", "", "```python", "import fernn",
              f'model = fernn.from_pretrained("{path}")  # no unpickler on the way', usage, "```", "",
              ("`pip install -e .` in a fernn checkout; `fernn.load_checkpoint` opens the same folder. "
               + ("Objects faster than training: `model.forecast(views, 10, actions=actions, "
                  "velocities=model.flow.velocity_set(2))` (more copies, the same weights)." if config.kind.lifted else
                  "It has no velocity copies to widen (`velocities` must stay `None`).")
               if world else
               f"`pip install -e .` in a fernn checkout; `fernn.load_checkpoint` opens the same folder. "
               f"Wider at run time: `model.forecast(context, 10, velocities=model.flow.velocity_set(4))`.")
              if not classifier else
              "`pip install -e .` in a fernn checkout; `fernn.load_checkpoint` opens the same folder. Wider at run "
              "time: `model(frames, model.flow.velocity_set(4))`.", "",
              "## Citation", "", "```bibtex", paper.BIBTEX.strip(), "```", ""]
    return "\n".join(lines)


def _training_lines(training: TrainingRecord, data: dict, task: tuple, says) -> list[str]:
    """The recipe as the records give it: data, steps trained and selected, both wall times, frames."""
    if not training.settings:
        return ["Not recorded."]
    settings = training.settings
    digits = len(load_digits("train")[0]) if not data.get("digits_root") else None
    frames = (f"{training.context_frames} context frames, then {training.predict_frames} predicted"
              + (f" (a curriculum to {training.final_predict_frames} over the last "
                 f"{1 - float(settings.get('curriculum_start', 0)):.0%} of steps)"
                 if (training.final_predict_frames or 0) > (training.predict_frames or 0) else "")
              if task[0] == "video-prediction" else f"{training.context_frames} frames, the class read after the last")
    lines = [f"- **Data:** {task[2]} drawn on the fly from the MNIST training digits bundled with fernn"
             + (f" ({digits:,})" if digits else "") + f"; speeds {_range(says, training.data_max_speed)}; "
             f"{frames}" + (f"; {float(data['visible']):.0%} of pixels visible per frame" if task[0] ==
                            "video-classification" and "visible" in data else "") + ".",
             f"- **Recipe:** preset `{training.preset}`: {settings.get('steps', training.planned_steps):,} steps of "
             f"{settings.get('batch_size')} sequences, Adam {settings.get('learning_rate')} "
             f"({settings.get('lr_schedule')} schedule, {settings.get('warmup_steps')} warm-up steps), gradient clip "
             f"{settings.get('grad_clip')}, {training.precision} autocast; seeds {settings.get('seed')} (model) and "
             f"{settings.get('data_seed')} (data).",
             f"- **Steps:** trained {training.last_step:,} steps in {_hours(training.run_seconds)} (wall time as "
             f"logged); the shipped weights are step {training.selected_step:,}'s, the best on validation, reached "
             f"after {_hours(training.selected_seconds)}.",
             f"- **Reproduce:** `python -m fernn.train --preset {training.preset} --export MODEL` "
             "(pretrained/README.md gives each model's exact commands, resumptions included)."]
    return lines


def _evaluation_lines(model, evaluation, says) -> list[str]:
    if isinstance(evaluation, ClassifierEvaluation):
        low, high = evaluation.test_interval or (None, None)
        lines = [f"Held-out accuracy **{evaluation.test_accuracy:.3f}** (95% Wilson interval {low:.3f}–{high:.3f}) "
                 f"over {evaluation.test_sequences:,} sequences of the held-out MNIST test digits, at the training "
                 f"speeds ({_range(says, evaluation.training_max_speed)}).", "",
                 "| speed | accuracy (95% interval) |" + (" widened set |" if evaluation.widened_rings else ""),
                 "|---|---|" + ("---|" if evaluation.widened_rings else "")]
        rings, wide = evaluation.rings, evaluation.widened_rings
        for index, speed in enumerate(rings.speeds if rings else ()):
            cell = f"{rings.accuracy[index]:.3f} ({rings.low[index]:.3f}–{rings.high[index]:.3f})"
            extra = (f" {wide.accuracy[index]:.3f} ({wide.low[index]:.3f}–{wide.high[index]:.3f}) |"
                     if wide and index < len(wide.speeds) else "")
            lines.append(f"| {says.speed_text(speed)} | {cell} |{extra}")
        if wide:
            lines += ["", f"The widened column runs the same weights with {says.set_label(evaluation.widened_max_speed)}."]
        return lines
    if not isinstance(evaluation, ForecasterEvaluation) or evaluation.test_mse is None:
        return ["No evaluation recorded."]
    card = model_card(model.config.kind.label, model)
    bounds = evaluation.interval.bounds() if evaluation.interval else None
    lines = [f"Held-out test MSE **{evaluation.test_mse:.2e}**"
             + (f" (95% interval {bounds[0]:.2e}–{bounds[1]:.2e}, normal approximation over sequences)" if bounds else "")
             + f" over {evaluation.test_sequences:,} sequences of the held-out MNIST test digits, "
             f"{_range(says, evaluation.data_max_speed)}, 10 context and 10 predicted frames; baselines: all zeros "
             f"{evaluation.baselines.get('zeros', float('nan')):.2e}, copy the last frame "
             f"{evaluation.baselines.get('copy_last', float('nan')):.2e}.", ""]
    for grid in card.grids:
        lines.append(f"- {grid.title[:1].upper()}{grid.title[1:]} (fixed velocities up to {says.speed_text(grid.radius)}): mean MSE "
                     f"{grid.inside_mse:.2e} inside the training range, {grid.beyond_mse:.2e} beyond it."
                     if grid.beyond_mse is not None else f"- {grid.title}: mean MSE {grid.inside_mse:.2e}.")
    return lines


def _world_size_text(config: WorldConfig) -> str:
    """A world model's shape in words: what its state is and how the observer's motion reaches it."""
    if config.kind.lifted:
        return (f"{config.decoder_layers}-layer decoder, {config.pooling} pooling over the copies; its state is a "
                f"{config.world_size}x{config.world_size} memory map per copy (the world's torus), moved each step "
                f"by the copy's velocity minus the observer's own move (an exact roll), written and read at the "
                f"{config.view_size}x{config.view_size} window.")
    return (f"{config.decoder_layers}-layer decoder; its state is the {config.view_size}x{config.view_size} view "
            "grid, the observer's move fed as input channels (FloWM's action-concatenation baseline).")


def _world_evaluation_lines(evaluation, says, speed: int | None, training: TrainingRecord,
                            config: WorldConfig) -> list[str]:
    """A world model's held-out numbers (``fernn.experiments.world_eval``), each with what it
    measures; the protocols' numbers read from the records and the protocol itself."""
    if not isinstance(evaluation, WorldEvaluation) or evaluation.test_mse is None:
        return ["No evaluation recorded."]
    settings = evaluation.settings
    bounds = evaluation.interval.bounds() if evaluation.interval else None
    lines = [f"Held-out test MSE **{evaluation.test_mse:.2e}**"
             + (f" (95% interval {bounds[0]:.2e}–{bounds[1]:.2e}, normal approximation over sequences)" if bounds else "")
             + f" over {settings.get('test_sequences', 0):,} MNIST World sequences of the held-out MNIST test digits "
             f"({_range(says, speed)} and the training actions, as in training), {settings.get('context_frames')} context and "
             f"{settings.get('predict_frames')} predicted views.", ""]
    if evaluation.look_away_last_mse is not None and evaluation.look_away_step_mse:
        protocol = look_away_protocol(len(evaluation.look_away_step_mse), world_size=config.world_size,
                                      view_size=config.view_size)
        move = next(tuple(a) for a in protocol.sample.actions.tolist() if any(a))
        away = evaluation.look_away_last_interval.bounds() if evaluation.look_away_last_interval else None
        lines.append(f"- **Look away and back** (one held-out digit, still, in the first window; the observer moves "
                     f"{move} px a frame for {protocol.predict_frames // 2} frames and back as many): MSE "
                     f"{evaluation.look_away_mse:.2e} over the {protocol.predict_frames} predicted views, "
                     f"**{evaluation.look_away_last_mse:.2e}** over the last {len(protocol.scored)} (the digit back in "
                     "view)" + (f", 95% interval {away[0]:.2e}–{away[1]:.2e}" if away else "")
                     + f"; {settings.get('protocol_digits')} digits.")
    if evaluation.chase_mse is not None:
        lines.append(f"- **Chase** (one held-out digit moving; the observer still until the digit leaves its view, then "
                     f"catching it up faster than it moves and following it; scored from the catch-up): MSE "
                     f"{evaluation.chase_mse:.2e}.")
    if len(evaluation.long_step_mse) >= 10:
        trained = training.final_predict_frames or training.predict_frames
        lines.append(f"- **{len(evaluation.long_step_mse)} predicted views**"
                     + (f" (trained on at most {trained})" if trained else "") + f": MSE "
                     f"{evaluation.long_step_mse[9]:.2e} at view 10, {evaluation.long_step_mse[-1]:.2e} at view "
                     f"{len(evaluation.long_step_mse)}.")
    if evaluation.speed2_mse is not None:
        fast = settings.get("fast_speed", 2)
        with_set = (f" with the copies widened to V_{evaluation.speed2_velocity_radius}"
                    if evaluation.speed2_velocity_radius else "")
        same = (f"; on digits drawn the same way at |v| = 1: {evaluation.speed1_own_set_mse:.2e} with its own set, "
                f"{evaluation.speed1_same_set_mse:.2e} with the widened one (what widening alone costs)"
                if evaluation.speed1_same_set_mse is not None and evaluation.speed1_own_set_mse is not None else "")
        lines.append(f"- **Objects at |v| = {fast}** (beyond training){with_set}: MSE {evaluation.speed2_mse:.2e}{same}.")
    if evaluation.equivariance_error is not None:
        lines.append(f"- **Self-motion against object flow** (float64; a run whose actions are shifted by u against "
                     f"the copy moving by u): largest difference {evaluation.equivariance_error:.1e}.")
    return lines


def _flowm_lines(up: str) -> list[str]:
    """The world task is FloWM's, not the FERNN paper's: its numbers, marked as not comparable."""
    return ["The FERNN paper has no world task. FloWM (Lillemark, Huang, Zhan, Du, Keller, *Flow Equivariant World "
            "Models*, ICML 2026) reports per-pixel MSE around 5e-4 at 20 predicted frames on its own MNIST World (a "
            "50-px world, a 32-px window, 5 digits, 50 context frames), from a secondary summary not checked against "
            "the paper: another setup, so not comparable with these numbers "
            f"([pretrained/README.md]({up}README.md#the-world-models-mnist-world-world))."]


def _paper_lines(model, record, up: str) -> list[str]:
    """The paper's number for this model's part (:func:`fernn.showcase.cards.paper_number`), marked as such."""
    note = (f"From {paper.SOURCE} on the paper (its PDF was not read), for its larger models trained far longer: "
            "a reference for orderings and ratios, not a score to match.")
    evaluation = record.evaluation if isinstance(record.evaluation, ForecasterEvaluation) else None
    found = None if isinstance(model, Classifier) else paper_number(
        model, evaluation.data_max_speed if evaluation else None, evaluated=evaluation is not None)
    if found is None:
        return [f"The paper reports no number for a model of this one's part; its numbers (from {paper.SOURCE}) "
                f"and how fernn's compare are in [pretrained/README.md]({up}README.md#against-the-paper)."]
    same = ("the same data as this card's evaluation" if found.same_data else
            "other data than this card's evaluation: compare orderings, not values")
    return [f"{found.role}: test MSE {found.test_mse:.1e} on {found.data} ({same}). {note}"]


def _range(says, speed: int | None) -> str:
    """The speeds up to ``speed`` with their unit: "|v| ≤ 1 px/frame", "|ω| ≤ 30°/frame"."""
    if speed is None:
        return "speeds not recorded"
    text = says.range_text(speed)
    return text if says.unit in text else f"{text} {says.unit}"


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "an unrecorded time"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _results(evaluation, task: tuple, flow, training_speed: int | None) -> list[dict]:
    """The ``model-index`` results: one task and data set, the held-out metrics with their intervals
    (a world model's test data moves as its training data did, up to ``training_speed``)."""
    if isinstance(evaluation, ClassifierEvaluation) and evaluation.test_accuracy is not None:
        low, high = evaluation.test_interval or (None, None)
        metrics = [{"type": "accuracy", "value": round(evaluation.test_accuracy, 4), "name": "held-out accuracy"}]
        metrics += [{"type": "accuracy", "value": round(value, 4), "name": f"held-out accuracy, 95% interval {side}"}
                    for side, value in (("low", low), ("high", high)) if value is not None]
        speed = evaluation.training_max_speed
    elif isinstance(evaluation, ForecasterEvaluation) and evaluation.test_mse is not None:
        metrics = _mse_metrics(evaluation)
        speed = evaluation.data_max_speed
    elif isinstance(evaluation, WorldEvaluation) and evaluation.test_mse is not None:
        metrics = _mse_metrics(evaluation)
        if evaluation.look_away_last_mse is not None:
            metrics.append({"type": "mse", "value": float(f"{evaluation.look_away_last_mse:.4g}"),
                            "name": "look away and back, last 6 views"})
        speed = training_speed
    else:
        return []
    dataset = f"{task[2]} (held-out MNIST test digits, {_range(words(flow), speed)})"
    return [{"task": {"type": task[0], "name": task[1]},
             "dataset": {"type": task[2].lower().replace(" ", "-"), "name": dataset}, "metrics": metrics}]


def _mse_metrics(evaluation: ForecasterEvaluation | WorldEvaluation) -> list[dict]:
    """The held-out test MSE and its 95% interval's ends, as ``model-index`` metrics."""
    bounds = evaluation.interval.bounds() if evaluation.interval else None
    metrics = [{"type": "mse", "value": float(f"{evaluation.test_mse:.4g}"), "name": "held-out test MSE"}]
    return metrics + [{"type": "mse", "value": float(f"{value:.4g}"), "name": f"held-out test MSE, 95% interval {side}"}
                      for side, value in zip(("low", "high"), bounds or ())]


def _yaml(value: object, indent: int = 0) -> list[str]:
    """``value`` (dicts, lists, strings, numbers) as block YAML lines; strings quoted as JSON, which YAML reads."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines += [f"{pad}{key}:", *_yaml(item, indent + 1)]
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return lines
    for item in value:
        nested = _yaml(item, indent + 1) if isinstance(item, (dict, list)) else [f"{pad}  {_scalar(item)}"]
        lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
    return lines


def _scalar(value: object) -> str:
    if isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, str) and value.replace("-", "").replace("_", "").isalnum() and not value[0].isdigit():
        return value
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m fernn.cards", doc=__doc__)
    parser.add_argument("--pretrained", type=cli.existing_folder, default=Path("pretrained"), metavar="DIR",
                        help="the folder of model folders (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a card differs from its records")
    args = parser.parse_args(argv)
    folders = model_folders(args.pretrained)
    if not folders:
        parser.error(f"no model folders (model.safetensors with config.json) under {args.pretrained}")
    if not args.check:
        for folder in folders:
            try:
                cli.output_file(folder / CARD_FILE)
            except ValueError as error:
                parser.error(str(error))
    return cli.run(parser.prog, lambda: _write(folders, args.pretrained, check=args.check))


def _write(folders: list[Path], root: Path, *, check: bool) -> int:
    stale = []
    for folder in folders:
        text, target = card_text(folder, root=root), folder / CARD_FILE
        if check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target))
            continue
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    if stale:
        raise ValueError(f"{len(stale)} card(s) differ from their records: {', '.join(stale)}; run python -m fernn.cards")
    if check:
        print(f"{len(folders)} cards match their records")
    return 0
