"""The compiled backend's graph pass: a chain of accumulated GEMMs becomes one GEMM."""

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from rnnlab.recurrent.backends.batched_weight_grads import BatchedWeightGrads

aten = torch.ops.aten


def _targets(gm):
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def _rewrite(fn, *args):
    gm = make_fx(fn)(*args)
    before = gm(*args)
    BatchedWeightGrads()(gm.graph)
    gm.recompile()
    return gm, before, gm(*args)


def test_a_chain_of_accumulated_gemms_becomes_one_gemm():
    torch.manual_seed(0)
    a = [torch.randn(6, k) for k in (4, 4, 3, 5)]  # steps may differ in their inner size
    b = [torch.randn(k, 7) for k in (4, 4, 3, 5)]

    def chain(*xs):
        acc = aten.mm.default(xs[0], xs[4])
        for t in range(1, 4):
            acc = aten.addmm.default(acc, xs[t], xs[4 + t])
        return acc * 2

    gm, before, after = _rewrite(chain, *a, *b)
    assert _targets(gm).count(aten.mm.default) == 1 and aten.addmm.default not in _targets(gm)
    torch.testing.assert_close(after, before)
    torch.testing.assert_close(after, 2 * sum(x @ y for x, y in zip(a, b)))


def test_chains_it_must_not_touch_stay():
    torch.manual_seed(0)
    a, b, c = torch.randn(3, 4), torch.randn(4, 5), torch.randn(3, 5)

    def shared(a, b, c):  # the running sum is also used on its own
        acc = aten.mm.default(a, b)
        return aten.addmm.default(acc, a, b) + acc

    def scaled(a, b, c):  # beta / alpha change the sum
        return aten.addmm.default(aten.mm.default(a, b), a, b, beta=0.5)

    def biased(a, b, c):  # starts from a bias, not a product
        return aten.addmm.default(aten.addmm.default(c, a, b), a, b)

    for fn in (shared, scaled, biased):
        gm, before, after = _rewrite(fn, a, b, c)
        assert _targets(gm).count(aten.addmm.default) >= 1, fn.__name__
        torch.testing.assert_close(after, before)


def test_the_pass_has_a_stable_cache_key():
    assert BatchedWeightGrads().uuid() == BatchedWeightGrads().uuid()
    assert BatchedWeightGrads(2).uuid() != BatchedWeightGrads(3).uuid()
