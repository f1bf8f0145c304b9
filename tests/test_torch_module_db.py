"""PyTorch's own module tests, run on rnnlab's drop-ins.

torch ships, in its wheel, the test inputs it checks ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
and the three cells with (``torch.testing._internal.common_modules.module_db``: the
constructor arguments, forward inputs, reference functions and the error cases) and the
machinery that turns them into tests per device, dtype and train/eval mode (``@modules``,
``instantiate_device_type_tests``). Here those ModuleInfos get rnnlab's classes in place
of torch's, and each test below makes the checks of the same name in torch's
``test/test_modules.py`` (which is not in the wheel): forward against the reference,
factory kwargs, repr, pickling and state dicts, non-contiguous inputs, gradcheck and
gradgradcheck (total and per parameter), train/eval, the error inputs, ``.to()`` with and
without swapping tensors, ``to_empty`` and construction under a device context.

Every generated test runs on CPU; none is skipped. (Run: ``python -m pytest
tests/test_torch_module_db.py``.)

With ``RNNLAB_SWAP_TORCH_NN=1`` the same tests run the way a user swaps the drop-ins in:
``torch.nn.LSTM = rnnlab.nn.LSTM`` (and the five others, also under ``torch.nn.modules``
and ``torch.nn.modules.rnn``) by assignment before torch's test modules are imported, so
torch's ``module_db`` itself builds rnnlab's classes through ``torch.nn``
(``tests/test_swap_by_assignment.py`` runs it so, in a process of its own).
"""

from __future__ import annotations

import copy
import io
import os
import pickle

import pytest
import torch

import rnnlab.nn as rnn

SWAPPED = os.environ.get("RNNLAB_SWAP_TORCH_NN") == "1"
if SWAPPED:  # before torch's test modules read torch.nn.<name>
    for _name in rnn.DROP_INS:
        for _place in (torch.nn, torch.nn.modules, torch.nn.modules.rnn):
            setattr(_place, _name, getattr(rnn, _name))

pytest.importorskip("expecttest")  # torch's TestCase needs it (a test dependency)

from torch.testing._internal.common_device_type import instantiate_device_type_tests  # noqa: E402
from torch.testing._internal.common_modules import (  # noqa: E402
    ModuleErrorEnum,
    TrainEvalMode,
    module_db,
    modules,
)
from torch.testing._internal.common_utils import (  # noqa: E402
    TestCase,
    freeze_rng_state,
    gradcheck,
    gradgradcheck,
    parametrize,
)
from torch.utils._pytree import tree_flatten, tree_leaves, tree_unflatten  # noqa: E402

# torch's own class -> rnnlab's (under the swap, module_db already holds rnnlab's)
REPLACED = {rnn.torch_class(name): getattr(rnn, name) for name in rnn.DROP_INS}
REPLACED.update({ours: ours for ours in list(REPLACED.values())})


def _ours(info):
    mine = copy.copy(info)
    mine.module_cls = REPLACED[info.module_cls]
    return mine


dropin_db = [_ours(info) for info in module_db if info.module_cls in REPLACED]
assert len(dropin_db) == 6, "torch's module_db lost an RNN entry: update REPLACED"
if SWAPPED:
    assert all(info.module_cls is REPLACED[info.module_cls] for info in module_db if info.module_cls in REPLACED), \
        "the swap came after torch's module_db was built: run this file in a process of its own"


def _build(info, module_input, device, dtype, training):
    args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
    m = info.module_cls(*args, **kwargs)
    m.to(device).to(dtype)
    m.train(training)
    return m


def _inputs(info, device, dtype, requires_grad, training):
    return [mi for mi in info.module_inputs_func(info, device=device, dtype=dtype, requires_grad=requires_grad,
                                                 training=training) if mi.forward_input is not None]


def _map_tensors(obj, fn):
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return fn(obj) if isinstance(obj, torch.Tensor) else obj


def _differentiable(out):
    return [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.requires_grad]


