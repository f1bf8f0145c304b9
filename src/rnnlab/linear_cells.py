"""Cells whose state update is linear in the state: minGRU, minLSTM and the LRU.

The survey ends with the Transformer replacing recurrence because recurrence cannot be
trained in parallel over time. A recurrence that is *linear in its state*,

.. math::  s_t = a_t \\odot s_{t-1} + b_t,

with ``a_t`` and ``b_t`` computed from the input alone, can: every ``a_t, b_t`` comes
from one pass over the input, and the states from a scan over time (the ``"scan"``
backend, :mod:`rnnlab.recurrent.backends.scan`), while generation still carries one
state of fixed size. A :class:`LinearRecurrentCell` says so through four methods on top
of the cell protocol:

- :meth:`~LinearRecurrentCell.coefficients` — ``a, b`` of every step from the projected
  input ``(T, B, P)`` at once (``a`` may broadcast over time and batch; both may be complex);
- :meth:`~LinearRecurrentCell.readout` — the outputs from the scanned states;
- :meth:`~LinearRecurrentCell.scan_state` / :meth:`~LinearRecurrentCell.state_from_scan` —
  the cell's state tuple (real ``(B, S)`` tensors, as every layer passes states) to the
  scanned variable and back.

Each cell's :meth:`step` is written from its paper's equations, independently of
:meth:`coefficients`: the reference backend steps it, and the tests hold the scan to it.

Papers: Feng, Tung, Ahmed, Bengio, Hajimirsadeghi (2024), "Were RNNs All We Needed?"
(arXiv 2410.01201) for minGRU and minLSTM; Orvieto et al. (2023), "Resurrecting Recurrent
Neural Networks for Long Sequences" (arXiv 2303.06349) for the LRU.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .cells import RecurrentCell, State, register

__all__ = ["LinearRecurrentCell", "MinGRUCell", "MinLSTMCell", "LRUCell", "positive_candidate"]


def positive_candidate(x: Tensor) -> Tensor:
    """The minGRU paper's ``g(x) = x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` otherwise:
    continuous, increasing, always positive, so the state stays positive and its
    logarithm exists (the paper's log-space scan)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


class LinearRecurrentCell(RecurrentCell):
    """Base of the cells whose state obeys ``s_t = a_t ⊙ s_{t-1} + b_t``.

    Subclasses implement :meth:`project_input`, :meth:`step` (the equations) and
    :meth:`coefficients`; :meth:`readout`, :meth:`scan_state` and
    :meth:`state_from_scan` default to a one-part real state that is also the output.
    ``positive`` is True when ``a_t > 0`` and ``b_t >= 0`` always (then a non-negative
    state stays so and the log-space scan applies)."""

    positive: bool = False

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        """``(a, b)`` of every step from projected inputs ``xp`` ``(T, B, P)``: ``b`` is
        ``(T, B, N)``; ``a`` is ``(T, B, N)`` or broadcasts to it (e.g. ``(N,)``)."""
        raise NotImplementedError

    def readout(self, s: Tensor, xp: Tensor) -> Tensor:
        """The outputs ``(T, B, H)`` from the scanned states ``s`` ``(T, B, N)``."""
        return s

    def scan_state(self, state: State) -> Tensor:
        """The scanned variable ``(B, N)`` of a state tuple."""
        return state[0]

    def state_from_scan(self, s: Tensor) -> State:
        """The state tuple of a scanned variable ``(B, N)``."""
        return (s,)

    def forward(  # type: ignore[override]  # a bare tensor state gives a bare tensor back
            self, x: Tensor, state: State | Tensor | None = None) -> tuple[Tensor, State | Tensor]:
        """One step from a raw input ``(B, I)``; ``state`` a tuple, a bare tensor (then a
        bare tensor comes back) or None (zeros)."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"x: expected (batch, input_size={self.input_size}), got {tuple(x.shape)}")
        bare = isinstance(state, Tensor)
        parts: State
        if state is None:
            parts = self.init_state(x.shape[0], x.device, x.dtype)
        elif isinstance(state, Tensor):
            parts = (state,)
        else:
            parts = tuple(state)
        if len(parts) != 1 or tuple(parts[0].shape) != (x.shape[0], self.state_size[0]):
            got = [tuple(t.shape) for t in parts]
            raise ValueError(f"state: expected one tensor of shape ({x.shape[0]}, {self.state_size[0]}), got {got}")
        h, new = self.step(self.project_input(x), parts)
        return h, (new[0] if bare else new)


class _MinCell(LinearRecurrentCell):
    """What minGRU and minLSTM share: ``gates`` blocks of H rows of one input Linear (the
    candidate's last) and the candidate's activation."""

    gates = 2

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, candidate: str = "g"):
        if candidate not in ("g", "linear"):
            raise ValueError(f"candidate must be 'g' or 'linear', got {candidate!r}")
        super().__init__(input_size, hidden_size, (hidden_size,))
        self.candidate = candidate
        self.positive = candidate == "g"
        self.linear = nn.Linear(self.input_size, self.gates * self.hidden_size, bias=bias)

    def project_input(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def _candidate(self, h: Tensor) -> Tensor:
        return positive_candidate(h) if self.candidate == "g" else h

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.candidate == "g" else ", candidate='linear'")


class MinGRUCell(_MinCell):
    r"""minGRU (Feng et al. 2024): a GRU whose gate and candidate read only the input.

    .. math::
        z_t &= \sigma(W_z x_t + b_z) \\
        \tilde h_t &= g(W_h x_t + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    with the paper's ``g`` (:func:`positive_candidate`; ``candidate="linear"`` takes the
    identity, the paper's plain form). State ``(h,)``; ``2H × I`` input weights
    (``linear``: gate rows first) — a third of a GRU's parameters."""

    gates = 2

    def _gate_and_candidate(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        k, h = xp.chunk(2, dim=-1)
        return k, self._candidate(h)

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        k, cand = self._gate_and_candidate(xp)
        z = torch.sigmoid(k)
        h = (1 - z) * state[0] + z * cand
        return h, (h,)

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        k, cand = self._gate_and_candidate(xp)
        # 1 - z, as the step computes it: sigmoid(-k) would be as exact forward, but its
        # derivative, y (1 - y) from y = sigmoid(-k) near 1, loses float32's digits exactly
        # where the state remembers longest (gates near 0; tests/test_linear_cells.py)
        z = torch.sigmoid(k)
        return 1 - z, z * cand


class MinLSTMCell(_MinCell):
    r"""minLSTM (Feng et al. 2024): forget and input gates from the input alone,
    normalised to sum to one (so the state's scale does not grow with time).

    .. math::
        f_t &= \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t} \\
        \tilde h_t &= g(W_h x_t + b_h) \\
        h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t

    ``f'`` is computed as ``σ(log f − log i)`` (the same number, without the division
    that loses precision when both gates are near 0). ``candidate`` as :class:`MinGRUCell`.
    State ``(h,)``; ``3H × I`` input weights (rows: forget, input, candidate)."""

    gates = 3

    def _gates(self, xp: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        kf, ki, h = xp.chunk(3, dim=-1)
        diff = nn.functional.logsigmoid(kf) - nn.functional.logsigmoid(ki)  # log f - log i
        return torch.sigmoid(diff), torch.sigmoid(-diff), self._candidate(h)

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        f, i, cand = self._gates(xp)
        h = f * state[0] + i * cand
        return h, (h,)

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        f, i, cand = self._gates(xp)
        return f, i * cand


class LRUCell(LinearRecurrentCell):
    r"""Linear Recurrent Unit (Orvieto et al. 2023): a diagonal complex recurrence.

    .. math::
        \lambda &= \exp(-\exp(\nu) + i \exp(\theta)) \quad (|\lambda| < 1 \text{ always}) \\
        s_t &= \lambda \odot s_{t-1} + \gamma \odot (B x_t), \quad s_t \in \mathbb{C}^N \\
        y_t &= \mathrm{Re}(C s_t) + D x_t

    ``γ = sqrt(1 − |λ|²)`` normalises each mode's response to white noise, learned in
    log form from that value (``gamma_log``). The paper's ring initialisation: ``|λ|``
    uniform on the ring ``[r_min, r_max]`` (in area), phase uniform in ``[0, max_phase]``;
    ``B`` and ``C`` complex Glorot-normal. ``D`` is diagonal (``(H,)``) when
    ``input_size == hidden_size``, as in the paper, else a ``(H, I)`` matrix.

    ``state_size`` (``N``, default ``hidden_size``): the complex modes. The state tuple is
    ``(s,)`` with ``s`` real ``(B, 2N)``, each mode's real and imaginary parts side by side
    (``torch.view_as_real``'s layout), so it travels like every other cell's state."""

    def __init__(self, input_size: int, hidden_size: int, state_size: int | None = None, r_min: float = 0.0,
                 r_max: float = 0.999, max_phase: float = 2 * math.pi):
        N = int(state_size) if state_size is not None else int(hidden_size)
        if N <= 0:
            raise ValueError(f"state_size must be positive, got {state_size}")
        if not 0.0 <= r_min < r_max < 1.0:
            raise ValueError(f"need 0 <= r_min < r_max < 1 (|λ| < 1 keeps the state bounded), "
                             f"got r_min={r_min}, r_max={r_max}")
        if not 0.0 < max_phase <= 2 * math.pi:
            raise ValueError(f"max_phase must be in (0, 2π], got {max_phase}")
        super().__init__(input_size, hidden_size, (2 * N,))
        self.modes, self.r_min, self.r_max, self.max_phase = N, float(r_min), float(r_max), float(max_phase)
        I, H = self.input_size, self.hidden_size
        self.nu_log = nn.Parameter(torch.empty(N))
        self.theta_log = nn.Parameter(torch.empty(N))
        self.gamma_log = nn.Parameter(torch.empty(N))
        self.B_re, self.B_im = nn.Parameter(torch.empty(N, I)), nn.Parameter(torch.empty(N, I))
        self.C_re, self.C_im = nn.Parameter(torch.empty(H, N)), nn.Parameter(torch.empty(H, N))
        self.D = nn.Parameter(torch.empty(H) if I == H else torch.empty(H, I))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        N, I = self.modes, self.input_size
        with torch.no_grad():
            u1, u2 = torch.rand(N), torch.rand(N)
            # |λ|² uniform in [r_min², r_max²]: the ring's area
            self.nu_log.copy_(torch.log(-0.5 * torch.log(u1 * (self.r_max ** 2 - self.r_min ** 2) + self.r_min ** 2)))
            self.theta_log.copy_(torch.log(self.max_phase * u2.clamp_min(1e-4)))
            self.gamma_log.copy_(0.5 * torch.log1p(-torch.exp(-2 * torch.exp(self.nu_log))))
            for w, fan in ((self.B_re, 2 * I), (self.B_im, 2 * I), (self.C_re, N), (self.C_im, N)):
                w.normal_(0.0, 1.0 / math.sqrt(fan))
            self.D.normal_(0.0, 1.0 if self.D.dim() == 1 else 1.0 / math.sqrt(I))

    def eigenvalues(self) -> Tensor:
        """λ, complex ``(N,)``."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def project_input(self, x: Tensor) -> Tensor:
        # [Re γBx | Im γBx | Dx]: every input-only term of the step in one real tensor
        gamma = torch.exp(self.gamma_log)
        w = torch.cat([self.B_re * gamma[:, None], self.B_im * gamma[:, None],
                       torch.diag(self.D) if self.D.dim() == 1 else self.D], 0)
        return nn.functional.linear(x, w)

    def _split(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        N = self.modes
        return torch.complex(xp[..., :N], xp[..., N:2 * N]), xp[..., 2 * N:]

    def readout(self, s: Tensor, xp: Tensor) -> Tensor:
        # Re(C s) = C_re s_re - C_im s_im, one GEMM over [s_re | s_im]
        return nn.functional.linear(torch.cat([s.real, s.imag], -1), torch.cat([self.C_re, -self.C_im], 1)) + \
            xp[..., 2 * self.modes:]

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        bx, dx = self._split(xp)
        s = self.eigenvalues() * self.scan_state(state) + bx
        y = (torch.complex(self.C_re, self.C_im) @ s.unsqueeze(-1)).squeeze(-1).real + dx
        return y, self.state_from_scan(s)

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        return self.eigenvalues(), self._split(xp)[0]

    def scan_state(self, state: State) -> Tensor:
        s = state[0]
        return torch.view_as_complex(s.reshape(*s.shape[:-1], self.modes, 2).contiguous())

    def state_from_scan(self, s: Tensor) -> State:
        return (torch.view_as_real(s).reshape(*s.shape[:-1], 2 * self.modes),)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", state_size={self.modes}, r_min={self.r_min}, r_max={self.r_max}, "
                f"max_phase={self.max_phase:.4g}")


for _name, _cls in (("mingru", MinGRUCell), ("minlstm", MinLSTMCell), ("lru", LRUCell)):
    register(_name, _cls)
