"""A graph pass for the compiled backend: a weight's gradient summed over time steps
becomes one GEMM.

When K steps of a cell are compiled as one graph, autograd's backward computes the
gradient of a weight the cell uses at every step (``W_hh``) as a chain of small GEMMs,
each adding its step's term into the running sum::

    dW = mm(a_1, b_1);  dW = addmm(dW, a_2, b_2);  ...;  dW = addmm(dW, a_K, b_K)

with ``a_t`` the transposed gate gradients ``(G, B)`` and ``b_t`` the previous hidden
state ``(B, H)``. Each link reads and writes the whole ``(G, H)`` sum — for H=512 that is
4 MB per step, more memory traffic than arithmetic at batch 64. Since
``sum_t a_t b_t = [a_1 ... a_K] [b_1; ...; b_K]``, the pass replaces the chain by one
GEMM over the concatenated terms, the shape a GEMM runs fastest at: the same thing the
hoisted backend does by hand for torch's standard cells, here for any cell. The copies
the concatenation makes cost less than the chain's traffic even at H=256, whose 1 MiB sum
stays in cache (``python benchmarks/batched_weight_grads.py`` times both sides).

It runs on inductor's post-gradient graph (``torch.compile(options=
{"post_grad_custom_post_pass": BatchedWeightGrads()})``), rewrites only such chains (a
plain ``mm`` followed by ``addmm`` links without ``alpha``/``beta``, each link used only
by the next) and leaves everything else alone. The sum is only regrouped, so results
agree with the unrewritten graph to float rounding.
"""

from __future__ import annotations

import torch
from torch._inductor.custom_graph_pass import CustomGraphPass, get_hash_for_files

__all__ = ["BatchedWeightGrads", "accumulation_chain"]

_aten = torch.ops.aten


def accumulation_chain(node: torch.fx.Node) -> list[torch.fx.Node] | None:
    """The links ``[mm, addmm, ..., node]`` of a GEMM accumulation chain ending at ``node``,
    or None when ``node`` does not end one."""
    links, cur = [], node
    while True:
        if cur.op != "call_function":
            return None
        if cur.target == _aten.mm.default:
            links.append(cur)
            return links[::-1]
        if cur.target != _aten.addmm.default or cur.kwargs or len(cur.args) != 3:
            return None
        links.append(cur)
        prev = cur.args[0]
        if not isinstance(prev, torch.fx.Node) or len(prev.users) != 1:
            return None  # the running sum is used elsewhere too: not a private accumulator
        cur = prev


class BatchedWeightGrads(CustomGraphPass):
    """Inductor post-grad pass: each chain of at least ``min_terms`` accumulated GEMMs
    becomes one GEMM over concatenated operands (see the module docstring)."""

    def __init__(self, min_terms: int = 2):
        self.min_terms = min_terms

    def __call__(self, graph: torch.fx.Graph) -> None:
        rewritten: set[torch.fx.Node] = set()
        for node in reversed(list(graph.nodes)):
            if node in rewritten or node.op != "call_function" or node.target != _aten.addmm.default:
                continue
            if any(u.target == _aten.addmm.default and u.args[0] is node for u in node.users):
                continue  # not the end of its chain; the end, met first, takes it
            links = accumulation_chain(node)
            if links is None or len(links) < self.min_terms:
                continue
            pairs = [(n.args[0], n.args[1]) if n.target == _aten.mm.default else (n.args[1], n.args[2])
                     for n in links]
            with graph.inserting_before(node):
                left = graph.call_function(_aten.cat.default, ([a for a, _ in pairs], 1))
                right = graph.call_function(_aten.cat.default, ([b for _, b in pairs], 0))
                total = graph.call_function(_aten.mm.default, (left, right))
            total.meta.update(node.meta)
            node.replace_all_uses_with(total)
            for n in reversed(links):  # the end first: each link's only user is the next
                graph.erase_node(n)
            rewritten.update(links)
        graph.lint()

    def uuid(self) -> bytes:
        # part of inductor's cache key: compiled graphs are reused while this file is unchanged
        return get_hash_for_files((__file__,), extra=str(self.min_terms))
