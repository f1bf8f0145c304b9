"""The ``rnnlab`` command: one group per app (train / evaluate / the app's verbs),
``runs``, ``demo`` and ``lab``. Thin: parses, calls the apps, prints."""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

import typer

from .apps import App, load_apps
from .errors import InputError, RnnlabError
from .version import __version__

cli = typer.Typer(help="rnnlab: recurrent neural networks on sequential data — train, evaluate and use RNN, "
                       "LSTM, GRU and attention models.", no_args_is_help=True, add_completion=False)


def guarded(fn: Callable[[], object]) -> object:
    """Run ``fn``; turn rnnlab errors into one message on stderr and the exit status
    (2 bad input, 1 anything else). RNNLAB_DEBUG=1 shows the traceback."""
    try:
        return fn()
    except RnnlabError as e:
        if os.environ.get("RNNLAB_DEBUG"):
            traceback.print_exc()
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; continue a training run with --resume DIR", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as e:  # an rnnlab bug or an environment problem: still one clear line
        if os.environ.get("RNNLAB_DEBUG"):
            traceback.print_exc()
        typer.echo(f"error: {type(e).__name__}: {e} (set RNNLAB_DEBUG=1 for the traceback)", err=True)
        raise typer.Exit(1) from None


def _print_metrics(run_dir: Path, metrics: dict) -> None:
    typer.echo(json.dumps(metrics, indent=2))
    typer.echo(f"run directory: {run_dir}")


def app_group(app: App) -> typer.Typer:
    group = typer.Typer(help=app.help, no_args_is_help=True)
    if not app.generic_commands:
        app.add_commands(group, guarded)
        return group

    @group.command("train")
    def train(
        data: Optional[str] = typer.Option(None, "--data", help="Dataset name or path to your own file(s)."),
        quick: bool = typer.Option(False, "--quick", help="Small configuration: ≤ 2 minutes on 2 CPU cores."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<app>-<time>)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
        resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the killed run in this directory."),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a config key: --set hidden_size=128, "
                                                 "--set train.lr=0.003 (see config.json for keys)."),
    ):
        """Train on --data (or the embedded default) into a run directory."""
        run_dir = guarded(lambda: app.train(data, quick, out, epochs, seed, resume, set_))
        from .training.distributed import rank

        if rank() == 0:
            _print_metrics(run_dir, json.loads((run_dir / "metrics.json").read_text()))

    @group.command("config")
    def config(quick: bool = typer.Option(False, "--quick", help="Show the --quick configuration."),
               set_: Optional[list[str]] = typer.Option(None, "--set", help="As train takes it: e.g. --set "
                                                        "model=transformer shows that model's own defaults.")):
        """Print the configuration train would use: every key --set can change, with its value."""
        from .training import to_dict

        typer.echo(json.dumps(to_dict(guarded(lambda: app.make_config(quick=quick, overrides=set_))), indent=2))

    @group.command("evaluate")
    def evaluate(run_dir: Path = typer.Argument(..., help="A run directory made by this app's train.")):
        """Evaluate a trained run on its held-out data; writes metrics.json."""
        metrics = guarded(lambda: app.run_evaluate(run_dir))
        _print_metrics(run_dir, metrics)

    app.add_commands(group, guarded)
    return group


def _unavailable(name: str, why: str) -> typer.Typer:
    group = typer.Typer(help=f"(unavailable: {why})")

    @group.callback(invoke_without_command=True)
    def _():
        typer.echo(f"error: rnnlab {name} {why}", err=True)
        raise typer.Exit(2)

    return group


APPS, MISSING = load_apps()
for _name, _app in APPS.items():
    cli.add_typer(app_group(_app), name=_name, help=_app.help)
for _name, _why in MISSING.items():
    cli.add_typer(_unavailable(_name, _why), name=_name)


@cli.command()
def runs(root: Path = typer.Argument(Path("runs"), help="Folder holding run directories.")):
    """List runs (newest first) with their app and key metrics."""
    def _list():
        found = sorted((p.parent for p in root.glob("**/config.json")), key=lambda p: p.stat().st_mtime, reverse=True)
        if not found:
            typer.echo(f"no runs under {root}")
            return
        for d in found:
            try:
                app = json.loads((d / "config.json").read_text()).get("app", "?")
            except (OSError, json.JSONDecodeError):
                app = "?"
            metrics = {}
            if (d / "metrics.json").exists():
                try:
                    metrics = json.loads((d / "metrics.json").read_text())
                except json.JSONDecodeError:
                    pass
            shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in list(metrics.items())[:5]) or "(not finished)"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.stat().st_mtime))
            typer.echo(f"{str(d):40s} {app:10s} {when}  {shown}")
    guarded(_list)


@cli.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for the runs and report.html."),
    only: Optional[list[str]] = typer.Option(None, "--app", help="Run only these apps."),
):
    """Run every installed app's --quick training on its embedded data; write one report."""
    from .demo import run_demo, times_table

    path, failed, times = guarded(lambda: run_demo(APPS, MISSING, out, only))
    typer.echo(times_table(times, failed))
    typer.echo(f"report: {path}")
    if failed:
        typer.echo(f"failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


@cli.command()
def serve(
    run_dirs: Optional[list[Path]] = typer.Argument(None, help="Run directories, or folders of runs."),
    runs_root: Path = typer.Option(None, "--runs", help="Also every run under this folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    max_upload_mb: float = typer.Option(8.0, "--max-upload-mb", help="Largest request (upload or paste), in MB."),
):
    """A local web page over trained runs: their results, and a panel per app to try the model."""
    def start():
        try:
            from .serve import check_address, find_runs
            from .serve import serve as run_server
        except ImportError as e:
            raise InputError(f"serve needs {e.name}: pip install 'rnnlab[serve]'") from None
        paths = list(run_dirs or []) + ([runs_root] if runs_root is not None else [])
        if not 0 < port < 65536:
            raise InputError(f"--port: {port} is not a port (1 to 65535)")
        if max_upload_mb <= 0:
            raise InputError(f"--max-upload-mb: must be > 0, got {max_upload_mb}")
        if not paths and not Path("runs").is_dir():
            raise InputError("no run directories given and no ./runs folder: rnnlab serve RUN_DIR_OR_FOLDER ... "
                             "(train one first, e.g. 'rnnlab demo' then 'rnnlab serve runs/demo')")
        runs = find_runs(paths or [Path("runs")], APPS, MISSING)
        check_address(host, port)
        return lambda: run_server(runs, host, port, int(max_upload_mb * 2**20))

    guarded(start)()


@cli.command()
def version():
    """Print the rnnlab version."""
    typer.echo(__version__)


def main() -> None:
    from .training.distributed import init_from_env

    init_from_env()  # under torchrun: join the process group before any app runs
    cli()


if __name__ == "__main__":
    main()
