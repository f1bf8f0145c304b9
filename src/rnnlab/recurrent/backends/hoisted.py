"""The "hoisted" backend: one layer of a standard cell as a custom autograd Function.

Autograd through a step-by-step loop (and torch's own CPU RNN kernels) computes the
weight gradient of the recurrent matrix as one small GEMM per time step,
``dW_hh += dG_t^T h_{t-1}`` with ``dG_t`` of shape ``(B, G)``. Here the backward pass
does only the work that must be sequential — ``dh_{t-1} = dG_t W_hh`` and the
pointwise gate derivatives — and computes the weight gradients at the end as one large
GEMM over all ``T * B`` rows (``dW_hh = dG^T H_prev``), where a GEMM runs at its peak.
The input projection ``x W_ih^T`` and its gradients are likewise one GEMM each, outside
the loop (plain autograd on :func:`torch.nn.functional.linear`).

Inside the loop everything writes into preallocated ``(T, B, ·)`` buffers, so no step
allocates. Variable lengths cost nothing extra: the batch is sorted by length, so the
sequences still running at step ``t`` are a prefix of the batch and step ``t`` works on
``[:k_t]`` views — fewer rows, not masks.

The functions compute exactly torch.nn's cells (same parameters, gate order, bias
placement); ``tests/test_hoisted.py`` compares values and gradients with ``nn.LSTM`` /
``nn.GRU`` / ``nn.RNN``.

Higher-order gradients (a gradient penalty, Hessian-vector products: ``create_graph=True``)
and batched gradients (``autograd.grad(..., is_grads_batched=True)``, vmap) cannot go
through the hand-written backward, which writes into its buffers in place. There the
backward recomputes the layer with plain differentiable torch operations on the saved
inputs (:func:`_lstm_steps` etc., the same equations) and differentiates that, so every
order of derivative is exact; ordinary training never takes that path.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from ...cells import State
from ..lengths import permute_batch, sort_by_length
from ..stack import stack_layers

__all__ = ["hoisted_layer", "live_counts", "run", "unavailable"]


def unavailable(layer) -> str | None:
    """Why the hoisted Functions cannot compute ``layer`` (they compute torch's standard
    cells without projections), or None."""
    return layer.hoisted_reason


def run(layer, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """Each layer and direction of ``layer`` through :func:`hoisted_layer` (weight
    gradients as one GEMM over all steps). With lengths the batch is sorted by length so
    that the running sequences at each step are a prefix of it."""
    mode = layer._fused_mode()
    lens = order = inverse = None
    batch_dim = 0 if layer.batch_first else 1
    if lengths is not None and bool((lengths[1:] <= lengths[:-1]).all()):
        lens = lengths  # already sorted (as pack_padded_sequence's enforce_sorted wants): nothing to permute
    elif lengths is not None:
        x, hx, lens, order, inverse = sort_by_length(x, hx, lengths, batch_dim)
    ks = live_counts(lens, x.shape[1 - batch_dim], x.shape[batch_dim])
    def cell(k: int, src: Tensor, st: State) -> tuple[Tensor, State]:
        return hoisted_layer(mode, src, st, layer.direction(k).flat_weights(), ks)

    out, final = stack_layers(layer, cell, x, hx, lens)
    if inverse is not None and order is not None:  # back to the caller's order (batch-first: whole sequences)
        out = permute_batch(out, inverse, order, batch_dim)
        final = tuple(permute_batch(h, inverse, order) for h in final)
    return out, final


def live_counts(lengths: Tensor | None, T: int, B: int) -> list[int]:
    """Number of sequences still running at each step, for a batch sorted by
    descending length (all ``B`` at every step without lengths)."""
    if lengths is None:
        return [B] * T
    return (lengths.cpu().unsqueeze(0) > torch.arange(T).unsqueeze(1)).sum(1).tolist()


def _prev(buf: Tensor, first: Tensor, t: int, k: int) -> Tensor:
    """State before step t for the k live rows: the initial state, or step t-1's."""
    return first[:k] if t == 0 else buf[t - 1, :k]


def _step_views(*bufs: Tensor) -> list[tuple[Tensor, ...]]:
    """Each ``(T, B, ·)`` buffer's per-step views, made once in C++ (``unbind``) rather
    than by Python slicing at every step: at small batches the per-step overhead, not
    the arithmetic, is what the loop pays."""
    return [b.unbind(0) for b in bufs]


