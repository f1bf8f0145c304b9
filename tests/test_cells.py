"""Cells: gradcheck, options, custom cells."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.cells import ElmanCell, GRUCell, LSTMCell, RecurrentCell


@pytest.mark.parametrize(
    "cell",
    [
        lambda: ElmanCell(3, 4),
        lambda: ElmanCell(3, 4, nonlinearity="relu"),
        lambda: LSTMCell(3, 4),
        lambda: LSTMCell(3, 4, peepholes=True),
        lambda: GRUCell(3, 4),
    ],
)
def test_gradcheck(cell):
    torch.manual_seed(0)
    c = cell().double()
    if getattr(c, "peepholes", False):
        with torch.no_grad():
            for p in (c.peephole_i, c.peephole_f, c.peephole_o):
                p.normal_()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(2, s, dtype=torch.float64, requires_grad=True) for s in c.state_size)

    def equations(x, *state):  # the reference path: written from the equations
        h, new = c.step(c.project_input(x), state)
        return (h, *new)

    def one_step(x, *state):  # forward(): torch's fused one-step kernel where one exists
        h, new = c(x, state)
        return (h, *new)

    assert torch.autograd.gradcheck(equations, (x, *state))
    assert torch.autograd.gradcheck(one_step, (x, *state))
    for a, b in zip(equations(x, *state), one_step(x, *state)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("ours,theirs", [(ElmanCell, nn.RNNCell), (LSTMCell, nn.LSTMCell), (GRUCell, nn.GRUCell)])
def test_cell_matches_torch_cell(ours, theirs):
    torch.manual_seed(0)
    t = theirs(3, 4)
    c = ours(3, 4)
    c.load_state_dict(t.state_dict())
    x = torch.randn(5, 3)
    state = c.init_state(5)
    h, new = c(x, state)
    ref = t(x)
    torch.testing.assert_close(h, ref[0] if isinstance(ref, tuple) else ref)


def test_forget_bias_and_chrono_init():
    H = 8
    c = LSTMCell(3, H)
    assert torch.all(c.bias_ih[H:2 * H] == 1.0) and torch.all(c.bias_hh[H:2 * H] == 0.0)
    c = LSTMCell(3, H, chrono_max_timescale=100)
    bf = c.bias_ih[H:2 * H]
    assert torch.all(bf >= 0) and torch.all(bf <= torch.log(torch.tensor(99.0)))
    torch.testing.assert_close(c.bias_ih[:H], -bf)


def test_peepholes_change_the_function_and_default_off():
    assert not LSTMCell(3, 4).peepholes
    torch.manual_seed(0)
    c = LSTMCell(3, 4, peepholes=True)
    x, state = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    h0, _ = c(x, state)
    with torch.no_grad():
        c.peephole_f.fill_(2.0)
    h1, _ = c(x, state)
    assert not torch.allclose(h0, h1)


class LeakyCell(RecurrentCell):
    def __init__(self, input_size, hidden_size, leak=0.5):
        super().__init__(input_size, hidden_size, state_size=(hidden_size,))
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
        self.leak = leak

    def forward(self, x, state):
        (h,) = state
        h = self.leak * h + (1 - self.leak) * torch.tanh(self.lin(torch.cat([x, h], -1)))
        return h, (h,)


def test_custom_cell_runs_in_recurrent_bidirectional_with_lengths():
    layer = rnnlab.Recurrent(LeakyCell, 3, 5, num_layers=2, bidirectional=True)
    out, h = layer(torch.randn(2, 6, 3), lengths=[6, 2])
    assert layer.last_backend == "reference"
    assert out.shape == (2, 6, 10) and h.shape == (4, 2, 5)
    assert torch.all(out[1, 2:] == 0)


def test_bare_tensor_state_and_none_and_bad_shapes():
    torch.manual_seed(0)
    t = nn.GRUCell(3, 4)
    c = GRUCell(3, 4)
    c.load_state_dict(t.state_dict())
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    out, new = c(x, h)
    assert isinstance(new, torch.Tensor)
    torch.testing.assert_close(new, t(x, h))
    torch.testing.assert_close(c(x)[0], t(x))
    with pytest.raises(ValueError, match="state\\[0\\]"):
        c(x, torch.randn(3, 4))
    with pytest.raises(ValueError, match="input_size=3"):
        c(torch.randn(2, 5), h)
    with pytest.raises(ValueError, match="2 tensor"):
        LSTMCell(3, 4)(x, (h,))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_one_step_fast_path_equals_torch_and_names_bad_arguments(cell):
    """forward goes straight to torch's one-step kernel; when that refuses, the error
    names our argument, as the checked path's does."""
    torch.manual_seed(0)
    ours = {"lstm": LSTMCell, "gru": GRUCell, "rnn": ElmanCell}[cell](3, 5)
    ref = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}[cell](3, 5)
    ref.load_state_dict(ours.state_dict())
    n = len(ours.state_size)
    x, hs = torch.randn(2, 3), [torch.randn(2, 5) for _ in range(n)]
    h, new = ours(x, tuple(hs))
    expect = ref(x, tuple(hs)) if cell == "lstm" else (ref(x, hs[0]),)
    torch.testing.assert_close(h, expect[0])
    torch.testing.assert_close(new, tuple(expect))
    _, from_list = ours(x, list(hs))  # any sequence of tensors is a state
    torch.testing.assert_close(from_list, tuple(expect))
    bad = [
        ("input_size=3", torch.randn(2, 4), tuple(hs)),
        ("input_size=3", torch.randn(3), tuple(hs)),
        ("state\\[0\\]: expected shape \\(2, 5\\)", x, tuple(torch.randn(3, 5) for _ in range(n))),
        (f"expected {n} tensor", x, tuple(hs) * 2 + (hs[0],)),
    ]
    for message, xx, st in bad:
        with pytest.raises(ValueError, match=message):
            ours(xx, st)
    with pytest.raises(ValueError, match=f"state\\[{n - 1}\\]"):
        ours(x, tuple(hs[:-1]) + (torch.randn(2, 6),))


def test_one_step_with_a_parametrized_weight():
    """weight_norm moves weight_hh out of the parameters: the one-step path still finds it."""
    from torch.nn.utils.parametrizations import weight_norm

    torch.manual_seed(0)
    cell = weight_norm(LSTMCell(3, 5), "weight_hh")
    x, st = torch.randn(2, 3), (torch.randn(2, 5), torch.randn(2, 5))
    h, _ = cell(x, st)
    expect, _ = torch.lstm_cell(x, st, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    torch.testing.assert_close(h, expect)
    h.sum().backward()
    assert cell.parametrizations.weight_hh.original0.grad is not None
