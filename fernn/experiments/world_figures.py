"""The world models' figures for ``python -m fernn.figures``, from what their checkpoints record alone.

``DIR/world/grnn`` and ``DIR/world/fernn`` (model folders, ``python -m fernn.train --preset world-*
--export``) give ``DIR/figures/world-curves.png`` (validation MSE against training step) and, once
``python -m fernn.evaluate --write-metrics`` has recorded their :class:`fernn.records.WorldEvaluation`,
``DIR/figures/world-protocols.png`` (MSE per predicted frame of the look-away-and-back protocol and of
the 30-frame rollout). A figure whose records are missing is skipped with one line saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from fernn.checkpoints import find_model, read_checkpoint
from fernn.datasets.world import WorldProtocol, look_away_and_back
from fernn.records import ModelRecord

__all__ = ["WORLD_MODELS", "look_away_protocol", "make_world_figures"]

WORLD_MODELS = (("G-RNN", "grnn"), ("FERNN", "fernn"))  # label, model name in DIR/world


def look_away_protocol(predicted_frames: int, *, world_size: int, view_size: int) -> WorldProtocol:
    """The look-away-and-back protocol the evaluation runs (:func:`fernn.datasets.world.look_away_and_back`
    with its defaults) over ``predicted_frames`` frames; a one-column probe stands in for the digit,
    which changes only where the digit sits, not the observer's path or the scored frames."""
    if predicted_frames < 2 or predicted_frames % 2:
        raise ValueError(f"look away and back predicts an even number of frames, the record has {predicted_frames}")
    probe = np.zeros((view_size, view_size), dtype=np.float32)
    probe[:, view_size // 2] = 1.0
    return look_away_and_back(probe, world_size=world_size, view_size=view_size, away_frames=predicted_frames // 2)


def make_world_figures(pretrained: Path, *, colors: Mapping[str, str], log: Callable[[str], None] = print) -> list[Path]:
    """Draw the world figures whose records ``pretrained/world/{grnn,fernn}`` hold into ``pretrained/figures``,
    one line to ``log`` per figure skipped; returns the paths written (lines coloured ``colors[label]``)."""
    folder = pretrained / "world"
    paths = {label: find_model(folder, stem) for label, stem in WORLD_MODELS}
    missing = [stem for label, stem in WORLD_MODELS if paths[label] is None]
    if not folder.is_dir():
        log(f"world figures skipped: no folder {folder} (it holds the world models grnn and fernn)")
        return []
    if missing:
        made = "; ".join(f"python -m fernn.train --preset world-{stem} --export {folder / stem}" for stem in missing)
        log(f"world figures skipped: no world model {' or '.join(missing)} in {folder} ({made})")
        return []
    payloads = {label: read_checkpoint(path) for label, path in paths.items()}
    for label, payload in payloads.items():
        if not str(payload.get("model", "")).startswith("world-"):
            raise ValueError(f"{paths[label]} holds a {payload.get('model')} model, not a world model")
    records = {label: ModelRecord.parse(payload["metrics"], world=True) for label, payload in payloads.items()}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = pretrained / "figures"
    written = []
    unrecorded = [f"world/{stem}" for label, stem in WORLD_MODELS
                  if records[label].training is None or not records[label].training.curve]
    if unrecorded:
        log(f"world-curves.png skipped: {', '.join(unrecorded)} records no validation curve")
    else:
        output.mkdir(parents=True, exist_ok=True)
        written.append(output / "world-curves.png")
        _curve_panel(plt, records, colors, written[-1])
    unevaluated = [f"world/{stem}" for label, stem in WORLD_MODELS
                   if not records[label].evaluated or not records[label].evaluation.look_away_step_mse
                   or not records[label].evaluation.long_step_mse]
    if unevaluated:
        log(f"world-protocols.png skipped: {', '.join(unevaluated)} records no look-away or long-rollout evaluation "
            f"(python -m fernn.evaluate {folder / 'grnn'} {folder / 'fernn'} --write-metrics)")
        return written
    config = payloads["FERNN"]["config"]
    lengths = {len(record.evaluation.look_away_step_mse) for record in records.values()}
    if len(lengths) != 1:
        raise ValueError(f"the world models' look-away records differ in length ({sorted(lengths)} frames)")
    protocol = look_away_protocol(lengths.pop(), world_size=config["world_size"], view_size=config["view_size"])
    output.mkdir(parents=True, exist_ok=True)
    written.append(output / "world-protocols.png")
    _protocol_panels(plt, records, protocol, colors, written[-1])
    return written


def _curve_panel(plt, records: dict[str, ModelRecord], colors: Mapping[str, str], path: Path) -> None:
    """Validation MSE against training step, one line per model; a dot at the step each model was exported at."""
    figure, axis = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for label, record in records.items():
        training = record.training
        steps = np.array([point.step for point in training.curve])
        mse = np.array([point.validation for point in training.curve])
        axis.plot(steps, mse, label=label, color=colors[label])
        if training.selected_step in steps:
            axis.plot(training.selected_step, mse[steps == training.selected_step][0], "o", color=colors[label])
    axis.plot([], [], "o", color="#555555", label="exported step")
    axis.set(xlabel="training step", ylabel="validation MSE", yscale="log",
             title="World models: validation MSE against steps")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _protocol_panels(plt, records: dict[str, ModelRecord], protocol: WorldProtocol, colors: Mapping[str, str],
                     path: Path) -> None:
    """MSE per predicted frame: look away and back (its phases marked), and the 30-frame rollout."""
    context = protocol.context_frames
    moves = protocol.sample.actions[context - 1:].tolist()  # the observer's move before each predicted frame
    away = sum(1 for _, dx in moves if dx > 0)
    step = moves[0][1]
    scored = [index + 1 for index in protocol.scored]  # predicted frames count from 1
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    for label, record in records.items():
        evaluation = record.evaluation
        away_mse, long_mse = evaluation.look_away_step_mse, evaluation.long_step_mse
        last = f"{evaluation.look_away_last_mse:.2g}" if evaluation.look_away_last_mse is not None else "n/a"
        axes[0].plot(range(1, len(away_mse) + 1), away_mse, "o-", ms=3, color=colors[label],
                     label=f"{label} (last {len(scored)}: {last})")
        axes[1].plot(range(1, len(long_mse) + 1), long_mse, color=colors[label], label=label)
    axes[0].axvspan(0.5, away + 0.5, color="grey", alpha=0.12, label=f"observer moves (0, +{step})")
    axes[0].axvline(away, color="#555555", ls="--", lw=1.2, label="far point: digit wholly out of view")
    axes[0].axvspan(scored[0] - 0.5, scored[-1] + 0.5, color="#2CA02C", alpha=0.15,
                    label=f"scored: digit back in view (last {len(scored)})")
    axes[0].set(xlabel="predicted frame", ylabel="MSE", yscale="log",
                title=f"Look away and back: {context} context frames with the observer still,\n"
                      f"then it moves (0, +{step}) for {away} frames and (0, -{step}) for {len(moves) - away}")
    trained = {record.training.final_predict_frames for record in records.values() if record.training is not None}
    if len(trained) == 1 and None not in trained:
        length = trained.pop()
        axes[1].axvspan(0.5, length + 0.5, color="grey", alpha=0.12, label=f"trained length ({length} frames)")
    axes[1].set(xlabel="predicted frame", ylabel="MSE", yscale="log",
                title=f"A {len(records['FERNN'].evaluation.long_step_mse)}-frame rollout of the training recipe\n"
                      "(held-out digits, the observer moving)")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)
