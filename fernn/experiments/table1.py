"""The paper's Table 1 at CPU scale: a G-RNN, a FERNN-V1 and a FERNN-V2 forecasting Translating MNIST
(two digits, per-digit velocities in ``{-2..2}^2``, 10 context -> 10 predicted frames).

``python -m fernn.evaluate --table1`` uses this module: it reads which checkpoint plays which part
from its config (the G-RNN; the FERNN with ``V = {-1..1}^2``, 9 copies; the one with ``{-2..2}^2``,
25 copies), refuses three models that differ in anything but the velocity set, refuses evaluations
made on different data (or not on Table 1's), and reports the test MSEs with their 95% intervals
beside the paper's numbers, the ratios between the models and this project's targets.

The paper's numbers come from secondary sources (summaries of the paper; its PDF was not read), and
its models are wider and trained far longer than these CPU-scale ones: they are a reference for the
ordering and the ratios, not a score to match.
"""

from __future__ import annotations

import fernn.paper as paper
from fernn.models import ModelConfig
from fernn.measures import INTERVAL_METHOD, interval_bounds

__all__ = ["DATA_MAX_SPEED", "ROLES", "TARGETS", "check_invocation", "check_same_data", "data_of",
           "table1_checks", "table1_report", "table1_roles", "table1_summary"]

# Each part of the table: its label. The key is also the shipped file's stem (pretrained/table1/KEY/)
# and the preset's suffix (table1-KEY, whose runs write runs/table1-KEY/).
ROLES = {"grnn": "G-RNN", "fernn-v1": "FERNN-V1", "fernn-v2": "FERNN-V2"}
# A FERNN's part is its velocity set {-r..r}^2.
_RADIUS = {"fernn-v1": 1, "fernn-v2": 2}
DATA_MAX_SPEED = paper.TABLE1_MAX_SPEED  # Table 1's data: each digit's velocity in {-2..2}^2
RATIOS = (("grnn", "fernn-v1"), ("fernn-v1", "fernn-v2"), ("grnn", "fernn-v2"))
# This project's targets: name -> (the larger part, the smaller part, measure, goal). "apart": the larger
# part's lower 95% bound over the smaller's upper bound must exceed the goal (1: the intervals do not
# overlap, in that order); "ratio": the ratio of the test MSEs must reach the goal.
TARGETS = {
    "grnn_above_fernn_v1": ("grnn", "fernn-v1", "apart", 1.0),
    "fernn_v1_above_fernn_v2": ("fernn-v1", "fernn-v2", "apart", 1.0),
    "grnn_over_fernn_v2": ("grnn", "fernn-v2", "ratio", 10.0),
    "fernn_v1_over_fernn_v2": ("fernn-v1", "fernn-v2", "ratio", 1.5),
}
# What makes two evaluations' test sets the same: these settings and the digits they were drawn from.
DATA_FIELDS = ("data_max_speed", "num_digits", "context_frames", "predict_frames", "test_sequences", "seed")


def check_invocation(*, checkpoints: int, data_max_speed: int | None, targets: str) -> None:
    """Refuse (``ValueError``) a ``python -m fernn.evaluate --table1`` command line that cannot make Table 1:
    ``checkpoints`` files given, the ``--data-max-speed`` asked (``None``: not given), ``--targets``."""
    if checkpoints != 3:
        raise ValueError(f"--table1 compares three checkpoints (G-RNN, FERNN-V1, FERNN-V2); got {checkpoints}")
    if data_max_speed not in (None, DATA_MAX_SPEED):
        raise ValueError(f"--table1 evaluates on Table 1's data (--data-max-speed {DATA_MAX_SPEED}); got {data_max_speed}")
    if targets == "demo":
        raise ValueError("--table1 checks Table 1's targets; --targets demo compares one G-RNN with one FERNN")


