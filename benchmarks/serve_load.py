"""Load on ``rnnlab serve``: N translate requests, C at a time, from this process to a
server in a second process on loopback; meanwhile a probe asks for the runs list and
another model's panel every tenth of a second, to show one model's queue does not hold up the
page or another model. Reports p50 / p95 / max latency, errors and throughput, beside the
same requests one at a time.

    rnnlab demo --app translate --app docs            # or any folder with a translate run
    python benchmarks/serve_load.py --runs runs/demo --out benchmarks/results/serve/load.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from speed import gemm_peak  # the figure quoted beside every time

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, fields: dict[str, str]) -> tuple[float, int, str]:
    """One form POST; (seconds, HTTP status, body)."""
    boundary = "rnnlabload"
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                   for k, v in fields.items()) + f"--{boundary}--\r\n"
    req = urllib.request.Request(url, body.encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=300) as res:
            return time.perf_counter() - t, res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return time.perf_counter() - t, e.code, e.read().decode()


def get(url: str) -> tuple[float, int]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as res:
        res.read()
        return time.perf_counter() - t, res.status


def percentiles(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else xs * 99
    return {"p50_ms": round(1000 * q[49], 1), "p95_ms": round(1000 * q[94], 1), "max_ms": round(1000 * xs[-1], 1),
            "mean_ms": round(1000 * statistics.fmean(xs), 1)}


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 2030)}" for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs/demo", help="Folder holding a translate run (and optionally others).")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--out", default=None, help="Write the figures as JSON here.")
    args = ap.parse_args()

    peak = gemm_peak()  # before the server starts: nothing else running
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "rnnlab", "serve", args.runs, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                runs = json.loads(urllib.request.urlopen(base + "/api/runs", timeout=2).read())["runs"]
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    sys.exit("rnnlab serve did not start: " + (server.stderr.read() if server.stderr else ""))
                time.sleep(0.3)
        by_app = {r["app"]: r["id"] for r in runs}
        if "translate" not in by_app:
            sys.exit(f"{args.runs}: no translate run (rnnlab demo --app translate)")
        translate = f"{base}/api/runs/{urllib.parse.quote(by_app['translate'])}/panel"
        other_app = next((a for a in ("docs", "forecast", "handwriting") if a in by_app), None)
        other_fields = {"docs": {"text": "Shares in the bank rose after the profit report."}, "forecast": {},
                        "handwriting": {"text": "hello"}}
        post(translate, {"text": "March 5, 2001"})  # load the model once before timing
        if other_app:
            post(f"{base}/api/runs/{by_app[other_app]}/panel", other_fields[other_app])

        texts = sentences(args.requests)
        serial = [post(translate, {"text": s}) for s in texts[:20]]

        probes: dict[str, list[float]] = {"runs_list": [], other_app or "none": []}
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                probes["runs_list"].append(get(base + "/api/runs")[0])
                if other_app:
                    dt, status, _ = post(f"{base}/api/runs/{by_app[other_app]}/panel", other_fields[other_app])
                    probes[other_app].append(dt if status == 200 else float("inf"))
                stop.wait(0.1)

        prober = threading.Thread(target=probe, daemon=True)
        t0 = time.perf_counter()
        prober.start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(lambda s: post(translate, {"text": s}), texts))
        wall = time.perf_counter() - t0
        stop.set()
        prober.join()
    finally:
        server.terminate()
        server.wait(30)

    errors = [(status, body[:200]) for _, status, body in results if status != 200]
    report = {
        "command": " ".join(["python", "benchmarks/serve_load.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "gemm_peak_gflops": round(peak),
        "requests": args.requests, "concurrency": args.concurrency, "errors": len(errors),
        "error_examples": errors[:3], "wall_s": round(wall, 2), "requests_per_s": round(args.requests / wall, 2),
        "concurrent": percentiles([dt for dt, _, _ in results]),
        "one_at_a_time_20": percentiles([dt for dt, _, _ in serial]),
        "during_the_load": {name: percentiles(xs) | {"n": len(xs)} for name, xs in probes.items() if xs},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
