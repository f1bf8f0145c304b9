"""Where the layer is being traced or transformed, which decides the backends that can run."""

from __future__ import annotations

import torch

__all__ = ["tracing", "in_functorch"]


def tracing() -> bool:
    """Inside torch.compile / torch.export / jit tracing: there torch's own kernels are
    traced as one operator each (a custom autograd Function that writes into buffers in
    place, or a Python loop over steps, is not what those tools expect)."""
    compiler = getattr(torch, "compiler", None)
    return bool(
        torch.jit.is_tracing() or torch.jit.is_scripting()
        or (compiler is not None and compiler.is_compiling())
        or (compiler is not None and hasattr(compiler, "is_exporting") and compiler.is_exporting())
    )


def in_functorch() -> bool:
    """Inside a torch.func transform (vmap, grad, jacrev, ...): torch's RNN kernels have no
    vmap rule and the hoisted Functions none either, so only plain operations work."""
    return bool(torch._C._are_functorch_transforms_active())
