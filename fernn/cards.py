"""``python -m fernn.cards``: the command's entry point (the command lives in :mod:`fernn.experiments.cards`)."""

from fernn.experiments.cards import main

if __name__ == "__main__":
    raise SystemExit(main())
