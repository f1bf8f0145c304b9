"""rnnlab's drop-ins for torch.nn's recurrent modules, by their public name: ``RNN``,
``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell``, ``GRUCell`` (subclasses of torch's, with
rnnlab's backends and ``lengths=``), :func:`patch_torch` to swap them into ``torch.nn``
for a block, and :func:`torch_class` for torch's own class of a name. They are defined
in the recurrent core, :mod:`rnnlab.recurrent.dropins`, whose docstring says what they
keep of torch's classes and what they add."""

from .recurrent.dropins import DROP_INS, GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, patch_torch, torch_class

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "DROP_INS", "patch_torch", "torch_class"]
