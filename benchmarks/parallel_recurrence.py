"""Recurrences that train in parallel over time, measured: a training step (forward and
backward) against the sequence length, beside torch's fused LSTM and GRU.

    python benchmarks/parallel_recurrence.py                    # the grid, CPU
    python benchmarks/parallel_recurrence.py --device cuda      # the same grid against cuDNN
    python benchmarks/parallel_recurrence.py --accuracy         # each scan's error at T = 10,000
    python benchmarks/parallel_recurrence.py --chunks           # minGRU's step against the scan's chunk

Grid: T in {128, 512, 2048, 8192}, batch 16, input 128, hidden 256 (``--lengths``,
``--batch`` ...). Variants, all in one process and timed round-robin (each round runs
every variant once; the median of ``--repeats`` rounds is reported, with its ratio to
nn.LSTM's time in the same rounds): nn.LSTM and nn.GRU (torch's fused kernels: oneDNN on
CPU, cuDNN on a GPU), and rnnlab's minGRU, minLSTM and LRU on the scan backend (each of
its methods: loop, associative, log) and on the reference loop (the cell's step, one
step at a time: the sequential definition). Memory: on CPU the bytes autograd saves for
the backward pass (every tensor a ``saved_tensors_hooks`` pack sees, once), on a GPU the
peak allocated. The sequential loops are skipped beyond ``--max-sequential`` steps.
Writes ``grid.md`` / ``grid.json`` (or ``accuracy.md``, ``chunks.md``) under
benchmarks/results/parallel_recurrence/ (``--out``), with the GEMM peak of the machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from rnnlab import Recurrent
from rnnlab.recurrent.backends import scan

OUT = Path(__file__).parent / "results" / "parallel_recurrence"
CELLS = ("mingru", "minlstm", "lru")


def gemm_peak(device: str) -> float:
    """GFLOP/s of a 1024² float32 matmul, the best of 10."""
    a = torch.randn(1024, 1024, device=device)
    best = math.inf
    for _ in range(10):
        t = time.perf_counter()
        a @ a
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * 1024 ** 3 / best / 1e9


def variants(I: int, H: int, device: str, T: int, max_sequential: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    out: dict[str, nn.Module] = {"nn.LSTM": nn.LSTM(I, H, batch_first=True), "nn.GRU": nn.GRU(I, H, batch_first=True)}
    for cell in CELLS:
        for method in ("loop", "associative", "log"):
            if method == "log" and cell == "lru":
                continue  # complex coefficients: no real logarithm
            out[f"{cell} scan/{method}"] = Recurrent(cell, I, H, backend="scan", scan_method=method)
        if T <= max_sequential:
            out[f"{cell} sequential"] = Recurrent(cell, I, H, backend="reference")
    return {k: m.to(device) for k, m in out.items()}


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``module(x)`` (each storage once)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y, _ = module(x)
    del y
    return sum(seen.values())


def train_step(module: nn.Module, x: torch.Tensor) -> float:
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    y, _ = module(x)
    y.float().pow(2).mean().backward()
    sync()
    return time.perf_counter() - t


def grid(args) -> None:
    device = args.device
    rows = []
    for T in args.lengths:
        x = torch.randn(args.batch, T, args.input, device=device)
        mods = variants(args.input, args.hidden, device, T, args.max_sequential)
        for m in mods.values():  # warm-up: allocator, kernel choice, first-call costs
            train_step(m, x)
        times: dict[str, list[float]] = {k: [] for k in mods}
        for _ in range(args.repeats):
            for name, m in mods.items():
                m.zero_grad(set_to_none=True)
                times[name].append(train_step(m, x))
        memory = {}
        for name, m in mods.items():
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
                train_step(m, x)
                memory[name] = torch.cuda.max_memory_allocated()
            else:
                memory[name] = saved_bytes(m, x)
        base = statistics.median(times["nn.LSTM"])
        for name in mods:
            med = statistics.median(times[name])
            rows.append({"T": T, "variant": name, "seconds": med, "vs_lstm": base / med,
                         "us_per_token": 1e6 * med / (T * args.batch), "memory_bytes": memory[name]})
            print(f"T={T:>5} {name:<24} {med * 1000:9.1f} ms  {base / med:6.2f}x nn.LSTM  "
                  f"{memory[name] / 2**20:8.1f} MiB", flush=True)
    peak = gemm_peak(device)
    write(args, "grid", rows, grid_markdown(rows, args, peak), peak)


def grid_markdown(rows: list[dict], args, peak: float) -> str:
    mem = "peak allocated" if args.device == "cuda" else "saved for backward"
    lines = [f"Training step (forward + backward), batch {args.batch}, input {args.input}, hidden {args.hidden}, "
             f"{args.device} (GEMM peak {peak:.0f} GFLOP/s), median of {args.repeats} round-robin rounds. "
             f"`x nn.LSTM`: nn.LSTM's time over the variant's (higher is faster).", "",
             f"| T | variant | ms | x nn.LSTM | µs/token | MiB {mem} |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['T']} | {r['variant']} | {r['seconds'] * 1000:.1f} | {r['vs_lstm']:.2f} | "
              f"{r['us_per_token']:.2f} | {r['memory_bytes'] / 2**20:.1f} |" for r in rows]
    by = {(r["T"], r["variant"]): r for r in rows}
    lines += ["", "Scan against the same cell's sequential loop (time of the loop over the scan's):", "",
              "| T | " + " | ".join(CELLS) + " |", "|---|" + "---|" * len(CELLS)]
    for T in args.lengths:
        cells = []
        for c in CELLS:
            seq, fast = by.get((T, f"{c} sequential")), by.get((T, f"{c} scan/loop" if args.device == "cpu"
                                                                   else f"{c} scan/associative"))
            cells.append(f"{seq['seconds'] / fast['seconds']:.1f}" if seq and fast else "–")
        lines.append(f"| {T} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def accuracy(args) -> None:
    """Each scan method's float32 error against the float64 reference loop at T = 10,000,
    gates near 0 and near 1 (the equivalence tests' case, as a table)."""
    rows = []
    for cell in ("mingru", "minlstm"):
        for bias in (-12.0, 12.0):
            torch.manual_seed(0)
            layer = Recurrent(cell, 2, 3)
            with torch.no_grad():
                layer.cells[0].linear.bias[:3] = bias
            x = torch.randn(2, 10_000, 2, generator=torch.Generator().manual_seed(2))
            ref = copy.deepcopy(layer).double()
            ref.backend = "reference"
            with torch.no_grad():
                exact, _ = ref(x.double())
            for method in ("reference", "loop", "associative", "log"):
                layer.backend = "reference" if method == "reference" else "scan"
                layer.scan_method = "auto" if method == "reference" else method
                with torch.no_grad():
                    y, _ = layer(x)
                err = float((y.double() - exact).abs().max() / exact.abs().max())
                rows.append({"cell": cell, "gate_bias": bias, "method": method, "relative_error": err})
                print(f"{cell} bias {bias:+.0f} {method:<12} {err:.2e}", flush=True)
    lines = ["float32 outputs against the float64 reference loop, T = 10,000, batch 2, hidden 3; error = "
             "max |y - exact| / max |exact|. Gate bias −12: the state remembers (gates near 0 for minGRU's z); "
             "+12: it forgets at once.", "", "| cell | gate bias | reference loop | scan/loop | scan/associative "
             "| scan/log |", "|---|---|---|---|---|---|"]
    for cell in ("mingru", "minlstm"):
        for bias in (-12.0, 12.0):
            e = {r["method"]: r["relative_error"] for r in rows if r["cell"] == cell and r["gate_bias"] == bias}
            lines.append(f"| {cell} | {bias:+.0f} | {e['reference']:.1e} | {e['loop']:.1e} | "
                         f"{e['associative']:.1e} | {e['log']:.1e} |")
    write(args, "accuracy", rows, "\n".join(lines) + "\n", gemm_peak(args.device))


def chunks(args) -> None:
    """minGRU's training step at T = 2048 against the scan's chunk length (scan.CHUNK)."""
    x = torch.randn(args.batch, 2048, args.input, device=args.device)
    layer = Recurrent("mingru", args.input, args.hidden, backend="scan", scan_method="loop").to(args.device)
    lstm = nn.LSTM(args.input, args.hidden, batch_first=True).to(args.device)
    sizes = [32, 64, 128, 256, 512, 2048]
    times: dict[int, list[float]] = {c: [] for c in sizes}
    base = []
    default = scan.CHUNK
    try:
        for _ in range(args.repeats + 1):
            base.append(train_step(lstm, x))
            for c in sizes:
                scan.CHUNK = c
                times[c].append(train_step(layer, x))
    finally:
        scan.CHUNK = default
    lstm_s = statistics.median(base[1:])
    rows = [{"chunk": c, "seconds": statistics.median(t[1:]), "vs_lstm": lstm_s / statistics.median(t[1:])}
            for c, t in times.items()]
    peak = gemm_peak(args.device)
    lines = [f"minGRU on the scan (loop), T = 2048, batch {args.batch}, input {args.input}, hidden {args.hidden}, "
             f"{args.device} (GEMM peak {peak:.0f} GFLOP/s); chunk = steps per chunk (2048: the whole sequence "
             f"in one pass of each operation); the default is {default}.", "",
             "| chunk | ms | x nn.LSTM |", "|---|---|---|"]
    lines += [f"| {r['chunk']} | {r['seconds'] * 1000:.1f} | {r['vs_lstm']:.2f} |" for r in rows]
    for r in rows:
        print(r, flush=True)
    write(args, "chunks", rows, "\n".join(lines) + "\n", peak)


def write(args, stem: str, rows: list[dict], markdown: str, peak: float) -> None:
    suffix = "" if args.device == "cpu" else f"_{args.device}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}{suffix}.md").write_text(markdown)
    (args.out / f"{stem}{suffix}.json").write_text(json.dumps(
        {"device": args.device, "gemm_gflops": peak, "threads": torch.get_num_threads(), "torch": torch.__version__,
         "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "rows": rows},
        indent=2) + "\n")
    print(markdown)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048, 8192])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--input", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-sequential", type=int, default=8192, help="longest T for the sequential loops")
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--chunks", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here")
    accuracy(args) if args.accuracy else chunks(args) if args.chunks else grid(args)


if __name__ == "__main__":
    main()
