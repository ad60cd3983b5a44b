"""Speed of the FERNN step against its bounds: ``python -m fernn.bench [--quick] [--output PATH]``.

Every number is a median over several repeats, and the variants of one row are timed side by
side (round-robin within each repeat), so load on the machine hits them alike. Rows:

- **step**: one recurrent step as the rollout runs it (the context frames' input drive computed
  in one batched call, then per step one gather that shifts and pads every copy and one fused
  convolution + drive + relu), against the **reference**: the research code's step (a Python
  loop of one ``torch.roll`` per copy, a stack, circular padding, NCHW convolution), with the same
  weights, and against the **bound**: the recurrent convolution alone on an already shifted,
  padded tensor of the same shape (the faster of ``F.conv2d`` and oneDNN with prepacked weights).
- **rotation step**: FERNN-R's step (``C_12``, the state lifted to 12 orientations): one gather
  turns, rolls and pads every copy, then the fused group convolution; against the reference
  (one orientation roll and one ``grid_sample`` per copy, the research code's structure) and the
  bound (the group convolution alone).
- **world step**: the world FERNN's step on its 48x48 memory map (one gather moves every copy of
  every sequence by ``nu - a_t``, the recurrent conv, the view's drive at the window, relu), against a
  per-copy ``torch.roll`` + circular pad + conv loop and the bound (the recurrent conv alone).
- **conv throughput**: the bound's GFLOP/s against the best this machine reaches for the same
  convolution at any batch, and a float32 matmul's GFLOP/s.
- **training**: one forward + backward of FERNN-V2 on a batch, fast path against the reference
  rollout, with the largest gradient difference between them as a check.
- **memory**: peak resident memory per sample of that training step, with and without activation
  checkpointing (Linux: ``VmHWM`` after resetting it through ``/proc/self/clear_refs``).
- **app**: the demo's full comparison (``fernn.showcase.compare`` on both shipped models with hidden
  states kept, plus the figures the app draws by default), as shipped and with ``|v| <= 4``.
- **cuda**: the step table and a 20-step rollout on the GPU, when there is one.

:func:`fernn.reference.reference_cell_step` and :func:`~fernn.reference.reference_rollout` are the
slow, obvious implementations; the tests check the fast path against them, forward and backward.

Modules, one job each: ``harness`` (functions timed side by side, on :mod:`fernn.timing`'s clock),
``step``, ``rotation``, ``world``, ``training``, ``memory``, ``app_latency``, ``cuda``, ``machine`` (the machine
and its load), ``report`` (targets, verdicts, tables) and ``cli`` (``run_benchmarks`` and the command).
"""

from __future__ import annotations

from fernn.experiments.bench.cli import main, run_benchmarks

__all__ = ["main", "run_benchmarks"]
