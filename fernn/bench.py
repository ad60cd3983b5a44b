"""Speed of the FERNN step against its bounds: ``python -m fernn.bench [--quick] [--output PATH]``.

Every number is a median over several repeats, and the variants of one row are timed side by
side (round-robin within each repeat), so load on the machine hits them alike. Rows:

- **step**: one recurrent step as the rollout runs it (the context frames' input drive computed
  in one batched call, then per step one gather that shifts and pads every copy and one fused
  convolution + drive + relu), against the **reference**: the research code's step (a Python
  loop of one ``torch.roll`` per copy, a stack, circular padding, NCHW convolution), with the same
  weights, and against the **bound**: the recurrent convolution alone on an already shifted,
  padded tensor of the same shape (the faster of ``F.conv2d`` and oneDNN with prepacked weights).
- **conv throughput**: the bound's GFLOP/s against the best this machine reaches for the same
  convolution at any batch, and a float32 matmul's GFLOP/s.
- **training**: one forward + backward of FERNN-V2 on a batch, fast path against the reference
  rollout, with the largest gradient difference between them as a check.
- **memory**: peak resident memory per sample of that training step, with and without activation
  checkpointing (Linux: ``VmHWM`` after resetting it through ``/proc/self/clear_refs``).
- **app**: the demo's full comparison (``fernn.showcase.compare`` on both shipped models with hidden
  states kept, plus the figures the app draws by default), as shipped and with ``|v| <= 4``.
- **cuda**: the step table and a 20-step rollout on the GPU, when there is one.

:func:`reference_cell_step` and :func:`reference_rollout` are the slow, obvious implementations;
the tests check the fast path against them, forward and backward.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from .cells import FlowRNNCell, StepRunner
from .flows import shift_copies, velocity_set
from .models import Forecaster, build_model
from .reference import reference_cell_step, reference_rollout

__all__ = ["main", "run_benchmarks"]

SHIPPED = {"G-RNN": Path("pretrained/grnn.pt"), "FERNN": Path("pretrained/fernn.pt")}
# The shipped models' configuration, used when the checkpoint files are not there.
SHIPPED_HIDDEN, SHIPPED_DECODER_LAYERS, SHIPPED_MAX_SPEED = 16, 4, 2
CANVAS = 28
CONTEXT, PREDICT = 10, 10
TARGETS = {
    "app_step_over_bound": 1.10,
    "training_step_over_bound": 1.15,
    "speedup_vs_reference_b1_v25": 1.5,
    "training_speedup_vs_reference": 1.3,
    "app_comparison_seconds": 0.300,
    "app_comparison_v4_seconds": 1.5,
    "cuda_rollout_seconds": 0.020,
}


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _side_by_side(
    functions: dict[str, Callable[[], object]], *, repeats: int, min_seconds: float, device: torch.device
) -> dict[str, float]:
    """Median seconds per call of each function, timed round-robin: each repeat times every
    function once, as a batch of calls lasting at least ``min_seconds``."""
    numbers = {}
    for name, function in functions.items():
        function()  # warm-up: caches, oneDNN primitives, allocator
        _synchronize(device)
        started = time.perf_counter()
        function()
        _synchronize(device)
        once = max(time.perf_counter() - started, 1e-7)
        numbers[name] = max(1, math.ceil(min_seconds / once))
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            number = numbers[name]
            _synchronize(device)
            started = time.perf_counter()
            for _ in range(number):
                function()
            _synchronize(device)
            samples[name].append((time.perf_counter() - started) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


# ---------------------------------------------------------------------------------------------
# Step table
# ---------------------------------------------------------------------------------------------


def _seeded_cell(hidden: int, device: torch.device, seed: int = 0) -> FlowRNNCell:
    torch.manual_seed(seed)
    return FlowRNNCell(in_channels=1, hidden_channels=hidden).to(device).eval()


def _conv_flops(batch: int, copies: int, hidden: int, kernel: int, height: int, width: int) -> float:
    return 2.0 * batch * copies * hidden * hidden * kernel * kernel * height * width


def bench_step(
    batch: int, copies: int, *, hidden: int, device: torch.device, repeats: int, min_seconds: float,
    frames_per_call: int = CONTEXT,
) -> dict:
    """One row of the step table: fast step, reference step and bound, per recurrent step."""
    radius = math.isqrt(copies) // 2
    velocities = velocity_set(radius)
    if len(velocities) != copies:
        raise ValueError(f"{copies} copies is not a square velocity set")
    cell = _seeded_cell(hidden, device)
    generator = torch.Generator().manual_seed(1)
    frames = torch.rand(batch, frames_per_call, 1, CANVAS, CANVAS, generator=generator).to(device)  # (B, T, 1, H, W)
    frames_first = frames.transpose(0, 1).reshape(-1, 1, CANVAS, CANVAS)  # (T*B, 1, H, W), as the rollout orders them
    start = torch.rand(batch, copies, hidden, CANVAS, CANVAS, generator=generator).to(device)  # (B, V, C, H, W)
    weight = cell.recurrent_conv.weight.detach()
    steps = frames_per_call
    with torch.inference_mode():
        runner = StepRunner(cell, velocities, batch=batch, height=CANVAS, width=CANVAS, like=frames)
        state = runner.new_state()
        state.copy_(start)
        reference_state = [start.clone()]
        shifted = shift_copies(start, velocities, pad=cell.pad).flatten(0, 1)  # (B*V, C, H+2, W+2) channels-last
        shifted_nchw = shifted.contiguous()
        packed = None
        if device.type == "cpu" and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight"):
            packed = torch.ops.mkldnn._reorder_convolution_weight(weight, [0, 0], [1, 1], [1, 1], 1, list(shifted.shape))

        def fast() -> None:
            drives = cell.input_drive(frames_first).unflatten(0, (steps, batch))  # (T, B, C, H, W)
            for t in range(steps):
                runner.step(runner.shift(state), drives[t], out=state)

        def reference() -> None:
            h = reference_state[0]
            for t in range(steps):
                h = reference_cell_step(cell, frames[:, t], h, velocities)
            reference_state[0] = h

        def conv_torch() -> None:
            for _ in range(steps):
                F.conv2d(shifted, weight)

        def conv_packed() -> None:
            for _ in range(steps):
                torch.ops.mkldnn._convolution_pointwise(shifted, packed, None, [0, 0], [1, 1], [1, 1], 1, "none", [], None)

        def conv_nchw() -> None:
            for _ in range(steps):
                F.conv2d(shifted_nchw, weight)

        functions = {"fast": fast, "reference": reference, "conv_channels_last": conv_torch}
        if packed is not None:
            functions["conv_prepacked"] = conv_packed
        functions["conv_nchw"] = conv_nchw
        medians = _side_by_side(functions, repeats=repeats, min_seconds=min_seconds, device=device)
    per_step = {name: seconds / steps for name, seconds in medians.items()}
    bound_name = min((n for n in per_step if n in ("conv_channels_last", "conv_prepacked")), key=per_step.get)
    bound = per_step[bound_name]
    flops = _conv_flops(batch, copies, hidden, cell.kernel_size, CANVAS, CANVAS)
    return {
        "batch": batch,
        "copies": copies,
        "hidden": hidden,
        "size": CANVAS,
        "fast_ms": per_step["fast"] * 1e3,
        "reference_ms": per_step["reference"] * 1e3,
        "bound_ms": bound * 1e3,
        "bound_variant": bound_name,
        "conv_ms": {name.removeprefix("conv_"): per_step[name] * 1e3 for name in per_step if name.startswith("conv_")},
        "fast_over_bound": per_step["fast"] / bound,
        "reference_over_bound": per_step["reference"] / bound,
        "speedup_vs_reference": per_step["reference"] / per_step["fast"],
        "conv_gflops": flops / bound / 1e9,
    }


def bench_conv_peak(*, hidden: int, device: torch.device, repeats: int, min_seconds: float, quick: bool) -> dict:
    """The best GFLOP/s of the recurrent convolution (any batch) and of a float32 matmul."""
    weight = _seeded_cell(hidden, device).recurrent_conv.weight.detach()
    best, per_batch = 0.0, {}
    with torch.inference_mode():
        for count in ((64, 256) if quick else (64, 256, 1024)):
            shifted = torch.rand(count, CANVAS + 2, CANVAS + 2, hidden, device=device).permute(0, 3, 1, 2)
            functions = {"torch": lambda: F.conv2d(shifted, weight)}
            if device.type == "cpu" and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight"):
                packed = torch.ops.mkldnn._reorder_convolution_weight(weight, [0, 0], [1, 1], [1, 1], 1, list(shifted.shape))
                functions["prepacked"] = lambda: torch.ops.mkldnn._convolution_pointwise(
                    shifted, packed, None, [0, 0], [1, 1], [1, 1], 1, "none", [], None
                )
            medians = _side_by_side(functions, repeats=repeats, min_seconds=min_seconds, device=device)
            rate = _conv_flops(count, 1, hidden, 3, CANVAS, CANVAS) / min(medians.values()) / 1e9
            per_batch[count] = rate
            best = max(best, rate)
        size = 512 if quick else 1024
        a = torch.rand(size, size, device=device)
        b = torch.rand(size, size, device=device)
        matmul = _side_by_side({"mm": lambda: a @ b}, repeats=repeats, min_seconds=min_seconds, device=device)["mm"]
    return {
        "conv_peak_gflops": best,
        "conv_gflops_by_copies": per_batch,
        "matmul_gflops": 2.0 * size**3 / matmul / 1e9,
        "matmul_size": size,
    }


# ---------------------------------------------------------------------------------------------
# Training step and memory
# ---------------------------------------------------------------------------------------------


def _training_model(*, hidden: int, max_speed: int, decoder_layers: int, device: torch.device) -> Forecaster:
    torch.manual_seed(0)
    model = build_model("fernn", hidden_channels=hidden, max_speed=max_speed, decoder_layers=decoder_layers)
    return model.to(device).train()


def _training_batch(batch: int, context: int, predict: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    sequence = torch.rand(batch, context + predict, 1, CANVAS, CANVAS, generator=generator).to(device)
    return sequence[:, :context], sequence[:, context:]


def bench_training(
    *, batch: int, hidden: int, max_speed: int, decoder_layers: int, context: int, predict: int,
    device: torch.device, repeats: int, min_seconds: float,
) -> dict:
    """Forward + backward of an MSE training step, timed side by side: the reference rollout in
    float32, the fast path in float32, and the fast path under bf16 autocast (what
    ``python -m fernn.train --precision bf16`` runs; weights stay float32)."""
    model = _training_model(hidden=hidden, max_speed=max_speed, decoder_layers=decoder_layers, device=device)
    inputs, targets = _training_batch(batch, context, predict, device)

    def step(rollout: Callable[[], torch.Tensor], bf16: bool = False) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                frames = rollout()
            torch.mean((frames.float() - targets) ** 2).backward()
        return run

    variants = {
        "reference_fp32": step(lambda: reference_rollout(model, inputs, predict).frames),
        "fast_fp32": step(lambda: model(inputs, predict)),
        "fast_bf16": step(lambda: model(inputs, predict), bf16=True),
    }
    gradients = {}
    for name, function in variants.items():
        function()
        gradients[name] = [p.grad.detach().clone() for p in model.parameters()]

    def difference(name: str) -> float:
        pairs = zip(gradients[name], gradients["reference_fp32"])
        return max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in pairs)

    medians = _side_by_side(variants, repeats=repeats, min_seconds=min_seconds, device=device)
    return {
        "batch": batch,
        "copies": (2 * max_speed + 1) ** 2,
        "hidden": hidden,
        "decoder_layers": decoder_layers,
        "frames": [context, predict],
        "reference_s": medians["reference_fp32"],
        "fast_s": medians["fast_fp32"],
        "fast_bf16_s": medians["fast_bf16"],
        "speedup_vs_reference": medians["reference_fp32"] / medians["fast_fp32"],
        "bf16_speedup_vs_fast_fp32": medians["fast_fp32"] / medians["fast_bf16"],
        "bf16_speedup_vs_reference": medians["reference_fp32"] / medians["fast_bf16"],
        "max_relative_gradient_difference": difference("fast_fp32"),
        "bf16_max_relative_gradient_difference": difference("fast_bf16"),
        "native_bf16": _native_bf16(),
    }


def _native_bf16() -> bool | None:
    """Whether the CPU advertises bf16 arithmetic (Linux flags; None where unknown)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def _status_bytes(key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {key} in /proc/self/status")
    return int(match.group(1)) * 1024


def _peak_resident_increase(function: Callable[[], object]) -> int:
    """Bytes by which the resident set peaks above its level before ``function`` runs (Linux)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back first, so it is not reused unseen
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_bytes("VmRSS")
    function()
    return _status_bytes("VmHWM") - before


def bench_memory(
    *, batch: int, hidden: int, max_speed: int, decoder_layers: int, context: int, predict: int, repeats: int
) -> dict:
    """Peak resident memory per sample of one CPU training step (forward + backward)."""
    if not (sys.platform.startswith("linux") and os.access("/proc/self/clear_refs", os.W_OK)):
        return {"available": False, "reason": "needs Linux /proc/self/clear_refs"}
    device = torch.device("cpu")
    results = {"available": True, "batch": batch, "method": "VmHWM - VmRSS around one step, after malloc_trim"}
    inputs, targets = _training_batch(batch, context, predict, device)
    for label, checkpointing, rollout in (
        ("fast", False, None),
        ("fast_checkpointed", True, None),
        ("reference", False, reference_rollout),
    ):
        model = _training_model(hidden=hidden, max_speed=max_speed, decoder_layers=decoder_layers, device=device)
        model.checkpoint_steps = checkpointing

        def step() -> None:
            model.zero_grad(set_to_none=True)
            frames = model(inputs, predict) if rollout is None else rollout(model, inputs, predict).frames
            torch.mean((frames - targets) ** 2).backward()

        step()
        peaks = [_peak_resident_increase(step) for _ in range(repeats)]
        results[f"{label}_mib_per_sample"] = statistics.median(peaks) / batch / 2**20
    return results


# ---------------------------------------------------------------------------------------------
# The app's full comparison
# ---------------------------------------------------------------------------------------------


def _app_models(device: torch.device) -> tuple[dict[str, Forecaster], str]:
    """The shipped checkpoints when present, else freshly built models of the same configuration."""
    from .checkpoints import load_checkpoint

    if all(path.is_file() for path in SHIPPED.values()):
        return {name: load_checkpoint(path, device) for name, path in SHIPPED.items()}, "shipped checkpoints"
    torch.manual_seed(0)
    models = {
        "G-RNN": build_model("grnn", hidden_channels=SHIPPED_HIDDEN, decoder_layers=SHIPPED_DECODER_LAYERS),
        "FERNN": build_model("fernn", hidden_channels=SHIPPED_HIDDEN, decoder_layers=SHIPPED_DECODER_LAYERS,
                             max_speed=SHIPPED_MAX_SPEED),
    }
    return {name: model.to(device).eval() for name, model in models.items()}, "built with the shipped configuration"


def bench_app(*, device: torch.device, repeats: int, quick: bool) -> dict:
    """The demo's full comparison with its default settings and with a widened velocity set."""
    from . import showcase, viz  # imported here: the step and training sections need neither

    models, source = _app_models(device)
    # The app's defaults: one MNIST test digit (#7) moving (1, 2) px/frame, 10 + 10 frames, the
    # "auto" velocity set; then V_4; then the widest the app offers: two digits at (4, 4) and
    # (-4, 3), V_8 (289 copies), 20 context + 70 predicted frames.
    cases = {
        "default": (showcase.mnist_scene([7], velocities=[(1, 2)]), CONTEXT, PREDICT, showcase.AUTO),
        "widened_v4": (showcase.mnist_scene([7], velocities=[(1, 2)]), CONTEXT, PREDICT, 4),
        "widest_v8": (showcase.mnist_scene([7, 3], velocities=[(4, 4), (-4, 3)]), 20, 70, 8),
    }

    def full(scene, context: int, predict: int, velocities) -> tuple[float, float, int]:
        """(seconds for compare + figures, seconds of the rollouts inside compare, FERNN copies)."""
        started = time.perf_counter()
        comparison = showcase.compare(models, scene, context_frames=context, predict_frames=predict, velocities=velocities)
        channels = list(range(min(4, min(run.hidden_channels for run in comparison.runs))))
        viz.comparison_animation(comparison)
        viz.mse_figure(comparison)
        viz.hidden_animation(comparison, channels, stabilised=True, view="pooled")
        for run in comparison.runs:
            if len(run.velocities) > 1:
                viz.velocity_activity_animation(comparison, run)
        copies = max(len(run.velocities) for run in comparison.runs)
        return time.perf_counter() - started, sum(run.seconds for run in comparison.runs), copies

    results = {"available": True, "models": source, "figures": "built"}
    with torch.inference_mode():
        for label, case in cases.items():
            if quick and label != "default":
                continue
            count = repeats if label == "default" else max(1, repeats // 2 + 1)
            full(*case)  # warm-up
            runs = [full(*case) for _ in range(count)]
            results[label] = {
                "copies": runs[0][2],
                "seconds": statistics.median(total for total, _, _ in runs),
                "rollout_seconds": statistics.median(rollout for _, rollout, _ in runs),
                "repeats": count,
            }
    return results


# ---------------------------------------------------------------------------------------------
# CUDA
# ---------------------------------------------------------------------------------------------


def bench_cuda(*, hidden: int, repeats: int, min_seconds: float, quick: bool) -> dict:
    """The step table on the GPU and a 20-step B = 1 FERNN-V2 rollout (when CUDA is there)."""
    if not torch.cuda.is_available():
        return {"available": False, "reason": "no CUDA device"}
    device = torch.device("cuda")
    shapes = [(1, 25)] if quick else [(1, 1), (1, 9), (1, 25), (1, 49), (1, 81), (16, 9), (16, 25), (32, 9), (32, 25)]
    rows = [bench_step(b, v, hidden=hidden, device=device, repeats=repeats, min_seconds=min_seconds) for b, v in shapes]
    torch.manual_seed(0)
    model = build_model("fernn", hidden_channels=hidden, decoder_layers=SHIPPED_DECODER_LAYERS,
                        max_speed=SHIPPED_MAX_SPEED).to(device).eval()
    context = torch.rand(1, CONTEXT, 1, CANVAS, CANVAS, device=device)
    rollout = _side_by_side(
        {"rollout": lambda: model.forecast(context, PREDICT, return_hidden=True)},
        repeats=repeats, min_seconds=min_seconds, device=device,
    )["rollout"]
    return {"available": True, "device": torch.cuda.get_device_name(device), "steps": rows,
            "rollout_20_steps_b1_v25_seconds": rollout,
            "graphs_or_compile": "not measured: written without a GPU to try them on"}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def _steady_allocator() -> str:
    """Keep freed memory in glibc's heap (raise its mmap and trim thresholds to 1 GiB).

    Otherwise large fresh outputs (a B = 32 convolution's 40 MB, and often smaller ones) keep
    coming back as new mmaps whose pages fault in on first touch. That inflates the bound and the
    reference (they allocate their outputs; the bound measured 1.5-2x slower) but not the fast
    step (it writes into buffers it keeps), so the comparison would flatter the fast path.
    Returns a description for the JSON.
    """
    if not sys.platform.startswith("linux"):
        return "default (not Linux)"
    try:
        libc = ctypes.CDLL("libc.so.6")
        mmap_threshold, trim_threshold = -3, -1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD (malloc.h)
        if libc.mallopt(mmap_threshold, 1 << 30) and libc.mallopt(trim_threshold, 1 << 30):
            return "glibc mmap and trim thresholds raised to 1 GiB (no page faults on reused memory)"
    except (OSError, AttributeError):
        pass
    return "default (mallopt unavailable)"


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _busy_processes() -> list[str]:
    """Other processes that look like fernn training runs (they distort timings)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "fernn.train" in command and "bash -c" not in command:
            found.append(command)
    return found


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def run_benchmarks(*, quick: bool = False, device: str = "cpu", progress: Callable[[str], None] | None = None) -> dict:
    """Run every section; returns the JSON-ready results (see the module docstring)."""
    say = progress or (lambda message: None)
    cpu = torch.device("cpu")
    repeats = 3 if quick else 7
    min_seconds = 0.005 if quick else 0.05
    started = time.perf_counter()
    allocator = _steady_allocator()
    results: dict = {
        "quick": quick,
        "machine": dict(_machine(), allocator=allocator),
        "load_before": _load(),
        "busy_processes": _busy_processes(),
        "targets": TARGETS,
    }
    app_shapes = [(1, 1), (1, 9)] if quick else [(1, 1), (1, 9), (1, 25), (1, 49), (1, 81)]
    training_shapes = [(4, 9)] if quick else [(16, 9), (16, 25), (32, 9), (32, 25)]
    steps = []
    for group, shapes in (("app", app_shapes), ("training", training_shapes)):
        for batch, copies in shapes:
            say(f"step B={batch} V={copies}")
            row = bench_step(batch, copies, hidden=SHIPPED_HIDDEN, device=cpu, repeats=repeats, min_seconds=min_seconds)
            row["group"] = group
            steps.append(row)
    results["steps"] = steps
    say("conv peak")
    results["conv_peak"] = bench_conv_peak(hidden=SHIPPED_HIDDEN, device=cpu, repeats=repeats, min_seconds=min_seconds,
                                           quick=quick)
    # The peak is the best rate seen for this convolution anywhere in the run, the table's rows included.
    peak = results["conv_peak"]
    peak["conv_peak_gflops"] = max([peak["conv_peak_gflops"], *(row["conv_gflops"] for row in steps)])
    for row in steps:
        row["conv_fraction_of_peak"] = row["conv_gflops"] / peak["conv_peak_gflops"]
    training = dict(batch=2, hidden=8, max_speed=1, decoder_layers=2, context=3, predict=3) if quick else dict(
        batch=16, hidden=SHIPPED_HIDDEN, max_speed=2, decoder_layers=SHIPPED_DECODER_LAYERS, context=CONTEXT,
        predict=PREDICT)
    say("training step")
    results["training"] = bench_training(**training, device=cpu, repeats=3 if quick else 5,
                                         min_seconds=0.0 if not quick else 0.005)
    say("memory")
    results["memory"] = bench_memory(**training, repeats=1 if quick else 3)
    say("app")
    results["app"] = bench_app(device=cpu, repeats=1 if quick else 5, quick=quick)
    if device in ("auto", "cuda"):
        say("cuda")
        results["cuda"] = bench_cuda(hidden=SHIPPED_HIDDEN, repeats=repeats, min_seconds=min_seconds, quick=quick)
    else:
        results["cuda"] = {"available": False, "reason": "not requested (--device cpu)"}
    results["load_after"] = _load()
    results["busy_processes_after"] = _busy_processes()
    results["seconds"] = time.perf_counter() - started
    results["verdicts"] = _verdicts(results)
    return results


def _verdicts(results: dict) -> dict:
    """Each target: the measured value and whether it is met (None when not measured)."""
    steps = results["steps"]
    app = [row["fast_over_bound"] for row in steps if row["group"] == "app"]
    training = [row["fast_over_bound"] for row in steps if row["group"] == "training"]
    b1v25 = [row["speedup_vs_reference"] for row in steps if (row["batch"], row["copies"]) == (1, 25)]
    app_results = results.get("app", {})
    cuda = results.get("cuda", {})

    def verdict(value: float | None, target: float, *, at_least: bool = False) -> dict:
        if value is None:
            return {"value": None, "target": target, "met": None}
        return {"value": value, "target": target, "met": value >= target if at_least else value <= target}

    def seconds(label: str) -> float | None:
        entry = app_results.get(label)
        return entry["seconds"] if isinstance(entry, dict) else None

    return {
        "app_step_over_bound_worst": verdict(max(app) if app else None, TARGETS["app_step_over_bound"]),
        "training_step_over_bound_worst": verdict(max(training) if training else None,
                                                  TARGETS["training_step_over_bound"]),
        "speedup_vs_reference_b1_v25": verdict(b1v25[0] if b1v25 else None,
                                               TARGETS["speedup_vs_reference_b1_v25"], at_least=True),
        "training_speedup_vs_reference": verdict(results["training"]["speedup_vs_reference"],
                                                 TARGETS["training_speedup_vs_reference"], at_least=True),
        "app_comparison_seconds": verdict(seconds("default"), TARGETS["app_comparison_seconds"]),
        "app_comparison_v4_seconds": verdict(seconds("widened_v4"), TARGETS["app_comparison_v4_seconds"]),
        "cuda_rollout_seconds": verdict(cuda.get("rollout_20_steps_b1_v25_seconds"), TARGETS["cuda_rollout_seconds"]),
    }


def format_report(results: dict) -> str:
    """The results as plain-text tables."""
    lines = []
    machine = results["machine"]
    lines.append(f"fernn.bench{' --quick' if results['quick'] else ''}: {machine['cpu']}, {machine['logical_cpus']} logical "
                 f"CPUs, torch {machine['torch']} with {machine['torch_threads']} threads")
    lines.append(f"load average before/after: {results['load_before']} / {results['load_after']}; other fernn.train "
                 f"processes: {len(results['busy_processes'])} before, {len(results['busy_processes_after'])} after")
    lines.append("")
    lines.append("Recurrent step (ms per step, medians; hidden 16, 28x28; bound = the recurrent conv alone)")
    header = (f"{'group':<9}{'B':>4}{'|V|':>5}{'fast':>9}{'reference':>11}{'bound':>9}{'fast/bound':>12}"
              f"{'ref/bound':>11}{'speedup':>9}{'GFLOP/s':>9}{'of peak':>9}")
    lines.append(header)
    for row in results["steps"]:
        lines.append(
            f"{row['group']:<9}{row['batch']:>4}{row['copies']:>5}{row['fast_ms']:>9.3f}{row['reference_ms']:>11.3f}"
            f"{row['bound_ms']:>9.3f}{row['fast_over_bound']:>11.3f}x{row['reference_over_bound']:>10.2f}x"
            f"{row['speedup_vs_reference']:>8.2f}x{row['conv_gflops']:>9.1f}{row['conv_fraction_of_peak']:>8.0%}"
        )
    peak = results["conv_peak"]
    lines.append(f"conv peak (same 16->16 3x3 conv, best rate over every batch measured): {peak['conv_peak_gflops']:.1f} GFLOP/s; "
                 f"float32 matmul {peak['matmul_size']}^3: {peak['matmul_gflops']:.1f} GFLOP/s")
    lines.append("")
    training = results["training"]
    lines.append(f"Training step, forward + backward (B={training['batch']}, |V|={training['copies']}, hidden "
                 f"{training['hidden']}, {training['frames'][0]}+{training['frames'][1]} frames): fast "
                 f"{training['fast_s'] * 1e3:.0f} ms, reference {training['reference_s'] * 1e3:.0f} ms, speedup "
                 f"{training['speedup_vs_reference']:.2f}x (max relative gradient difference "
                 f"{training['max_relative_gradient_difference']:.1e}); bf16 autocast {training['fast_bf16_s'] * 1e3:.0f} ms: "
                 f"{training['bf16_speedup_vs_fast_fp32']:.2f}x the fast fp32 path, "
                 f"{training['bf16_speedup_vs_reference']:.2f}x the reference (gradient difference "
                 f"{training['bf16_max_relative_gradient_difference']:.1e}; native bf16: {training['native_bf16']})")
    memory = results["memory"]
    if memory.get("available"):
        lines.append(f"Peak memory per sample (B={memory['batch']}): fast {memory['fast_mib_per_sample']:.1f} MiB, "
                     f"with activation checkpointing {memory['fast_checkpointed_mib_per_sample']:.1f} MiB, reference "
                     f"{memory['reference_mib_per_sample']:.1f} MiB")
    else:
        lines.append(f"Peak memory: unavailable ({memory.get('reason')})")
    app = results["app"]
    for label in (label for label in ("default", "widened_v4", "widest_v8") if label in app):
        entry = app[label]
        lines.append(f"App full comparison, {label} ({entry['copies']} FERNN copies; {app['models']}; figures "
                     f"{app['figures']}): {entry['seconds'] * 1e3:.0f} ms (model rollouts "
                     f"{entry['rollout_seconds'] * 1e3:.0f} ms)")
    cuda = results["cuda"]
    if cuda.get("available"):
        lines.append(f"CUDA ({cuda['device']}): 20-step B=1 FERNN-V2 rollout "
                     f"{cuda['rollout_20_steps_b1_v25_seconds'] * 1e3:.1f} ms")
        for row in cuda["steps"]:
            lines.append(f"  cuda B={row['batch']} |V|={row['copies']}: fast {row['fast_ms']:.3f} ms, reference "
                         f"{row['reference_ms']:.3f} ms, bound {row['bound_ms']:.3f} ms, fast/bound "
                         f"{row['fast_over_bound']:.2f}x")
    else:
        lines.append(f"CUDA: unavailable ({cuda.get('reason')})")
    lines.append("")
    lines.append("Targets:")
    for name, entry in results["verdicts"].items():
        state = "not measured" if entry["met"] is None else ("met" if entry["met"] else "MISSED")
        value = "-" if entry["value"] is None else f"{entry['value']:.3f}"
        lines.append(f"  {name:<34} {value:>9} (target {entry['target']}) {state}")
    lines.append(f"total bench time {results['seconds']:.1f} s")
    return "\n".join(lines)


def format_markdown(results: dict) -> str:
    """The step table and the target verdicts as Markdown (for docs/performance.md)."""
    lines = [
        "| group | B | \\|V\\| | fast step (ms) | reference (ms) | bound (ms) | fast / bound | reference / bound "
        "| speedup vs reference | conv GFLOP/s | of conv peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["steps"]:
        lines.append(
            f"| {row['group']} | {row['batch']} | {row['copies']} | {row['fast_ms']:.3f} | {row['reference_ms']:.3f} "
            f"| {row['bound_ms']:.3f} | {row['fast_over_bound']:.3f}x | {row['reference_over_bound']:.2f}x "
            f"| {row['speedup_vs_reference']:.2f}x | {row['conv_gflops']:.1f} | {row['conv_fraction_of_peak']:.0%} |"
        )
    lines += ["", "| target | measured | goal | verdict |", "|---|---:|---:|---|"]
    for name, entry in results["verdicts"].items():
        state = "not measured" if entry["met"] is None else ("met" if entry["met"] else "**missed**")
        value = "-" if entry["value"] is None else f"{entry['value']:.3f}"
        lines.append(f"| {name} | {value} | {entry['target']} | {state} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fernn.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, few repeats (a smoke run for the tests)")
    parser.add_argument("--output", default="runs/bench.json", help="where to write the JSON (default: %(default)s)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto",
                        help="also bench CUDA with 'auto' (when present) or 'cuda' (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps torch's default")
    parser.add_argument("--markdown", default="", help="also write the step table and verdicts as Markdown here")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but CUDA is not available")
    results = run_benchmarks(quick=args.quick, device=args.device,
                             progress=lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True))
    print(format_report(results))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {output}")
    if args.markdown:
        Path(args.markdown).write_text(format_markdown(results) + "\n")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
