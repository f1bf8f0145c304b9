"""``rnnlab demo``: every installed app's --quick training, one report linking them."""

from __future__ import annotations

import html
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from .apps import App
from .errors import RnnlabError
from .files import atomic_write
from .report import metrics_table

__all__ = ["run_demo", "times_table"]


def times_table(times: dict[str, float], failed: list[str] = ()) -> str:
    """Each app's wall time and the total, as the demo prints them at the end."""
    def shown(s: float) -> str:
        return f"{s:6.1f} s" + (f"  ({int(s // 60)} min {s % 60:.0f} s)" if s >= 60 else "")

    width = max([len(n) for n in times] + [5])
    rows = [f"{name:<{width}}  {shown(s)}" + ("  failed" if name in failed else "") for name, s in times.items()]
    return "\n".join(["wall time per app:", *rows, f"{'total':<{width}}  {shown(sum(times.values()))}"])


def run_demo(apps: dict[str, App], missing: dict[str, str], out: Path,
             only: list[str] | None = None) -> tuple[Path, list[str], dict[str, float]]:
    """Train each app with ``quick=True`` into ``out/<app>``; return (report path, failed
    apps, wall seconds per app). The times are also in the report, and the CLI prints
    them: a user sees what the demo cost on their machine."""
    out = Path(out)
    chosen = {k: v for k, v in apps.items() if not only or k in only}
    unknown = set(only or []) - set(apps)
    if unknown:
        from .errors import InputError

        raise InputError(f"--app: unknown or unavailable app(s) {', '.join(sorted(unknown))}; "
                         f"available: {', '.join(apps)}")
    out.mkdir(parents=True, exist_ok=True)
    sections, failed = [], []
    times: dict[str, float] = {}
    t_all = time.perf_counter()
    for name, app in chosen.items():
        run_dir = out / name
        if run_dir.exists():
            shutil.rmtree(run_dir)  # the demo always starts fresh
        print(f"== {name}: {app.summary}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            app.train(quick=True, out=run_dir)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            imgs = "".join(f"<a href='{name}/{p.name}'><img src='{name}/{p.name}' style='max-width:480px'></a>"
                           for p in sorted(run_dir.glob("*.png")))
            sections.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(app.summary)} — "
                            f"{time.perf_counter() - t0:.0f} s — <a href='{name}/report.html'>run report</a></p>"
                            f"{metrics_table(metrics)}{imgs}")
        except (RnnlabError, Exception) as e:  # one app failing must not hide the others
            failed.append(name)
            detail = traceback.format_exc() if os.environ.get("RNNLAB_DEBUG") else str(e)
            print(f"{name} failed: {e}", file=sys.stderr)
            sections.append(f"<h2>{html.escape(name)}</h2><p><b>failed</b>: <pre>{html.escape(detail)}</pre></p>")
        times[name] = time.perf_counter() - t0
        print(f"== {name}: {times[name]:.1f} s", file=sys.stderr, flush=True)
    for name, why in missing.items():
        sections.append(f"<h2>{html.escape(name)}</h2><p>not installed: {html.escape(why)}</p>")
    page = ("<!doctype html><meta charset='utf-8'><title>rnnlab demo</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style>"
            f"<h1>rnnlab demo</h1><p>{len(chosen)} apps, --quick, {time.perf_counter() - t_all:.0f} s in all.</p>"
            f"<pre>{html.escape(times_table(times, failed))}</pre>" + "\n".join(sections))
    report = out / "report.html"
    atomic_write(report, page)
    return report, failed, times