def table1_roles(configs: dict[str, object]) -> dict[str, str]:
    """``{role: name}`` for three model configs (``{name: config}``): one G-RNN and two translation
    FERNNs with ``V = {-1..1}^2`` and ``{-2..2}^2``, alike in everything but the velocity set."""
    if len(configs) != 3:
        raise ValueError(f"Table 1 compares three models (G-RNN, FERNN-V1, FERNN-V2); got {len(configs)}")
    found: dict[str, list[str]] = {role: [] for role in ROLES}
    for name, config in configs.items():
        if not isinstance(config, ModelConfig) or config.flow.name != "translation":
            raise ValueError(f"{name} is not a translation forecaster; Table 1 compares Translating MNIST forecasters")
        radius = config.flow.set_radius(config.velocities)
        role = "grnn" if not config.kind.lifted else next((r for r, size in _RADIUS.items() if size == radius), None)
        if role is None:
            raise ValueError(f"{name} is a FERNN with {len(config.velocities)} velocity copies; Table 1's FERNNs "
                             "have V = {-1..1}^2 (9 copies) or {-2..2}^2 (25)")
        found[role].append(name)
    wrong = [f"{len(names)} {ROLES[role]}" + (f" ({', '.join(names)})" if names else "")
             for role, names in found.items() if len(names) != 1]
    if wrong:
        raise ValueError(f"Table 1 needs one G-RNN, one FERNN-V1 and one FERNN-V2; got {', '.join(wrong)}")
    roles = {role: names[0] for role, names in found.items()}
    shapes = {name: {key: value for key, value in config.to_dict().items() if key not in ("kind", "velocities")}
              for name, config in configs.items()}
    reference = shapes[roles["grnn"]]
    for name, shape in shapes.items():
        differ = [f"{key} {shape[key]!r} against {reference[key]!r}" for key in reference if shape[key] != reference[key]]
        if differ:
            raise ValueError(f"Table 1's models differ only in their velocity set; {name} differs from the G-RNN "
                             f"{roles['grnn']}: {'; '.join(differ)}")
    return roles


def data_of(evaluation: dict) -> dict:
    """The test data an evaluation was made on: :data:`DATA_FIELDS` of its settings and its digits
    (``"not recorded"`` where an older evaluation did not record one)."""
    settings = evaluation.get("settings") if isinstance(evaluation.get("settings"), dict) else {}
    data = {key: settings.get(key, "not recorded") for key in DATA_FIELDS}
    data["digits"] = evaluation.get("digits", "not recorded")
    return data


def check_same_data(evaluations: dict[str, dict], *, data_max_speed: int | None = DATA_MAX_SPEED) -> None:
    """Refuse (``ValueError``) evaluations made on different test data, or, with ``data_max_speed``,
    not on per-digit velocities ``{-r..r}^2`` of that ``r`` (Table 1's by default)."""
    data = {name: data_of(evaluation) for name, evaluation in evaluations.items()}
    first = next(iter(data))
    for key in (*DATA_FIELDS, "digits"):
        values = {name: value[key] for name, value in data.items()}
        if len({repr(value) for value in values.values()}) > 1:
            listed = ", ".join(f"{name} {value}" for name, value in values.items())
            raise ValueError(f"the evaluations were made on different data ({key}: {listed}); evaluate them again "
                             "with the same settings")
    speed = data[first]["data_max_speed"]
    if data_max_speed is not None and speed != data_max_speed:
        made = "do not record their data speed" if isinstance(speed, str) else \
            f"were made on per-digit velocities {{-{speed}..{speed}}}^2"
        raise ValueError(f"the evaluations {made}, not on Table 1's "
                         f"{{-{data_max_speed}..{data_max_speed}}}^2; evaluate with --table1 (or --data-max-speed "
                         f"{data_max_speed})")


def table1_checks(numbers: dict[str, dict]) -> dict:
    """The ratios and target verdicts from each part's ``{"test_mse": m, "interval": (low, high) or None}``.

    Returns ``{"ratios": {"grnn/fernn-v1": {...}, ...}, "targets": {name: {...}}}``. A ratio has the
    measured value, ``range`` (the extreme ratios of the two intervals' bounds, a conservative span;
    ``None`` without intervals), the paper's ratio and ``measured_over_paper``. A target has its
    ``value``, ``goal``, ``met`` (``None`` when it cannot be judged) and ``margin`` (value / goal).
    """
    def ratio(top: str, bottom: str) -> float | None:
        return numbers[top]["test_mse"] / numbers[bottom]["test_mse"] if numbers[bottom]["test_mse"] > 0 else None

    ratios = {}
    for top, bottom in RATIOS:
        value, published = ratio(top, bottom), paper.TABLE1_TEST_MSE[top] / paper.TABLE1_TEST_MSE[bottom]
        upper, lower = numbers[top]["interval"], numbers[bottom]["interval"]
        span = None
        if upper and lower and min(*upper, *lower) > 0:
            span = (upper[0] / lower[1], upper[1] / lower[0])
        ratios[f"{top}/{bottom}"] = {"value": value, "range": span, "paper": published,
                                     "measured_over_paper": None if value is None else value / published}
    targets = {}
    for name, (top, bottom, measure, goal) in TARGETS.items():
        if measure == "ratio":
            value = ratio(top, bottom)
        else:
            upper, lower = numbers[top]["interval"], numbers[bottom]["interval"]
            value = upper[0] / lower[1] if upper and lower and lower[1] > 0 else None
        met = None if value is None else (value > goal if measure == "apart" else value >= goal)
        targets[name] = {"larger": top, "smaller": bottom, "measure": measure, "value": value,
                         "goal": (">" if measure == "apart" else ">=") + f" {goal:g}", "met": met,
                         "margin": None if value is None else value / goal}
    return {"ratios": ratios, "targets": targets}


