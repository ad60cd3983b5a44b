"""Convert a research-code model to a fernn checkpoint:
``python -m fernn.convert RESEARCH.pt --max-speed R --output MODEL.pt``.

RESEARCH.pt is a ``state_dict`` of ``Seq2SeqFERNN`` (``akandykeller/FERNN``); ``R`` its velocity
range (``-r..r`` in each axis; 0 for its G-RNN). The result opens in the app
(``FERNN_CHECKPOINT_DIR``) and in every fernn command.
"""

from __future__ import annotations

from pathlib import Path

from fernn.experiments import cli
from fernn.checkpoints import MAX_COPIES, save_checkpoint
from fernn.research import load_research_checkpoint

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m fernn.convert", doc=__doc__)
    parser.add_argument("research", type=cli.existing_file, metavar="RESEARCH.pt",
                        help="the research code's state_dict file")
    # The same limit fernn.load_checkpoint enforces: a larger set would write a file nothing can open.
    speed = cli.Integer(0, cli.MODEL_SPEED_LIMIT, f"at most {MAX_COPIES} velocity copies")
    parser.add_argument("--max-speed", type=speed, required=True, metavar="R",
                        help=f"its velocity range r: copies for {{-r..r}}^2 in px/frame (0: its G-RNN); {speed.describe()}")
    parser.add_argument("--output", type=cli.output_file, required=True, metavar="MODEL.pt",
                        help="the fernn checkpoint to write")
    args = parser.parse_args(argv)
    if args.output.absolute() == args.research.absolute():
        parser.error(f"--output {args.output} would overwrite the research file; give another path")
    return cli.run(parser.prog, lambda: _convert(args.research, args.max_speed, args.output))


def _convert(research: Path, max_speed: int, output: Path) -> int:
    model = load_research_checkpoint(research, max_speed=max_speed)
    save_checkpoint(output, model, model.metrics)
    config = model.config
    print(f"wrote {output}: {config.kind}, hidden {config.hidden_channels}, {config.decoder_layers} decoder "
          f"convolutions, {len(config.velocities)} velocity copies, paper clock")
    return 0
