"""Do the shipped checkpoints predict the same frames in this checkout as in an older one?

    git worktree add /tmp/fernn-old 2241aac
    PYTHONPATH=. python scripts/compare_predictions.py --old /tmp/fernn-old

Loads the older ``fernn`` package under another name, loads every checkpoint given (default: the
shipped forecasters) with both, and compares 30 predicted frames (run with ``velocity_set(3)``) and
the hidden states of the model's own set on 8 held-out Flowing MNIST sequences (velocities up to 2).
Prints, per checkpoint, whether the tensors are identical and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_training_step import load_package  # noqa: E402  (the same loader, one place)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "pretrained" / name for name in ("grnn.pt", "fernn.pt")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="root of the older checkout")
    parser.add_argument("checkpoints", type=Path, nargs="*", default=DEFAULT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    old = load_package(args.old.resolve(), "fernn_old")
    import fernn
    from fernn.datasets.flowing import SequenceSpec, flowing_mnist_batch
    from fernn.datasets.digits import load_digits

    digits, _ = load_digits("test")
    sequences = flowing_mnist_batch(digits, range(8), seed=3, spec=SequenceSpec(num_frames=20, max_speed=2))
    different = 0
    for path in args.checkpoints:
        outputs = []
        for package in (old, fernn):
            model = package.load_checkpoint(path)
            frames = model.forecast(sequences[:, :10], 30, velocities=package.velocity_set(3)).frames
            hidden = model.forecast(sequences[:, :10], 10, return_hidden=True).hidden
            outputs.append((frames, hidden))
        for name, before, after in zip(("frames", "hidden"), outputs[0], outputs[1]):
            same = torch.equal(before, after)
            different += not same
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {name} {tuple(after.shape)} "
                  f"{'identical' if same else 'DIFFERENT'} (max |difference| {(before - after).abs().max().item():.1e})")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
