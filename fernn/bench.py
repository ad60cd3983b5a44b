"""``python -m fernn.bench``: the command's entry point (the command lives in :mod:`fernn.experiments.bench.cli`)."""

from fernn.experiments.bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
