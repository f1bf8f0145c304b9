"""What every app shares: the train / evaluate verbs, run directories, config handling.

An app subclasses :class:`App`, gives its ``Config`` dataclass (with a ``data`` field and
a ``train: TrainConfig`` section), ``quick`` (the overrides of ``--quick``: ≤ 2 minutes
on 2 CPU cores, still beats the app's baseline), ``fit`` (train into a run directory, return held-out metrics)
and ``evaluate``; it adds its own verbs (``predict``, ``sample``, ...) in ``add_commands``.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ..errors import InputError
from ..report import write_report
from ..training import (
    apply_overrides,
    from_dict,
    new_run_dir,
    read_run_config,
    to_dict,
    write_metrics,
)
from ..training.checkpoint import has_checkpoint
from ..training.config import set_fields
from ..training.lock import check_not_in_use, run_lock
from ..training.rundir import write_run_config

__all__ = ["App", "RunContext", "LoadedRun"]


@dataclasses.dataclass
class RunContext:
    """What ``App.fit`` gets: the run directory and whether it resumes a killed run."""

    run_dir: Path
    resume: bool
    verbose: bool = True

    def log(self, msg: str) -> None:
        if self.verbose:
            print(msg, file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A trained run read back by ``App.load``: its config, its model (in eval mode) and
    what the app needs to turn inputs into the model's and its outputs back. The fields
    an app does not use are None.

    Iterating gives the fields named in ``unpacks_as``, the tuple each app's ``load``
    returned before this type existed (``cfg, vocab, model = app.load(run)``), so code
    that unpacks it keeps working."""

    config: Any
    model: nn.Module
    vocab: Any = None  # the input's tokens (textgen, caption, docs; translate's source side)
    target_vocab: Any = None  # translate's target side
    classes: list[str] | None = None  # class names in the model's output order (classify, docs)
    encoding: Any = None  # classify: how series become inputs (tasks.series_encoding.Encoding)
    plan: Any = None  # forecast: the series' plan (tasks.forecasting.Plan; a panel: its PanelPlan)
    meta: dict | None = None  # handwriting: alphabet and stroke normalisation; a panel: its training plan
    unpacks_as: tuple[str, ...] = ("config", "model")

    def __iter__(self):
        return iter(tuple(getattr(self, name) for name in self.unpacks_as))


