"""The world models: an observer sees an ``S x S`` window of a ``W x W`` torus world and moves by known
whole-pixel actions; the model predicts its next views.

Two models with the same interface (:meth:`WorldModel.forecast`) and about the same weights:

- :class:`WorldFERNN` (FloWM's idea, on fernn's cell): the state is a ``W x W`` memory map, one copy
  per velocity ``nu`` in ``V``, kept in the observer's frame (the window at the map's top-left,
  ``[0:S, 0:S]``). With the action ``a_t = p_{t+1} - p_t`` between frames ``t`` and ``t + 1``::

      r_t[nu]     = W_rec * roll(h_t[nu], nu - a_t)          circular 3x3 conv on the torus map
      x^_{t+1}    = D(max_nu relu(r_t[nu]))  read at the window (the prediction of view t+1)
      h_{t+1}[nu] = relu(r_t[nu] + E(W_in * x_{t+1}))        h_0[nu] = relu(E(W_in * x_0))

  ``E`` writes the view's drive (a zero-padded conv of the ``S x S`` view: opposite window edges are
  never wrapped together) into a zero ``W x W`` canvas at the window; ``D`` is the circular
  :class:`~fernn.models.ConvDecoder`. Rolling by ``-a_t`` keeps the map in the observer's frame
  (content already in view appears shifted by ``-a_t``), exactly, because the map is the world's
  torus; rolling copy ``nu`` by ``nu`` too makes it follow content that moves at ``nu`` in the world.
  A fed-back prediction ``x^_{t+1}`` enters as view ``t + 1``'s drive at the window *after* that
  step's move, where view ``t + 1`` itself would (FloWM writes it offset by the next action).
- :class:`WorldGRNN` (FloWM's "action concatenation" baseline): a conv RNN on the ``S x S`` view grid,
  ``V = {0}``, zero padding; the action enters as two constant input planes ``A(a_t)``::

      r_t      = W_rec * h_t + W_in * [0, A(a_t)]
      x^_{t+1} = D(relu(r_t)),    h_{t+1} = relu(r_t + W_in * [x_{t+1}, 0])

Both read out on the time-aligned clock (fernn's forecasters call it ``aligned``): the prediction of
view ``t + 1`` comes from the state moved by ``a_t`` and passed through the recurrent conv, before
any drive of view ``t + 1``, so no frame is read twice. Predictions are fed back without gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from fernn.encoder import EncodedModel, FlowEncoder, check_frames, pool_copies
from fernn.flows import Velocity
from fernn.models import ConvDecoder, step_count
from fernn.world.config import ACTION_PLANES, WorldConfig
from fernn.world.readout import WorldForecast, decode_window, zero_padded_decode

__all__ = ["WorldFERNN", "WorldGRNN", "WorldModel", "build_world_model"]



class WorldModel(EncodedModel, nn.Module):
    """What both world models share: the cell (a :class:`~fernn.encoder.FlowEncoder`'s), the decoder,
    input checks and the rollout loop. Subclasses say how a step moves the state and where a view's
    drive enters (see the module docstring for the update equations)."""

    config_class = WorldConfig
    evaluation_kind = "world"
    kind: ClassVar[str] = ""
    #: whether the state holds anything of the world beyond the view
    holds_world: ClassVar[bool] = False
    memory_note: ClassVar[str] = ""

    def __init__(self, config: WorldConfig) -> None:
        super().__init__()
        if not isinstance(config, WorldConfig) or config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} takes a WorldConfig of kind {self.kind!r}, got {config!r}")
        self.config = config
        self.encoder = FlowEncoder(flow=config.flow, in_channels=config.cell_inputs,
                                   hidden_channels=config.hidden_channels, kernel_size=config.kernel_size)
        self.decoder = ConvDecoder(hidden_channels=config.hidden_channels, out_channels=config.in_channels,
                                   layers=config.decoder_layers, kernel_size=config.kernel_size,
                                   bias=config.decoder_bias)
        self.metrics: dict = {}  # recorded metrics travel with a model loaded from a checkpoint
        # Training-time memory saver: recompute each step in the backward pass.
        self.checkpoint_steps = False

    @property
    def cell(self):
        """The recurrent cell (:class:`~fernn.cells.FlowRNNCell`): its input and recurrent convolutions."""
        return self.encoder.cell

    @property
    def world_size(self) -> int:
        return self.config.world_size

    @property
    def view_size(self) -> int:
        return self.config.view_size

    # -- what a subclass defines -----------------------------------------------------------------
    def _drive(self, views: torch.Tensor) -> torch.Tensor:
        """A view's drive on the state's grid: ``(N, C_in, S, S)`` -> ``(N, C, G, G)``."""
        raise NotImplementedError

    def _recurrent(self, h: torch.Tensor, moves: list[list[int]], velocities: tuple[Velocity, ...]) -> torch.Tensor:
        """``r_t``: the state ``(B, V, C, G, G)`` moved by the actions ``moves`` (B pairs) and passed
        through the recurrent conv, before any drive."""
        raise NotImplementedError

    def _read(self, pooled: torch.Tensor) -> torch.Tensor:
        """The predicted view from the pooled state: ``(B, C, G, G)`` -> ``(B, C_in, S, S)``."""
        raise NotImplementedError

    # -- checks ------------------------------------------------------------------------------------
    def _checked(self, views: object, steps: object, actions: object,
                 velocities: Sequence[Velocity] | None) -> tuple[int, list, tuple[Velocity, ...]]:
        weight = next(self.parameters())
        check_frames(views, in_channels=self.config.in_channels, weight=weight, name="views")
        size = self.view_size
        if tuple(views.shape[-2:]) != (size, size):
            raise ValueError(f"views must be {size}x{size} (the model's view_size), got {tuple(views.shape[-2:])}")
        steps = step_count(steps)
        batch, num_views = views.shape[:2]
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"actions must be a torch.Tensor of whole-pixel moves, got {type(actions).__name__}")
        if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
            raise ValueError(f"actions must be integers (whole-pixel moves (dy, dx)), got {actions.dtype}")
        expected = (batch, num_views + steps - 1, 2)
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions must have shape (B, T + steps - 1, 2) = {expected} for {num_views} views and "
                             f"{steps} steps (actions[:, t] moves the window from frame t to t + 1), got "
                             f"{tuple(actions.shape)}")
        return steps, actions.tolist(), self._velocities(velocities)

    def _velocities(self, velocities: Sequence[Velocity] | None) -> tuple[Velocity, ...]:
        return self.velocities if velocities is None else self.flow.as_velocities(velocities)

    # -- the rollout ------------------------------------------------------------------------------
    def rollout(self, views: torch.Tensor, steps: int, *, actions: torch.Tensor,
                velocities: Sequence[Velocity] | None = None, return_memory: bool = False,
                return_hidden: bool = False) -> WorldForecast:
        """Differentiable rollout; :meth:`forecast` is the inference entry point.

        views: the context ``(B, T, C_in, S, S)``; actions: integers ``(B, T + steps - 1, 2)``,
        ``actions[:, t]`` the window's move between frames ``t`` and ``t + 1`` (the last ``steps`` of
        them move it while predicting). Returns ``steps`` predicted views (see :class:`WorldForecast`).
        """
        steps, moves, velocities = self._checked(views, steps, actions, velocities)
        num_views = views.shape[1]
        recompute = self.checkpoint_steps and self.training and torch.is_grad_enabled()
        drives = self._drive(views.flatten(0, 1)).unflatten(0, views.shape[:2])  # (B, T, C, G, G)
        h = torch.relu(drives[:, 0]).unsqueeze(1).expand(-1, len(velocities), -1, -1, -1)  # (B, V, C, G, G)
        states = [h]
        for t in range(1, num_views):
            h = self._step(h, [row[t - 1] for row in moves], velocities, drives[:, t], recompute)
            states.append(h)
        frames, memory = [], []
        for k in range(steps):
            t = num_views - 1 + k  # predict view t + 1 from h_t and the action a_t
            step_moves = [row[t] for row in moves]
            recurrent = self._recurrent(h, step_moves, velocities)  # (B, V, C, G, G)
            # relu is monotone, so the max over copies commutes with it: one relu on the pooled map.
            if self.config.pooling == "max":
                pooled = torch.relu(pool_copies(recurrent, "max"))  # (B, C, G, G)
            else:
                pooled = pool_copies(torch.relu(recurrent), self.config.pooling)
            frames.append(self._read(pooled))  # (B, C_in, S, S)
            if return_memory and self.holds_world:
                memory.append(self.decoder(pooled))  # (B, C_in, W, W), circular on the torus
            if k < steps - 1 or return_hidden:
                drive = self._drive(frames[-1].detach())  # fed back without gradient, at the new window
                h = self._add_drive(recurrent, drive)
                states.append(h)
        return WorldForecast(
            frames=torch.stack(frames, dim=1) if frames else views.new_zeros(views.shape[0], 0, *views.shape[2:]),
            memory=self._memory(memory, views) if return_memory and self.holds_world else None,
            memory_note=self.memory_note,
            hidden=torch.stack(states, dim=1) if return_hidden else None,
            velocities=velocities,
        )

    def _memory(self, maps: list[torch.Tensor], views: torch.Tensor) -> torch.Tensor:
        """The decoded maps stacked ``(B, steps, C_in, W, W)``, also when there are none."""
        empty = views.new_zeros(views.shape[0], 0, views.shape[2], self.world_size, self.world_size)
        return torch.stack(maps, dim=1) if maps else empty

    def _step(self, h: torch.Tensor, moves: list, velocities: tuple[Velocity, ...], drive: torch.Tensor,
              recompute: bool) -> torch.Tensor:
        """``h_{t+1} = relu(r_t + drive)`` from ``h_t``; with ``recompute``, activation-checkpointed."""
        if recompute:
            return activation_checkpoint(lambda state, d: self._add_drive(self._recurrent(state, moves, velocities), d),
                                         h, drive, use_reentrant=False)
        return self._add_drive(self._recurrent(h, moves, velocities), drive)

    @staticmethod
    def _add_drive(recurrent: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
        """``relu(recurrent[nu] + drive)`` for every copy: ``(B, V, C, G, G)`` + ``(B, C, G, G)``.

        Added as contiguous ``(B, V, G*G*C)`` rows (a free view of a channels-last state), as the cell
        does: a broadcast add over the 5-d channels-last view takes a loop order several times slower.
        """
        batch, copies, channels, height, width = recurrent.shape
        rows = recurrent.permute(0, 1, 3, 4, 2).reshape(batch, copies, -1)  # (B, V, G*G*C)
        drive_rows = drive.permute(0, 2, 3, 1).reshape(batch, 1, -1)  # (B, 1, G*G*C)
        updated = torch.relu_(rows + drive_rows)  # a fresh sum, so relu_ may overwrite it
        return updated.view(batch, copies, height, width, channels).permute(0, 1, 4, 2, 3)  # (B, V, C, G, G)

    def forward(self, views: torch.Tensor, steps: int, *, actions: torch.Tensor) -> torch.Tensor:
        """Training entry point: predicted views ``(B, steps, C_in, S, S)``."""
        return self.rollout(views, steps, actions=actions).frames

    def forecast(self, views: torch.Tensor, steps: int, *, actions: torch.Tensor,
                 velocities: Sequence[Velocity] | None = None, return_memory: bool = False,
                 return_hidden: bool = False) -> WorldForecast:
        """Predict ``steps`` views after ``views`` without gradients (see :meth:`rollout`).

        ``velocities``: the objects' velocity set at run time (default: the trained set;
        ``model.flow.velocity_set(r)`` gives ``{-r..r}^2``); the weights do not depend on it.
        """
        with torch.inference_mode():
            return self.rollout(views, steps, actions=actions, velocities=velocities, return_memory=return_memory,
                                return_hidden=return_hidden)


class WorldFERNN(WorldModel):
    """The world FERNN: a ``W x W`` memory map per velocity copy, in the observer's frame (see the
    module docstring). Flow equivariant in two ways, both exact on the torus (tests/test_world.py):
    two runs whose views agree and whose actions differ by a constant ``u`` hold copy ``nu`` and copy
    ``nu - u`` alike; and with nothing written, the observer's motion only moves the map."""

    kind = "fernn"
    holds_world = True
    memory_note = ("the FERNN's pooled memory map decoded everywhere, in the observer's frame (the window at "
                   "[0:S, 0:S]); fernn.world.memory_in_world moves it to world coordinates")

    def _drive(self, views: torch.Tensor) -> torch.Tensor:
        # Zero padding: the window's opposite edges are not neighbours in the world.
        drive = F.conv2d(views, self.cell.input_conv.weight, padding=self.cell.pad)  # (N, C, S, S)
        margin = self.world_size - self.view_size
        return F.pad(drive, (0, margin, 0, margin))  # (N, C, W, W): the window at the top-left

    def _read(self, pooled: torch.Tensor) -> torch.Tensor:
        return decode_window(self.decoder, pooled, self.view_size)

    def _recurrent(self, h: torch.Tensor, moves: list, velocities: tuple[Velocity, ...]) -> torch.Tensor:
        batch, copies, channels, size, _ = h.shape
        flow = self.flow
        # Copy nu of sequence b moves by nu - a_b: the batch folds into the copies' axis, so one gather
        # moves and circularly pads every copy of every sequence. Measured (one thread, B 8, V_1, C 16,
        # W 48; move + recurrent conv + backward): 23 ms, against 29 ms for a gather per sequence and
        # 111 ms for per-copy torch.roll + circular pad (whose NCHW result the convolution then converts).
        displacements = [flow.combine(nu, tuple(move), times=-1) for move in moves for nu in velocities]
        folded = h.reshape(1, batch * copies, channels, size, size)  # (1, B*V, C, W, W)
        shifted = flow.move_copies(folded, displacements, pad=self.cell.pad)  # (1, B*V, C, W+2p, W+2p)
        recurrent = self.cell.recurrent_conv(shifted.flatten(0, 1))  # (B*V, C, W, W)
        return recurrent.unflatten(0, (batch, copies))


