"""rnnlab: recurrent neural networks on sequential data — cells written from their
equations, a layer that unrolls any cell (with torch's fused kernels when they compute
the same function), attention, the four topologies, decoding, training and apps."""

from .cells import ElmanCell, GRUCell, LSTMCell, RecurrentCell, make_cell
from .linear_cells import LinearRecurrentCell, LRUCell, MinGRUCell, MinLSTMCell
from .nn import GRU, LSTM, RNN  # torch.nn's classes with rnnlab's backends (rnnlab.nn)
from .recurrent import Recurrent
from .version import __version__

__all__ = [
    "RecurrentCell", "ElmanCell", "LSTMCell", "GRUCell", "make_cell",
    "LinearRecurrentCell", "MinGRUCell", "MinLSTMCell", "LRUCell",
    "Recurrent", "RNN", "LSTM", "GRU", "__version__",
]

from . import attention, decoding, models, nn  # noqa: E402
from .attention import AdditiveAttention, DotAttention, GeneralAttention  # noqa: E402
from .models import EncoderDecoder, SeqToSeq, SeqToVec, VecToSeq  # noqa: E402

__all__ += ["attention", "decoding", "models", "nn", "AdditiveAttention", "DotAttention", "GeneralAttention",
            "SeqToVec", "SeqToSeq", "VecToSeq", "EncoderDecoder"]


def __getattr__(name: str):
    # the estimators import the apps (aeon, pandas, ...): loaded on first use, not with the layers
    if name in ("SequenceClassifier", "Forecaster", "TextGenerator", "Translator", "DocumentClassifier", "load",
                "estimators"):
        import importlib

        module = importlib.import_module(".estimators", __name__)
        return module if name == "estimators" else getattr(module, name)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
