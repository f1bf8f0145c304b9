"""The drop-ins behave as torch.nn's classes where torch's own RNN tests (test/test_nn.py)
look, and where issue 20 found them wrong: packing, state dicts, parameter names,
projections, argument checks, compile / export / trace, cells. Every backend is
compared with torch.nn itself."""

import copy
import itertools
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence

import rnnlab
import rnnlab.nn as rnn

LAYERS = [(rnn.RNN, nn.RNN), (rnn.LSTM, nn.LSTM), (rnn.GRU, nn.GRU)]
CELLS = [(rnn.RNNCell, nn.RNNCell), (rnn.LSTMCell, nn.LSTMCell), (rnn.GRUCell, nn.GRUCell)]
BACKENDS = ["reference", "fused", "hoisted"]
ids = lambda k: k[0].__name__  # noqa: E731


def leaves(x):
    return [x] if isinstance(x, torch.Tensor) else [t for o in x for t in leaves(o)]


# ---------------------------------------------------------------- the three silent errors
@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_output_keeps_the_inputs_packing(kind, backend, enforce_sorted):
    """Tied lengths, torch's default enforce_sorted=True: the output's .data rows line up
    with the input's, so a loss on packed targets is torch's."""
    ours_cls, torch_cls = kind
    torch.manual_seed(0)
    ref = torch_cls(3, 4, num_layers=2, bidirectional=True)
    ours = ours_cls.from_torch(ref, backend=backend)
    seqs = [torch.randn(n, 3) for n in (5, 3, 3, 3, 1)]
    if not enforce_sorted:
        seqs = [seqs[k] for k in (2, 0, 4, 1, 3)]
    packed = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    target = torch.randn(packed.data.shape[0], 8)
    (o1, h1), (o2, h2) = ref(packed), ours(packed)
    assert torch.equal(o2.batch_sizes, o1.batch_sizes)
    for a, b in ((o2.sorted_indices, o1.sorted_indices), (o2.unsorted_indices, o1.unsorted_indices)):
        assert (a is None and b is None) or torch.equal(a, b)
    torch.testing.assert_close(o2.data, o1.data)
    torch.testing.assert_close(((o2.data - target) ** 2).sum(), ((o1.data - target) ** 2).sum())
    for a, b in zip(leaves(h2), leaves(h1)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
def test_parameters_have_torchs_names_order_and_state_dict(kind):
    ours_cls, torch_cls = kind
    kwargs = dict(num_layers=2, bidirectional=True)
    if torch_cls is nn.LSTM:
        kwargs["proj_size"] = 2
    ref = torch_cls(3, 4, **kwargs)
    ours = ours_cls(3, 4, **kwargs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())  # strict: every key
    assert torch.equal(ours.weight_hh_l0, ref.weight_hh_l0)
    assert torch.equal(ours.to_torch().weight_ih_l1_reverse, ref.weight_ih_l1_reverse)
    x = torch.randn(5, 2, 3)
    for a, b in zip(leaves(ours(x)), leaves(ref(x))):
        torch.testing.assert_close(a, b)
    assert len(ours.all_weights) == 4 and len(ours._flat_weights) == len(ref._flat_weights)
    ours.flatten_parameters()


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_norm_and_functional_call_with_torch_names(kind, backend):
    ours_cls, torch_cls = kind
    torch.manual_seed(1)
    ref = torch_cls(3, 4)
    ours = ours_cls.from_torch(ref, backend=backend)
    x = torch.randn(6, 2, 3, requires_grad=True)
    # functional_call with torch names replaces the weights for one call
    w = {"weight_hh_l0": torch.zeros_like(ref.weight_hh_l0)}
    called = [leaves(torch.func.functional_call(m, w, (x,))) for m in (ours, ref)]
    for a, b in zip(*called):
        torch.testing.assert_close(a, b)
    # parametrizations (weight norm): the layer computes with the parametrized weight
    for m in (ref, ours):
        nn.utils.parametrizations.weight_norm(m, "weight_hh_l0")
        with torch.no_grad():
            m.parametrizations.weight_hh_l0.original0.mul_(0.5)
    out_ref, out = ref(x)[0], ours(x)[0]
    torch.testing.assert_close(out, out_ref)
    (g_ref,) = torch.autograd.grad(out_ref.sum(), ref.parametrizations.weight_hh_l0.original1)
    (g,) = torch.autograd.grad(out.sum(), ours.parametrizations.weight_hh_l0.original1)
    torch.testing.assert_close(g, g_ref)


def test_old_weight_norm_on_a_drop_in_as_in_torchs_test():
    torch.manual_seed(2)
    m = nn.utils.weight_norm(rnn.LSTM(3, 4), name="weight_hh_l0")
    x = torch.randn(5, 2, 3)
    out = m(x)[0]
    assert "weight_hh_l0_g" in dict(m.named_parameters()) and out.shape == (5, 2, 4)
    m = nn.utils.remove_weight_norm(m, name="weight_hh_l0")
    torch.testing.assert_close(m(x)[0], out)


# ---------------------------------------------------------------- projections
@pytest.mark.parametrize("backend", ["auto", "reference", "fused", "compiled"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_proj_size_on_every_backend_that_computes_it(backend, bidirectional):
    torch.manual_seed(3)
    ref = nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional, batch_first=True).double()
    ours = rnn.LSTM.from_torch(ref, backend=backend)
    D = 2 if bidirectional else 1
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    hx = (torch.randn(2 * D, 4, 2, dtype=torch.float64), torch.randn(2 * D, 4, 5, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oneDNN: "LSTM with projections is not supported"
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_ref, (h_ref, c_ref) = ref(x1, hx)
        out, (h, c) = ours(x2, hx)
        for a, b in ((out, out_ref), (h, h_ref), (c, c_ref)):
            torch.testing.assert_close(a, b)
        (out_ref.sum() + c_ref.sum()).backward()
        (out.sum() + c.sum()).backward()
        torch.testing.assert_close(x2.grad, x1.grad)
        for (n, p), q in zip(ours.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, q.grad, msg=n)
        # variable lengths, against torch on packed sequences
        lengths = torch.tensor([6, 2, 4, 1])
        packed_out, (h_ref, c_ref) = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False), hx)
        out, (h, c) = ours(x, hx, lengths=lengths)
        torch.testing.assert_close(out, pad_packed_sequence(packed_out, batch_first=True)[0])
        torch.testing.assert_close(h, h_ref)
        torch.testing.assert_close(c, c_ref)


def test_hoisted_refuses_projections_with_the_reason():
    with pytest.raises(ValueError, match="proj_size"):
        rnn.LSTM(3, 5, proj_size=2, backend="hoisted")


# ---------------------------------------------------------------- arguments and errors
@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("bad,error", [
    (dict(bias="True"), TypeError), (dict(batch_first="False"), TypeError), (dict(bidirectional="False"), TypeError),
    (dict(input_size=3.0), TypeError), (dict(hidden_size=5.0), TypeError), (dict(num_layers=2.0), TypeError),
    (dict(hidden_size=0), ValueError), (dict(num_layers=0), ValueError), (dict(dropout=1.5), ValueError),
    (dict(backend="cuda"), ValueError),
])
def test_arguments_are_checked_at_least_as_strictly_as_torch(kind, bad, error):
    ours_cls, _ = kind
    args = {"input_size": 3, "hidden_size": 5, **bad}
    with pytest.raises(error):
        ours_cls(**args)


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
def test_dropout_one_and_the_single_layer_warning(kind):
    ours_cls, torch_cls = kind
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        ours_cls(3, 4, dropout=0.5)
    torch.manual_seed(4)
    m = ours_cls(3, 4, num_layers=2, dropout=1.0, backend="hoisted" if torch_cls is not nn.LSTM else "reference")
    x = torch.randn(5, 2, 3)
    ref = torch_cls(3, 4, num_layers=2, dropout=1.0)
    ref.load_state_dict(m.state_dict())
    # the first layer's output is all dropped: the second layer sees zeros, as in torch
    torch.testing.assert_close(m(x)[0], ref(x)[0])


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_shapes_raise_what_torch_raises(kind, backend):
    ours_cls, torch_cls = kind
    lstm = torch_cls is nn.LSTM
    for m in (torch_cls(3, 4, num_layers=2), ours_cls(3, 4, num_layers=2, backend=backend)):
        state = lambda *shape: (torch.zeros(*shape), torch.zeros(*shape)) if lstm else torch.zeros(*shape)  # noqa: E731
        with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
            m(torch.randn(5, 2, 7).requires_grad_())
        with pytest.raises(RuntimeError, match="Expected hidden"):
            m(torch.randn(5, 2, 3).requires_grad_(), state(2, 3, 4))
        with pytest.raises(RuntimeError, match="3-D"):
            m(torch.randn(5, 2, 3).requires_grad_(), state(2, 4))
        with pytest.raises(ValueError, match="2D or 3D"):
            m(torch.randn(5, 2, 3, 1).requires_grad_())
        with pytest.raises(ValueError, match="dtype"):
            m(torch.randn(5, 2, 3, dtype=torch.float64).requires_grad_())


# ---------------------------------------------------------------- torch's test_nn checks
@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
def test_initial_state_of_zeros_is_no_state(kind, backend):
    ours_cls, torch_cls = kind
    m = ours_cls(3, 4, num_layers=2, backend=backend)
    x = torch.randn(5, 2, 3, requires_grad=True)
    zeros = torch.zeros(2, 2, 4)
    a = m(x)
    b = m(x, (zeros, zeros) if torch_cls is nn.LSTM else zeros)
    for u, v in zip(leaves(a), leaves(b)):
        torch.testing.assert_close(u, v)


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
def test_changing_dropout_after_construction_takes_effect(kind):
    ours_cls, _ = kind
    torch.manual_seed(5)
    m = ours_cls(3, 40, num_layers=2)
    x = torch.randn(6, 2, 3)
    out0 = m(x)[0]
    for p in (0.0, 0.9, 0.0):
        m.dropout = p
        torch.manual_seed(0)
        out = m(x)[0]
        if p == 0.0:
            torch.testing.assert_close(out, out0)
        else:
            assert not torch.allclose(out, out0)
    m.eval()
    m.dropout = 0.9
    torch.testing.assert_close(m(x)[0], out0)


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_sequences_equal_each_sequence_alone(kind, backend):
    """torch's test_variable_sequence: a packed batch gives each sequence what it gives alone."""
    ours_cls, _ = kind
    torch.manual_seed(6)
    m = ours_cls(3, 4, num_layers=2, bidirectional=True, backend=backend).double()
    seqs = [torch.randn(n, 3, dtype=torch.float64, requires_grad=True) for n in (5, 4, 4, 2)]
    packed_out, _ = m(pack_sequence(seqs))
    padded, lens = pad_packed_sequence(packed_out)
    grads = torch.autograd.grad(padded.sum(), seqs)
    for k, s in enumerate(seqs):
        alone = m(s.unsqueeze(1))[0][:, 0]
        torch.testing.assert_close(padded[: lens[k], k], alone)
        torch.testing.assert_close(grads[k], torch.autograd.grad(alone.sum(), s)[0])


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
def test_retain_graph_gives_the_same_gradients_twice(kind, backend):
    ours_cls, _ = kind
    m = ours_cls(3, 4, backend=backend)
    x = torch.randn(5, 2, 3, requires_grad=True)
    out = m(x)[0].sum()
    g1 = torch.autograd.grad(out, [x, *m.parameters()], retain_graph=True)
    g2 = torch.autograd.grad(out, [x, *m.parameters()])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_to_input_only_and_to_parameters_only(kind, backend):
    ours_cls, _ = kind
    m = ours_cls(3, 4, backend=backend)
    x = torch.randn(5, 2, 3, requires_grad=True)
    for p in m.parameters():
        p.requires_grad_(False)
    m(x)[0].sum().backward()
    assert x.grad is not None and all(p.grad is None for p in m.parameters())
    for p in m.parameters():
        p.requires_grad_(True)
    m(torch.randn(5, 2, 3))[0].sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("kind", LAYERS, ids=ids)
def test_deepcopy_and_pickle_keep_the_backend(kind):
    ours_cls, _ = kind
    m = ours_cls(3, 4, backend="reference")
    x = torch.randn(5, 2, 3)
    m(x)
    c = copy.deepcopy(m)
    assert c.backend == "reference"
    torch.testing.assert_close(c(x)[0], m(x)[0])


# ---------------------------------------------------------------- second order, vmap
@pytest.mark.parametrize("kind", LAYERS, ids=ids)
@pytest.mark.parametrize("backend", ["auto", *(pytest.param(b, marks=pytest.mark.slow) for b in BACKENDS)])
def test_gradgradcheck_on_every_backend(kind, backend):
    ours_cls, _ = kind
    torch.manual_seed(7)
    m = ours_cls(2, 3, num_layers=2, bidirectional=True, backend=backend).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    params = list(m.parameters())

    def f(x, *ps):
        out = torch.func.functional_call(m, dict(zip([n for n, _ in m.named_parameters()], ps)), (x,))
        return tuple(leaves(out))

    assert torch.autograd.gradgradcheck(f, (x, *params))


def test_auto_backend_under_torch_func_transforms():
    """torch.func (vmap, grad) over a drop-in in training: auto takes torch's kernel."""
    m = rnn.GRU(3, 4)
    params = dict(m.named_parameters())
    x = torch.randn(5, 2, 3)

    def loss(p, x):
        return torch.func.functional_call(m, p, (x,))[0].pow(2).sum()

    g = torch.func.grad(loss)(params, x)
    expected = torch.autograd.grad(loss(params, x), list(params.values()))
    for a, b in zip(g.values(), expected):
        torch.testing.assert_close(a, b)
    per_sample = torch.func.vmap(lambda xs: loss(params, xs.unsqueeze(1)), in_dims=1)(x)
    assert per_sample.shape == (2,)


# ---------------------------------------------------------------- compile, export, trace
@pytest.mark.parametrize("compiler", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_of_a_training_step_through_rnnlab_lstm(compiler):
    torch.manual_seed(8)
    model = nn.Sequential()
    lstm = rnn.LSTM(3, 8, num_layers=2, batch_first=True)
    head = nn.Linear(8, 1)
    ref_lstm, ref_head = copy.deepcopy(lstm), copy.deepcopy(head)

    def step(lstm, head, x, y):
        out, _ = lstm(x)
        loss = ((head(out[:, -1]) - y) ** 2).mean()
        loss.backward()
        return loss

    x, y = torch.randn(4, 6, 3), torch.randn(4, 1)
    compiled = torch.compile(step, backend=compiler)
    loss = compiled(lstm, head, x, y)
    loss_ref = step(ref_lstm, ref_head, x, y)
    torch.testing.assert_close(loss, loss_ref, atol=1e-5, rtol=1e-5)
    for (n, p), q in zip(lstm.named_parameters(), ref_lstm.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=n)
    del model


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.GRU, rnn.LSTM], ids=lambda c: c.__name__)
def test_torch_export_and_jit_trace(cls):
    torch.manual_seed(9)
    m = cls(3, 4, num_layers=2).eval()
    x = torch.randn(5, 2, 3)
    expected = leaves(m(x))
    exported = torch.export.export(m, (x,))
    for a, b in zip(leaves(exported.module()(x)), expected):
        torch.testing.assert_close(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(m, (x,))
    y = torch.randn(5, 2, 3)
    for a, b in zip(leaves(traced(y)), leaves(m(y))):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize("kind", CELLS, ids=ids)
def test_cells_return_what_torchs_cells_return(kind):
    ours_cls, torch_cls = kind
    torch.manual_seed(10)
    ref = torch_cls(3, 4)
    ours = ours_cls(3, 4)
    ours.load_state_dict(ref.state_dict())
    for x, hx in [(torch.randn(2, 3), None), (torch.randn(3), None), (torch.randn(2, 3), torch.randn(2, 4))]:
        if hx is not None and torch_cls is nn.LSTMCell:
            hx = (hx, torch.randn(2, 4))
        a, b = ours(x, hx), ref(x, hx)
        assert type(a) is type(b)
        for u, v in zip(leaves(a), leaves(b)):
            torch.testing.assert_close(u, v)
    assert isinstance(ours, torch_cls)
    with pytest.raises(TypeError):
        ours_cls(3.0, 4)
    assert ours_cls(3, 4, device="cpu", dtype=torch.float64).weight_ih.dtype == torch.float64


@pytest.mark.parametrize("kind", CELLS, ids=ids)
@pytest.mark.parametrize("backend", ["auto", "reference", "fused"])
def test_a_drop_in_cell_unrolled_by_recurrent_equals_its_steps(kind, backend):
    """The same cell, step by step (torch's forward) and unrolled by rnnlab.Recurrent."""
    ours_cls, torch_cls = kind
    torch.manual_seed(11)
    layer = rnnlab.Recurrent(ours_cls, 3, 4, batch_first=True, backend=backend)
    assert layer.fused_reason is None
    cell = layer.cells[0]
    x = torch.randn(2, 5, 3)
    out, _ = layer(x)
    state = None
    for t in range(5):
        state = cell(x[:, t], state)
        h = state[0] if torch_cls is nn.LSTMCell else state
        torch.testing.assert_close(out[:, t], h)


def test_lengths_with_a_drop_in_layer_and_bad_combinations():
    m = rnn.GRU(3, 4, batch_first=True)
    x = torch.randn(3, 5, 3)
    out, h = m(x, lengths=torch.tensor([5, 2, 3]))
    assert torch.all(out[1, 2:] == 0)
    with pytest.raises(ValueError, match="lengths"):
        m(torch.randn(5, 3), lengths=[5])
    with pytest.raises(ValueError, match="lengths"):
        m(pack_sequence([torch.randn(2, 3)]), lengths=[2])
    assert list(itertools.islice(m.parameters(), 1))[0].shape == (12, 3)
