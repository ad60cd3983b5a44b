"""The shipped models' evidence as PNG figures: ``python -m fernn.figures [--pretrained DIR]``.

Reads only what the project's commands recorded: the training curves and evaluations stored in
``DIR/grnn.pt`` and ``DIR/fernn.pt`` (``python -m fernn.train --export``, ``python -m
fernn.evaluate --write-metrics``), when present ``DIR/speed-study.json`` (``python -m fernn.study``)
and the classifiers ``DIR/classify/{grnn,fernn,single-frame}.pt``. Writes ``DIR/figures/*.png``.
Needs matplotlib.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from . import cli
from .checkpoints import CheckpointRecord, read_checkpoint

__all__ = ["main", "make_figures"]

COLORS = {"G-RNN": "#EF553B", "FERNN": "#636EFA", "copy last frame": "#9E9E9E", "truth": "#2CA02C"}


def _curve_panels(plt, records: dict[str, CheckpointRecord], path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for name, record in records.items():
        steps, seconds, mse = (np.array(column) for column in zip(*record.curve))
        axes[0].plot(steps, mse, label=name, color=COLORS[name])
        axes[1].plot(seconds / 60, mse, label=name, color=COLORS[name])
    axes[0].set(xlabel="training step", ylabel="validation MSE", yscale="log", title="Validation MSE against steps")
    axes[1].set(xlabel="wall time (minutes, one CPU thread)", yscale="log", title="... and against wall time")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _grid_panels(plt, grids: list[tuple[str, dict]], training_speed: int, path: Path) -> None:
    from matplotlib.colors import LogNorm

    values = np.concatenate([np.asarray(grid["mse"]).ravel() for _, grid in grids])
    norm = LogNorm(vmin=max(values.min(), 1e-5), vmax=values.max())
    figure, axes = plt.subplots(1, len(grids), figsize=(5 * len(grids), 4.6), constrained_layout=True)
    for axis, (title, grid) in zip(np.atleast_1d(axes), grids):
        speeds, mse = grid["speeds"], np.asarray(grid["mse"])
        image = axis.imshow(mse, norm=norm, cmap="magma", extent=(speeds[0] - 0.5, speeds[-1] + 0.5,
                                                                     speeds[-1] + 0.5, speeds[0] - 0.5))
        for i, dy in enumerate(speeds):
            for j, dx in enumerate(speeds):
                axis.text(dx, dy, f"{mse[i, j]:.0e}".replace("e-0", "e-"), ha="center", va="center", fontsize=6.5,
                          color="white" if mse[i, j] < np.sqrt(norm.vmin * norm.vmax) else "black")
        box = training_speed + 0.5
        axis.add_patch(plt.Rectangle((-box, -box), 2 * box, 2 * box, fill=False, ls="--", lw=2, ec="#00E5FF"))
        axis.set(title=title, xlabel="dx (px/frame)", ylabel="dy (px/frame)", xticks=speeds, yticks=speeds)
    figure.colorbar(image, ax=axes, label="test MSE (log)", shrink=0.8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _length_panels(plt, lengths: dict[str, dict], path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for name, length in lengths.items():
        axes[0].plot(length["steps"], length["mse"], label=name, color=COLORS[name])
        if "intensity" in length:
            axes[1].plot(length["steps"], length["intensity"], label=f"{name} prediction", color=COLORS[name])
    any_length = next(iter(lengths.values()))
    # A digit back at its start drops the copy-last error to ~0: floor it so the log axis stays readable.
    floor = min(min(length["mse"]) for length in lengths.values()) / 10
    axes[0].plot(any_length["steps"], np.maximum(any_length["copy_last"], floor), label="copy last frame", ls="--",
                 color=COLORS["copy last frame"])
    if "truth_intensity" in any_length:
        axes[1].plot(any_length["steps"], any_length["truth_intensity"], label="truth", ls="--", color=COLORS["truth"])
    axes[0].set(xlabel="predicted step", ylabel="MSE", yscale="log", title="Per-step MSE over a long rollout")
    axes[1].set(xlabel="predicted step", ylabel="mean pixel intensity", title="Do predictions fade?", ylim=(0, None))
    for axis in axes:
        axis.axvspan(0.5, 10.5, color="grey", alpha=0.12, label="trained length" if axis is axes[0] else None)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _study_panel(plt, study: dict, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for offset, key, label in ((-0.1, "step_fraction", "steps"), (0.1, "wall_fraction", "wall time")):
        values = [row[key] for row in study["seeds"] if row[key] is not None]
        seeds = [row["seed"] for row in study["seeds"] if row[key] is not None]
        axis.scatter(np.array(seeds) + offset, values, label=f"{label} (mean {np.mean(values):.2f})", s=40)
    axis.axhline(1.0, color="grey", lw=1)
    recipe = study["recipe"]
    axis.set(xlabel="seed", ylabel="FERNN ÷ G-RNN", xticks=[row["seed"] for row in study["seeds"]],
             title=f"FERNN to reach the G-RNN's final val MSE (hidden {recipe['hidden_channels']}, "
                   f"{recipe['steps']} steps)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)


CLASSIFIERS = (("G-RNN", "grnn"), ("FERNN", "fernn"), ("single frame", "single-frame"))


def _classification_panels(plt, evaluations: dict[str, dict], path: Path) -> None:
    """Accuracy per velocity ring (the FERNN also widened) and accuracy after each frame seen."""
    colors = dict(COLORS, **{"single frame": "#9E9E9E"})
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for name, evaluation in evaluations.items():
        rings = evaluation["rings"]
        axes[0].plot([r["speed"] for r in rings], [r["accuracy"] for r in rings], "o-", label=name, color=colors[name])
        if evaluation.get("widened_rings"):
            widened = evaluation["widened_rings"]
            axes[0].plot([r["speed"] for r in widened], [r["accuracy"] for r in widened], "o--", color=colors[name],
                         label=f"{name} run with V = {{-{evaluation['widened_max_speed']}..{evaluation['widened_max_speed']}}}²")
        steps = evaluation["step_accuracy"]
        axes[1].plot(range(1, len(steps) + 1), steps, "o-" if len(steps) == 1 else "-", label=name, color=colors[name])
    axes[0].axvspan(-0.3, 1.3, color="#00E5FF", alpha=0.12, label="training range")
    axes[0].set(xlabel="speed |v|∞ (px/frame)", ylabel="held-out accuracy", ylim=(0, 1),
                title="Flickering Flowing MNIST: accuracy per speed")
    axes[1].set(xlabel="frames seen", ylabel="held-out accuracy (training velocities)", ylim=(0, 1),
                title="... and as evidence comes in")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def make_figures(pretrained: Path) -> list[Path]:
    """Write the figures for ``pretrained/{grnn,fernn}.pt``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = pretrained / "figures"
    metrics = {name: read_checkpoint(pretrained / f"{stem}.pt")["metrics"]
               for name, stem in (("G-RNN", "grnn"), ("FERNN", "fernn"))}
    records = {name: CheckpointRecord.from_metrics(value) for name, value in metrics.items()}
    missing = [name for name, record in records.items() if not record.curve or not record.evaluated]
    if missing:
        raise ValueError(f"{', '.join(missing)}: no training curve or evaluation recorded; run fernn.train --export "
                         "and fernn.evaluate --write-metrics first")
    study_path = pretrained / "speed-study.json"
    try:  # read before drawing, so a damaged file fails first
        study = json.loads(study_path.read_text()) if study_path.exists() else None
    except json.JSONDecodeError as error:
        raise ValueError(f"{study_path} is not valid JSON ({error})") from None
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "curves.png", output / "velocity-grids.png", output / "length.png"]
    _curve_panels(plt, records, written[0])
    evaluation = {name: value["evaluation"] for name, value in metrics.items()}
    grids = [("G-RNN", evaluation["G-RNN"]["velocity_grid"]), ("FERNN, its own V", evaluation["FERNN"]["velocity_grid"])]
    widened = evaluation["FERNN"].get("widened_velocity_grid")
    if widened:
        grids.append((f"FERNN run with V = {{-{widened['max_speed']}..{widened['max_speed']}}}²", widened))
    _grid_panels(plt, grids, records["FERNN"].training_max_speed or 1, written[1])
    _length_panels(plt, {name: value["length"] for name, value in evaluation.items()}, written[2])
    if study is not None:
        written.append(output / "speed-study.png")
        _study_panel(plt, study, written[-1])
    classify = {name: pretrained / "classify" / f"{stem}.pt" for name, stem in CLASSIFIERS}
    if all(path.is_file() for path in classify.values()):
        evaluations = {name: read_checkpoint(path)["metrics"].get("evaluation") for name, path in classify.items()}
        missing = [name for name, value in evaluations.items() if not isinstance(value, dict) or "rings" not in value]
        if missing:
            raise ValueError(f"classifiers {', '.join(missing)}: no evaluation recorded; run fernn.evaluate "
                             "--write-metrics on pretrained/classify/*.pt first")
        written.append(output / "classify.png")
        _classification_panels(plt, evaluations, written[-1])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m fernn.figures", doc=__doc__)
    parser.add_argument("--pretrained", type=cli.existing_folder, default=Path("pretrained"), metavar="DIR",
                        help="folder holding grnn.pt and fernn.pt (and optionally speed-study.json); the figures "
                             "go to DIR/figures (default: %(default)s)")
    args = parser.parse_args(argv)
    missing = [name for name in ("grnn.pt", "fernn.pt") if not (args.pretrained / name).is_file()]
    if missing:
        parser.error(f"no {' or '.join(missing)} in {args.pretrained}")
    try:
        cli.output_folder(args.pretrained / "figures")
    except ValueError as error:
        parser.error(str(error))
    if importlib.util.find_spec("matplotlib") is None:
        parser.error("drawing figures needs matplotlib (pip install matplotlib)")
    return cli.run(parser.prog, lambda: _draw(args.pretrained))


def _draw(pretrained: Path) -> int:
    for path in make_figures(pretrained):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
