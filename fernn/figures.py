"""``python -m fernn.figures``: the command's entry point (the command lives in :mod:`fernn.experiments.figures`)."""

from fernn.experiments.figures import main

if __name__ == "__main__":
    raise SystemExit(main())
