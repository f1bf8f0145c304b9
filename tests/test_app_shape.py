"""The shape issue 22 gave the codebase, kept: apps are glue (none over 350 lines), their
``--quick`` is a few overrides of the defaults, configs are changed through one checked
path, and every app's ``load`` returns a ``LoadedRun``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import rnnlab
from rnnlab.apps import load_apps
from rnnlab.apps.base import LoadedRun
from rnnlab.errors import InputError
from rnnlab.training.config import set_fields, to_dict

APPS_DIR = Path(rnnlab.__file__).parent / "apps"


@pytest.mark.parametrize("path", sorted(APPS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_every_app_file_is_glue_of_at_most_350_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 350, f"{path.name} has {lines} lines: move what it computes to models/, tasks/ or data/"


def test_quick_is_the_defaults_with_a_few_overrides():
    apps, _ = load_apps()
    for name, app in apps.items():
        default, quick = to_dict(app.Config()), to_dict(app.quick_config())
        assert app.quick, name
        for key, value in app.quick.items():
            *parents, leaf = key.split(".")
            d_section, q_section = default, quick
            for p in parents:
                d_section, q_section = d_section[p], q_section[p]
            assert q_section[leaf] == value and d_section[leaf] != value, (name, key)
        assert set_fields(app.Config(), app.quick) == app.quick_config()


def test_set_fields_checks_keys_and_values_as_a_config_file():
    from rnnlab.apps.forecast import ForecastConfig

    cfg = set_fields(ForecastConfig(), {"hidden_size": 7, "train.lr": 0.5})
    assert (cfg.hidden_size, cfg.train.lr) == (7, 0.5)
    with pytest.raises(InputError, match="'hidden_size' is not a section"):
        set_fields(ForecastConfig(), {"hidden_size.x": 1})
    with pytest.raises(InputError, match="hidden_size"):
        set_fields(ForecastConfig(), {"hidden_size": "many"})


def test_loaded_run_unpacks_as_the_apps_old_tuple():
    run = LoadedRun("cfg", "model", vocab="v", target_vocab="t",
                    unpacks_as=("config", "vocab", "target_vocab", "model"))
    cfg, src, tgt, model = run
    assert (cfg, src, tgt, model) == ("cfg", "v", "t", "model")
    assert tuple(LoadedRun("cfg", "model")) == ("cfg", "model")
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.model = None  # type: ignore[misc]



@pytest.mark.parametrize("where", ["top", "config", "train"])
def test_a_run_config_with_an_unknown_key_is_refused_by_every_app(tmp_path, where):
    """A hand-edited or mistyped config.json is an input error naming the file and the
    key, before any work (issue 35: a top-level key was silently ignored)."""
    import json

    apps, _ = load_apps()
    for name, app in apps.items():
        if not app.generic_commands:
            continue
        run = tmp_path / name
        run.mkdir()
        raw = {"app": name, "rnnlab_version": rnnlab.__version__, "processes": 1, "config": to_dict(app.Config()),
               "data": {}}
        {"top": raw, "config": raw["config"], "train": raw["config"]["train"]}[where]["hidden_sise"] = 64
        (run / "config.json").write_text(json.dumps(raw))
        with pytest.raises(InputError, match="hidden_sise") as caught:
            app.run_evaluate(run)
        assert str(run / "config.json") in str(caught.value), name
        assert not (run / "metrics.json").exists(), name


def test_evaluate_of_a_run_config_with_an_unknown_key_exits_2(tmp_path, cli):
    import json

    from rnnlab.apps.translate import APP

    (tmp_path / "config.json").write_text(json.dumps({"app": "translate", "config": to_dict(APP.Config()),
                                                      "hidden_size": 64}))
    code, _, err = cli("translate", "evaluate", str(tmp_path))
    assert code == 2 and f"{tmp_path / 'config.json'}: unknown top-level key(s) 'hidden_size'" in err, err
