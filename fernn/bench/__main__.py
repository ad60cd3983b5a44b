"""``python -m fernn.bench``: see :mod:`fernn.bench`."""

from .cli import main

main()
