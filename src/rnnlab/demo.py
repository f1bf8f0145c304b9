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
from .report import metrics_table
from .files import atomic_write

__all__ = ["run_demo"]


def run_demo(apps: dict[str, App], missing: dict[str, str], out: Path,
             only: list[str] | None = None) -> tuple[Path, list[str]]:
    """Train each app with ``quick=True`` into ``out/<app>``; return (report path, failed apps)."""
    out = Path(out)
    chosen = {k: v for k, v in apps.items() if not only or k in only}
    unknown = set(only or []) - set(apps)
    if unknown:
        from .errors import InputError

        raise InputError(f"--app: unknown or unavailable app(s) {', '.join(sorted(unknown))}; "
                         f"available: {', '.join(apps)}")
    out.mkdir(parents=True, exist_ok=True)
    sections, failed = [], []
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
    for name, why in missing.items():
        sections.append(f"<h2>{html.escape(name)}</h2><p>not installed: {html.escape(why)}</p>")
    page = ("<!doctype html><meta charset='utf-8'><title>rnnlab demo</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style>"
            f"<h1>rnnlab demo</h1><p>{len(chosen)} apps, --quick, {time.perf_counter() - t_all:.0f} s in all.</p>"
            + "\n".join(sections))
    report = out / "report.html"
    atomic_write(report, page)
    return report, failed
