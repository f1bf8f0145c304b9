"""Small self-contained HTML reports (a run's ``report.html`` and the demo's index)."""

from __future__ import annotations

import html
import os
from pathlib import Path

from .files import atomic_write

__all__ = ["write_report", "metrics_table", "save_figure", "pyplot"]

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f7f7f7;padding:1em;overflow-x:auto}"""


def metrics_table(metrics: dict[str, float]) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>" if isinstance(v, float)
                   else f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in metrics.items())
    return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def write_report(path: str | Path, title: str, metrics: dict[str, float] | None = None,
                 images: list[str | Path] | None = None, sections: list[tuple[str, str]] | None = None,
                 html_sections: list[tuple[str, str]] | None = None) -> None:
    """Write an HTML page: a title, a metrics table, images (linked relative to the page),
    ``(heading, HTML)`` sections (markup rnnlab made, its text already escaped) and extra
    ``(heading, preformatted text)`` sections."""
    path = Path(path)
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>",
             f"<h1>{html.escape(title)}</h1>"]
    if metrics:
        parts.append(metrics_table(metrics))
    for img in images or []:
        rel = os.path.relpath(img, path.parent)
        parts.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(Path(img).stem)}'>"
                     f"<figcaption>{html.escape(rel)}</figcaption></figure>")
    for heading, markup in html_sections or []:
        parts.append(f"<h2>{html.escape(heading)}</h2>{markup}")
    for heading, text in sections or []:
        parts.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text)}</pre>")
    atomic_write(path, "\n".join(parts) + "\n")


def pyplot():
    """matplotlib's pyplot on the Agg backend (image files, no screen): the one place
    rnnlab chooses a backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> None:
    """Write a matplotlib figure as PNG atomically, then free it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
