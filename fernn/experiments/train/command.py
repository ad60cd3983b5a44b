"""Training on Flowing MNIST: python -m fernn.train --preset NAME [--option value ...].

Every setting of a training run is a command-line flag; a preset only changes defaults. Runs
data-parallel under torchrun (NCCL on GPUs, gloo on CPU). Resumable: --resume continues from
OUTPUT/last.pt with the same data stream, since batch s is a pure function of (seed, s).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch.distributed as dist

from fernn.experiments import cli
from fernn.checkpoints import MAX_COPIES
from fernn.devices import PRECISIONS
from fernn.encoder import CLASSIFIER_POOLINGS, KINDS
from fernn.models import DECODINGS
from fernn.experiments.train.config import LR_SCHEDULES, RECURRENT_INITS, TASK_NAMES, TrainConfig
from fernn.experiments.train.loop import distributed_ranks, export, train
from fernn.experiments.train.presets import PRESETS

__all__ = ["DEFAULT_PRESET", "config_from_args", "main", "preset_table", "validate_config"]

# A bare `python -m fernn.train` trains the shipped demo FERNN's recipe (pretrained/fernn).
DEFAULT_PRESET = "wide-fernn"

_FRAMES = cli.Integer(1, 1000)
_SEED = cli.Integer(0, 2**32 - 1)
# What each TrainConfig field's flag does and the values it takes: a choice list, an Integer or
# Number check, "bool", "folder" or "device". The limits also hold for a preset's values
# (validate_config).
_FLAGS: dict[str, tuple[object, str]] = {
    "kind": (KINDS, "model: a G-RNN (one hidden copy, V = {(0, 0)}) or a FERNN (one copy per velocity in V)"),
    "hidden_channels": (cli.Integer(1, 1024), "channels of the hidden state, per velocity copy"),
    "model_max_speed": (cli.Integer(0, cli.MODEL_SPEED_LIMIT, f"at most {MAX_COPIES} velocity copies"),
                        "a FERNN's velocity set V = {-r..r}^2, r in px/frame (ignored for a G-RNN)"),
    "decoding": (DECODINGS, "aligned: predict frame t from the state after frame t-1, each copy advanced by its "
                            "own flow; paper: the research code's clock"),
    "pooling": (CLASSIFIER_POOLINGS, "how the read-out pools the velocity copies (max is the paper's; peak, "
                                     "classifiers only: the max near the copy that holds the most)"),
    "decoder_layers": (cli.Integer(1, 64), "convolutions in the decoder, counting the linear output conv"),
    "decoder_bias": ("bool", "give the decoder's convolutions biases (the research code has none)"),
    "head_layers": (cli.Integer(0, 8), "classifiers: circular 3x3 conv + ReLU layers between the pooled state and "
                                        "the spatial mean (0: the research code's head)"),
    "head_channels": (cli.Integer(1, 1024), "classifiers: channels of those head layers"),
    "rotation_order": (cli.Integer(4, 360), "rotating-mnist: N of the rotation group C_N (a multiple of 4; a "
                                            "velocity is a whole number of 360/N-degree steps per frame)"),
    "head_dilation": ("bool", "classifiers: head layer i dilates its kernel by 2**i (a digit-wide receptive field)"),
    "task": (TASK_NAMES, "flowing-mnist: predict the next frames (a forecaster); flickering-mnist: name a "
                         "digit seen through a sparse pixel mask as it moves (a classifier); world: predict an "
                         "observer's next views of MNIST World from its moves (a world model)"),
    "visible": (cli.Number(0, 1, positive=True), "flickering-mnist: the probability that a pixel shows in a frame"),
    "data_max_speed": (cli.Integer(0, cli.DATA_SPEED_LIMIT, "faster is a slower motion on the 28-px torus"),
                       "training data: each digit's velocity is drawn from {-r..r}^2, r in px/frame"),
    "num_digits": (cli.Integer(1, 10), "digits per sequence"),
    "context_frames": (_FRAMES, "frames the model reads before predicting"),
    "predict_frames": (_FRAMES, "frames predicted (and scored) after the context"),
    "digits_root": ("folder", "folder of the MNIST IDX files (full MNIST); empty: the bundled 5k digits"),
    "steps": (cli.Integer(1), "optimizer steps in the whole run (a resumed run continues to this)"),
    "batch_size": (cli.Integer(1), "sequences per optimizer step, over all processes"),
    "learning_rate": (cli.Number(0, 10, positive=True), "Adam's learning rate (the peak, under a schedule)"),
    "lr_schedule": (LR_SCHEDULES, "constant (the paper's) or cosine decay to min-lr-ratio x the rate"),
    "min_lr_ratio": (cli.Number(0, 1), "the cosine schedule's final rate, as a fraction of the learning rate"),
    "warmup_steps": (cli.Integer(0), "steps of linear warm-up of the learning rate"),
    "grad_clip": (cli.Number(0, positive=True), "the largest gradient norm; larger gradients are scaled down"),
    "final_predict_frames": (cli.Integer(0, 1000), "rollout curriculum: predicted frames reached at the end "
                                                   "(0: none; else at least predict-frames)"),
    "curriculum_start": (cli.Number(0, 1), "when the curriculum starts, as a fraction of the steps"),
    "precision": (PRECISIONS, "fp32, or bf16 autocast (weights stay fp32); auto measures which is faster here"),
    "seed": (_SEED, "seed of the model's initialisation"),
    "data_seed": (_SEED, "seed of the training sequences (batch s is a pure function of seed and s)"),
    "val_every": (cli.Integer(1), "validate (and save best.pt, last.pt) every this many steps"),
    "val_sequences": (cli.Integer(1), "validation sequences, from the validation digits"),
    "val_seed": (_SEED, "seed of the validation sequences"),
    "log_every": (cli.Integer(1), "log the training MSE every this many steps"),
    "output": ("folder", "folder for log.json, best.pt and last.pt (created if missing)"),
    "device": ("device", "auto (CUDA when present), cpu, cuda or cuda:N"),
    "threads": (cli.Integer(0, 4096), "torch CPU threads (0: torch's default)"),
    "recurrent_init": (RECURRENT_INITS, "the recurrent kernel's start: PyTorch's default, or the identity (the "
                                        "state keeps what it read; helps long integration)"),
    "activation_checkpointing": ("bool", "recompute each step's activations in the backward pass: less "
                                         "memory, more time"),
}


def _parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="python -m fernn.train", doc=__doc__,
                        epilog="Flags left out take the preset's value (see --list-presets).")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET, metavar="NAME",
                        help="named defaults, one of: %(choices)s (default: %(default)s); flags below override them")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--export", type=cli.output_model, metavar="PATH",
                        help="after training, write the best model with its training curve (no optimizer state) as "
                             "the model folder PATH (safetensors weights, config.json, metrics.json), or as one file "
                             "where PATH ends in .safetensors")
    parser.add_argument("--list-presets", action="store_true",
                        help="print a table of the presets (task, model, data, budget) and exit")
    defaults = TrainConfig().flat()
    for name in TrainConfig.flat_names():
        flag = "--" + name.replace("_", "-")
        # A setting missing from _FLAGS still gets a flag of its type (a test asks for its help text).
        fallback = {int: cli.Integer(), float: cli.Number(), bool: "bool"}.get(type(defaults[name]), "text")
        rule, text = _FLAGS.get(name, (fallback, ""))
        if rule == "bool":
            parser.add_argument(flag, type=_boolean, default=None, metavar="{true,false}", help=text)
        elif isinstance(rule, tuple):
            parser.add_argument(flag, choices=rule, default=None, help=text)
        elif isinstance(rule, (cli.Integer, cli.Number)):
            parser.add_argument(flag, type=rule, default=None, metavar="N" if isinstance(rule, cli.Integer) else "X",
                                help=f"{text}; {rule.describe()}")
        elif rule == "device":
            parser.add_argument(flag, type=cli.device_name, default=None, metavar="DEVICE", help=text)
        else:  # a folder (checked with the whole config: an empty --digits-root means the bundled digits) or text
            parser.add_argument(flag, default=None, metavar="DIR" if rule == "folder" else None, help=text)
    return parser


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise cli.BadValue(f"expected true or false, got {text!r}")


def preset_table() -> str:
    """Every preset in one line each: what it trains, on what, for how long, and where it writes."""
    rows = [("preset", "task", "model", "hidden", "data |v|", "frames", "steps", "batch", "output")]
    for name in sorted(PRESETS):
        config = TrainConfig.from_flat(**PRESETS[name])
        radius = config.model.flow.set_radius(config.model.velocities)
        model = f"{config.model.kind.label}" + (f" V_{radius}" if config.model.kind.lifted and radius else "")
        frames = f"{config.data.context_frames}->{config.data.predict_frames}"
        if config.final_predict_frames and config.final_predict_frames != config.data.predict_frames:
            frames += f"..{config.final_predict_frames}"
        if config.data.task == "flickering-mnist":  # a classifier reads its frames and predicts none
            frames = str(config.data.context_frames)
        rows.append((name + (" (default)" if name == DEFAULT_PRESET else ""), config.data.task, model,
                     str(config.model.hidden_channels), str(config.data.max_speed), frames, f"{config.steps:,}",
                     str(config.batch_size), config.output))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + ("\n\nframes: context -> predicted (..at the curriculum's end). Every setting of each preset "
                               "is in fernn/experiments/train/presets.py; flags override them.")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = dict(PRESETS[args.preset])
    for name in TrainConfig.flat_names():
        given = getattr(args, name)
        if given is not None:
            values[name] = given
    return TrainConfig.from_flat(**values)


def validate_config(config: TrainConfig) -> None:
    """Refuse, with a ValueError naming the flag, a config that training would fail on or that
    makes no sense (out-of-range values, a CUDA device that is missing, an output folder that
    cannot be written, data that cannot be read), before any work."""
    flat = config.flat()
    for name, (rule, _) in _FLAGS.items():
        value, flag = flat[name], "--" + name.replace("_", "-")
        if isinstance(rule, (cli.Integer, cli.Number)):
            rule.check(value, flag)
        elif isinstance(rule, tuple) and value not in rule:
            raise ValueError(f"{flag} must be one of {', '.join(rule)}, got {value!r}")
    if config.final_predict_frames and config.final_predict_frames < config.data.predict_frames:
        raise ValueError(f"--final-predict-frames must be 0 or at least --predict-frames ({config.data.predict_frames}), "
                         f"got {config.final_predict_frames}")
    world = distributed_ranks()[1]
    if config.batch_size % world:
        raise ValueError(f"--batch-size {config.batch_size} must divide evenly over the {world} processes")
    checks = [(cli.device_name, config.device, "--device"), (cli.output_folder, config.output, "--output")]
    if config.data.digits_root:
        checks.append((cli.existing_folder, config.data.digits_root, "--digits-root"))
    for check, value, flag in checks:
        try:
            check(value)
        except ValueError as error:
            raise ValueError(f"argument {flag}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_presets:
        print(preset_table())
        return 0
    try:
        config = config_from_args(args)
        validate_config(config)
    except ValueError as error:
        parser.error(str(error))
    return cli.run(parser.prog, lambda: _train_and_export(config, args))


def _train_and_export(config: TrainConfig, args: argparse.Namespace) -> int:
    try:
        final = train(config, resume=args.resume, progress=not args.no_progress)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if distributed_ranks()[0] == 0:
        if args.export:
            written = export(config, args.export, preset=args.preset)
            print(f"wrote {written} (load it with fernn.from_pretrained)", file=sys.stderr)
        print(json.dumps(final))
    return 0