class WorldGRNN(WorldModel):
    """The world G-RNN: a conv RNN on the view grid with the action as two input planes, ``V = {0}``
    (FloWM's "action concatenation" baseline; see the module docstring). Zero padding everywhere:
    the view is not a torus."""

    kind = "grnn"
    holds_world = False
    memory_note = ("the world G-RNN's state is its SxS view grid: it holds nothing of the world beyond its "
                   "view, so there is no world memory to show")

    def _velocities(self, velocities: Sequence[Velocity] | None) -> tuple[Velocity, ...]:
        if velocities is not None and self.flow.as_velocities(velocities) != (self.flow.zero,):
            raise ValueError("the world G-RNN has no velocity copies: leave velocities=None")
        return (self.flow.zero,)

    def _drive(self, views: torch.Tensor) -> torch.Tensor:
        weight = self.cell.input_conv.weight[:, : self.config.in_channels]  # the view's part of W_in
        return F.conv2d(views, weight, padding=self.cell.pad)  # (N, C, S, S)

    def _read(self, pooled: torch.Tensor) -> torch.Tensor:
        return zero_padded_decode(self.decoder, pooled)  # the view's edges are not neighbours

    def _recurrent(self, h: torch.Tensor, moves: list, velocities: tuple[Velocity, ...]) -> torch.Tensor:
        batch, _, channels, size, _ = h.shape
        pad = self.cell.pad
        planes = torch.tensor(moves, dtype=h.dtype, device=h.device)[:, :, None, None]  # (B, 2, 1, 1)
        planes = planes.expand(batch, ACTION_PLANES, size, size)  # (B, 2, S, S)
        action = F.conv2d(planes, self.cell.input_conv.weight[:, self.config.in_channels:], padding=pad)
        recurrent = F.conv2d(h[:, 0], self.cell.recurrent_conv.weight, padding=pad)  # (B, C, S, S)
        return (recurrent + action).unsqueeze(1)  # (B, 1, C, S, S)


_CLASSES = {"fernn": WorldFERNN, "grnn": WorldGRNN}


def build_world_model(config: WorldConfig) -> WorldModel:
    """The world model ``config`` describes: :class:`WorldFERNN` or :class:`WorldGRNN` by ``config.kind``."""
    if not isinstance(config, WorldConfig):
        raise ValueError(f"build_world_model takes a WorldConfig, got {config!r}")
    return _CLASSES[config.kind](config)
