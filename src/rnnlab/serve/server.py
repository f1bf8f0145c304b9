"""The web server of ``rnnlab serve``: FastAPI, with a page of its own (``static/``).

Why FastAPI and not Gradio: the page must work with the network closed and be tested in
a real browser. Gradio's front end loads web fonts and sends analytics unless each is
turned off, ships a large JavaScript bundle whose markup tests would have to chase, and
a recurrent model's panels (a heatmap, a stream of text, audio, a table) are a few lines
of HTML each. Here every byte the page loads comes from this server (a Content
Security Policy says so to the browser too).

Routes: ``/`` the page; ``/static/NAME`` its script and style; ``/api/runs`` the runs;
``/api/runs/ID/files/NAME`` a result file of a run; ``POST /api/runs/ID/panel`` one
request to the run's panel (form fields and at most one file), answered with JSON, or
for text generation a stream of text. A bad input is HTTP 400 with ``{"error": message}``;
anything else that goes wrong with one request is a 500 with its message, and the
server goes on. Requests to one model wait for each other (its lock), never for another
model's: each request runs in a worker thread.
"""


import os
import sys
import tempfile
import traceback
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from .panels import PANELS, STREAMING, UPLOADS, Inputs
from .runs import FILE_KINDS, ServedRun

__all__ = ["make_server", "serve", "check_address", "MAX_UPLOAD"]

MAX_UPLOAD = 8 << 20  # bytes of one request: an uploaded file, or a pasted text
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
MEDIA = {".png": "image/png", ".csv": "text/csv", ".tsv": "text/tab-separated-values", ".md": "text/markdown",
         ".json": "application/json", ".html": "text/html"}
# everything from this origin; images and audio also as data: URLs (the panels' answers), and the
# user's own chosen image shown back as a blob: URL
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'")


def _static(name: str) -> bytes:
    return resources.files("rnnlab.serve").joinpath("static", name).read_bytes()


def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def _hide_temp(message: str, inputs: Inputs) -> str:
    """A reader's message names the temporary file: name the user's file instead."""
    if inputs.file is not None:
        name = inputs.filename or "the uploaded file"
        message = message.replace(f"--data {inputs.file}", name).replace(str(inputs.file), name)
    return message


def make_server(runs: dict[str, ServedRun], max_upload: int = MAX_UPLOAD, quiet: bool = False) -> Any:
    """The FastAPI application serving ``runs`` (from :func:`~rnnlab.serve.runs.find_runs`)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.formparsers import MultiPartException

    api = FastAPI(title="rnnlab serve", docs_url=None, redoc_url=None, openapi_url=None)
    page = _static("index.html")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # starlette's own refusals (too many files, an unknown route or method) in the page's one shape
        return _error(exc.status_code, str(exc.detail))

    @api.middleware("http")
    async def limits_and_headers(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > max_upload:
            return _error(413, f"the request is {int(size) / 2**20:.1f} MB; this server takes at most "
                               f"{max_upload / 2**20:.0f} MB (rnnlab serve --max-upload-mb)")
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @api.get("/")
    def index() -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    @api.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @api.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return _error(404, f"no such file: {name[:80]}")
        return Response(_static(name), media_type=STATIC[name])

    @api.get("/api/runs")
    def list_runs() -> JSONResponse:
        return JSONResponse({"runs": [r.summary() for r in runs.values()], "panels": sorted(PANELS),
                             "uploads": {k: list(v) for k, v in UPLOADS.items()}, "max_upload": max_upload})

    @api.get("/api/runs/{run_id}/files/{name}")
    def run_file(run_id: str, name: str) -> Response:
        run = runs.get(run_id)
        path = run.files.get(name) if run is not None else None
        if path is None:  # only names from the listing made at start; nothing else is opened
            return _error(404, f"no such run file: {run_id[:80]}/{name[:80]}")
        kind = FILE_KINDS[path.suffix.lower()]
        headers = {"Content-Security-Policy": "sandbox"} if kind == "html" else {}
        return Response(path.read_bytes(), media_type=MEDIA[path.suffix.lower()], headers=headers)

    @api.post("/api/runs/{run_id}/panel")
    async def panel(run_id: str, request: Request) -> Response:
        run = runs.get(run_id)
        if run is None:
            return _error(404, f"no run {run_id[:80]!r} here; reload the page")
        if run.app_name not in PANELS:
            return _error(400, f"{run.app_name} runs have results to browse, no panel")
        if run.unavailable:
            return _error(400, f"{run.app_name}: {run.unavailable}")
        try:
            form = await request.form(max_files=1, max_fields=16, max_part_size=max_upload)
        except MultiPartException as e:
            return _error(400, f"the form could not be read: {e.message}")
        fields: dict[str, str] = {}
        upload = None
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value.replace("\r\n", "\n")  # browsers send a textarea's newlines as CRLF
            else:
                upload = value
        with tempfile.TemporaryDirectory(prefix="rnnlab-serve-") as tmp:
            inputs = Inputs(fields)
            if upload is not None and upload.filename:
                suffix = Path(upload.filename).suffix.lower()
                allowed = UPLOADS.get(run.app_name, ())
                if suffix not in allowed:
                    return _error(400, f"{Path(upload.filename).name[:80]}: a {suffix or 'nameless'} file; this "
                                       f"panel takes {', '.join(allowed) or 'no files'}")
                data = await upload.read(max_upload + 1)
                if len(data) > max_upload:
                    return _error(413, f"{upload.filename}: over {max_upload / 2**20:.0f} MB")
                if not data:
                    return _error(400, f"{upload.filename}: the file is empty")
                path = Path(tmp) / f"upload{suffix}"  # our own name: the user's never reaches the disk
                path.write_bytes(data)
                inputs = Inputs(fields, path, Path(upload.filename).name[:120])
            await form.close()
            try:
                answer = await run_in_threadpool(PANELS[run.app_name], run, inputs)
            except InputError as e:
                return _error(400, _hide_temp(str(e), inputs))
            except Exception as e:  # noqa: BLE001 - one request fails, the server goes on
                if not quiet:
                    traceback.print_exc(file=sys.stderr)
                return _error(500, _hide_temp(f"{run.app_name} failed on this input: {type(e).__name__}: {e}",
                                              inputs))
        if run.app_name in STREAMING:
            return StreamingResponse(answer, media_type="text/plain; charset=utf-8")
        return JSONResponse(answer)

    return api


def check_address(host: str, port: int) -> None:
    """An ``InputError`` naming ``--host`` / ``--port`` when the server could not listen there."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise InputError(f"--host {host}: not an address of this machine ({e})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            import errno

            hint = ("that is not an address of this machine" if e.errno == errno.EADDRNOTAVAIL else
                    "is another server on that port? choose another with --port")
            raise InputError(f"--host {host} --port {port}: cannot listen there ({e.strerror}); {hint}") from None


def serve(runs: dict[str, ServedRun], host: str, port: int, max_upload: int = MAX_UPLOAD) -> None:
    """Serve until Ctrl-C; says where, and warns when the page is reachable from other machines."""
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    print(f"rnnlab serve: {len(runs)} run(s) at http://{shown}:{port}/", file=sys.stderr, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rnnlab serve: listening on {host}: other machines can reach this page and run its models "
              "(there is no login)", file=sys.stderr, flush=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the server's threads, not the tokenizer's
    uvicorn.run(make_server(runs, max_upload), host=host, port=port, log_level="warning")
