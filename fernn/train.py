"""Training on Flowing MNIST: ``python -m fernn.train --preset NAME [--option value ...]``.

Every option of :class:`TrainConfig` is a command-line flag; a preset only changes defaults.
Runs data-parallel under ``torchrun`` (NCCL on GPUs, gloo on CPU). Resumable: ``--resume``
continues from ``OUTPUT/last.pt`` with the same data stream, since batch ``s`` is a pure
function of ``(seed, s)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from . import cli
from .checkpoints import MAX_COPIES, load_checkpoint, read_checkpoint, save_checkpoint
from .data import SequenceSpec, flowing_mnist_batch, load_digits
from .devices import PRECISIONS, resolve_device, resolve_precision
from .evaluate import step_mse
from .models import DECODINGS, KINDS, POOLINGS, ModelConfig, build_model

__all__ = ["PRESETS", "TrainConfig", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the CPU demo FERNN; presets override some fields."""

    # model
    kind: str = "fernn"
    hidden_channels: int = 16
    model_max_speed: int = 2  # the FERNN's velocity set V_r (ignored for a G-RNN)
    decoding: str = "aligned"
    pooling: str = "max"
    decoder_layers: int = 4
    decoder_bias: bool = True
    # data: the paper's 2 digits, 10 context + 10 predicted frames
    data_max_speed: int = 1
    num_digits: int = 2
    context_frames: int = 10
    predict_frames: int = 10
    digits_root: str = ""  # empty: the bundled 5k digits; else a folder of MNIST IDX files
    # optimisation (the paper: Adam 1e-3, batch 128, grad-clip 1.0)
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    # "cosine" decays the rate to min_lr_ratio * learning_rate over `steps` (after a short
    # warm-up); "constant" is the paper's schedule.
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.05
    warmup_steps: int = 0
    grad_clip: float = 1.0
    # Rollout curriculum: from curriculum_start * steps on, the predicted length grows linearly
    # from predict_frames to final_predict_frames (0: no curriculum), so long rollouts neither
    # blur nor fade. Validation always scores predict_frames frames.
    final_predict_frames: int = 0
    curriculum_start: float = 0.5
    # "auto" measures fp32 against bf16 autocast on this machine (see fernn.devices.resolve_precision).
    precision: str = "auto"
    seed: int = 0  # model initialisation
    data_seed: int = 0  # training sequences
    # bookkeeping
    val_every: int = 100
    val_sequences: int = 256
    val_seed: int = 1
    log_every: int = 10
    output: str = "runs/demo-fernn"
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    activation_checkpointing: bool = False

    def model_options(self) -> dict:
        options = dict(hidden_channels=self.hidden_channels, decoding=self.decoding, pooling=self.pooling,
                       decoder_layers=self.decoder_layers, decoder_bias=self.decoder_bias)
        if self.kind == "fernn":
            options["max_speed"] = self.model_max_speed
        return options

    def train_spec(self, predict_frames: int | None = None) -> SequenceSpec:
        predict = self.predict_frames if predict_frames is None else predict_frames
        return SequenceSpec(num_frames=self.context_frames + predict, num_digits=self.num_digits,
                            max_speed=self.data_max_speed)

    def predict_frames_at(self, step: int) -> int:
        """Predicted frames trained at ``step`` under the rollout curriculum."""
        final = self.final_predict_frames
        start = self.curriculum_start * self.steps
        if final <= self.predict_frames or step < start:
            return self.predict_frames
        fraction = min(1.0, (step - start) / max(self.steps - start, 1) * 1.25)  # full for the last 20% of the ramp
        return self.predict_frames + round(fraction * (final - self.predict_frames))

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based) under ``lr_schedule``."""
        if self.warmup_steps and step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.learning_rate
        progress = min(1.0, (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1))
        floor = self.min_lr_ratio * self.learning_rate
        return floor + (self.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.final_predict_frames and self.final_predict_frames < self.predict_frames:
            raise ValueError("final_predict_frames must be 0 or at least predict_frames")


# The paper's architecture as the research code writes it: 5 bias-free decoder convs, paper clock.
_PAPER = dict(hidden_channels=128, decoder_layers=5, decoder_bias=False, decoding="paper", batch_size=128,
              steps=50 * 54_000 // 128, val_every=1000, val_sequences=1024)
_TABLE1 = dict(hidden_channels=16, data_max_speed=2, batch_size=16, lr_schedule="cosine", warmup_steps=100,
               val_every=500, val_sequences=256, log_every=50)
PRESETS: dict[str, dict] = {
    # The paper's translating-MNIST runs (data up to |v| = 2): far beyond a 2-core CPU.
    "paper-grnn": dict(_PAPER, kind="grnn", data_max_speed=2, output="runs/paper-grnn"),
    "paper-fernn-v1": dict(_PAPER, kind="fernn", model_max_speed=1, data_max_speed=2, output="runs/paper-fernn-v1"),
    "paper-fernn-v2": dict(_PAPER, kind="fernn", model_max_speed=2, data_max_speed=2, output="runs/paper-fernn-v2"),
    # The paper's velocity-generalisation pair: data |v| <= 1, FERNN velocity set |v| <= 2.
    "paper-vgen-grnn": dict(_PAPER, kind="grnn", data_max_speed=1, output="runs/paper-vgen-grnn"),
    "paper-vgen-fernn": dict(_PAPER, kind="fernn", model_max_speed=2, data_max_speed=1, output="runs/paper-vgen-fernn"),
    # The shipped checkpoints: the velocity-generalisation pair, sized for a 2-core CPU (one core
    # each). Both see the same data stream and seeds; each gets the budget it needs to be at its
    # best: the FERNN 5,200 steps of 16 with a rollout curriculum up to 20 predicted frames, the
    # G-RNN (about 3.5x cheaper per step at twice the batch) 20,000 steps of 32, in about the same
    # wall time.
    "demo-grnn": dict(kind="grnn", hidden_channels=16, batch_size=32, steps=20_000, lr_schedule="cosine",
                      warmup_steps=100, val_every=500, val_sequences=256, log_every=50, output="runs/demo-grnn"),
    "demo-fernn": dict(kind="fernn", model_max_speed=2, hidden_channels=16, batch_size=16, steps=5200,
                       lr_schedule="cosine", warmup_steps=100, final_predict_frames=20, curriculum_start=0.6,
                       val_every=250, val_sequences=256, log_every=25, output="runs/demo-fernn"),
    # The next pair, wider (hidden 24: about 2x a hidden-16 step in bf16; the app's default comparison
    # stays well inside its budget). Runs longer than a session: continued with --resume from the
    # state committed under pretrained/resume/ (see pretrained/README.md).
    "wide-grnn": dict(kind="grnn", hidden_channels=24, batch_size=32, steps=40_000, lr_schedule="cosine",
                      warmup_steps=100, val_every=1000, val_sequences=256, log_every=100, output="runs/wide-grnn"),
    "wide-fernn": dict(kind="fernn", model_max_speed=2, hidden_channels=24, batch_size=16, steps=12_000,
                       lr_schedule="cosine", warmup_steps=100, final_predict_frames=20, curriculum_start=0.6,
                       val_every=250, val_sequences=256, log_every=25, output="runs/wide-fernn"),
    # The paper's Table 1 at CPU scale: the paper's data (per-digit velocities up to |v| = 2, 10 -> 10),
    # one recipe and one width for the three models; only the velocity set differs. Budgets from a
    # pilot (time per step, loss after a few hundred steps); longer than a session, continued with --resume.
    "table1-grnn": dict(_TABLE1, kind="grnn", steps=24_000, output="runs/table1-grnn"),
    "table1-fernn-v1": dict(_TABLE1, kind="fernn", model_max_speed=1, steps=8000, output="runs/table1-fernn-v1"),
    "table1-fernn-v2": dict(_TABLE1, kind="fernn", model_max_speed=2, steps=8000, output="runs/table1-fernn-v2"),
    # Seconds-long smoke runs for tests.
    "tiny-grnn": dict(kind="grnn", hidden_channels=4, decoder_layers=2, context_frames=3, predict_frames=2,
                      steps=20, batch_size=4, val_every=10, val_sequences=8, log_every=5, precision="fp32",
                      output="runs/tiny-grnn"),
    "tiny-fernn": dict(kind="fernn", model_max_speed=1, hidden_channels=4, decoder_layers=2, context_frames=3,
                       predict_frames=2, steps=20, batch_size=4, val_every=10, val_sequences=8, log_every=5,
                       precision="fp32", output="runs/tiny-fernn"),
}


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def train(config: TrainConfig, *, resume: bool = False, callback: Callable[[dict], None] | None = None,
          progress: bool = True) -> dict:
    """Train per ``config``; returns the final record. ``callback`` sees every log record."""
    rank, world, local_rank = _distributed()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if config.device != "cpu" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    device = resolve_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must divide evenly over {world} processes")
    output = Path(config.output)
    last_path, best_path, log_path = output / "last.pt", output / "best.pt", output / "log.json"

    torch.manual_seed(config.seed)
    model = build_model(config.kind, **config.model_options()).to(device)
    model.checkpoint_steps = config.activation_checkpointing
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    step, best_val, history, elapsed = 0, math.inf, [], 0.0
    saved_precision = None
    if resume and last_path.exists():
        payload = read_checkpoint(last_path)
        state = payload.get("training")
        if state is None:
            raise ValueError(f"{last_path} holds no training state to resume from")
        saved = ModelConfig.from_dict(payload["config"])  # the model the file holds, as a typed config
        if saved != model.config:
            differ = [f"{name} is {getattr(model.config, name)!r} here but {getattr(saved, name)!r} in {last_path}"
                      for name in ModelConfig.__dataclass_fields__ if getattr(saved, name) != getattr(model.config, name)]
            raise ValueError(f"cannot resume: {'; '.join(differ)}")
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        step, best_val, elapsed = state["step"], state["best_val"], state["elapsed"]
        saved_precision = state.get("precision")
        history = json.loads(log_path.read_text())["history"] if log_path.exists() else []
    elif resume and rank == 0:
        print(f"no {last_path} yet: starting from scratch")

    parallel = DistributedDataParallel(model) if world > 1 else model
    # "auto" is resolved once per run (a measurement can differ between calls), kept for --resume,
    # and taken from rank 0 so every process of a distributed run computes alike.
    asked = saved_precision if config.precision == "auto" and saved_precision else config.precision
    precision = resolve_precision(asked, device, hidden_channels=config.hidden_channels,
                                  batch=config.batch_size // world, copies=len(model.velocities))
    if world > 1:
        choice = torch.tensor([PRECISIONS.index(precision)], device=device)
        dist.broadcast(choice, src=0)
        precision = PRECISIONS[int(choice)]
    if progress and rank == 0:
        print(f"training precision: {precision} (asked: {config.precision})")
    root = config.digits_root or None
    train_digits, _ = load_digits("train", root=root)
    val_digits, _ = load_digits("val", root=root)
    spec = config.train_spec()
    val_count = math.ceil(config.val_sequences / world)
    val_indices = range(rank * val_count, min((rank + 1) * val_count, config.val_sequences))
    val_set = flowing_mnist_batch(val_digits, val_indices, seed=config.val_seed, spec=spec)
    per_rank = config.batch_size // world

    def validate() -> float:
        """Validation MSE over every process's share of the validation sequences."""
        model.eval()
        local_sum = float(step_mse(model, val_set, config.context_frames).mean()) * len(val_set) if len(val_set) else 0.0
        model.train()
        total = torch.tensor([local_sum, float(len(val_set))], dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(total)
        return float(total[0] / total[1])

    def save(path: Path, metrics: dict, with_state: bool) -> None:
        if rank != 0:
            return
        state = None
        if with_state:
            state = dict(step=step, best_val=best_val, elapsed=elapsed, optimizer=optimizer.state_dict(), precision=precision,
                         train_config=dataclasses.asdict(config))
        save_checkpoint(path, model, metrics, training_state=state)

    def write_log() -> None:
        if rank == 0:
            log_path.write_text(json.dumps({"config": dataclasses.asdict(config), "history": history}, indent=1))

    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, desc=config.output, dynamic_ncols=True)
    model.train()
    running, running_count, started = 0.0, 0, time.perf_counter() - elapsed
    record: dict = history[-1] if history else {}
    while step < config.steps:
        first = step * config.batch_size + rank * per_rank
        predict = config.predict_frames_at(step)
        batch = flowing_mnist_batch(train_digits, range(first, first + per_rank), seed=config.data_seed,
                                    spec=config.train_spec(predict))
        batch = batch.to(device)  # (B, T, 1, H, W)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate_at(step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            prediction = parallel(batch[:, : config.context_frames], predict)
        loss = torch.mean((prediction.float() - batch[:, config.context_frames :]) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        running += loss.item()
        running_count += 1
        elapsed = time.perf_counter() - started
        validating = step % config.val_every == 0 or step == config.steps
        if step % config.log_every == 0 or validating:
            record = dict(step=step, sequences=step * config.batch_size, train_mse=running / running_count,
                          wall_time=round(elapsed, 2), lr=config.learning_rate_at(step - 1), predict_frames=predict,
                          precision=precision)
            running, running_count = 0.0, 0
            if validating:
                record["val_mse"] = validate()
                if record["val_mse"] < best_val:
                    best_val = record["val_mse"]
                    save(best_path, dict(record, best_val_mse=best_val), with_state=False)
            history.append(record)
            if bar is not None:
                rate = step * config.batch_size / max(elapsed, 1e-9)
                bar.set_postfix(loss=f"{record['train_mse']:.4g}", seq_per_s=f"{rate:.1f}",
                                **({"val": f"{record['val_mse']:.4g}"} if validating else {}))
            if callback is not None and rank == 0:
                callback(record)
            if validating:
                save(last_path, dict(record, best_val_mse=best_val), with_state=True)
                write_log()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    write_log()
    if world > 1:
        dist.barrier()
    return dict(record, best_val_mse=best_val)


def export(config: TrainConfig, path: Path, *, preset: str) -> Path:
    """Copy ``OUTPUT/best.pt`` to ``path`` with ``metrics["train"]``: settings, best record, curve."""
    output = Path(config.output)
    model = load_checkpoint(output / "best.pt")
    history = json.loads((output / "log.json").read_text())["history"]
    train_metrics = dict(model.metrics, preset=preset, config=dataclasses.asdict(config), history=history,
                         torch_version=str(torch.__version__))
    save_checkpoint(path, model, {"train": train_metrics})
    return path


LR_SCHEDULES = ("constant", "cosine")
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
    "pooling": (POOLINGS, "how the decoder pools the velocity copies (max is the paper's)"),
    "decoder_layers": (cli.Integer(1, 64), "convolutions in the decoder, counting the linear output conv"),
    "decoder_bias": ("bool", "give the decoder's convolutions biases (the research code has none)"),
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
    "activation_checkpointing": ("bool", "recompute each step's activations in the backward pass: less "
                                         "memory, more time"),
}