class App:
    name: str = ""
    help: str = ""
    Config: type = object
    #: one line shown by ``rnnlab demo`` and the README's table
    summary: str = ""
    #: False for apps whose verbs are all their own (the lab): no generic train/evaluate
    generic_commands: bool = True

    #: ``--quick``: the fields it changes from ``Config()``, as ``--set`` keys
    #: (``"train.epochs"``); ≤ 2 minutes on 2 CPU cores, and still beats the app's baseline
    quick: dict[str, Any] = {}

    #: Each model family's own defaults, for apps whose ``model`` key picks another family
    #: than the app's recurrent network (``{"transformer": {"train.lr": 5e-4, ...}}``):
    #: applied over ``Config()`` when ``model`` names the family. A Transformer does not
    #: train at a recurrent network's learning rate without warm-up, so it must not
    #: inherit those settings. ``family_quick``: the same, over :attr:`quick`, for
    #: ``--quick`` (sizes that train in the quick budget). Keys the user sets still win.
    family_defaults: dict[str, dict[str, Any]] = {}
    family_quick: dict[str, dict[str, Any]] = {}

    # ---- to implement -------------------------------------------------------
    def quick_config(self, family: str | None = None) -> Any:
        """``Config()`` with the :attr:`quick` overrides (and, for ``family``, its
        :attr:`family_defaults` and :attr:`family_quick`)."""
        return self.base_config(family, quick=True)

    def base_config(self, family: str | None = None, quick: bool = False) -> Any:
        """``Config()``, with ``--quick``'s overrides if ``quick``, then ``family``'s
        own defaults (``model=family``; see :attr:`family_defaults`); ``--quick`` with a
        family adds :attr:`family_quick` on top."""
        cfg = set_fields(self.Config(), self.quick, f"{self.name} quick") if quick else self.Config()
        if family in self.family_defaults:
            cfg = set_fields(cfg, {**self.family_defaults[family], "model": family}, f"{self.name} {family} defaults")
            if quick:
                cfg = set_fields(cfg, self.family_quick.get(family, {}), f"{self.name} quick {family}")
        return cfg

    def family_values(self, family: str | None, quick: bool = False) -> dict[str, Any]:
        """The ``--set`` keys ``family`` changes from the app's (quick) defaults."""
        if family not in self.family_defaults:
            return {}
        return {**self.family_defaults[family], **(self.family_quick.get(family, {}) if quick else {})}

    def fit(self, cfg: Any, ctx: RunContext) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        raise NotImplementedError

    def add_commands(self, cli: Any, guarded: Callable) -> None:
        """Add the app's own verbs to its typer group."""

    # ---- shared ---------------------------------------------------------------
    def load(self, run_dir: Path) -> LoadedRun:
        """The trained run in ``run_dir`` (config, model and the app's encoders)."""
        raise NotImplementedError

    def load_config(self, run_dir: str | Path) -> Any:
        raw = read_run_config(run_dir, self.name)
        return from_dict(self.Config, raw["config"], f"{Path(run_dir) / 'config.json'}: 'config'")

    def trained(self, run_dir: str | Path, model: Any) -> Any:
        """The model with the run's ``model.safetensors`` loaded (names and shapes
        checked), in eval mode. ``model`` is a module or, better, a function that builds
        it: then the weights are checked against the model's shapes before it is built
        (:func:`~rnnlab.training.io.check_weights_fit`), so a damaged or hostile
        config.json is an input error, not an out-of-memory."""
        from ..training import load_weights
        from ..training.io import check_weights_fit

        path = Path(run_dir) / "model.safetensors"
        if callable(model) and not isinstance(model, nn.Module):
            check_weights_fit(path, model)
            model = model()
        load_weights(path, model)
        return model.eval()

    def make_config(self, data: str | None = None, quick: bool = False, epochs: int | None = None,
                    seed: int | None = None, overrides: list[str] | None = None) -> Any:
        """The config of a new run: the app's defaults (``--quick``'s if ``quick``), those
        of the model family that ``model`` names after the user's keys are applied
        (:attr:`family_defaults`), then the user's ``data`` / ``epochs`` / ``seed`` and
        ``--set`` keys, which win over both."""
        cfg = self._with_user_keys(self.base_config(None, quick), data, epochs, seed, overrides)
        family = getattr(cfg, "model", None)
        if family in self.family_defaults:
            cfg = self._with_user_keys(self.base_config(family, quick), data, epochs, seed, overrides)
        return cfg

    @staticmethod
    def _with_user_keys(cfg: Any, data: str | None, epochs: int | None, seed: int | None,
                        overrides: list[str] | None) -> Any:
        try:
            if data is not None:
                cfg = dataclasses.replace(cfg, data=data)
            if epochs is not None:
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs))
            if seed is not None:
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        except InputError:
            raise
        except (TypeError, ValueError) as e:  # a dataclass's own check (__post_init__)
            raise InputError(f"--data/--epochs/--seed: {e}") from None
        return apply_overrides(cfg, overrides)

    def train(self, data: str | None = None, quick: bool = False, out: str | Path | None = None,
              epochs: int | None = None, seed: int | None = None, resume: str | Path | None = None,
              overrides: list[str] | None = None, verbose: bool = True) -> Path:
        """Train into a new run directory (or continue ``resume``); return its path."""
        from ..training.distributed import rank

        if rank() != 0:
            # data parallelism: every process trains, only rank 0 keeps a run directory
            return self._train_as_worker(data, quick, epochs, seed, resume, overrides)
        if resume is not None:
            run_dir = Path(resume)
            cfg = self.load_config(run_dir)
            with run_lock(run_dir):  # one process per run directory
                return self._train_locked(cfg, run_dir, True, False, verbose)
        return self.train_config(self.make_config(data, quick, epochs, seed, overrides), out, verbose)

    def train_config(self, cfg: Any, out: str | Path | None = None, verbose: bool = True) -> Path:
        """Train ``cfg`` (a ``Config``) into a new run directory ``out`` (default: a new one
        under ``runs/``); return its path. What ``train`` does once the config is made."""
        if out is not None and Path(out).is_dir():
            check_not_in_use(out)  # "in use by process N" before "already holds a run"
        created = out is None or not Path(out).exists()
        run_dir = new_run_dir(out, self.name)
        with run_lock(run_dir):
            if (run_dir / "config.json").exists():  # another process made it a run meanwhile
                new_run_dir(run_dir, self.name)
            write_run_config(run_dir, self.name, to_dict(cfg))
            return self._train_locked(cfg, run_dir, False, created, verbose)

    def _train_locked(self, cfg: Any, run_dir: Path, resume: bool, created: bool, verbose: bool) -> Path:
        t0 = time.perf_counter()
        try:
            metrics = self.fit(cfg, RunContext(run_dir, resume, verbose))
        except BaseException:
            # Bad data found before any training step: leave no half-made run behind.
            # Once a checkpoint exists it is kept, so a diverged or killed run can resume.
            # (an ensemble's members keep theirs in subdirectories).
            if not resume and created and not any(has_checkpoint(p) for p in (run_dir, *run_dir.rglob("*"))
                                                  if p.is_dir()):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        metrics = {**metrics, "train_seconds": round(time.perf_counter() - t0, 2)}
        write_metrics(run_dir, metrics)
        self.write_report(run_dir, metrics)
        return run_dir

    def _train_as_worker(self, data, quick, epochs, seed, resume, overrides) -> Path:
        import tempfile

        cfg = self.load_config(resume) if resume is not None else self.make_config(data, quick, epochs, seed, overrides)
        with tempfile.TemporaryDirectory(prefix="rnnlab-worker-") as tmp:
            if resume is not None and has_checkpoint(resume):
                shutil.copytree(Path(resume), tmp, dirs_exist_ok=True)
            self.fit(cfg, RunContext(Path(tmp), resume is not None, verbose=False))
        return Path(resume) if resume is not None else Path(tmp)

    def run_evaluate(self, run_dir: str | Path) -> dict[str, float]:
        run_dir = Path(run_dir)
        self.load_config(run_dir)  # checks the directory belongs to this app before any work
        metrics = self.evaluate(run_dir)
        write_metrics(run_dir, metrics)
        self.write_report(run_dir, metrics)
        return metrics

    def write_report(self, run_dir: Path, metrics: dict[str, float]) -> None:
        # an ensemble's members keep their training curves in members/i/
        images = sorted(run_dir.glob("*.png")) + sorted(run_dir.glob("members/*/*.png"))
        cfg = (run_dir / "config.json").read_text() if (run_dir / "config.json").exists() else ""
        write_report(run_dir / "report.html", f"rnnlab {self.name}: {run_dir.name}", metrics, images,
                     [("config.json", cfg)], self.report_sections(run_dir))

    def report_sections(self, run_dir: Path) -> list[tuple[str, str]]:
        """``(heading, HTML)`` sections an app adds to its runs' report.html (none by default)."""
        return []
