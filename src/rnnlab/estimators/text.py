"""``TextGenerator``, ``Translator`` and ``DocumentClassifier``: ``rnnlab textgen``,
``rnnlab translate`` and ``rnnlab docs`` on lists of strings.

    >>> from rnnlab import TextGenerator, Translator
    >>> gen = TextGenerator(hidden_size=128, epochs=2).fit(["some text", "more text"])  # doctest: +SKIP
    >>> gen.generate("some", length=100)                                                # doctest: +SKIP
    >>> tr = Translator(epochs=5).fit(["guten Morgen", ...], ["good morning", ...])     # doctest: +SKIP
    >>> tr.translate(["guten Abend"])                                                   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from sklearn.base import BaseEstimator, ClassifierMixin

from ..apps.docs import APP as DOCS
from ..apps.textgen import APP as TEXTGEN
from ..apps.translate import APP as TRANSLATE
from ..errors import InputError
from .base import RunBackedEstimator, columns_for

__all__ = ["TextGenerator", "Translator", "DocumentClassifier"]


class TextGenerator(RunBackedEstimator, BaseEstimator):
    """A character- (or subword-) level language model (``rnnlab textgen``).
    ``fit(texts)``: a string or a list of strings (joined with newlines; the last
    ``val_fraction`` is held out); ``generate(prime, length, temperature, top_k, seed)``;
    ``metrics_`` (bits per character beside the unigram baseline)."""

    _app = TEXTGEN
    _exclude = ("data", "max_chars")
    _data_file = "corpus.txt"

    def __init__(self, **params):  # replaced by _define_params (an explicit signature)
        raise NotImplementedError  # pragma: no cover

    def fit(self, texts: str | list[str]) -> "TextGenerator":
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise InputError("texts: expected a string or a list of strings")
        data = "\n".join(texts).encode("utf-8")
        self._train_on(data)
        return self

    def generate(self, prime: str = "\n", length: int = 200, temperature: float = 0.8, top_k: int | None = None,
                 seed: int = 0) -> str:
        """``length`` tokens after ``prime`` (temperature 0: greedy)."""
        with self._run_dir() as run:
            return self._app.sample(run, prime, length, temperature, top_k, seed)


class Translator(RunBackedEstimator, BaseEstimator):
    """An attention encoder-decoder (``rnnlab translate``). ``fit(sources, targets)``:
    aligned lists of sentences (5% + 5% held out for validation and test BLEU, by
    seed); ``translate(sentences, beam_size=None)``; ``metrics_`` (BLEU, chrF)."""

    _app = TRANSLATE
    _exclude = ("data", "valid", "test", "n_generated")
    _data_file = "pairs.tsv"

    def __init__(self, **params):  # replaced by _define_params (an explicit signature)
        raise NotImplementedError  # pragma: no cover

    def fit(self, sources: list[str], targets: list[str]) -> "Translator":
        if len(sources) != len(targets):
            raise InputError(f"sources has {len(sources)} sentences, targets {len(targets)}; they must align")
        lines = []
        for i, (s, t) in enumerate(zip(sources, targets)):
            for side, text in (("sources", s), ("targets", t)):
                if not isinstance(text, str) or "\t" in text or "\n" in text or "\r" in text:
                    raise InputError(f"{side}[{i}]: expected one line of text (no tab or line break), got {text!r}")
            lines.append(f"{s}\t{t}\n")
        data = "".join(lines).encode("utf-8")
        self._train_on(data)
        return self

    def translate(self, sentences: str | list[str], beam_size: int | None = None) -> list[str]:
        if isinstance(sentences, str):
            sentences = [sentences]
        with self._run_dir() as run:
            return self._app.translate(run, list(sentences), beam_size)


TextGenerator._define_params()
Translator._define_params()


class DocumentClassifier(RunBackedEstimator, ClassifierMixin, BaseEstimator):
    """A document classifier (``rnnlab docs``: a hierarchical attention network by
    default). ``fit(texts, labels)``: lists of strings and their labels (every document
    trains; exact duplicates are dropped); ``predict``, ``predict_proba``, ``score``,
    ``classes_``; ``explain_html(text)``: the document as HTML shaded by its attention."""

    _app = DOCS
    _exclude = ("data", "test", "text_column", "label_column", "encoding", "errors")
    _data_file = "documents.jsonl"

    def __init__(self, **params):  # replaced by _define_params (an explicit signature)
        raise NotImplementedError  # pragma: no cover

    def fit(self, texts: list[str], labels) -> "DocumentClassifier":
        import json

        import numpy as np

        if len(texts) != len(labels):
            raise InputError(f"texts has {len(texts)} documents, labels {len(labels)}; they must align")
        if not all(isinstance(t, str) for t in texts):
            raise InputError("texts: expected a list of strings")
        self.classes_ = np.unique(np.asarray(labels))
        data = "".join(json.dumps({"text": t, "label": str(v)}, ensure_ascii=False) + "\n"
                       for t, v in zip(texts, labels)).encode("utf-8")
        self._train_on(data, test="none")
        return self

    def predict_proba(self, texts: list[str]):
        run = self._app_loaded()
        proba = self._app.predict_proba(run.config, run.model, run.vocab, list(texts))
        return columns_for(proba, run.classes, self.classes_)

    def predict(self, texts: list[str]):
        return self.classes_[self.predict_proba(texts).argmax(1)]

    def explain_html(self, text: str) -> str:
        run = self._app_loaded()
        from ..tasks.documents import explain_document

        cfg = run.config
        return explain_document(run.model, run.vocab, run.classes, text, cfg.max_sentences, cfg.max_words)

    def _restore(self, run: Path, cfg) -> None:
        import json

        import numpy as np

        self.classes_ = np.array(json.loads((run / "classes.json").read_text())["classes"])


DocumentClassifier._define_params()
