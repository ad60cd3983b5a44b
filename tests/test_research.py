"""Research-code interop: a Seq2SeqFERNN state dict runs in fernn with that code's numbers.

The reference below is written in this test from the published description of the research
model (``Seq2SeqFERNN``): per-copy ``torch.roll(h, shifts=(vy, vx))`` over the velocity list
``[(vx, vy) for vx in -r..r for vy in -r..r]``, bias-free circular convolutions, max-pool over
copies, N conv+ReLU decoder layers and a linear output conv, and the paper clock.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import fernn
from fernn.research import research_velocities


def research_state_dict(*, hidden: int, decoder_hidden_layers: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)

    def weight(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64) * 0.3

    state = {"cell.conv_u.weight": weight(hidden, 1, 3, 3), "cell.conv_h.weight": weight(hidden, hidden, 3, 3)}
    for layer in range(decoder_hidden_layers):
        state[f"decoder_conv.{2 * layer}.weight"] = weight(hidden, hidden, 3, 3)
    state[f"decoder_conv.{2 * decoder_hidden_layers}.weight"] = weight(1, hidden, 3, 3)
    return state


def circular_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), weight)


def research_forward(state: dict, frames: torch.Tensor, steps: int, max_speed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(predictions (B, S, 1, H, W), hidden states (B, T+S, V, C, H, W)) as the research model computes them."""
    speeds = range(-max_speed, max_speed + 1)
    velocities = [(vx, vy) for vx in speeds for vy in speeds]
    batch, length, _, height, width = frames.shape
    hidden = state["cell.conv_h.weight"].shape[0]
    decoder = sorted((k for k in state if k.startswith("decoder_conv.")), key=lambda k: int(k.split(".")[1]))
    h = frames.new_zeros(batch, len(velocities), hidden, height, width)

    def cell(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        drive = circular_conv(x, state["cell.conv_u.weight"])
        copies = []
        for index, (vx, vy) in enumerate(velocities):
            rolled = torch.roll(h[:, index], shifts=(vy, vx), dims=(2, 3))
            copies.append(torch.relu(drive + circular_conv(rolled, state["cell.conv_h.weight"])))
        return torch.stack(copies, dim=1)

    def decode(h: torch.Tensor) -> torch.Tensor:
        y = h.max(dim=1).values
        for position, key in enumerate(decoder):
            y = circular_conv(y, state[key])
            if position < len(decoder) - 1:
                y = torch.relu(y)
        return y

    states = []
    for t in range(length):
        h = cell(frames[:, t], h)
        states.append(h)
    x, outputs = frames[:, -1], []
    for _ in range(steps):
        h = cell(x, h)
        states.append(h)
        x = decode(h)
        outputs.append(x)
    return torch.stack(outputs, dim=1), torch.stack(states, dim=1)


@pytest.mark.parametrize("max_speed, hidden, layers", [(1, 5, 4), (2, 3, 2), (0, 4, 1)])
def test_loaded_model_equals_the_research_forward(tmp_path, max_speed, hidden, layers) -> None:
    state = research_state_dict(hidden=hidden, decoder_hidden_layers=layers)
    torch.save(state, tmp_path / "research.pt")
    model = fernn.load_research_checkpoint(tmp_path / "research.pt", max_speed=max_speed).double()
    assert model.config.decoder_layers == layers + 1 and model.config.decoder_bias is False
    assert model.config.decoding == "paper" and model.config.hidden_channels == hidden
    assert model.config.kind == ("grnn" if max_speed == 0 else "fernn")
    frames = torch.rand(2, 4, 1, 9, 11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    as_loaded = {key: value.float().double() for key, value in state.items()}  # fernn keeps float32 weights
    expected_frames, expected_hidden = research_forward(as_loaded, frames, 3, max_speed)
    out = model.forecast(frames, 3, return_hidden=True)
    torch.testing.assert_close(out.frames, expected_frames, rtol=1e-10, atol=1e-12)
    # The copies come in the research code's order: copy i is its velocity list's entry i.
    torch.testing.assert_close(out.hidden, expected_hidden, rtol=1e-10, atol=1e-12)
    assert out.velocities == research_velocities(max_speed)


def test_research_velocity_order_and_sign() -> None:
    assert research_velocities(1)[:3] == ((-1, -1), (0, -1), (1, -1))  # (vy, vx) with vx outer
    assert sorted(research_velocities(2)) == sorted(fernn.velocity_set(2))


def test_a_wrapped_state_dict_loads_too(tmp_path) -> None:
    state = research_state_dict(hidden=3, decoder_hidden_layers=4)
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "wrapped.pt")
    assert fernn.load_research_checkpoint(tmp_path / "wrapped.pt", max_speed=1).config.hidden_channels == 3


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update({"cell.conv_h.bias": torch.zeros(3)}), "unexpected"),
    (lambda s: s.pop("cell.conv_u.weight"), "missing"),
    (lambda s: s.update({"decoder_conv.2.weight": torch.zeros(3, 4, 3, 3)}), "inconsistent shapes"),
    (lambda s: s.pop("decoder_conv.2.weight"), "decoder"),
    (lambda s: s.update({"cell.conv_h.weight": torch.zeros(3, 3)}), "4-d"),
])
def test_other_state_dicts_get_a_clear_value_error(tmp_path, edit, message) -> None:
    state = research_state_dict(hidden=3, decoder_hidden_layers=4)
    edit(state)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=message):
        fernn.load_research_checkpoint(tmp_path / "bad.pt", max_speed=1)


def test_a_fernn_checkpoint_or_garbage_is_refused(tmp_path) -> None:
    fernn.save_checkpoint(tmp_path / "fernn.pt", fernn.build_model("grnn", hidden_channels=2, decoder_layers=2))
    with pytest.raises(ValueError, match="not a Seq2SeqFERNN"):
        fernn.load_research_checkpoint(tmp_path / "fernn.pt", max_speed=1)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        fernn.load_research_checkpoint(tmp_path / "junk.pt", max_speed=1)
    with pytest.raises(FileNotFoundError):
        fernn.load_research_checkpoint(tmp_path / "missing.pt", max_speed=1)


def test_convert_cli_writes_a_fernn_checkpoint_and_fails_in_one_line(tmp_path) -> None:
    state = research_state_dict(hidden=4, decoder_hidden_layers=4)
    torch.save(state, tmp_path / "research.pt")
    command = [sys.executable, "-m", "fernn.convert", str(tmp_path / "research.pt"), "--max-speed", "2",
               "--output", str(tmp_path / "model")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    model = fernn.from_pretrained(tmp_path / "model").double()
    direct = fernn.load_research_checkpoint(tmp_path / "research.pt", max_speed=2).double()
    frames = torch.rand(1, 3, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(model.forecast(frames, 2).frames, direct.forecast(frames, 2).frames)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    bad = subprocess.run([*command[:3], str(tmp_path / "junk.pt"), *command[4:]], capture_output=True, text=True,
                         timeout=120, check=False)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
