"""Moved to :mod:`rnnlab.recurrent.backends.hoisted`; this name stays for existing imports."""

from .recurrent.backends.hoisted import hoisted_layer, live_counts

__all__ = ["hoisted_layer", "live_counts"]
