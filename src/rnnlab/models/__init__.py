"""The four topologies of recurrent networks, and output heads.

- :class:`SeqToVec` — many-to-one (classification, regression)
- :class:`SeqToSeq` — aligned many-to-many (tagging, language models)
- :class:`VecToSeq` — one-to-many (captioning, generation)
- :class:`EncoderDecoder` — sequence in, sequence of another length out (translation)

and :class:`ConvFrontEnd`, convolutions over time that a :class:`SeqToVec` can read
instead of its raw inputs; :class:`HandwritingSynthesis`, Graves' (2013) network that
writes a text as pen strokes (a Gaussian window over the text, a mixture density head);
:class:`ImageEncoder`, the convolutional network whose vector a captioning
:class:`VecToSeq` starts from; :class:`HierarchicalAttentionNetwork` (Yang et al. 2016)
and :class:`FlatAttentionClassifier`, document classifiers; :class:`ForecastNet`, the
forecasting ensembles; :class:`Ensemble`, averaged classifiers; :class:`RawSeriesClassifier`,
a classifier with its input encoding in the graph; :class:`ImageCaptioner`, image
captioning; :class:`WindowMLP`, the windowed MLP that per-step labelling is compared with;
:class:`RecurrentBlockStack` and :class:`RecurrentBlockLM`, deep residual stacks of
recurrent layers as the parallel-recurrence papers build them (minGRU, minLSTM, LRU);
and the Transformers beside the recurrent networks (:mod:`.transformer`):
:class:`TransformerEncoderDecoder`, :class:`TransformerClassifier`,
:class:`TokenTransformerClassifier`, :class:`TransformerLM`.
"""

from .captioning import ImageCaptioner
from .conv_front_end import ConvFrontEnd
from .documents import FlatAttentionClassifier, HierarchicalAttentionNetwork
from .encoder_decoder import EncoderDecoder
from .ensemble import Ensemble
from .forecasting import ForecastNet
from .handwriting import HandwritingSynthesis
from .heads import GaussianHead, MixtureDensityHead, gaussian_nll, mixture_nll, mixture_sample
from .image_encoder import ImageEncoder
from .raw_series import RawSeriesClassifier
from .recurrent_blocks import RecurrentBlock, RecurrentBlockClassifier, RecurrentBlockLM, RecurrentBlockStack
from .seq_to_seq import SeqToSeq
from .seq_to_vec import POOLINGS, SeqToVec
from .transformer import (
    TokenTransformerClassifier,
    TransformerClassifier,
    TransformerEncoderDecoder,
    TransformerLM,
)
from .vec_to_seq import VecToSeq
from .window_mlp import WindowMLP

__all__ = ["ConvFrontEnd", "SeqToVec", "SeqToSeq", "VecToSeq", "EncoderDecoder", "GaussianHead", "gaussian_nll",
           "HandwritingSynthesis", "ImageEncoder", "MixtureDensityHead", "mixture_nll", "mixture_sample", "POOLINGS",
           "HierarchicalAttentionNetwork", "FlatAttentionClassifier", "Ensemble", "ForecastNet",
           "RawSeriesClassifier", "ImageCaptioner", "WindowMLP", "TransformerEncoderDecoder", "TransformerClassifier",
           "TokenTransformerClassifier", "TransformerLM", "RecurrentBlock", "RecurrentBlockStack",
           "RecurrentBlockLM", "RecurrentBlockClassifier"]
