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


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
@pytest.mark.parametrize("backend", ["reference", "fused", "hoisted"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False), (1, True), (3, True)])
def test_matches_torch(kind, backend, num_layers, bidirectional):
    ours_cls, torch_cls = kind
    for batch_first, use_lengths, use_state in itertools.product([True, False], [False, True], [False, True]):
        torch.manual_seed(0)
        ref = torch_cls(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
        ours = ours_cls.from_torch(ref, backend=backend)
        shape = (B, T, I) if batch_first else (T, B, I)
        x = torch.randn(*shape)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        lengths = torch.tensor([7, 3, 5, 1]) if use_lengths else None
        LD = num_layers * (2 if bidirectional else 1)
        hx = None
        if use_state:
            hx = torch.randn(LD, B, H)
            if ours_cls is rnnlab.LSTM:
                hx = (hx, torch.randn(LD, B, H))
        out_ref, st_ref = run_torch(ref, x1, hx, lengths, batch_first)
        out, st = ours(x2, hx, lengths=lengths)
        assert ours.last_backend == backend
        torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
        for a, b in zip(as_tuple(st), as_tuple(st_ref)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        # gradients through outputs and final states
        g = torch.randn_like(out)
        loss_ref = (out_ref * g).sum() + sum(s.sum() for s in as_tuple(st_ref))
        loss = (out * g).sum() + sum(s.sum() for s in as_tuple(st))
        loss_ref.backward()
        loss.backward()
        torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
        ref_params = dict(ref.named_parameters())
        ours_params = dict(rnnlab.recurrent._torch_param_map(ours))
        for name, p in ours_params.items():
            torch.testing.assert_close(p.grad, ref_params[name].grad, atol=1e-5, rtol=1e-5, msg=name)


def test_plan_stretches_fuses_long_runs_and_merges_short_ones():
    from rnnlab.recurrent import plan_stretches

    # 5 rows: lengths 20, 20, 19, 5, 3 -> live rows 5,5,5,4,4, then 3 x14, then 2
    ks = [5] * 3 + [4] * 2 + [3] * 14 + [2] + [0] * 4
    assert plan_stretches(ks, 8) == [(0, 5, False), (5, 19, True), (19, 20, False)]
    assert plan_stretches(ks, 1) == [(0, 3, True), (3, 5, True), (5, 19, True), (19, 20, True)]
    assert plan_stretches([4] * 10, 8) == [(0, 10, True)]
    assert plan_stretches([4] * 10, 11) == [(0, 10, False)]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
def test_fused_lengths_mixing_fused_and_hoisted_stretches_matches_torch(kind, num_layers, bidirectional,
                                                                        monkeypatch):
    """A length pattern whose plan has fused and hoisted stretches (and rows that finish
    inside a hoisted stretch) — values, final states and gradients equal torch.nn's."""
    monkeypatch.setattr(rnnlab.recurrent, "FUSED_MIN_STEPS", 8)
    ours_cls, torch_cls = kind
    torch.manual_seed(3)
    T_ = 30
    lengths = torch.tensor([3, 30, 21, 5, 30, 20, 12])
    ks = rnnlab.hoisted.live_counts(lengths.sort(descending=True).values, T_, len(lengths))
    plan = rnnlab.recurrent.plan_stretches(ks, 8)
    assert plan == [(0, 12, False), (12, 20, True), (20, 21, False), (21, 30, True)]
    ref = torch_cls(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    ours = ours_cls.from_torch(ref, backend="fused")
    x = torch.randn(len(lengths), T_, I)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, st_ref = run_torch(ref, x1, None, lengths, True)
    out, st = ours(x2, lengths=lengths)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(as_tuple(st), as_tuple(st_ref)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(out)
    ((out_ref * g).sum() + sum(s.sum() for s in as_tuple(st_ref))).backward()
    ((out * g).sum() + sum(s.sum() for s in as_tuple(st))).backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
    ref_params = dict(ref.named_parameters())
    for name, p in rnnlab.recurrent._torch_param_map(ours):
        torch.testing.assert_close(p.grad, ref_params[name].grad, atol=1e-5, rtol=1e-5, msg=name)


def test_weights_map_both_ways():
    torch.manual_seed(1)
    ours = rnnlab.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    back = ours.to_torch()
    x = torch.randn(B, T, I)
    torch.testing.assert_close(ours(x)[0], back(x)[0], atol=1e-6, rtol=1e-6)
    again = rnnlab.LSTM.from_torch(back)
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), again.named_parameters()):
        assert torch.equal(p1, p2), n1


def test_packed_sequence_in_and_out():
    torch.manual_seed(2)
    ref = nn.GRU(I, H, batch_first=True)
    ours = rnnlab.GRU.from_torch(ref)
    x = torch.randn(B, T, I)
    packed = pack_padded_sequence(x, torch.tensor([7, 3, 5, 1]), batch_first=True, enforce_sorted=False)
    o1, h1 = ref(packed)
    o2, h2 = ours(packed)
    torch.testing.assert_close(pad_packed_sequence(o1, batch_first=True)[0], pad_packed_sequence(o2, batch_first=True)[0])
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