def _at(views: list[tuple[Tensor, ...]], t: int, k: int, B: int) -> list[Tensor]:
    """Step ``t``'s views restricted to the ``k`` live rows."""
    return [v[t] if k == B else v[t][:k] for v in views]


def _empty_zero_padded(like: Tensor, shape: tuple[int, ...], ks: list[int]) -> Tensor:
    """An uninitialised ``(T, B, ·)`` buffer whose padding — rows ``ks[t]:`` of step
    ``t`` — is zero: the loops write every live row, so zeroing the whole buffer first
    would write those rows twice."""
    buf = like.new_empty(shape)
    t, T, B = 0, len(ks), shape[1]
    while t < T:  # one call per run of steps with the same number of live rows
        end = t
        while end < T and ks[end] == ks[t]:
            end += 1
        if ks[t] < B:
            buf[t:end, ks[t]:].zero_()
        t = end
    return buf


def _weight_grad(d: Tensor, out: Tensor, h0: Tensor) -> Tensor:
    """``sum_t d_t^T h_{t-1}`` over all steps as one GEMM: ``d`` is ``(T, B, G)`` (a
    gate-gradient buffer or a slice of one), ``out`` the ``(T, B, H)`` outputs and ``h0``
    the initial state. Step 0 (which reads ``h0``) is added on its own, so the shifted
    outputs are never copied into one ``[h0; out[:-1]]`` buffer."""
    G, H = d.shape[-1], out.shape[-1]
    d_w = d[1:].reshape(-1, G).t().mm(out[:-1].reshape(-1, H))
    return d_w.addmm_(d[0].t(), h0)


def _final(buf: Tensor, ks: list[int], B: int) -> Tensor:
    """Each row's value after its own last step (rows are sorted by length)."""
    if ks[-1] == B:
        return buf[-1].clone()
    last = (torch.tensor(ks).unsqueeze(1) > torch.arange(B)).sum(0).to(buf.device) - 1  # row b: length_b - 1
    return buf[last, torch.arange(B, device=buf.device)]


