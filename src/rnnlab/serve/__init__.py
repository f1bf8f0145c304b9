"""``rnnlab serve``: a local web page over trained run directories — the runs' metrics and
plots, and one panel per app that runs the app's own verbs on the loaded model
(``panels.py``), served by FastAPI with a page of its own (``server.py``, ``static/``)
that loads nothing from the network. Needs the ``serve`` extra:
``pip install 'rnnlab[serve]'``."""

from .runs import ServedRun, find_runs
from .server import MAX_UPLOAD, check_address, make_server, serve

__all__ = ["ServedRun", "find_runs", "make_server", "serve", "check_address", "MAX_UPLOAD"]
