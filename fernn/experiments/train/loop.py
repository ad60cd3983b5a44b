"""The training loop: Adam on a task's loss (:mod:`fernn.experiments.train.tasks`), validation, best/last checkpoints,
resume, export.

Runs data-parallel under ``torchrun`` (NCCL on GPUs, gloo on CPU). Resumable: ``resume=True``
continues from ``OUTPUT/last.pt`` with the same data stream, since batch ``s`` is a pure function
of ``(seed, s)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from fernn.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint, save_pretrained
from fernn.devices import PRECISIONS, resolve_device, resolve_precision
from fernn.experiments.train.config import TrainConfig
from fernn.experiments.train.tasks import build_model, task_for

__all__ = ["export", "train"]


def distributed_ranks() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def train(config: TrainConfig, *, resume: bool = False, callback: Callable[[dict], None] | None = None,
          progress: bool = True) -> dict:
    """Train per ``config``; returns the final record. ``callback`` sees every log record."""
    rank, world, local_rank = distributed_ranks()
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
    model = build_model(config).to(device)
    model.checkpoint_steps = config.activation_checkpointing
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    step, best_val, history, elapsed = 0, math.inf, [], 0.0
    saved_precision = None
    if resume and last_path.exists():
        payload = read_checkpoint(last_path)
        state = payload.get("training")
        if state is None:
            raise ValueError(f"{last_path} holds no training state to resume from")
        saved = type(model.config).from_dict(payload["config"])  # the model the file holds, as a typed config
        if saved != model.config:
            differ = [f"{f.name} is {getattr(model.config, f.name)!r} here but {getattr(saved, f.name)!r} in {last_path}"
                      for f in dataclasses.fields(saved) if getattr(saved, f.name) != getattr(model.config, f.name)]
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
    precision = resolve_precision(asked, device, hidden_channels=config.model.hidden_channels,
                                  batch=config.batch_size // world, copies=len(model.velocities))
    if world > 1:
        choice = torch.tensor([PRECISIONS.index(precision)], device=device)
        dist.broadcast(choice, src=0)
        precision = PRECISIONS[int(choice)]
    if progress and rank == 0:
        print(f"training precision: {precision} (asked: {config.precision})")
    task = task_for(config, rank=rank, world=world, device=device, precision=precision)

    def validate() -> dict:
        model.eval()
        scores = task.validate(model)
        model.train()
        return scores

    def save(path: Path, metrics: dict, with_state: bool) -> None:
        if rank != 0:
            return
        state = None
        if with_state:
            state = dict(step=step, best_val=best_val, elapsed=elapsed, optimizer=optimizer.state_dict(), precision=precision,
                         train_config=config.to_dict())
        save_checkpoint(path, model, metrics, training_state=state)

    def write_log() -> None:
        if rank == 0:
            log_path.write_text(json.dumps({"config": config.to_dict(), "history": history}, indent=1))

    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, desc=config.output, dynamic_ncols=True)
    model.train()
    running, running_count, started = 0.0, 0, time.perf_counter() - elapsed
    record: dict = history[-1] if history else {}
    while step < config.steps:
        predict = config.predict_frames_at(step)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate_at(step)
        loss = task.loss(parallel, step, predict)
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
            record = {"step": step, "sequences": step * config.batch_size, task.loss_name: running / running_count,
                      "wall_time": round(elapsed, 2), "lr": config.learning_rate_at(step - 1),
                      "predict_frames": predict, "precision": precision}
            running, running_count = 0.0, 0
            if validating:
                record.update(validate())
                if record[task.score] < best_val:
                    best_val = record[task.score]
                    save(best_path, dict(record, **{f"best_{task.score}": best_val}), with_state=False)
            history.append(record)
            if bar is not None:
                rate = step * config.batch_size / max(elapsed, 1e-9)
                bar.set_postfix(loss=f"{record[task.loss_name]:.4g}", seq_per_s=f"{rate:.1f}",
                                **({"val": f"{record[task.score]:.4g}"} if validating else {}))
            if callback is not None and rank == 0:
                callback(record)
            if validating:
                save(last_path, dict(record, **{f"best_{task.score}": best_val}), with_state=True)
                write_log()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    write_log()
    if world > 1:
        dist.barrier()
    return dict(record, **{f"best_{task.score}": best_val})


def export(config: TrainConfig, path: Path, *, preset: str) -> Path:
    """Write ``OUTPUT/best.pt``'s model to ``path`` in safetensors (a model folder, or one
    ``.safetensors`` file) with ``metrics["train"]``: settings, best record, curve."""
    output = Path(config.output)
    model = load_checkpoint(output / "best.pt")
    history = json.loads((output / "log.json").read_text())["history"]
    train_metrics = dict(model.metrics, preset=preset, config=config.to_dict(), history=history,
                         torch_version=str(torch.__version__))
    return save_pretrained(path, model, {"train": train_metrics})
