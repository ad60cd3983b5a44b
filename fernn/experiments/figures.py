"""The shipped models' evidence as PNG figures: ``python -m fernn.figures [--pretrained DIR | --table1 DIR]``.

Reads only what the project's commands recorded: the training curves and evaluations stored in
the models ``DIR/grnn`` and ``DIR/fernn`` (model folders, or older ``.pt`` files; ``python -m fernn.train
--export``, ``python -m fernn.evaluate --write-metrics``), when present ``DIR/speed-study.json``
(``python -m fernn.study``) and the classifiers ``DIR/classify/{grnn,fernn,single-frame}``. Writes ``DIR/figures/*.png``.
When the world models ``DIR/world/{grnn,fernn}`` are there, it adds ``world-curves.png`` (validation MSE
against steps) and, once their evaluation is recorded, ``world-protocols.png`` (MSE per predicted frame of
look away and back and of the 30-frame rollout); without them, one line says why they were skipped.

``--table1 DIR`` draws the three Table 1 runs' validation MSE against steps and wall time (one PNG,
``DIR/figures/table1-curves.png`` unless ``--output``), each from its exported model
``DIR/grnn``, ``DIR/fernn-v1``, ``DIR/fernn-v2`` or, for a run in progress, from its log
``DIR/table1-grnn/log.json`` (and so on): point it at ``pretrained/table1``, ``runs`` or
``pretrained/resume``. Needs matplotlib.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from fernn.experiments import cli
from fernn.checkpoints import find_model, read_checkpoint
from fernn.records import ClassifierEvaluation, LongRollout, ModelRecord, TrainingRecord, VelocityGrid
from fernn.flows import Flow, flow_from_record
import fernn.paper as paper
from fernn.experiments.table1 import DATA_MAX_SPEED, ROLES
from fernn.experiments.world_figures import make_world_figures
from fernn.flows.words import words

__all__ = ["main", "make_figures", "make_table1_figure", "table1_sources"]

COLORS = {"G-RNN": "#EF553B", "FERNN": "#636EFA", "FERNN-V1": "#00A383", "FERNN-V2": "#636EFA",
          "copy last frame": "#9E9E9E", "truth": "#2CA02C"}


def _curve_panels(plt, records: dict[str, TrainingRecord], path: Path, *, labels: dict[str, str] | None = None,
                  wall: str = "wall time (minutes, one CPU thread)", levels: dict[str, float] | None = None,
                  levels_label: str = "", title: str | None = None) -> None:
    """Validation MSE against steps and against wall time, one line per record (coloured by name,
    labelled ``labels[name]``); ``levels`` draws a dotted reference line per name."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.3 if title else 4), constrained_layout=True)
    if title:
        figure.suptitle(title)
    for name, record in records.items():
        steps, seconds, mse = (np.array(column) for column in zip(*((p.step, p.wall_seconds, p.validation)
                                                                    for p in record.curve)))
        label = (labels or {}).get(name, name)
        axes[0].plot(steps, mse, label=label, color=COLORS[name])
        axes[1].plot(seconds / 60, mse, label=label, color=COLORS[name])
        if levels and name in levels:
            for axis in axes:
                axis.axhline(levels[name], color=COLORS[name], ls=":", lw=1.2)
    if levels:  # one legend entry says what every dotted line is
        axes[0].plot([], [], color="#555555", ls=":", lw=1.2, label=levels_label)
    axes[0].set(xlabel="training step", ylabel="validation MSE", yscale="log", title="Validation MSE against steps")
    axes[1].set(xlabel=wall, yscale="log", title="... and against wall time")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _grid_panels(plt, grids: list[tuple[str, VelocityGrid]], training_speed: int, path: Path, flow: Flow) -> None:
    """Test MSE per fixed velocity, one panel per grid, laid out as ``flow.grid`` lays it (translation:
    rows dy, columns dx; rotation: one row of angular velocities); dashed box: the training range."""
    from matplotlib.colors import LogNorm

    values = np.concatenate([np.asarray(grid.mse).ravel() for _, grid in grids])
    norm = LogNorm(vmin=max(values.min(), 1e-5), vmax=values.max())
    one_row = not flow.grid(1).row_name
    size = (5.5 * len(grids), 2.6) if one_row else (5 * len(grids), 4.6)
    figure, axes = plt.subplots(1, len(grids), figsize=size, constrained_layout=True)
    for axis, (title, grid) in zip(np.atleast_1d(axes), grids):
        mse, grid_axes = np.asarray(grid.mse), grid.axes
        rows, columns = list(grid_axes.row_values), list(grid_axes.column_values)
        image = axis.imshow(mse, norm=norm, cmap="magma", extent=(columns[0] - 0.5, columns[-1] + 0.5,
                                                                     rows[-1] + 0.5, rows[0] - 0.5))
        for i, row in enumerate(rows):
            for j, column in enumerate(columns):
                axis.text(column, row, f"{mse[i, j]:.0e}".replace("e-0", "e-"), ha="center", va="center",
                          fontsize=6.5, color="white" if mse[i, j] < np.sqrt(norm.vmin * norm.vmax) else "black")
        box, rise = training_speed + 0.5, (0.5 if one_row else training_speed + 0.5)
        axis.add_patch(plt.Rectangle((-box, -rise), 2 * box, 2 * rise, fill=False, ls="--", lw=2, ec="#00E5FF"))
        axis.set(title=title, xlabel=f"{grid_axes.column_name} ({words(flow).unit})", xticks=columns)
        axis.set_xticklabels(grid_axes.column_ticks)
        if one_row:
            axis.set_yticks([])
        else:
            axis.set(ylabel=f"{grid_axes.row_name} ({words(flow).unit})", yticks=rows)
    figure.colorbar(image, ax=axes, label="test MSE (log)", shrink=0.8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _length_panels(plt, lengths: dict[str, LongRollout], path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for name, length in lengths.items():
        steps = np.arange(1, len(length.mse) + 1)
        axes[0].plot(steps, length.mse, label=name, color=COLORS[name])
        if length.intensity:
            axes[1].plot(steps, length.intensity, label=f"{name} prediction", color=COLORS[name])
    any_length = next(iter(lengths.values()))
    steps = np.arange(1, len(any_length.mse) + 1)
    # A digit back at its start drops the copy-last error to ~0: floor it so the log axis stays readable.
    floor = min(min(length.mse) for length in lengths.values()) / 10
    axes[0].plot(steps, np.maximum(any_length.copy_last, floor), label="copy last frame", ls="--",
                 color=COLORS["copy last frame"])
    if any_length.truth_intensity:
        axes[1].plot(steps, any_length.truth_intensity, label="truth", ls="--", color=COLORS["truth"])
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


def _classification_panels(plt, evaluations: dict[str, ClassifierEvaluation], path: Path) -> None:
    """Accuracy per velocity ring (the FERNN also widened) and accuracy after each frame seen."""
    colors = dict(COLORS, **{"single frame": "#9E9E9E"})
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for name, evaluation in evaluations.items():
        rings = evaluation.rings
        axes[0].plot(rings.speeds, rings.accuracy, "o-", label=name, color=colors[name])
        if evaluation.widened_rings is not None:
            widened, r = evaluation.widened_rings, evaluation.widened_max_speed
            axes[0].plot(widened.speeds, widened.accuracy, "o--", color=colors[name],
                         label=f"{name} run with V = {{-{r}..{r}}}²")
        steps = evaluation.step_accuracy
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
    """Write the figures for the pair ``pretrained/{grnn,fernn}`` (model folders, or older ``.pt`` files); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = pretrained / "figures"
    payloads = {name: read_checkpoint(_model(pretrained, stem)) for name, stem in (("G-RNN", "grnn"), ("FERNN", "fernn"))}
    flows = {flow_from_record(payload["config"].get("flow", {"name": "translation"})) for payload in payloads.values()}
    if len(flows) != 1:
        raise ValueError("grnn and fernn move by different flows: draw a pair of one flow")
    (flow,) = flows
    records = {name: ModelRecord.parse(payload["metrics"], flow) for name, payload in payloads.items()}
    missing = [name for name, record in records.items()
               if record.training is None or not record.training.curve or not record.evaluated
               or record.evaluation.velocity_grid is None or record.evaluation.long_rollout is None]
    if missing:
        raise ValueError(f"{', '.join(missing)}: no training curve or evaluation recorded; run python -m fernn.train --export "
                         "and python -m fernn.evaluate --write-metrics first")
    study_path = pretrained / "speed-study.json"
    try:  # read before drawing, so a damaged file fails first
        study = json.loads(study_path.read_text()) if study_path.exists() else None
    except json.JSONDecodeError as error:
        raise ValueError(f"{study_path} is not valid JSON ({error})") from None
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "curves.png", output / "velocity-grids.png", output / "length.png"]
    _curve_panels(plt, {name: record.training for name, record in records.items()}, written[0],
                  wall="wall time (minutes, as logged)")
    evaluation = {name: record.evaluation for name, record in records.items()}
    grids = [("G-RNN", evaluation["G-RNN"].velocity_grid), ("FERNN, its own V", evaluation["FERNN"].velocity_grid)]
    widened = evaluation["FERNN"]
    if widened.widened_velocity_grid is not None and widened.widened_max_speed:
        grids.append((f"FERNN run with {words(flow).set_label(widened.widened_max_speed)}", widened.widened_velocity_grid))
    _grid_panels(plt, grids, records["FERNN"].training_max_speed or 1, written[1], flow)
    _length_panels(plt, {name: value.long_rollout for name, value in evaluation.items()}, written[2])
    if study is not None:
        written.append(output / "speed-study.png")
        _study_panel(plt, study, written[-1])
    classify = {name: find_model(pretrained / "classify", stem) for name, stem in CLASSIFIERS}
    if all(path is not None for path in classify.values()):
        evaluations = {name: ModelRecord.parse(read_checkpoint(path)["metrics"], classifier=True).evaluation
                       for name, path in classify.items()}
        missing = [name for name, value in evaluations.items() if value is None or value.rings is None]
        if missing:
            raise ValueError(f"classifiers {', '.join(missing)}: no evaluation recorded; run python -m fernn.evaluate "
                             "--write-metrics on pretrained/classify/* first")
        written.append(output / "classify.png")
        _classification_panels(plt, evaluations, written[-1])
    return written


def table1_sources(folder: Path) -> dict[str, Path]:
    """Where each Table 1 run's curve is, by role (:data:`fernn.experiments.table1.ROLES`): its exported checkpoint
    ``folder/ROLE`` (a model folder, or an older ``ROLE.pt``) or else its run's ``folder/table1-ROLE/log.json``;
    roles with neither are left out."""
    sources = {}
    for role in ROLES:
        found = find_model(folder, role) or (folder / f"table1-{role}" / "log.json")
        if found.exists():
            sources[role] = found
    return sources


def _model(folder: Path, stem: str) -> Path:
    """The model ``stem`` in ``folder`` (:func:`fernn.checkpoints.find_model`), or ``FileNotFoundError``."""
    found = find_model(folder, stem)
    if found is None:
        raise FileNotFoundError(f"no model {stem} in {folder} (a model folder {stem}/ or {stem}.pt)")
    return found


def _training_record(path: Path) -> dict:
    """``metrics["train"]`` of an exported checkpoint, or a run's log.json: both hold ``config`` and ``history``."""
    if path.name != "log.json":
        train = read_checkpoint(path)["metrics"].get("train")
    else:
        try:
            train = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(train, dict):
        raise ValueError(f"{path} records no training run")
    return train


def make_table1_figure(folder: Path, output: Path) -> Path:
    """Draw the validation MSE of the Table 1 runs found in ``folder`` (:func:`table1_sources`) against
    steps and wall time into ``output`` (a PNG), with the paper's test MSEs as dotted lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = table1_sources(folder)
    if not sources:
        raise ValueError(f"no Table 1 run in {folder}: no model grnn, fernn-v1, fernn-v2 or table1-*/log.json")
    records, labels = {}, {}
    for role, path in sources.items():  # all read before drawing, so a damaged file fails first
        record = TrainingRecord.parse(_training_record(path))
        if not record.curve:
            raise ValueError(f"{path} records no validation MSE yet")
        planned, reached = record.planned_steps, record.curve[-1].step
        progress = f"step {reached:,} of {planned:,}" if planned is not None else f"step {reached:,}"
        records[ROLES[role]] = record
        labels[ROLES[role]] = f"{ROLES[role]} ({path.name}, {progress})"
    # The title states the training data only when every run records the same speed.
    speeds = {record.data_max_speed for record in records.values()}
    speed = speeds.pop() if len(speeds) == 1 else None
    data = f"per-digit velocities in {{-{speed}..{speed}}}^2" if speed is not None else "training data speeds differ"
    warning = "" if speed in (DATA_MAX_SPEED, None) else f", not Table 1's {{-{DATA_MAX_SPEED}..{DATA_MAX_SPEED}}}^2"
    output.parent.mkdir(parents=True, exist_ok=True)
    _curve_panels(plt, records, output, labels=labels, wall="wall time (minutes, as logged)",
                  levels={ROLES[role]: paper.TABLE1_TEST_MSE[role] for role in sources},
                  levels_label=f"dotted: the paper's test MSE ({paper.SOURCE})",
                  title=f"Table 1 runs, Translating MNIST ({data}{warning})")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m fernn.figures", doc=__doc__)
    parser.add_argument("--pretrained", type=cli.existing_folder, metavar="DIR",
                        help="folder holding the models grnn and fernn (and optionally speed-study.json, classify/ and the "
                             "world models world/{grnn,fernn}); the figures go to DIR/figures (default: pretrained)")
    parser.add_argument("--table1", type=cli.existing_folder, metavar="DIR",
                        help="instead, draw the Table 1 runs' validation curves from the models DIR/{grnn,fernn-v1,fernn-v2} or "
                             "DIR/table1-{grnn,fernn-v1,fernn-v2}/log.json (runs in progress)")
    parser.add_argument("--output", type=cli.output_file, metavar="PATH",
                        help="with --table1: the PNG to write (default: DIR/figures/table1-curves.png)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:
        parser.error("drawing figures needs matplotlib (pip install matplotlib)")
    if args.table1 is not None:
        if args.pretrained is not None:
            parser.error("--pretrained and --table1 draw different figures; give one")
        output = args.output or args.table1 / "figures" / "table1-curves.png"
        if output.suffix.lower() != ".png":
            parser.error(f"--output must be a .png file, got {output}")
        if not table1_sources(args.table1):
            parser.error(f"no Table 1 run in {args.table1}: no model grnn, fernn-v1, fernn-v2 or table1-*/log.json")
        try:
            cli.output_file(output)
        except ValueError as error:
            parser.error(f"argument --output: {error}" if args.output else str(error))
        return cli.run(parser.prog, lambda: _draw_table1(args.table1, output))
    if args.output is not None:
        parser.error("--output goes with --table1; the pretrained figures go to DIR/figures")
    pretrained = args.pretrained or Path("pretrained")
    missing = [name for name in ("grnn", "fernn") if find_model(pretrained, name) is None]
    if missing:
        parser.error(f"no model {' or '.join(missing)} in {pretrained}")
    try:
        cli.output_folder(pretrained / "figures")
    except ValueError as error:
        parser.error(str(error))
    return cli.run(parser.prog, lambda: _draw(pretrained))


def _draw_table1(folder: Path, output: Path) -> int:
    sources = table1_sources(folder)
    for role, label in ROLES.items():
        print(f"{label}: {sources[role]}" if role in sources else
              f"{label}: no curve (neither a model {folder / role} nor {folder / f'table1-{role}' / 'log.json'})")
    print(f"wrote {make_table1_figure(folder, output)}")
    return 0


def _draw(pretrained: Path) -> int:
    for path in make_figures(pretrained):
        print(f"wrote {path}")
    for path in make_world_figures(pretrained, colors=COLORS):
        print(f"wrote {path}")
    return 0
