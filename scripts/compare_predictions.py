"""Do the shipped models predict the same frames in this checkout as in an older one?

    git worktree add /tmp/fernn-old 3ce6564
    PYTHONPATH=. python scripts/compare_predictions.py --old /tmp/fernn-old

Loads the older ``fernn`` package under another name and every model given (default: every shipped
model under ``pretrained/``): this checkout's with this code, and the older checkout's file of the
same name with the older code (``pretrained/fernn`` here, a model folder, against
``OLD/pretrained/fernn.pt`` there, a torch file, when the older checkout shipped those), and compares, for a forecaster, 30 predicted frames
(run with its flow's ``velocity_set(3)``) and the hidden states of its own set on 8 held-out sequences
of its flow (velocities up to 2); for a classifier, its logits after every frame on 8 held-out
Flickering MNIST sequences, with its own set and widened to ``velocity_set(3)``. Prints, per
model, both paths, whether the tensors are identical and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_training_step import load_package  # noqa: E402  (the same loader, one place)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = sorted(path.parent for path in (ROOT / "pretrained").rglob("model.safetensors"))


def older_path(path: Path, old_root: Path) -> Path:
    """The older checkout's file for ``path``: the same place there, or the ``.pt`` file a model folder was converted from."""
    relative = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else None
    if relative is None:
        return path
    for candidate in (old_root / relative, old_root / relative.with_name(relative.name + ".pt")):
        if candidate.is_file() or (candidate / "model.safetensors").is_file():
            return candidate
    raise SystemExit(f"{old_root} has neither {relative} nor {relative}.pt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="root of the older checkout")
    parser.add_argument("checkpoints", type=Path, nargs="*", default=DEFAULT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    old = load_package(args.old.resolve(), "fernn_old")
    import fernn
    from fernn.datasets.digits import load_digits
    from fernn.datasets.flicker import FlickerSpec, flickering_mnist_batch
    from fernn.datasets.sequences import moving_digits_batch

    digits, labels = load_digits("test")
    flickering, _ = flickering_mnist_batch(digits, labels, range(8), seed=3, spec=FlickerSpec(max_speed=2))
    different = 0
    for path in args.checkpoints:
        outputs = []
        before_path = older_path(path, args.old.resolve())
        for package, where in ((old, before_path), (fernn, path)):
            model = package.load_checkpoint(where)
            wide = model.flow.velocity_set(3)
            if hasattr(model, "classify_steps"):
                outputs.append((model.classify_steps(flickering), model.classify_steps(flickering, wide)))
                continue
            sequences = moving_digits_batch(fernn.load_checkpoint(path).flow, digits, range(8), seed=3, num_frames=20,
                                            max_speed=2)
            frames = model.forecast(sequences[:, :10], 30, velocities=wide).frames
            hidden = model.forecast(sequences[:, :10], 10, return_hidden=True).hidden
            outputs.append((frames, hidden))
        names = ("logits", "logits widened") if hasattr(model, "classify_steps") else ("frames", "hidden")
        for name, before, after in zip(names, outputs[0], outputs[1]):
            same = torch.equal(before, after)
            different += not same
            print(f"{before_path.relative_to(args.old.resolve()) if before_path.is_relative_to(args.old.resolve()) else before_path} (old code) -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {name} {tuple(after.shape)} "
                  f"{'identical' if same else 'DIFFERENT'} (max |difference| {(before - after).abs().max().item():.1e})")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
