"""``python -m fernn.study``: the command's entry point (the command lives in :mod:`fernn.experiments.study`)."""

from fernn.experiments.study import main

if __name__ == "__main__":
    raise SystemExit(main())
