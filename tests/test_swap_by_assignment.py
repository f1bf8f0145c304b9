"""The drop-ins swapped in the way users do it: ``torch.nn.LSTM = rnnlab.LSTM`` before a
model they do not own is built (issue 35: this recursed forever, because the drop-ins
called ``nn.LSTM.__init__`` through the attribute the swap had just changed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnlab
import rnnlab.nn as rnn

PLACES = (torch.nn, torch.nn.modules, torch.nn.modules.rnn)


@pytest.fixture
def swapped(monkeypatch):
    """All six classes swapped by plain assignment, everywhere code imports them from;
    monkeypatch puts torch's back after the test."""
    for name in rnn.DROP_INS:
        for place in PLACES:
            monkeypatch.setattr(place, name, getattr(rnn, name))


class ThirdPartyModel(torch.nn.Module):
    """A model written against torch.nn, as found in someone else's code: it looks the
    classes up through ``torch.nn`` (and one through ``torch.nn.modules.rnn``) when built."""

    def __init__(self):
        super().__init__()
        from torch.nn.modules.rnn import GRU  # noqa: PLC0415 (looked up at build time, as such code does)

        self.embed = torch.nn.Embedding(20, 6)
        self.encoder = torch.nn.LSTM(6, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.decoder = GRU(16, 8, batch_first=True)
        self.cell = torch.nn.LSTMCell(8, 8)
        self.elman = torch.nn.RNNCell(8, 8, nonlinearity="relu")
        self.gcell = torch.nn.GRUCell(8, 8)
        self.rnn = torch.nn.RNN(8, 4)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, tokens):
        x, _ = self.encoder(self.embed(tokens))
        x, h = self.decoder(x)
        hc = self.cell(x[:, -1])
        h2 = self.gcell(self.elman(hc[0]), h[0])
        out, _ = self.rnn(torch.stack([h2, hc[1]]))
        return self.head(out[-1])


def _build(seed: int) -> ThirdPartyModel:
    torch.manual_seed(seed)
    return ThirdPartyModel()


def test_swap_by_assignment_builds_rnnlab_classes_with_torch_values(swapped):
    tokens = torch.randint(0, 20, (5, 7))
    model = _build(0)
    for name, kind in [("encoder", rnn.LSTM), ("decoder", rnn.GRU), ("cell", rnn.LSTMCell),
                       ("elman", rnn.RNNCell), ("gcell", rnn.GRUCell), ("rnn", rnn.RNN)]:
        assert type(getattr(model, name)) is kind, name
    out = model(tokens)
    out.square().sum().backward()
    assert model.encoder.last_backend is not None  # it ran through rnnlab's dispatch

    for place in PLACES:  # undone by hand, as a user would (monkeypatch restores the same at the end)
        for name in rnn.DROP_INS:
            setattr(place, name, rnn.torch_class(name))
    reference = _build(0)  # the same seed gives the same weights: the drop-ins initialise as torch does
    ours = tuple(getattr(rnn, name) for name in rnn.DROP_INS)
    assert not any(isinstance(m, ours) for m in reference.modules())  # torch's own classes this time
    for (n, p), (n2, q) in zip(model.named_parameters(), reference.named_parameters(), strict=True):
        assert n == n2
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=n)
    ref_out = reference(tokens)
    ref_out.square().sum().backward()
    torch.testing.assert_close(out, ref_out)
    for (n, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(model.state_dict(), strict=True)


def test_swapped_model_trains(swapped):
    torch.manual_seed(1)
    model = ThirdPartyModel()
    tokens, target = torch.randint(0, 20, (16, 7)), torch.randint(0, 3, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tokens), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # it memorises 16 examples


def test_swapped_classes_keep_torch_errors_and_lengths(swapped):
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        torch.nn.RNN(30, 20, 2, proj_size=10)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        torch.nn.GRU(30, 20, 2, proj_size=10)
    lstm = torch.nn.LSTM(3, 4, 2, proj_size=2, batch_first=True)
    out, (h, c) = lstm(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))  # rnnlab's addition, after the swap
    assert out.shape == (2, 5, 2) and h.shape == (2, 2, 2) and c.shape == (2, 2, 4)
    assert torch.all(out[1, 2:] == 0)
    assert isinstance(lstm.to_torch(), rnn.torch_class("LSTM"))  # torch's class, not the swapped name
    assert isinstance(rnn.LSTM.from_torch(rnn.torch_class("LSTM")(3, 4)), rnn.LSTM)


def test_proj_size_on_rnn_and_gru_is_torchs_value_error():
    # torch's test_projections_errors_on_gru_and_rnn, by name (no swap)
    for cls in (rnnlab.RNN, rnnlab.GRU):
        with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
            cls(30, 20, 2, proj_size=10)
    with pytest.raises(TypeError, match="unexpected keyword argument 'projection'"):
        rnnlab.GRU(3, 4, projection=2)


def test_patch_torch_swaps_for_a_block_and_restores():
    torch_lstm = torch.nn.LSTM
    with rnn.patch_torch(("LSTM", "GRU")):
        assert torch.nn.LSTM is rnn.LSTM and torch.nn.modules.rnn.GRU is rnn.GRU
        assert torch.nn.RNN is rnn.torch_class("RNN")  # not named: not swapped
        model = _build(2)
    assert torch.nn.LSTM is torch_lstm and torch.nn.modules.LSTM is torch_lstm
    assert type(model.encoder) is rnn.LSTM and type(model.rnn) is torch.nn.RNN
    with pytest.raises(RuntimeError), rnn.patch_torch():
        raise RuntimeError("inside")
    assert all(getattr(p, n) is rnn.torch_class(n) for p in PLACES for n in rnn.DROP_INS)  # restored on error too
    with pytest.raises(ValueError, match=r"\['Transformer'\] are not drop-ins"):
        with rnn.patch_torch(["LSTM", "Transformer"]):
            pass


@pytest.mark.slow
def test_torch_module_tests_pass_under_the_swap():
    """torch's ModuleInfo tests for the six classes (tests/test_torch_module_db.py), with
    the swap done before torch's module_db is imported, so that torch's test inputs build
    our classes through ``torch.nn.<name>``: a process of its own, since the swap is global
    (the tests above swap in this process). The file's gradchecks of the layers (its slow
    tests) run without the swap only: the swap changes which class is built, which every
    test here checks, not what it computes."""
    here = Path(__file__).parent
    env = {**os.environ, "RNNLAB_SWAP_TORCH_NN": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-rs",
                           "-m", "not slow", str(here / "test_torch_module_db.py")], env=env, capture_output=True,
                          text=True, cwd=here.parent, timeout=1800)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 200, summary
    assert "skipped" not in summary and "failed" not in summary and "error" not in summary, summary
