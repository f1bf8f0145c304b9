"""Estimators: rnnlab's applications on in-memory data, in the conventions of
scikit-learn and aeon — construct with parameters (the app's config keys), ``fit``,
``predict`` / ``generate`` / ``translate``, ``score``; ``clone``, cross-validation and
grid search work; ``save(dir)`` writes an ordinary run directory and :func:`load` reads
any run directory back as its fitted estimator. One implementation underneath: each
estimator trains through its app, exactly as the CLI does."""

from .base import load
from .classifier import SequenceClassifier
from .forecaster import Forecaster
from .text import DocumentClassifier, TextGenerator, Translator

__all__ = ["SequenceClassifier", "Forecaster", "TextGenerator", "Translator", "DocumentClassifier", "load"]
