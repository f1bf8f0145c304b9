"""The hoisted backend's hand-written backward: gradcheck in float64 on every option it
accepts (the comparison with torch.nn is in test_recurrent.py)."""

import pytest
import torch

import rnnlab
from rnnlab.recurrent.backends.hoisted import hoisted_layer, live_counts


@pytest.mark.parametrize("mode,gates", [("LSTM", 4), ("GRU", 3), ("RNN_TANH", 1), ("RNN_RELU", 1)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lengths", [None, [5, 3, 3, 1]])
def test_gradcheck(mode, gates, bias, lengths):
    torch.manual_seed(0)
    T, B, I, H = 5, 4, 3, 4
    d = dict(dtype=torch.float64, requires_grad=True)
    x = torch.randn(T, B, I, **d)
    weights = [torch.randn(gates * H, I, **d), torch.randn(gates * H, H, **d)]
    if bias:
        weights += [torch.randn(gates * H, **d), torch.randn(gates * H, **d)]
    state = tuple(torch.randn(B, H, **d) for _ in range(2 if mode == "LSTM" else 1))
    ks = live_counts(None if lengths is None else torch.tensor(lengths), T, B)

    def f(x, *rest):
        st, ws = rest[: len(state)], list(rest[len(state):])
        out, final = hoisted_layer(mode, x, st, ws, ks)
        return (out, *final)

    assert torch.autograd.gradcheck(f, (x, *state, *weights))


def test_live_counts():
    assert live_counts(torch.tensor([4, 2, 2, 1]), 5, 4) == [4, 3, 1, 1, 0]
    assert live_counts(None, 3, 2) == [2, 2, 2]


def test_hoisted_backend_refuses_cells_it_cannot_compute():
    with pytest.raises(ValueError, match="hoisted"):
        rnnlab.Recurrent("lstm", 3, 4, peepholes=True, backend="hoisted")


def test_dropout_between_layers_runs_and_learns_nothing_odd():
    torch.manual_seed(0)
    layer = rnnlab.Recurrent("gru", 3, 4, num_layers=2, dropout=0.5, backend="hoisted")
    out, _ = layer(torch.randn(2, 6, 3), lengths=torch.tensor([6, 2]))
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert torch.all(out[1, 2:] == 0)


def test_auto_takes_hoisted_for_gru_and_elman_training():
    for cell in ("gru", "rnn"):
        layer = rnnlab.Recurrent(cell, 3, 4)
        x = torch.randn(2, 5, 3)
        layer(x)
        assert layer.last_backend == "hoisted"
        with torch.no_grad():
            layer(x)
        assert layer.last_backend == "fused"
        layer(x[:, :1])  # one step: torch's one-step kernels
        assert layer.last_backend == "fused"


def test_auto_takes_fused_for_lstm_with_or_without_lengths():
    """LSTM: oneDNN's kernel beats the hoisted one; with lengths the fused backend runs
    its short stretches through the hoisted kernels itself."""
    layer = rnnlab.Recurrent("lstm", 3, 4)
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
    for kw in ({"lengths": lengths}, {}):
        layer(x, **kw)
        assert layer.last_backend == "fused"
        with torch.no_grad():
            layer(x, **kw)
        assert layer.last_backend == "fused"


@pytest.mark.slow  # compiling takes ~25 s
@pytest.mark.parametrize("compile_steps", [1, 4])
def test_compiled_backend_matches_reference_on_a_custom_cell(compile_steps):
    """torch.compile'd steps (alone, or 4 to a graph and the last 2 of 6 alone): same
    values and gradients as the eager reference loop."""
    torch.manual_seed(0)
    ref = rnnlab.Recurrent("lstm", 3, 5, peepholes=True, backend="reference")
    comp = rnnlab.Recurrent("lstm", 3, 5, peepholes=True, backend="compiled", compile_steps=compile_steps)
    comp.load_state_dict(ref.state_dict())
    x = torch.randn(4, 6, 3)
    lengths = torch.tensor([6, 2, 5, 1])
    results = []
    for layer in (ref, comp):
        out, (h, c) = layer(x, lengths=lengths)
        (out.pow(2).sum() + h.sum() + c.sum()).backward()
        results.append((out, h, c, [p.grad.clone() for p in layer.parameters()]))
    assert comp.last_backend == "compiled"
    assert all(f.failed is None for f in comp._compiled_steps.values())  # compiled, not the fallback
    for a, b in zip(results[0][:3], results[1][:3]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for a, b in zip(results[0][3], results[1][3]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    import copy

    copy.deepcopy(comp)(x)  # a copy works (it compiles its own step)


@pytest.mark.parametrize("mode,gates", [("LSTM", 4), ("GRU", 3), ("RNN_TANH", 1), ("RNN_RELU", 1)])
@pytest.mark.parametrize("lengths", [None, [5, 3, 3, 1]])
def test_gradgradcheck_and_batched_grads(mode, gates, lengths):
    """Second order (a gradient penalty, create_graph=True) and batched gradients
    (is_grads_batched, vmap) go through the recomputed equations: exact, never silently
    missing (they were None or wrong before)."""
    torch.manual_seed(1)
    T, B, I, H = 5, 4, 3, 3
    d = dict(dtype=torch.float64, requires_grad=True)
    x = torch.randn(T, B, I, **d)
    weights = [torch.randn(gates * H, I, **d), torch.randn(gates * H, H, **d),
               torch.randn(gates * H, **d), torch.randn(gates * H, **d)]
    state = tuple(torch.randn(B, H, **d) for _ in range(2 if mode == "LSTM" else 1))
    ks = live_counts(None if lengths is None else torch.tensor(lengths), T, B)

    def f(x, *rest):
        out, final = hoisted_layer(mode, x, rest[: len(state)], list(rest[len(state):]), ks)
        return (out, *final)

    assert torch.autograd.gradgradcheck(f, (x, *state, *weights))
    out = f(x, *state, *weights)[0]
    v = torch.randn(3, *out.shape, dtype=torch.float64)
    batched = torch.autograd.grad(out, [x, weights[1]], v, is_grads_batched=True, retain_graph=True)
    for k in range(3):
        one = torch.autograd.grad(out, [x, weights[1]], v[k], retain_graph=True)
        for a, b in zip(batched, one):
            torch.testing.assert_close(a[k], b)


@pytest.mark.parametrize("cell", ["gru", "rnn", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_gradient_penalty_through_the_layer_matches_torch(cell, num_layers):
    """The regression of issue 20: grad(out, x, create_graph=True) then backward, on the
    backend auto picks for training (hoisted for GRU and Elman): x.grad and every weight's
    grad equal torch.nn's."""
    torch.manual_seed(2)
    ref = {"gru": torch.nn.GRU, "rnn": torch.nn.RNN, "lstm": torch.nn.LSTM}[cell](3, 4, num_layers=num_layers).double()
    ours = {"gru": rnnlab.GRU, "rnn": rnnlab.RNN, "lstm": rnnlab.LSTM}[cell].from_torch(ref, backend="hoisted")
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    grads = []
    for m in (ref, ours):
        xx = x.clone().requires_grad_()
        out, _ = m(xx)
        (g,) = torch.autograd.grad(out.pow(2).sum(), xx, create_graph=True)
        g.pow(2).sum().backward()
        grads.append([xx.grad, *(p.grad for p in m.parameters())])
    for a, b in zip(*grads):
        assert b is not None
        torch.testing.assert_close(b, a)
