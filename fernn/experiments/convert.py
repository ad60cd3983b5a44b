"""Write any fernn model, or a research-code model, as safetensors:
``python -m fernn.convert SOURCE --output MODEL [--max-speed R]``.

SOURCE is a fernn ``.pt`` checkpoint (any version; a training state in it is left out), a model
folder or ``.safetensors`` file, or a ``state_dict`` of the research code's ``Seq2SeqFERNN``
(``akandykeller/FERNN``), which needs ``--max-speed R``: its velocity range (``-r..r`` in each axis;
0 for its G-RNN). MODEL is a model folder (``model.safetensors``, ``config.json``,
``metrics.json``) or, for a path ending in ``.safetensors``, one file with the config and records
in its metadata (the form the app's upload takes). The weights keep their exact bytes. The result
opens with ``fernn.from_pretrained``, in the app (``FERNN_CHECKPOINT_DIR``) and in every fernn command.
"""

from __future__ import annotations

from pathlib import Path

from fernn.experiments import cli
from fernn.checkpoints import FORMAT, MAX_COPIES, load_checkpoint, load_safely, save_pretrained
from fernn.research import load_research_checkpoint

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m fernn.convert", doc=__doc__)
    parser.add_argument("source", type=cli.existing_model, metavar="SOURCE",
                        help="a fernn model (.pt, folder or .safetensors) or the research code's state_dict file")
    # The same limit fernn.load_checkpoint enforces: a larger set would write a file nothing can open.
    speed = cli.Integer(0, cli.MODEL_SPEED_LIMIT, f"at most {MAX_COPIES} velocity copies")
    parser.add_argument("--max-speed", type=speed, metavar="R",
                        help="a research file's velocity range r: copies for {-r..r}^2 in px/frame (0: its G-RNN); "
                             f"{speed.describe()}; fernn files record their own")
    parser.add_argument("--output", type=cli.output_model, required=True, metavar="MODEL",
                        help="the model folder to write, or NAME.safetensors for one file")
    args = parser.parse_args(argv)
    if args.output.absolute() == args.source.absolute():
        parser.error(f"--output {args.output} would overwrite the source; give another path")
    research = _is_research_file(args.source)
    if research and args.max_speed is None:
        parser.error(f"{args.source} is not a fernn checkpoint: as a research-code state_dict it needs --max-speed R")
    if research is False and args.max_speed is not None:
        parser.error(f"{args.source} is a fernn model and records its velocities: leave out --max-speed")
    return cli.run(parser.prog, lambda: _convert(args.source, args.max_speed, args.output))


def _is_research_file(path: Path) -> bool | None:
    """Whether ``path`` is a torch file that is not a fernn checkpoint (read with ``weights_only=True``);
    ``None`` for a file that cannot be read (the conversion then says why, in one line)."""
    if path.is_dir() or path.suffix == ".safetensors":
        return False
    try:
        payload = load_safely(path)
    except Exception:  # noqa: BLE001 - a damaged file can fail anywhere inside the unpickler
        return None
    return not (isinstance(payload, dict) and payload.get("format") == FORMAT)


def _convert(source: Path, max_speed: int | None, output: Path) -> int:
    if max_speed is None:
        model = load_checkpoint(source)
    else:
        model = load_research_checkpoint(source, max_speed=max_speed)
    save_pretrained(output, model, model.metrics)
    config = model.config
    kind = type(model).__name__.lower()
    copies = len(config.velocities)
    print(f"wrote {output}: a {config.kind.label} {kind}, hidden {config.hidden_channels}, "
          f"{copies} velocity {'copy' if copies == 1 else 'copies'}, {config.parameter_count():,} weights")
    return 0