def table1_summary(results: dict[str, dict]) -> dict:
    """Table 1 from the three parts' results (``{role: {"checkpoint", "config", "evaluation"}}``, as
    ``python -m fernn.evaluate`` writes them): rows, ratios and targets, JSON-ready. Refuses evaluations made on
    different data or not on Table 1's (:func:`check_same_data`)."""
    evaluations = {role: results[role]["evaluation"] for role in ROLES}
    check_same_data({ROLES[role]: evaluation for role, evaluation in evaluations.items()})
    rows, numbers = {}, {}
    for role, result in ((role, results[role]) for role in ROLES):
        config = ModelConfig.from_dict(result["config"])
        evaluation = evaluations[role]
        numbers[role] = {"test_mse": float(evaluation["test_mse"]), "interval": interval_bounds(evaluation)}
        rows[role] = {"label": ROLES[role], "checkpoint": result.get("checkpoint"), "copies": len(config.velocities),
                      "parameters": config.parameter_count(), "hidden_channels": config.hidden_channels,
                      "test_mse": numbers[role]["test_mse"], "interval": numbers[role]["interval"],
                      "paper_test_mse": paper.TABLE1_TEST_MSE[role]}
    return {"data": data_of(evaluations["grnn"]), "paper_source": paper.SOURCE, "interval_method": INTERVAL_METHOD,
            "rows": rows, **table1_checks(numbers)}


def _mse(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2e}"


def _verdict(target: dict) -> str:
    if target["met"] is None:
        return "not judged: no 95% interval recorded (an older evaluation; evaluate again)"
    value, margin = target["value"], target["margin"]
    if target["met"]:
        return f"met, {margin:.3g}x the goal"
    return f"missed, {margin:.3g}x the goal" + (f" (needs {1 / margin:.3g}x more)" if value > 0 else "")


def table1_report(summary: dict) -> str:
    """Markdown of :func:`table1_summary`: the models, the ratios and the target verdicts."""
    rows, data = summary["rows"], summary["data"]
    source = summary["paper_source"]
    speed = data["data_max_speed"]
    title = (f"## Table 1: Translating MNIST, per-digit velocities in {{-{speed}..{speed}}}^2, "
             f"{data['context_frames']} context -> {data['predict_frames']} predicted frames")
    protocol = (f"Measured on {data['test_sequences']} test sequences (test digits: {data['digits']}, seed "
                f"{data['seed']}), the same for every model. 95% interval: {summary['interval_method']}. The paper's "
                f"numbers are from {source}, for the paper's larger models (see the paper-* presets); hidden "
                f"{rows['grnn']['hidden_channels']} here.")
    lines = [title, "", protocol, "",
             f"| model | checkpoint | copies | parameters | test MSE | 95% interval | paper ({source}) | measured / paper |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows.values():
        interval = f"{_mse(row['interval'][0])}..{_mse(row['interval'][1])}" if row["interval"] else "not recorded"
        checkpoint = str(row["checkpoint"]).replace("|", "\\|")
        lines.append(f"| {row['label']} | {checkpoint} | {row['copies']} | {row['parameters']:,} | "
                     f"{_mse(row['test_mse'])} | {interval} | {_mse(row['paper_test_mse'])} | "
                     f"{row['test_mse'] / row['paper_test_mse']:.3g} |")
    lines += ["", f"| ratio of test MSEs | measured | range from the intervals | paper ({source}) | measured / paper |",
              "|---|---|---|---|---|"]
    for key, ratio in summary["ratios"].items():
        top, bottom = (ROLES[role] for role in key.split("/"))
        span = f"{ratio['range'][0]:.3g}..{ratio['range'][1]:.3g}" if ratio["range"] else "n/a"
        measured = "n/a" if ratio["value"] is None else f"{ratio['value']:.3g}"
        over = "n/a" if ratio["measured_over_paper"] is None else f"{ratio['measured_over_paper']:.3g}"
        lines.append(f"| {top} / {bottom} | {measured} | {span} | {ratio['paper']:.3g} | {over} |")
    lines += ["", "| target | measured | goal | verdict |", "|---|---|---|---|"]
    for target in summary["targets"].values():
        top, bottom = ROLES[target["larger"]], ROLES[target["smaller"]]
        if target["measure"] == "apart":
            asked = f"{top} > {bottom}, 95% intervals apart"
            measured = f"{top} lower bound / {bottom} upper bound"
        else:
            asked, measured = f"{top} / {bottom}", f"{top} / {bottom}"
        value = "n/a" if target["value"] is None else f"{target['value']:.3g}"
        lines.append(f"| {asked} | {measured} = {value} | {target['goal']} | {_verdict(target)} |")
    return "\n".join(lines) + "\n"