def _parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="python -m fernn.train", doc=__doc__,
                        epilog="Flags left out take the preset's value (see --list-presets).")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo-fernn", metavar="NAME",
                        help="named defaults, one of: %(choices)s (default: %(default)s); flags below override them")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--export", type=cli.output_file, metavar="PATH",
                        help="after training, write the best checkpoint with its training curve (no optimizer state) to PATH")
    parser.add_argument("--list-presets", action="store_true", help="print every preset's settings and exit")
    for item in dataclasses.fields(TrainConfig):
        flag = "--" + item.name.replace("_", "-")
        # A field missing from _FLAGS still gets a flag of its type (a test asks for its help text).
        fallback = {"int": cli.Integer(), "float": cli.Number(), "bool": "bool"}.get(str(item.type), "text")
        rule, text = _FLAGS.get(item.name, (fallback, ""))
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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = dict(PRESETS[args.preset])
    for item in dataclasses.fields(TrainConfig):
        given = getattr(args, item.name)
        if given is not None:
            values[item.name] = given
    return TrainConfig(**values)


def validate_config(config: TrainConfig) -> None:
    """Refuse, with a ValueError naming the flag, a config that training would fail on or that
    makes no sense (out-of-range values, a CUDA device that is missing, an output folder that
    cannot be written, data that cannot be read), before any work."""
    for name, (rule, _) in _FLAGS.items():
        value, flag = getattr(config, name), "--" + name.replace("_", "-")
        if isinstance(rule, (cli.Integer, cli.Number)):
            rule.check(value, flag)
        elif isinstance(rule, tuple) and value not in rule:
            raise ValueError(f"{flag} must be one of {', '.join(rule)}, got {value!r}")
    if config.final_predict_frames and config.final_predict_frames < config.predict_frames:
        raise ValueError(f"--final-predict-frames must be 0 or at least --predict-frames ({config.predict_frames}), "
                         f"got {config.final_predict_frames}")
    world = _distributed()[1]
    if config.batch_size % world:
        raise ValueError(f"--batch-size {config.batch_size} must divide evenly over the {world} processes")
    checks = [(cli.device_name, config.device, "--device"), (cli.output_folder, config.output, "--output")]
    if config.digits_root:
        checks.append((cli.existing_folder, config.digits_root, "--digits-root"))
    for check, value, flag in checks:
        try:
            check(value)
        except ValueError as error:
            raise ValueError(f"argument {flag}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_presets:
        for name in sorted(PRESETS):
            print(f"{name}: {json.dumps(dataclasses.asdict(TrainConfig(**PRESETS[name])))}")
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
    if _distributed()[0] == 0:
        if args.export:
            export(config, args.export, preset=args.preset)
        print(json.dumps(final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