class _LSTM(torch.autograd.Function):
    """Gates are kept in the order i, f, o, g (the three sigmoids contiguous, so one
    call each computes them and their derivatives); the caller permutes torch's
    i, f, g, o rows into it."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, ks: list[int]):
        T, B, G = xp.shape
        H = G // 4
        act = xp.new_empty(T, B, G)
        cs = xp.new_empty(T, B, H)
        tcs = xp.new_empty(T, B, H)
        out = _empty_zero_padded(xp, (T, B, H), ks)
        w_t = w_hh.t()
        steps = _step_views(xp, act, act[..., : 3 * H], act[..., H: 2 * H], act[..., 2 * H: 3 * H],
                            act[..., 3 * H:], act[..., :H], cs, tcs, out)
        for t, k in enumerate(ks):
            if k == 0:
                continue
            x_t, a, sig, f, o, g, i, c, tc, h = _at(steps, t, k, B)
            c_prev = _prev(cs, c0, t, k)
            torch.addmm(x_t, _prev(out, h0, t, k), w_t, out=a)
            sig.sigmoid_()
            g.tanh_()
            torch.mul(f, c_prev, out=c)
            c.addcmul_(i, g)
            torch.tanh(c, out=tc)
            torch.mul(o, tc, out=h)
        ctx.ks = ks
        ctx.save_for_backward(xp, h0, c0, w_hh, act, cs, tcs, out)
        return out, _final(out, ks, B), _final(cs, ks, B)

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor, d_cT: Tensor):
        xp, h0, c0, w_hh, act, cs, tcs, out = ctx.saved_tensors
        ks = ctx.ks
        if _needs_differentiable_backward(d_out, d_hT, d_cT):
            return (*_recomputed_grads(ctx, _lstm_steps, (xp, h0, c0, w_hh), (d_out, d_hT, d_cT)), None)
        T, B, G = act.shape
        H = G // 4
        dg = _empty_zero_padded(act, (T, B, G), ks)
        dh = d_hT.clone()
        dc = d_cT.clone()
        steps = _step_views(act[..., :H], act[..., H: 2 * H], act[..., 2 * H: 3 * H], act[..., 3 * H:],
                            act[..., : 3 * H], tcs, d_out, dg, dg[..., :H], dg[..., H: 2 * H],
                            dg[..., 2 * H: 3 * H], dg[..., 3 * H:], dg[..., : 3 * H])
        for t in range(T - 1, -1, -1):
            k = ks[t]
            if k == 0:
                continue
            i, f, o, g, sa, tc, d_o, d, di, df, do, dgg, sig = _at(steps, t, k, B)
            dhk, dck = (dh, dc) if k == B else (dh[:k], dc[:k])
            dhk.add_(d_o)
            torch.mul(dhk, tc, out=do)  # dL/do
            tmp = dhk * o  # dc += dh * o * (1 - tanh(c)^2)
            dck.add_(tmp)
            tmp.mul_(tc)
            dck.addcmul_(tmp, tc, value=-1.0)
            torch.mul(dck, g, out=di)  # dL/di
            torch.mul(dck, _prev(cs, c0, t, k), out=df)  # dL/df
            torch.mul(dck, i, out=dgg)  # dL/dg
            dck.mul_(f)  # dL/dc_{t-1}
            sig.mul_(sa)
            sig.addcmul_(sig, sa, value=-1.0)  # sigmoid' = a (1 - a)
            tg = dgg * g
            dgg.addcmul_(tg, g, value=-1.0)  # tanh' = 1 - g^2
            torch.mm(d, w_hh, out=dhk)  # dL/dh_{t-1}
        return dg, dh, dc, _weight_grad(dg, out, h0), None


class _GRU(torch.autograd.Function):
    """torch's GRU: ``n = tanh(x_n + r * (W_hn h + b_hn))`` — b_hn sits inside the reset
    gate, so the hidden projection keeps its own bias."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None, ks: list[int]):
        T, B, G = xp.shape
        H = G // 3
        act = xp.new_empty(T, B, G)  # r, z, n
        hp = xp.new_empty(T, B, G)  # W_hh h + b_hh
        out = _empty_zero_padded(xp, (T, B, H), ks)
        w_t = w_hh.t()
        for t, k in enumerate(ks):
            if k == 0:
                continue
            h_prev, a, p, x = _prev(out, h0, t, k), act[t, :k], hp[t, :k], xp[t, :k]
            if b_hh is None:
                torch.mm(h_prev, w_t, out=p)
            else:
                torch.addmm(b_hh, h_prev, w_t, out=p)
            rz = a[:, : 2 * H]
            torch.add(x[:, : 2 * H], p[:, : 2 * H], out=rz).sigmoid_()
            n = a[:, 2 * H:]
            torch.mul(a[:, :H], p[:, 2 * H:], out=n)
            n.add_(x[:, 2 * H:]).tanh_()
            h = out[t, :k]
            torch.sub(h_prev, n, out=h)
            h.mul_(a[:, H: 2 * H]).add_(n)  # h = n + z (h_prev - n)
        ctx.ks = ks
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(xp, h0, w_hh, b_hh, act, hp, out)
        return out, _final(out, ks, B)

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor):
        xp, h0, w_hh, b_hh, act, hp, out = ctx.saved_tensors
        ks = ctx.ks
        if _needs_differentiable_backward(d_out, d_hT):
            return (*_recomputed_grads(ctx, _gru_steps, (xp, h0, w_hh, b_hh), (d_out, d_hT)), None)
        T, B, G = act.shape
        H = G // 3
        dx = _empty_zero_padded(act, (T, B, G), ks)  # gradient of the input projection: r, z, n pre-activations
        dhn = _empty_zero_padded(act, (T, B, H), ks)  # gradient of W_hn h + b_hn
        dh = d_hT.clone()
        for t in range(T - 1, -1, -1):
            k = ks[t]
            if k == 0:
                continue
            a, d, h_prev = act[t, :k], dx[t, :k], _prev(out, h0, t, k)
            r, z, n = a[:, :H], a[:, H: 2 * H], a[:, 2 * H:]
            dhk = dh[:k]
            dhk.add_(d_out[t, :k])
            dz = d[:, H: 2 * H]
            torch.sub(h_prev, n, out=dz)
            dz.mul_(dhk).mul_(z)
            dz.addcmul_(dz, z, value=-1.0)  # dL/dz_pre = dh (h_prev - n) z (1 - z)
            direct = dhk * z  # dh_{t-1} through the z * h_prev term
            dn = d[:, 2 * H:]
            torch.sub(dhk, direct, out=dn)
            tn = dn * n
            dn.addcmul_(tn, n, value=-1.0)  # dL/dn_pre = dh (1 - z) (1 - n^2)
            torch.mul(dn, r, out=dhn[t, :k])
            dr = d[:, :H]
            torch.mul(dn, hp[t, :k, 2 * H:], out=dr)
            dr.mul_(r)
            dr.addcmul_(dr, r, value=-1.0)  # dL/dr_pre
            torch.addmm(direct, d[:, : 2 * H], w_hh[: 2 * H], out=dhk)
            dhk.addmm_(dhn[t, :k], w_hh[2 * H:])
        d_w = torch.cat([_weight_grad(dx[..., : 2 * H], out, h0), _weight_grad(dhn, out, h0)], 0)
        d_b = torch.cat([dx[..., : 2 * H].sum((0, 1)), dhn.sum((0, 1))]) if ctx.has_bias else None
        return dx, dh, d_w, d_b, None


