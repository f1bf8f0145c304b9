"""Reference and fused backends agree with torch.nn (values and gradients)."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab

KINDS = [(rnnlab.RNN, nn.RNN), (rnnlab.LSTM, nn.LSTM), (rnnlab.GRU, nn.GRU)]
I, H, B, T = 5, 6, 4, 7


def run_torch(module, x, hx, lengths, batch_first):
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, st = module(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    return out, st


def as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


def assert_matches_torch(ours, ref, x, hx, lengths, batch_first, loss, msg=""):
    """Outputs, final states, input and weight gradients (of ``loss(out, states)``) of
    ``ours`` equal torch.nn ``ref``'s (on packed sequences when there are lengths)."""
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, st_ref = run_torch(ref, x1, hx, lengths, batch_first)
    out, st = ours(x2, hx, lengths=lengths)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5, msg=msg or None)
    for a, b in zip(as_tuple(st), as_tuple(st_ref)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    loss(out_ref, as_tuple(st_ref)).backward()
    loss(out, as_tuple(st)).backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():  # torch.nn's names
        torch.testing.assert_close(p.grad, ref_params[name].grad, atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
@pytest.mark.parametrize("backend", ["reference", "fused", "hoisted"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False), (1, True), (3, True)])
def test_matches_torch(kind, backend, num_layers, bidirectional):
    ours_cls, torch_cls = kind
    # lengths: none, unsorted (the hoisted backend sorts the batch), sorted with a tie (it does not)
    for batch_first, lens, use_state in itertools.product([True, False], [None, [7, 3, 5, 1], [7, 5, 5, 1]],
                                                          [False, True]):
        torch.manual_seed(0)
        ref = torch_cls(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
        ours = ours_cls.from_torch(ref, backend=backend)
        shape = (B, T, I) if batch_first else (T, B, I)
        x = torch.randn(*shape)
        lengths = None if lens is None else torch.tensor(lens)
        LD = num_layers * (2 if bidirectional else 1)
        hx = None
        if use_state:
            hx = torch.randn(LD, B, H)
            if ours_cls is rnnlab.LSTM:
                hx = (hx, torch.randn(LD, B, H))
        # gradients through outputs and final states
        g = torch.randn(*shape[:2], (2 if bidirectional else 1) * H)
        assert_matches_torch(ours, ref, x, hx, lengths, batch_first,
                             lambda out, st: (out * g).sum() + sum(s.sum() for s in st))
        assert ours.last_backend == backend


def test_plan_cuts_trades_calls_against_padded_steps():
    from rnnlab.recurrent import plan_cuts

    lengths = [3, 30, 21, 5, 30, 20, 12]
    # a call dearer than every padded step: one stretch, finished sequences ride along
    assert plan_cuts(lengths, 1000) == [0, 30]
    # calls nearly free: a cut wherever sequences end (but the last end, at 30)
    assert plan_cuts(lengths, 0.5) == [0, 3, 5, 12, 20, 21, 30]
    # in between: cut where it saves more padded row-steps than a call costs
    # (the cost of [0, 5, 12, 21, 30] at 2 per call is 4*2 + 5*7 + 7*5 + 9*4 + 9*2 = 132)
    assert plan_cuts(lengths, 2) == [0, 5, 12, 21, 30]
    assert plan_cuts([4, 4, 4]) == [0, 4]
    # many distinct lengths: the candidate cuts are capped, the plan still covers [0, max]
    many = plan_cuts(list(range(1, 1001)), 1)
    assert many[0] == 0 and many[-1] == 1000 and len(many) <= 66 and many == sorted(set(many))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("call_cost", [2, 1000])
def test_fused_lengths_in_stretches_matches_torch(kind, num_layers, bidirectional, call_cost, monkeypatch):
    """Plans with several stretches (2) and with one (1000), sequences that end inside a
    stretch (frozen LSTM cell states), a given initial state: values, final states and
    gradients equal torch.nn's on packed sequences."""
    monkeypatch.setattr(rnnlab.recurrent, "FUSED_CALL_COST", call_cost)
    ours_cls, torch_cls = kind
    torch.manual_seed(3)
    T_ = 30
    lengths = torch.tensor([3, 30, 21, 5, 30, 20, 12])
    ref = torch_cls(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    ours = ours_cls.from_torch(ref, backend="fused")
    x = torch.randn(len(lengths), T_, I) * 3  # large inputs: saturating gates must still freeze
    LD = num_layers * (2 if bidirectional else 1)
    hx = torch.randn(LD, len(lengths), H)
    if ours_cls is rnnlab.LSTM:
        hx = (hx, torch.randn(LD, len(lengths), H))
    g = torch.randn(len(lengths), T_, (2 if bidirectional else 1) * H)
    assert_matches_torch(ours, ref, x, hx, lengths, True,
                         lambda out, st: (out * g).sum() + sum((s * s).sum() for s in st))


def test_weights_map_both_ways():
    torch.manual_seed(1)
    ours = rnnlab.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    back = ours.to_torch()
    x = torch.randn(B, T, I)
    torch.testing.assert_close(ours(x)[0], back(x)[0], atol=1e-6, rtol=1e-6)
    again = rnnlab.LSTM.from_torch(back)
    for (n1, p1), (_n2, p2) in zip(ours.named_parameters(), again.named_parameters()):
        assert torch.equal(p1, p2), n1


def test_packed_sequence_in_and_out():
    torch.manual_seed(2)
    ref = nn.GRU(I, H, batch_first=True)
    ours = rnnlab.GRU.from_torch(ref)
    x = torch.randn(B, T, I)
    packed = pack_padded_sequence(x, torch.tensor([7, 3, 5, 1]), batch_first=True, enforce_sorted=False)
    o1, h1 = ref(packed)
    o2, h2 = ours(packed)
    torch.testing.assert_close(pad_packed_sequence(o1, batch_first=True)[0],
                               pad_packed_sequence(o2, batch_first=True)[0])
    torch.testing.assert_close(h1, h2)


def test_auto_picks_fused_for_standard_cells_and_reference_otherwise():
    assert rnnlab.Recurrent("lstm", I, H).fused_reason is None
    layer = rnnlab.Recurrent("lstm", I, H, peepholes=True)
    assert "peephole" in layer.fused_reason
    layer(torch.randn(2, 3, I))
    assert layer.last_backend == "reference"
    with pytest.raises(ValueError, match="fused"):
        rnnlab.Recurrent("lstm", I, H, peepholes=True, backend="fused")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("backend", ["reference", "fused", "hoisted"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_invariance(cell, backend, bidirectional):
    """A sequence inside a padded batch: same outputs, final state and gradients as alone."""
    torch.manual_seed(3)
    layer = rnnlab.Recurrent(cell, I, H, num_layers=2, bidirectional=bidirectional, backend=backend).double()
    x = torch.randn(3, T, I, dtype=torch.float64)
    lengths = torch.tensor([T, 4, 2])
    x_pad = x.clone()
    x_pad[1, 4:] = 1e3  # garbage in the padding must not matter
    x_pad.requires_grad_()
    out, st = layer(x_pad, lengths=lengths)
    loss = out[1].pow(2).sum() + sum(s[:, 1].pow(2).sum() for s in as_tuple(st))
    grads = torch.autograd.grad(loss, [x_pad, *layer.parameters()])
    alone = x[1:2, :4].clone().requires_grad_()
    out1, st1 = layer(alone)
    loss1 = out1[0].pow(2).sum() + sum(s[:, 0].pow(2).sum() for s in as_tuple(st1))
    grads1 = torch.autograd.grad(loss1, [alone, *layer.parameters()])
    torch.testing.assert_close(out[1, :4], out1[0])
    assert torch.all(out[1, 4:] == 0)
    for a, b in zip(as_tuple(st), as_tuple(st1)):
        torch.testing.assert_close(a[:, 1], b[:, 0])
    torch.testing.assert_close(grads[0][1, :4], grads1[0][0])
    assert torch.all(grads[0][1, 4:] == 0)
    for g, g1 in zip(grads[1:], grads1[1:]):
        torch.testing.assert_close(g, g1)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda m: m(torch.randn(3, I)), "3-D"),
        (lambda m: m(torch.randn(2, 3, I + 1)), "input_size"),
        (lambda m: m(torch.randn(2, 3, I), lengths=[0, 3]), ">= 1"),
        (lambda m: m(torch.randn(2, 3, I), lengths=[4, 3]), "longer than the time axis"),
        (lambda m: m(torch.randn(2, 3, I), lengths=[3]), r"\(2,\)"),
        (lambda m: m(torch.randn(2, 3, I), state=torch.zeros(1, 2, H)), "2 tensor"),
        (lambda m: m(torch.randn(2, 3, I), state=(torch.zeros(1, 3, H), torch.zeros(1, 3, H))), "batch=2"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    layer = rnnlab.Recurrent("lstm", I, H)
    with pytest.raises(ValueError, match=match):
        call(layer)


def test_bad_names():
    with pytest.raises(ValueError, match="unknown cell name"):
        rnnlab.Recurrent("transformer", I, H)
    with pytest.raises(ValueError, match="unknown backend"):
        rnnlab.Recurrent("lstm", I, H, backend="cuda")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
def test_single_step_path_matches_torch(kind):
    """T = 1 takes torch's one-step cell kernels; streaming step by step equals a whole run."""
    ours_cls, torch_cls = kind
    torch.manual_seed(0)
    ref = torch_cls(I, H, num_layers=2, bidirectional=False, batch_first=True)
    ours = ours_cls.from_torch(ref)
    x = torch.randn(3, 6, I, requires_grad=True)
    whole, st_whole = ref(x)
    st, outs = None, []
    for t in range(6):
        o, st = ours(x[:, t:t + 1], st)
        outs.append(o)
    torch.testing.assert_close(torch.cat(outs, 1), whole, atol=1e-6, rtol=1e-5)
    for a, b in zip(as_tuple(st), as_tuple(st_whole)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    g1 = torch.autograd.grad(torch.cat(outs, 1).sum(), x, retain_graph=True)[0]
    g2 = torch.autograd.grad(whole.sum(), x)[0]
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
def test_drop_in_accepts_unbatched_input_like_torch(kind):
    ours_cls, torch_cls = kind
    torch.manual_seed(0)
    ref = torch_cls(I, H, num_layers=2)
    ours = ours_cls.from_torch(ref)
    x = torch.randn(T, I)
    o1, s1 = ref(x)
    o2, s2 = ours(x)
    torch.testing.assert_close(o1, o2)
    for a, b in zip(as_tuple(s1), as_tuple(s2)):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="3-D"):
        rnnlab.Recurrent("lstm", I, H)(x)  # the generic layer keeps its explicit batch axis


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
def test_fused_lengths_random_patterns_match_torch(kind, monkeypatch):
    """Random batches, lengths and call costs (so random plans: ties, lengths of 1, every
    sequence shorter than the time axis): the fused backend equals torch.nn."""
    ours_cls, torch_cls = kind
    gen = torch.Generator().manual_seed(11)
    for trial in range(12):
        batch = int(torch.randint(1, 9, (1,), generator=gen))
        steps = int(torch.randint(1, 25, (1,), generator=gen))
        lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
        if trial % 4 == 0:
            lengths[:] = lengths[0]  # all equal (and maybe shorter than the axis)
        monkeypatch.setattr(rnnlab.recurrent, "FUSED_CALL_COST", float(torch.rand(1, generator=gen)) * 20)
        ref = torch_cls(I, H, num_layers=1 + trial % 2, bidirectional=trial % 3 == 0, batch_first=True)
        ours = ours_cls.from_torch(ref, backend="fused")
        x = torch.randn(batch, steps, I, generator=gen)
        assert_matches_torch(ours, ref, x, None, lengths, True,
                             lambda out, st: (out ** 2).sum() + sum(s.sum() for s in st),
                             msg=f"trial {trial}, lengths {lengths}")


@pytest.mark.parametrize("fill", ["nan", "large"])
@pytest.mark.parametrize("backend", ["reference", "fused", "hoisted"])
@pytest.mark.parametrize("ours_cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN], ids=lambda c: c.__name__)
def test_padding_never_reaches_outputs_or_gradients(ours_cls, backend, fill):
    """Padding filled with NaN/inf (as UCR files pad), or with large finite values (which
    CPU backends other than fused read unzeroed), gives what zero padding gives."""
    torch.manual_seed(4)
    layer = ours_cls(I, H, num_layers=2, bidirectional=True, batch_first=True, backend=backend)
    lengths = torch.tensor([7, 3, 5, 1])
    x = torch.randn(B, T, I)
    pad = ~rnnlab.recurrent.sequence_mask(lengths, T)
    if fill == "nan":
        dirty = x.masked_fill(pad.unsqueeze(-1), float("nan"))
        dirty[1, -1] = float("inf")
    else:
        dirty = torch.where(pad.unsqueeze(-1), 1e4 * torch.randn(B, T, I), x)
    results = []
    for inp in (x.masked_fill(pad.unsqueeze(-1), 0.0), dirty):
        inp = inp.clone().requires_grad_()
        layer.zero_grad()
        out, st = layer(inp, lengths=lengths)
        (out.sum() + sum(s.sum() for s in as_tuple(st))).backward()
        results.append((out, as_tuple(st), inp.grad, [p.grad.clone() for p in layer.parameters()]))
    (o1, s1, gx1, gp1), (o2, s2, gx2, gp2) = results
    torch.testing.assert_close(o2, o1)
    for a, b in zip(s2, s1):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(gx2, gx1)
    for a, b in zip(gp2, gp1):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)


def test_compile_steps_must_be_a_positive_integer():
    for bad in (0, -2, 1.5, "50"):
        with pytest.raises(ValueError, match="compile_steps"):
            rnnlab.Recurrent("lstm", I, H, backend="compiled", compile_steps=bad)
    assert rnnlab.LSTM.from_torch(nn.LSTM(I, H), backend="compiled", compile_steps=8).compile_steps == 8


@pytest.mark.parametrize("shape", [(7, 4), (7, 4, 3), (7, 4, 2, 3)])
def test_reverse_padded_reverses_each_sequence_within_its_length(shape):
    from rnnlab.recurrent import reverse_padded

    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    lengths = torch.tensor([7, 1, 4, 6])
    y = reverse_padded(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(y[:n, b], x[:n, b].flip(0))
        torch.testing.assert_close(y[n:, b], x[n:, b])  # padding stays where it is
    torch.testing.assert_close(reverse_padded(y, lengths), x)  # its own inverse
    g = torch.randn(*shape)
    (dx,) = torch.autograd.grad(y, x, g)
    torch.testing.assert_close(dx, reverse_padded(g, lengths))
    torch.testing.assert_close(reverse_padded(x, None), x.flip(0))
    torch.testing.assert_close(reverse_padded(x, lengths.tolist()), y)
    # a non-contiguous input (a batch-first tensor seen time-major)
    xt = torch.randn(shape[1], shape[0], *shape[2:]).transpose(0, 1)
    torch.testing.assert_close(reverse_padded(xt, lengths)[:4, 2], xt[:4, 2].flip(0))


def test_use_backend_overrides_every_layer_for_a_block_only():
    """``use_backend`` runs each layer of a block on one backend without modifying the
    layers; a layer that backend cannot compute says so."""
    from rnnlab.recurrent import use_backend

    torch.manual_seed(0)
    gru = rnnlab.Recurrent("gru", 3, 4, backend="hoisted")
    x = torch.randn(2, 5, 3)
    expected, _ = gru(x)
    with use_backend("reference"):
        got, _ = gru(x)
        assert gru.last_backend == "reference" and gru.backend == "hoisted"
    torch.testing.assert_close(got, expected)
    gru(x)
    assert gru.last_backend == "hoisted"
    peephole = rnnlab.Recurrent("lstm", 3, 4, peepholes=True)
    with use_backend("fused"), pytest.raises(ValueError, match="backend='fused' cannot compute this layer.*peephole"):
        peephole(x)


def test_a_backend_is_one_row_of_the_table(monkeypatch):
    """A backend added to the table is accepted by name, checked, and dispatched to."""
    from rnnlab.recurrent.backends import TABLE, Backend, reference

    calls = []

    def run(layer, x, hx, lengths):
        calls.append(tuple(x.shape))
        return reference.run(layer, x, hx, lengths)

    monkeypatch.setitem(TABLE, "traced_reference", Backend(lambda layer: None, run))
    torch.manual_seed(0)
    layer = rnnlab.Recurrent("lstm", 3, 4, backend="traced_reference")
    ref = rnnlab.Recurrent("lstm", 3, 4, backend="reference")
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer(x, lengths=[5, 2])[0], ref(x, lengths=[5, 2])[0])
    assert calls == [(2, 5, 3)] and layer.last_backend == "traced_reference"
    monkeypatch.setitem(TABLE, "never", Backend(lambda layer: "it computes nothing", run))
    with pytest.raises(ValueError, match="backend='never' cannot compute this layer: it computes nothing"):
        rnnlab.Recurrent("lstm", 3, 4, backend="never")
