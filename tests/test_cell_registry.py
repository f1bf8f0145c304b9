"""The cell registry: a user's cell registered by name is usable wherever a cell name is read —
make_cell, the layers, the models, and an app's ``--set cell=...``."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.cells import CELLS, RecurrentCell, cell_names, make_cell, register


class LeakyCell(RecurrentCell):
    """h_t = (1 - a) h_{t-1} + a tanh(W x_t + U h_{t-1}), with a learned rate a per unit."""

    def __init__(self, input_size, hidden_size, **_):
        super().__init__(input_size, hidden_size, state_size=(hidden_size,))
        self.w = nn.Linear(input_size, hidden_size)
        self.u = nn.Linear(hidden_size, hidden_size, bias=False)
        self.rate = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x, state):
        a = torch.sigmoid(self.rate)
        h = (1 - a) * state[0] + a * torch.tanh(self.w(x) + self.u(state[0]))
        return h, (h,)


@pytest.fixture
def leaky():
    register("leaky", LeakyCell)
    yield "leaky"
    CELLS.pop("leaky", None)


def test_built_in_names_are_registered():
    assert {"rnn", "rnn_relu", "elman", "lstm", "gru"} <= set(cell_names())
    assert make_cell("rnn_relu", 3, 4).nonlinearity == "relu"
    with pytest.raises(ValueError, match="register"):
        make_cell("nope", 3, 4)


def test_a_registered_cell_works_by_name_in_layers_and_models(leaky):
    assert isinstance(make_cell("LEAKY", 3, 4), LeakyCell)
    out, _ = rnnlab.Recurrent("leaky", 3, 4, batch_first=True)(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, 4)
    assert rnnlab.SeqToVec(3, 2, 4, cell="leaky")(torch.randn(2, 5, 3)).shape == (2, 2)


def test_a_registered_cell_is_a_valid_app_setting(leaky, tmp_path):
    from rnnlab.apps.classify import APP

    cfg = APP.make_config(quick=True, overrides=["cell=leaky"])
    assert cfg.cell == "leaky"
    with pytest.raises(ValueError, match="cell: expected one of"):
        APP.make_config(quick=True, overrides=["cell=unregistered"])


def test_register_refuses_what_is_not_a_cell():
    with pytest.raises(ValueError):
        register("", LeakyCell)
    with pytest.raises(ValueError):
        register("x", 42)
