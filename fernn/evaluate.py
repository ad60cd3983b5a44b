"""``python -m fernn.evaluate``: the command's entry point (the command lives in :mod:`fernn.experiments.evaluate`)."""

from fernn.experiments.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
