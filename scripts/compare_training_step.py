"""A training step of the shipped FERNN recipe, this checkout against an older one, side by side.

    git worktree add /tmp/fernn-old 620fe05      # the checkout to compare against
    python scripts/compare_training_step.py --old /tmp/fernn-old [--threads 1]

Loads the older ``fernn`` package under another name, builds the same model (same seed, weights
copied) and batch in both, and times forward + backward + Adam step round-robin: the old fp32
path, this checkout's fp32 path, and this checkout under bf16 autocast (``--precision bf16``).
Prints medians and the ratios against the old fp32 path, and the largest relative gradient
difference of the new fp32 path against the old one. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch


def load_package(root: Path, name: str):
    """Import ``root/fernn`` as the package ``name`` (its imports are relative, so it stays whole)."""
    spec = importlib.util.spec_from_file_location(name, root / "fernn" / "__init__.py",
                                                  submodule_search_locations=[str(root / "fernn")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="root of the older checkout")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=16)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    torch.set_num_threads(args.threads)
    old = load_package(args.old.resolve(), "fernn_old")
    import fernn
    from fernn.experiments.bench.harness import side_by_side

    torch.manual_seed(0)
    new_model = fernn.build_model("fernn", hidden_channels=args.hidden, max_speed=2).train()
    old_model = old.build_model("fernn", hidden_channels=args.hidden, max_speed=2).train()
    new_model.load_state_dict(old_model.state_dict())  # the new model reads either naming of its weights
    sequences = torch.rand(args.batch, 20, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    context, target = sequences[:, :10], sequences[:, 10:]

    def step(model, bf16: bool = False):
        optimizer = torch.optim.Adam(model.parameters(), lr=0.0)  # lr 0: every repeat times the same weights

        def run() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                frames = model(context, 10)
            torch.mean((frames.float() - target) ** 2).backward()
            optimizer.step()
        return run

    variants = {"old fp32": step(old_model), "new fp32": step(new_model), "new bf16": step(new_model, bf16=True)}
    gradients = {}
    for name, run in variants.items():
        run()
        gradients[name] = [p.grad.clone() for p in (old_model if name.startswith("old") else new_model).parameters()]
    difference = max(float((a - b).abs().max() / b.abs().max()) for a, b in
                     zip(gradients["new fp32"], gradients["old fp32"]))
    medians = side_by_side(variants, repeats=args.repeats, min_seconds=0.0, device=torch.device("cpu"))
    print(f"training step, FERNN-V2 hidden {args.hidden}, batch {args.batch}, 10+10 frames, {args.threads} thread(s), "
          f"median of {args.repeats}:")
    for name, seconds in medians.items():
        print(f"  {name}: {seconds * 1e3:7.0f} ms   {medians['old fp32'] / seconds:5.2f}x the old fp32 path")
    print(f"  new fp32 gradients vs old: max relative difference {difference:.1e}")


if __name__ == "__main__":
    main()
