"""What every estimator shares: its parameters are its app's config keys, ``fit`` trains
through the app (the CLI's code, not a second implementation) into a run directory, and
the fitted estimator keeps that run's files in memory — so it pickles, clones and
cross-validates like any scikit-learn estimator, ``save(dir)`` writes an ordinary run
directory, and :func:`load` reads one back.

Parameters: every key of the app's ``Config`` except the data (given to ``fit``), with
the ``train`` section's keys (``epochs``, ``lr``, ``seed``, ...) at the top level; list
defaults appear as tuples (scikit-learn wants immutable defaults). ``verbose``: 0 is
silent, 1 shows the training progress. ``model="transformer"`` (where the app offers it)
takes the Transformer's own training defaults (the app's ``family_defaults``: learning
rate, warm-up, schedule) for every parameter left at its default.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..training.config import from_dict, to_dict

if TYPE_CHECKING:
    from ..apps.base import LoadedRun

__all__ = ["RunBackedEstimator", "estimator_params", "load"]

#: files of a run an estimator does not keep (resuming is the CLI's business)
SKIP = {"checkpoints", ".lock"}


def estimator_params(config_cls: type, exclude: tuple[str, ...]) -> dict[str, Any]:
    """The flattened defaults of ``config_cls``: its keys but ``exclude``, the ``train``
    section's keys at the top level, lists as tuples."""
    cfg = config_cls()
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        if f.name in exclude:
            continue
        if f.name == "train":
            for t in dataclasses.fields(cfg.train):
                out[t.name] = getattr(cfg.train, t.name)
        else:
            out[f.name] = getattr(cfg, f.name)
    clash = {t.name for t in dataclasses.fields(cfg.train)} & {f.name for f in dataclasses.fields(cfg)}
    if clash:  # pragma: no cover - a config's design error
        raise TypeError(f"{config_cls.__name__}: keys {sorted(clash)} in both the config and its train section")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}


def _signature(params: dict[str, Any], leading: tuple[str, ...]) -> inspect.Signature:
    P = inspect.Parameter
    first = [P("self", P.POSITIONAL_OR_KEYWORD)] + [P(n, P.POSITIONAL_OR_KEYWORD, default=params[n]) for n in leading]
    rest = [P(n, P.KEYWORD_ONLY, default=v) for n, v in params.items() if n not in leading]
    return inspect.Signature(first + rest)


