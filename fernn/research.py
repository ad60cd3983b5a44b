"""Models trained with the paper's research code (``akandykeller/FERNN``, ``Seq2SeqFERNN`` of
``moving_mnist_fp``), read into fernn.

That model is fernn's ``paper`` architecture: a cell of two bias-free circular 3x3 convolutions
(``cell.conv_u`` on the input, ``cell.conv_h`` on the rolled hidden copies), a max-pool over the
velocity copies, a decoder of N circular conv+ReLU layers and a linear output conv, all without
bias (``decoder_conv.{0, 2, ..., 2N}``), and the paper clock. Its velocity list is
``[(vx, vy) for vx in -r..r for vy in -r..r]`` with copy ``(vx, vy)`` rolled by
``shifts=(vy, vx)``: fernn's velocity ``(dy, dx) = (vy, vx)``, kept in that order so the copies
of ``Forecast.hidden`` line up with the research code's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from fernn.checkpoints import load_safely
from fernn.devices import resolve_device
from fernn.flows import velocity_set
from fernn.models import Forecaster, ModelConfig

__all__ = ["load_research_checkpoint", "research_config", "research_velocities"]

_DECODER_KEY = re.compile(r"decoder_conv\.(\d+)\.weight")


def research_velocities(max_speed: int) -> tuple[tuple[int, int], ...]:
    """The research code's copies as fernn ``(dy, dx)`` velocities, in its order (``dx`` outer)."""
    return velocity_set(max_speed, order="columns")


def research_config(state_dict: Mapping[str, torch.Tensor], *, max_speed: int) -> ModelConfig:
    """The fernn config of a research-code state dict (width and decoder depth from its shapes)."""
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"expected a state dict (a mapping of names to tensors), got {type(state_dict).__name__}")
    keys = set(state_dict)
    decoder = sorted(int(m.group(1)) for key in keys if (m := _DECODER_KEY.fullmatch(key)))
    expected = {"cell.conv_u.weight", "cell.conv_h.weight", *(f"decoder_conv.{i}.weight" for i in decoder)}
    if keys != expected or not decoder or decoder != list(range(0, 2 * len(decoder), 2)):
        unknown, missing = sorted(keys - expected), sorted({"cell.conv_u.weight", "cell.conv_h.weight"} - keys)
        raise ValueError(
            "not a Seq2SeqFERNN state dict: expected exactly cell.conv_u.weight, cell.conv_h.weight and "
            f"decoder_conv.0/2/4/....weight (no biases); unexpected {unknown or 'none'}, missing {missing or 'none'}"
            + ("" if decoder == list(range(0, 2 * len(decoder), 2)) else f", decoder indices {decoder}")
        )
    tensors = {key: state_dict[key] for key in expected}
    if not all(isinstance(t, torch.Tensor) and t.ndim == 4 for t in tensors.values()):
        raise ValueError("every weight of a Seq2SeqFERNN state dict must be a 4-d convolution tensor")
    input_weight, recurrent_weight = tensors["cell.conv_u.weight"], tensors["cell.conv_h.weight"]
    hidden, in_channels, kernel = input_weight.shape[0], input_weight.shape[1], input_weight.shape[2]
    shapes = {"cell.conv_u.weight": (hidden, in_channels, kernel, kernel),
              "cell.conv_h.weight": (hidden, hidden, kernel, kernel)}
    for position, index in enumerate(decoder):
        out = in_channels if position == len(decoder) - 1 else hidden
        shapes[f"decoder_conv.{index}.weight"] = (out, hidden, kernel, kernel)
    wrong = [f"{key} {tuple(tensors[key].shape)} (expected {shape})" for key, shape in shapes.items()
             if tuple(tensors[key].shape) != shape]
    if wrong or kernel % 2 == 0 or recurrent_weight.shape[0] != hidden:
        raise ValueError(f"Seq2SeqFERNN weights of inconsistent shapes: {'; '.join(wrong) or f'kernel {kernel}'}")
    return ModelConfig(
        kind="fernn" if max_speed > 0 else "grnn",
        velocities=research_velocities(max_speed),
        hidden_channels=hidden,
        in_channels=in_channels,
        kernel_size=kernel,
        decoder_layers=len(decoder),
        decoder_bias=False,
        pooling="max",
        decoding="paper",
    )


def load_research_checkpoint(path: str | Path, *, max_speed: int, device: str | torch.device = "cpu") -> Forecaster:
    """A :class:`~fernn.Forecaster` computing what the research code's ``Seq2SeqFERNN`` computes.

    ``path`` holds that model's ``state_dict`` (or a dict with it under ``"state_dict"``), read
    with ``weights_only=True``; ``max_speed`` is its velocity range ``r`` (the file does not
    record it). Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for anything
    that is not such a state dict.
    """
    path = Path(path)
    payload = load_safely(path)
    if isinstance(payload, Mapping) and "state_dict" in payload and isinstance(payload["state_dict"], Mapping):
        payload = payload["state_dict"]
    config = research_config(payload, max_speed=max_speed)
    model = Forecaster(config)
    renamed = {
        "encoder.cell.input_conv.weight": payload["cell.conv_u.weight"],
        "encoder.cell.recurrent_conv.weight": payload["cell.conv_h.weight"],
    }
    for position in range(config.decoder_layers):
        # fernn's decoder is Sequential(conv, relu, conv, relu, ..., conv): the same indices.
        renamed[f"decoder.net.{2 * position}.weight"] = payload[f"decoder_conv.{2 * position}.weight"]
    model.load_state_dict({key: value.float() for key, value in renamed.items()})
    model.metrics = {"source": {"format": "research-code Seq2SeqFERNN state dict", "file": path.name,
                                "max_speed": max_speed}}
    return model.to(resolve_device(device)).eval()