class TestDropInModules(TestCase):
    precision = 1e-5
    rel_tol = 1e-5

    def _assert_placed(self, m, device, dtype):
        for name, t in [*m.named_parameters(), *m.named_buffers()]:
            self.assertEqual(t.device, torch.device(device), msg=name)
            if t.dtype.is_floating_point:
                self.assertEqual(t.dtype, dtype, msg=name)

    @modules(dropin_db)
    def test_forward(self, device, dtype, module_info, training):
        for mi in _inputs(module_info, device, dtype, False, training):
            with freeze_rng_state():
                m = _build(module_info, mi, device, dtype, training)
                args, kwargs = mi.forward_input.args, mi.forward_input.kwargs
                out = m(*args, **kwargs)
                if mi.reference_fn is not None:
                    self.assertEqual(out, mi.reference_fn(m, *args, **kwargs))
                m.double() if dtype == torch.float64 else m.float()
                m(*args, **kwargs)
                self._assert_placed(m, device, dtype)

    @modules(dropin_db)
    def test_factory_kwargs(self, device, dtype, module_info, training):
        for mi in module_info.module_inputs_func(module_info, device=device, dtype=dtype, requires_grad=False,
                                                 training=training):
            args, kwargs = mi.constructor_input.args, mi.constructor_input.kwargs
            m = module_info.module_cls(*args, **kwargs, device=device, dtype=dtype)
            m.train(training)
            self._assert_placed(m, device, dtype)

    @modules(dropin_db)
    def test_repr(self, device, dtype, module_info, training):
        for mi in module_info.module_inputs_func(module_info, device=device, dtype=dtype, requires_grad=False,
                                                 training=training):
            m = _build(module_info, mi, device, dtype, training)
            self.assertIn(type(m).__name__, repr(m))
            str(m)

    @modules(dropin_db)
    def test_save_load(self, device, dtype, module_info, training):
        for mi in _inputs(module_info, device, dtype, False, training):
            with freeze_rng_state():
                m = _build(module_info, mi, device, dtype, training)
                sd = m.state_dict()
                args, kwargs = mi.forward_input.args, mi.forward_input.kwargs
                out = m(*args, **kwargs)
                buf = io.BytesIO()
                torch.save(m, buf)
                buf.seek(0)
                copy_ = torch.load(buf, weights_only=False)
                self.assertEqual(out, copy_(*args, **kwargs))
                self.assertEqual(out, pickle.loads(pickle.dumps(m))(*args, **kwargs))
                buf = io.BytesIO()
                torch.save(sd, buf)
                buf.seek(0)
                self.assertEqual(torch.load(buf, weights_only=True), sd)

    @modules(dropin_db)
    def test_non_contiguous_tensors(self, device, dtype, module_info, training):
        def strided(t):  # same values, every other element of a buffer twice as wide
            if t.dim() == 0:
                return t
            out = torch.repeat_interleave(t, 2, dim=-1)[..., ::2].detach()
            return out.requires_grad_(t.requires_grad)

        for mi in _inputs(module_info, device, dtype, True, training):
            m = _build(module_info, mi, device, dtype, training)
            args, kwargs = mi.forward_input.args, mi.forward_input.kwargs
            results = []
            nc = _map_tensors((args, kwargs), strided)
            self.assertTrue(any(not t.is_contiguous() for t in tree_leaves(nc) if isinstance(t, torch.Tensor)))
            for inp in ((args, kwargs), nc):
                inp = _map_tensors(inp, lambda t: t if not t.is_leaf else t.detach().requires_grad_(t.requires_grad))
                m.zero_grad(set_to_none=True)
                with freeze_rng_state():
                    out = m(*inp[0], **inp[1])
                outs = _differentiable(out)
                grads = [torch.ones_like(o) * (k + 1) for k, o in enumerate(outs)]
                torch.autograd.backward(outs, grads)
                leaves = [t for t in tree_leaves(inp) if isinstance(t, torch.Tensor) and t.requires_grad]
                results.append((out, [t.grad for t in leaves], [p.grad for p in m.parameters()]))
            (o1, gi1, gp1), (o2, gi2, gp2) = results
            self.assertEqual(o2, o1)
            self.assertEqual(gi2, gi1, atol=1e-4, rtol=0)
            self.assertEqual(gp2, gp1)

    def _check_gradients(self, device, dtype, module_info, training, check):
        for mi in _inputs(module_info, device, dtype, True, training):
            m = _build(module_info, mi, device, dtype, training)
            args, kwargs = mi.forward_input.args, mi.forward_input.kwargs
            params = tuple(m.parameters())

            def run(*flat):
                args_and_params = tree_unflatten(list(flat), spec)
                with freeze_rng_state():
                    return tree_leaves(m(*args_and_params[: len(args)], **kwargs))

            # the total derivative, then each parameter alone (as torch's test does)
            flat, spec = tree_flatten(args + params)
            self.assertTrue(check(run, flat, nondet_tol=module_info.gradcheck_nondet_tol,
                                  fast_mode=module_info.gradcheck_fast_mode))
            wanted = [p.requires_grad for p in params]
            for p in params:
                p.requires_grad_(False)
            for p, was in zip(params, wanted):
                p.requires_grad_(was)
                flat, spec = tree_flatten(args + params)
                self.assertTrue(check(run, flat, nondet_tol=module_info.gradcheck_nondet_tol,
                                      fast_mode=module_info.gradcheck_fast_mode))
                p.requires_grad_(False)
            for p, was in zip(params, wanted):
                p.requires_grad_(was)

    @modules(dropin_db, allowed_dtypes=[torch.double])
    def test_grad(self, device, dtype, module_info, training):
        self._check_gradients(device, dtype, module_info, training, gradcheck)

    @modules([m for m in dropin_db if m.supports_gradgrad], allowed_dtypes=[torch.double])
    def test_gradgrad(self, device, dtype, module_info, training):
        self._check_gradients(device, dtype, module_info, training, gradgradcheck)

    @modules(dropin_db)
    def test_memory_format(self, device, dtype, module_info, training):
        """Recurrent inputs are 2-D or 3-D: contiguous and preserve formats give the same
        outputs and gradients, and contiguous outputs."""
        for mi in _inputs(module_info, device, dtype, True, training):
            m = _build(module_info, mi, device, dtype, training)
            args, kwargs = mi.forward_input.args, mi.forward_input.kwargs
            with freeze_rng_state():
                ref = m(*args, **kwargs)
            for fmt in (torch.contiguous_format, torch.preserve_format):
                m.to(memory_format=fmt)
                with freeze_rng_state():
                    out = m(*args, **kwargs)
                self.assertEqual(out, ref)
                for t in tree_leaves(out):
                    self.assertTrue(t.is_contiguous())
                if training and _differentiable(out):
                    ins = [t for t in tree_leaves((args, list(m.parameters()))) if t.requires_grad]
                    g = torch.autograd.grad(_differentiable(out), ins,
                                            [torch.ones_like(t) for t in _differentiable(out)])
                    g_ref = torch.autograd.grad(_differentiable(ref), ins,
                                                [torch.ones_like(t) for t in _differentiable(ref)], retain_graph=True)
                    self.assertEqual(g, g_ref)

    @modules(dropin_db, train_eval_mode=TrainEvalMode.train_only)
    def test_if_train_and_eval_modes_differ(self, device, dtype, module_info, training):
        for mi in _inputs(module_info, device, dtype, False, training):
            m = _build(module_info, mi, device, dtype, training)
            delattr(m, "training")
            try:
                m(*mi.forward_input.args, **mi.forward_input.kwargs)
            except AttributeError as e:
                if "'training'" not in str(e):
                    raise
                self.assertTrue(module_info.train_and_eval_differ)

    @modules([m for m in dropin_db if m.module_error_inputs_func is not None])
    def test_errors(self, device, dtype, module_info, training):
        cases = module_info.module_error_inputs_func(module_info, device=device, dtype=dtype, requires_grad=False,
                                                     training=training)
        for case in cases:
            mi = case.module_error_input
            c_args, c_kwargs = mi.constructor_input.args, mi.constructor_input.kwargs
            if case.error_on == ModuleErrorEnum.CONSTRUCTION_ERROR:
                with self.assertRaisesRegex(case.error_type, case.error_regex):
                    module_info.module_cls(*c_args, **c_kwargs)
            else:
                m = module_info.module_cls(*c_args, **c_kwargs)
                with self.assertRaisesRegex(case.error_type, case.error_regex):
                    m(*mi.forward_input.args, **mi.forward_input.kwargs)

    @modules(dropin_db, allowed_dtypes=[torch.float32])
    @parametrize("swap", [True, False])
    @parametrize("set_grad", [True, False])
    def test_to(self, device, dtype, module_info, training, swap, set_grad):
        before = torch.__future__.get_swap_module_params_on_conversion()
        torch.__future__.set_swap_module_params_on_conversion(swap)
        try:
            for mi in module_info.module_inputs_func(module_info, device=device, dtype=dtype, requires_grad=False,
                                                     training=training):
                m = module_info.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
                if set_grad:
                    for p in m.parameters():
                        p.grad = torch.randn_like(p)
                if swap and not set_grad:  # .to() after a forward and backward
                    out = m(*mi.forward_input.args, **mi.forward_input.kwargs)
                    (out[0] if isinstance(out, tuple) else out).sum().backward()
                    m.to(dtype=torch.half)
                    m.to(dtype=torch.float32)
                for dtype_ in module_info.dtypes:
                    ids = [id(p) for p in m.parameters()]
                    cdata = [p._cdata for p in m.parameters()]
                    m.to(device=device, dtype=dtype_)
                    self.assertTrue(all(isinstance(p, torch.nn.Parameter) for p in m.parameters()))
                    self.assertTrue(all(p.dtype == dtype_ for p in m.parameters()))
                    if set_grad:
                        self.assertTrue(all(p.grad.dtype == dtype_ for p in m.parameters()))
                    if swap:  # the same Python objects, their data swapped
                        self.assertEqual(ids, [id(p) for p in m.parameters()])
                        changed = [a != b for a, b in zip(cdata, [p._cdata for p in m.parameters()])]
                        self.assertTrue(all(changed))
                    # and the module still computes with what it now holds
                    args = _map_tensors(mi.forward_input.args, lambda t: t.to(dtype_))
                    m(*args, **mi.forward_input.kwargs)
        finally:
            torch.__future__.set_swap_module_params_on_conversion(before)

    @modules(dropin_db, allowed_dtypes=[torch.float32])
    @parametrize("swap", [True, False])
    def test_to_empty(self, device, dtype, module_info, training, swap):
        before = torch.__future__.get_swap_module_params_on_conversion()
        torch.__future__.set_swap_module_params_on_conversion(swap)
        try:
            for mi in _inputs(module_info, "meta", dtype, False, training):
                with torch.device("meta"):
                    m = module_info.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
                ids = [id(p) for p in m.parameters()]
                m.to_empty(device=device)
                self.assertTrue(all(p.device == torch.device(device) for p in m.parameters()))
                if swap:
                    self.assertEqual(ids, [id(p) for p in m.parameters()])
                args = _map_tensors(mi.forward_input.args, lambda t: torch.randn(t.shape, device=device, dtype=dtype))
                m(*args, **mi.forward_input.kwargs)
        finally:
            torch.__future__.set_swap_module_params_on_conversion(before)

    @modules(dropin_db)
    def test_device_ctx_init(self, device, dtype, module_info, training):
        for mi in module_info.module_inputs_func(module_info, device=device, dtype=dtype, requires_grad=False,
                                                 training=training):
            with torch.device("meta"):
                m = module_info.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
            ref = module_info.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
            for (n, p), (n2, q) in zip(m.named_parameters(), ref.named_parameters()):
                self.assertEqual(n, n2)
                self.assertEqual(p.device.type, "meta")
                self.assertEqual(p.shape, q.shape)


instantiate_device_type_tests(TestDropInModules, globals(), only_for="cpu")


def test_every_dropin_is_the_torch_class_it_replaces():
    for name in rnn.DROP_INS:
        assert issubclass(getattr(rnn, name), rnn.torch_class(name))
        assert getattr(torch.nn, name) is (getattr(rnn, name) if SWAPPED else rnn.torch_class(name))
    assert isinstance(rnn.LSTM(3, 4, 2), torch.nn.LSTM)