def write_run(files: dict[str, bytes], folder: Path, data_file: str = "") -> Path:
    """Write a run's ``files`` into ``folder``; if the fitted data is among them
    (``data_file``), point config.json's ``data`` at it (during ``fit`` it was a
    temporary file), so that the CLI's verbs find it."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    if data_file and data_file in files:
        cfg = json.loads((folder / "config.json").read_text())
        cfg["config"]["data"] = str((folder / data_file).resolve())
        (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return folder


def columns_for(proba, run_classes: list[str], classes) -> "Any":
    """``proba``'s columns (in the run's class order: sorted strings) rearranged into the
    order of ``classes`` (the estimator's ``classes_``, any label type); a class the run
    never saw (all of its documents were duplicates) gets probability 0."""
    import numpy as np

    position = {c: i for i, c in enumerate(run_classes)}
    return np.stack([proba[:, position[str(c)]] if str(c) in position else np.zeros(len(proba))
                     for c in classes], 1)


class _Loaded:
    """What ``app.load`` returns for a fitted run (the model among it), built from the
    run's files. It pickles as those files and is rebuilt from them, so an estimator's
    pickle (and joblib's hash of it) does not depend on what a forward pass records in
    the modules (the backend it last used)."""

    def __init__(self, app_name: str, files: dict[str, bytes], data_file: str):
        import importlib

        self.app_name, self.files, self.data_file = app_name, files, data_file
        with tempfile.TemporaryDirectory(prefix="rnnlab-estimator-") as tmp:
            app = importlib.import_module(f"rnnlab.apps.{app_name}").APP
            self.value = app.load(write_run(files, Path(tmp) / "run", data_file))

    def __reduce__(self):
        return _Loaded, (self.app_name, self.files, self.data_file)


class RunBackedEstimator:
    """Mixin: subclasses set ``_app`` (an :class:`~rnnlab.apps.base.App`), ``_exclude``
    (config keys ``fit`` fills in) and call :meth:`_define_params` once, after the class."""

    _app: Any = None
    #: the file of the fitted data a subclass keeps in the run (``fit`` writes it)
    _data_file: str = ""
    _exclude: tuple[str, ...] = ("data",)
    _leading: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}

    @classmethod
    def _define_params(cls) -> None:
        """Give the class an ``__init__`` whose signature lists every parameter (what
        ``get_params``, ``clone`` and ``GridSearchCV`` read)."""
        defaults = {**estimator_params(cls._app.Config, cls._exclude), "verbose": 0}
        cls._defaults = defaults

        def __init__(self, *args, **kwargs):
            if len(args) > len(cls._leading):
                raise TypeError(f"{cls.__name__}: at most {len(cls._leading)} positional argument(s), "
                                f"got {len(args)}")
            kwargs.update(zip(cls._leading, args))
            unknown = sorted(set(kwargs) - set(defaults))
            if unknown:
                raise TypeError(f"{cls.__name__}: unknown parameter(s) {unknown}; known: {', '.join(defaults)}")
            for k, v in defaults.items():
                setattr(self, k, kwargs.get(k, v))
            for base in type(self).__mro__[1:]:  # the framework's own __init__ (aeon's BaseClassifier)
                init = base.__dict__.get("__init__")
                if init is not None and not getattr(init, "generated", False) and base is not object:
                    init(self)
                    break

        __init__.generated = True  # type: ignore[attr-defined]
        __init__.__signature__ = _signature(defaults, cls._leading)  # type: ignore[attr-defined]
        __init__.__doc__ = cls.__doc__
        cls.__init__ = __init__  # type: ignore[method-assign]

    # ---- config <-> parameters ---------------------------------------------
    def _config(self, **data: Any) -> Any:
        """The app's config from this estimator's parameters and ``data`` (the keys fit fills)."""
        params = {k: getattr(self, k) for k in self._defaults if k != "verbose"}
        # model="transformer" (say) brings that family's own defaults (App.family_defaults) for
        # the parameters left at the estimator's defaults; a parameter given another value wins
        for key, value in self._app.family_values(params.get("model")).items():
            flat = key.rsplit(".", 1)[-1]
            if flat in params and params[flat] == self._defaults[flat]:
                params[flat] = value
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        train_keys = {f.name for f in dataclasses.fields(self._app.Config().train)}
        raw = {k: v for k, v in params.items() if k not in train_keys}
        raw["train"] = {k: v for k, v in params.items() if k in train_keys}
        raw.update(data)
        return from_dict(self._app.Config, raw, f"{type(self).__name__}")

    @classmethod
    def _params_of(cls, cfg: Any) -> dict[str, Any]:
        flat = {k: v for k, v in to_dict(cfg).items() if k != "train"}
        flat.update(to_dict(cfg)["train"])
        return {k: tuple(v) if isinstance(v, list) else v for k, v in flat.items() if k in cls._defaults}

    # ---- the run directory, kept in memory -----------------------------------
    def _train_on(self, data: bytes, **config: Any) -> None:
        """Train through the app on ``data`` (the bytes of the file ``_data_file``, which
        the app reads as it reads a user's file), with the config keys ``config`` besides
        the parameters, in a temporary run directory; keep the run's files and the data."""
        with tempfile.TemporaryDirectory(prefix="rnnlab-estimator-") as tmp:
            path = Path(tmp) / self._data_file
            path.write_bytes(data)
            run = self._app.train_config(self._config(data=str(path), **config), Path(tmp) / "run",
                                         verbose=bool(self.verbose))
            self._keep(run, {self._data_file: data})

    def _keep(self, run: Path, extra_files: dict[str, bytes] | None = None) -> None:
        files = {}
        for p in sorted(run.rglob("*")):
            rel = p.relative_to(run)
            if p.is_file() and not (SKIP & set(rel.parts)):
                files[rel.as_posix()] = p.read_bytes()
        files.update(extra_files or {})
        self.run_files_ = files
        #: the run's metrics.json (held-out metrics beside the baselines')
        self.metrics_ = json.loads(files.get("metrics.json", b"{}"))
        # built now, not at the first predict: predicting must not change the estimator
        self._loaded = _Loaded(self._app.name, files, self._data_file)

    @contextmanager
    def _run_dir(self) -> Iterator[Path]:
        """The fitted run as a directory on disk, for the app's verbs."""
        self._check_fitted()
        with tempfile.TemporaryDirectory(prefix="rnnlab-estimator-") as tmp:
            yield write_run(self.run_files_, Path(tmp) / "run", self._data_file)

    def _check_fitted(self) -> None:
        if not getattr(self, "run_files_", None):
            raise InputError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _app_loaded(self) -> LoadedRun:
        """``app.load(run)`` of the fitted run, built by ``fit``."""
        self._check_fitted()
        return self._loaded.value

    def save(self, path: str | Path) -> Path:
        """Write the fitted run as an ordinary run directory (``rnnlab <app> predict``
        and friends work on it); ``path`` must not exist or be empty."""
        self._check_fitted()
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise InputError(f"{path}: not empty; give a new directory")
        return write_run(self.run_files_, path, self._data_file)

    @classmethod
    def _from_run(cls, run: Path) -> "RunBackedEstimator":
        cfg = cls._app.load_config(run)
        est = cls(**cls._params_of(cfg))
        est._keep(run)
        est._restore(run, cfg)
        return est

    def _restore(self, run: Path, cfg: Any) -> None:
        """Fitted attributes beyond the files (subclasses: classes_, ...)."""


def _estimators() -> dict[str, type]:
    from .classifier import SequenceClassifier
    from .forecaster import Forecaster
    from .text import DocumentClassifier, TextGenerator, Translator

    return {c._app.name: c for c in (SequenceClassifier, Forecaster, TextGenerator, Translator, DocumentClassifier)}


def load(path: str | Path) -> RunBackedEstimator:
    """The fitted estimator of a run directory made by ``rnnlab <app> train`` or ``save``."""
    from ..training.rundir import read_run_config

    path = Path(path)
    app = read_run_config(path)["app"]
    known = _estimators()
    if app not in known:
        raise InputError(f"{path}: a run of '{app}', which has no estimator (these do: {', '.join(known)})")
    return known[app]._from_run(path)

