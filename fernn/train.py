"""``python -m fernn.train``: the command's entry point (the command lives in :mod:`fernn.experiments.train.command`)."""

from fernn.experiments.train.command import main

if __name__ == "__main__":
    raise SystemExit(main())
