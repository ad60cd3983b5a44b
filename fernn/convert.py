"""``python -m fernn.convert``: the command's entry point (the command lives in :mod:`fernn.experiments.convert`)."""

from fernn.experiments.convert import main

if __name__ == "__main__":
    raise SystemExit(main())