class _Elman(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, relu: bool, ks: list[int]):
        T, B, H = xp.shape
        out = _empty_zero_padded(xp, (T, B, H), ks)
        w_t = w_hh.t()
        for t, k in enumerate(ks):
            if k == 0:
                continue
            h = out[t, :k]
            torch.addmm(xp[t, :k], _prev(out, h0, t, k), w_t, out=h)
            h.relu_() if relu else h.tanh_()
        ctx.ks, ctx.relu = ks, relu
        ctx.save_for_backward(xp, h0, w_hh, out)
        return out, _final(out, ks, B)

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor):
        xp, h0, w_hh, out = ctx.saved_tensors
        ks = ctx.ks
        if _needs_differentiable_backward(d_out, d_hT):
            steps = partial(_elman_steps, relu=ctx.relu)
            return (*_recomputed_grads(ctx, steps, (xp, h0, w_hh), (d_out, d_hT)), None, None)
        T, B, H = out.shape
        dpre = _empty_zero_padded(out, (T, B, H), ks)
        dh = d_hT.clone()
        for t in range(T - 1, -1, -1):
            k = ks[t]
            if k == 0:
                continue
            h, d, dhk = out[t, :k], dpre[t, :k], dh[:k]
            dhk.add_(d_out[t, :k])
            if ctx.relu:
                torch.mul(dhk, h > 0, out=d)
            else:
                torch.mul(dhk, h, out=d)
                d.mul_(h)
                torch.sub(dhk, d, out=d)  # dh (1 - h^2)
            torch.mm(d, w_hh, out=dhk)
        return dpre, dh, _weight_grad(dpre, out, h0), None, None


def _needs_differentiable_backward(*grads: Tensor) -> bool:
    """Whether this backward must itself be differentiable (``create_graph=True`` turns
    grad mode on inside it) or runs under vmap (batched incoming gradients): then the
    in-place loops below cannot be used."""
    return torch.is_grad_enabled() or any(_is_batched(g) for g in grads)


def _is_batched(t: Tensor) -> bool:
    """A tensor seen through vmap: torch.func's, or the older one ``is_grads_batched`` uses."""
    functorch = torch._C._functorch
    return functorch.is_batchedtensor(t) or functorch.is_legacy_batchedtensor(t)


def _recomputed_grads(ctx, steps, inputs: tuple[Tensor | None, ...], grads: tuple[Tensor, ...]
                      ) -> list[Tensor | None]:
    """Gradients of ``steps(*inputs, ks)`` (the layer in plain torch operations) with
    respect to the inputs that need one, differentiable again when grad mode is on."""
    create_graph = torch.is_grad_enabled()
    wanted = [k for k, x in enumerate(inputs) if x is not None and ctx.needs_input_grad[k]]
    with torch.enable_grad():
        leaves = list(inputs)
        if not create_graph:  # only the first order is wanted: differentiate a detached copy
            leaves = [None if x is None else x.detach().requires_grad_(k in wanted) for k, x in enumerate(inputs)]
        outs = steps(*leaves, ks=ctx.ks)
        got = torch.autograd.grad(outs, [leaves[k] for k in wanted], grads,  # type: ignore[arg-type]  # None: unused
                                  create_graph=create_graph,
                                  allow_unused=True)
    result: list[Tensor | None] = [None] * len(inputs)
    for k, g in zip(wanted, got):
        result[k] = torch.zeros_like(inputs[k]) if g is None else g
    return result


