"""Convert a research-code model to a fernn checkpoint:
``python -m fernn.convert RESEARCH.pt --max-speed R --output MODEL.pt``.

RESEARCH.pt is a ``state_dict`` of ``Seq2SeqFERNN`` (``akandykeller/FERNN``); ``R`` its velocity
range (``-r..r`` in each axis; 0 for its G-RNN). The result opens in the app
(``FERNN_CHECKPOINT_DIR``) and in every fernn command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checkpoints import save_checkpoint
from .research import load_research_checkpoint

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fernn.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("research", type=Path, help="the research code's state_dict file")
    parser.add_argument("--max-speed", type=int, required=True, help="its velocity range r")
    parser.add_argument("--output", type=Path, required=True, help="the fernn checkpoint to write")
    args = parser.parse_args(argv)
    try:
        model = load_research_checkpoint(args.research, max_speed=args.max_speed)
        save_checkpoint(args.output, model, model.metrics)
    except (OSError, ValueError) as error:
        print(f"python -m fernn.convert: error: {error}", file=sys.stderr)
        return 1
    config = model.config
    print(f"wrote {args.output}: {config.kind}, hidden {config.hidden_channels}, {config.decoder_layers} decoder "
          f"convolutions, {len(config.velocities)} velocity copies, paper clock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