def _step_mask(ks: list[int], t: int, like: Tensor) -> Tensor | None:
    """``(B, 1)``: True for the rows still running at step ``t`` (None: all are)."""
    B = like.shape[0]
    return None if ks[t] == B else (torch.arange(B, device=like.device) < ks[t]).unsqueeze(1)


def _masked_steps(step, xp: Tensor, state: tuple[Tensor, ...], ks: list[int]) -> tuple[Tensor, ...]:
    """``step(xp_t, state) -> new state`` (first part: the output) over all steps: rows past
    their length keep their state and output zero, as the hoisted loops leave them."""
    outs = []
    for t, x_t in enumerate(xp.unbind(0)):
        new = step(x_t, state)
        live = _step_mask(ks, t, x_t)
        if live is None:
            state = new
            outs.append(new[0])
        else:
            state = tuple(torch.where(live, n, o) for n, o in zip(new, state))
            outs.append(torch.where(live, new[0], torch.zeros_like(new[0])))
    return (torch.stack(outs, 0), *state)


def _lstm_steps(xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, ks: list[int]) -> tuple[Tensor, ...]:
    """:class:`_LSTM` in plain torch operations (gates in its i, f, o, g order)."""
    H = h0.shape[-1]

    def step(x_t, state):
        h, c = state
        a = x_t + h.mm(w_hh.t())
        i, f, o = a[:, : 3 * H].sigmoid().chunk(3, -1)
        c = f * c + i * a[:, 3 * H:].tanh()
        return o * c.tanh(), c

    return _masked_steps(step, xp, (h0, c0), ks)


def _gru_steps(xp: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None, ks: list[int]) -> tuple[Tensor, ...]:
    """:class:`_GRU` in plain torch operations."""
    H = h0.shape[-1]

    def step(x_t, state):
        (h,) = state
        p = torch.nn.functional.linear(h, w_hh, b_hh)
        rz = (x_t[:, : 2 * H] + p[:, : 2 * H]).sigmoid()
        r, z = rz[:, :H], rz[:, H:]
        n = (x_t[:, 2 * H:] + r * p[:, 2 * H:]).tanh()
        return (n + z * (h - n),)

    return _masked_steps(step, xp, (h0,), ks)


def _elman_steps(xp: Tensor, h0: Tensor, w_hh: Tensor, ks: list[int], relu: bool) -> tuple[Tensor, ...]:
    """:class:`_Elman` in plain torch operations."""

    def step(x_t, state):
        pre = x_t + state[0].mm(w_hh.t())
        return (pre.relu() if relu else pre.tanh(),)

    return _masked_steps(step, xp, (h0,), ks)


def _lstm_order(H: int, device: torch.device) -> Tensor:
    """Row permutation from torch's i, f, g, o to i, f, o, g."""
    return torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]).to(device)


def hoisted_layer(mode: str, x: Tensor, state: tuple[Tensor, ...], weights: list[Tensor],
                  ks: list[int]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One layer, one direction. ``x`` time-major ``(T, B, I)`` with its rows sorted by
    descending length; ``state`` a tuple of ``(B, H)`` tensors (LSTM: ``(h, c)``);
    ``weights`` torch's ``[W_ih, W_hh(, b_ih, b_hh)]``; ``ks`` from :func:`live_counts`.
    Returns the outputs ``(T, B, H)`` (zero past each length) and the final state."""
    w_ih, w_hh = weights[0], weights[1]
    b_ih, b_hh = (weights[2], weights[3]) if len(weights) == 4 else (None, None)
    T, B, _ = x.shape
    if mode == "LSTM":
        perm = _lstm_order(w_hh.shape[1], x.device)
        bias = None if b_ih is None or b_hh is None else (b_ih + b_hh)[perm]
        xp = torch.nn.functional.linear(x, w_ih[perm], bias)
        out, h, c = _LSTM.apply(xp, state[0], state[1], w_hh[perm], ks)
        return out, (h, c)
    if mode == "GRU":
        xp = torch.nn.functional.linear(x, w_ih, b_ih)
        out, h = _GRU.apply(xp, state[0], w_hh, b_hh, ks)
        return out, (h,)
    bias = None if b_ih is None or b_hh is None else b_ih + b_hh
    xp = torch.nn.functional.linear(x, w_ih, bias)
    out, h = _Elman.apply(xp, state[0], w_hh, mode == "RNN_RELU", ks)
    return out, (h,)
