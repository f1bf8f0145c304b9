"""Speed of rnnlab's recurrent layers against torch.nn, measured in one process.

    python benchmarks/speed.py                 # the full grid (about 10 minutes on 2 cores)
    python benchmarks/speed.py --quick         # H=256, one layer only
    python benchmarks/speed.py --out benchmarks/results/speed
    python benchmarks/speed.py --device cuda   # the GPU section alone: cuDNN against rnnlab

For RNN, LSTM and GRU at H = 256 and 512, 1 and 2 layers, uni- and bidirectional
(T=100, B=64, I=128, float32): forward and forward+backward time of torch.nn, of
rnnlab's fused backend and of its reference backend (the path every custom cell
takes), as tokens/s, achieved GFLOP/s and the fraction of this machine's GEMM peak
(torch.mm, measured first); the hoisted backend (hand-written backward, weight
gradients as one GEMM); activation memory saved for backward; the cost of variable
lengths (random lengths in [T/2, T]) against an equal-length batch, on the fused path
(torch's kernel on the padded batch in a few stretches, finished sequences frozen: what
``auto`` takes for LSTM) and on the hoisted path (what ``auto`` takes for GRU and Elman
training); the compilation a custom cell pays on its first call, in this process and in
the next one (once inductor's disk cache holds the graphs); and streaming latency (batch
1, one step at a time, state carried).

With ``--device cuda`` the same grid runs on the GPU (torch.nn there is cuDNN) and the
fractions are of the GPU's GEMM peak; it writes ``speed-cuda.json``/``speed-cuda.md``
beside the CPU results. ``--no-compile`` skips the compiled backend's columns (its first
calls compile for minutes).

Timings on a shared 2-core machine are noisy, so variants are timed round-robin
(A, B, C, A, B, C, ...) and the table reports medians and the per-round ratio to
torch.nn. Writes ``speed.json`` and ``speed.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

import rnnlab

T, B, I = 100, 64, 128
COMPILE_STEPS = T  # steps per compiled graph for the chunked compiled backend: the whole sequence
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
OURS = {"RNN": rnnlab.RNN, "LSTM": rnnlab.LSTM, "GRU": rnnlab.GRU}
THEIRS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def gemm_peak(device: str = "cpu", reps: int = 10) -> float:
    """GFLOP/s of a float32 square matmul, best of ``reps`` (1024² on CPU; 8192² on a GPU,
    which a 1024² product leaves mostly idle)."""
    n = 1024 if device == "cpu" else 8192
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        _sync()
        t = time.perf_counter()
        a @ b
        _sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def layer_flops(kind: str, H: int, layers: int, bidir: bool) -> float:
    """Forward GEMM FLOPs of the whole sequence (input + recurrent projections)."""
    D = 2 if bidir else 1
    total = 0
    for layer in range(layers):
        inp = I if layer == 0 else D * H
        total += D * 2 * T * B * GATES[kind] * H * (inp + H)
    return total


def saved_bytes(fn) -> int:
    """Bytes of the tensors autograd saves for backward during ``fn()``."""
    total = 0
    seen = set()

    def pack(t):
        nonlocal total
        key = (t.data_ptr(), t.numel())
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def round_robin(variants: dict, rounds: int) -> dict[str, list[float]]:
    times = {k: [] for k in variants}
    for f in variants.values():  # warm-up
        f()
    for _ in range(rounds):
        for k, f in variants.items():
            _sync()
            t = time.perf_counter()
            f()
            _sync()
            times[k].append(time.perf_counter() - t)
    return times


def bench_config(kind: str, H: int, layers: int, bidir: bool, rounds: int, reference: bool,
                 device: str = "cpu", compile: bool = True) -> dict:
    torch.manual_seed(0)
    ref = THEIRS[kind](I, H, num_layers=layers, bidirectional=bidir, batch_first=True).to(device)
    fused = OURS[kind].from_torch(ref, backend="fused")
    slow = rnnlab.Recurrent.from_torch(ref, backend="reference")  # rnnlab's own cells: a custom cell's path
    hoisted = OURS[kind].from_torch(ref, backend="hoisted")
    x = torch.randn(B, T, I, requires_grad=True, device=device)
    lengths = torch.randint(T // 2, T + 1, (B,))
    lengths[0] = T

    def fwd(m):
        def f():
            with torch.no_grad():
                m(x)
        return f

    def fwdbwd(m, **kw):
        def f():
            out, _ = m(x, **kw)
            out.sum().backward()
        return f

    variants = {"torch_fwd": fwd(ref), "fused_fwd": fwd(fused), "torch_train": fwdbwd(ref),
                "fused_train": fwdbwd(fused), "fused_train_lengths": fwdbwd(fused, lengths=lengths),
                "hoisted_train": fwdbwd(hoisted), "hoisted_train_lengths": fwdbwd(hoisted, lengths=lengths)}
    compile_s = None
    if reference:
        variants["reference_train"] = fwdbwd(slow)
    if reference and compile:
        compiled = rnnlab.Recurrent.from_torch(ref, backend="compiled")
        variants["compiled_train"] = fwdbwd(compiled)
        t = time.perf_counter()
        variants["compiled_train"]()  # the first call compiles (forward and backward)
        compile_s = time.perf_counter() - t
        if kind == "LSTM":  # the target: custom LSTM-like cells near nn.LSTM's time
            chunked = rnnlab.Recurrent.from_torch(ref, backend="compiled", compile_steps=COMPILE_STEPS)
            variants["compiled_chunk_train"] = fwdbwd(chunked)
            t = time.perf_counter()
            variants["compiled_chunk_train"]()
            chunk_compile_s = time.perf_counter() - t
    times = round_robin(variants, rounds)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = lambda a, b: statistics.median([x / y for x, y in zip(times[a], times[b])])  # noqa: E731
    flops = layer_flops(kind, H, layers, bidir)
    row = {"device": device, "kind": kind, "H": H, "layers": layers, "bidirectional": bidir,
           "torch_fwd_ms": med["torch_fwd"] * 1e3, "torch_train_ms": med["torch_train"] * 1e3,
           "fused_fwd_ms": med["fused_fwd"] * 1e3, "fused_train_ms": med["fused_train"] * 1e3,
           "fused_train_tokens_per_s": B * T / med["fused_train"],
           "fused_train_gflops": 3 * flops / med["fused_train"] / 1e9,
           "torch_train_gflops": 3 * flops / med["torch_train"] / 1e9,
           "fused_vs_torch_train": ratio("fused_train", "torch_train"),
           "fused_vs_torch_fwd": ratio("fused_fwd", "torch_fwd"),
           "lengths_overhead": ratio("fused_train_lengths", "fused_train"),
           "hoisted_train_ms": med["hoisted_train"] * 1e3,
           "hoisted_vs_torch_train": ratio("hoisted_train", "torch_train"),
           # what auto runs for GRU/Elman training, against what it runs for an equal-length batch
           "hoisted_lengths_overhead": ratio("hoisted_train_lengths", "hoisted_train"),
           "activation_MB": saved_bytes(lambda: fused(x)) / 2 ** 20}
    if reference:
        row["reference_train_ms"] = med["reference_train"] * 1e3
        row["reference_vs_torch_train"] = ratio("reference_train", "torch_train")
    if "compiled_train" in times:
        row["compiled_vs_torch_train"] = ratio("compiled_train", "torch_train")
        row["compile_first_call_s"] = compile_s
        if "compiled_chunk_train" in times:
            row["compiled_chunk_vs_torch_train"] = ratio("compiled_chunk_train", "torch_train")
            row["compile_chunk_first_call_s"] = chunk_compile_s
    return row


def streaming(H: int = 256, steps: int = 300, device: str = "cpu") -> dict[str, float]:
    """Microseconds per step at batch 1, state carried, for each way to step an LSTM."""
    torch.manual_seed(0)
    ref = nn.LSTM(I, H, batch_first=True).to(device)
    cell = nn.LSTMCell(I, H).to(device)
    ours = rnnlab.LSTM.from_torch(ref)
    our_cell = rnnlab.LSTMCell(I, H).to(device)
    xs = torch.randn(steps, 1, I, device=device)

    def run_layer(m):
        def f():
            st = None
            with torch.no_grad():
                for t in range(steps):
                    _, st = m(xs[t].unsqueeze(0), st)
        return f

    def run_cell(c, ours_cell: bool):
        def f():
            with torch.no_grad():
                st = (torch.zeros(1, H, device=device), torch.zeros(1, H, device=device))
                for t in range(steps):
                    st = c(xs[t], st)[1] if ours_cell else c(xs[t], st)
        return f

    times = round_robin({"nn.LSTM per step": run_layer(ref), "nn.LSTMCell": run_cell(cell, False),
                         "rnnlab.LSTM per step": run_layer(ours), "rnnlab.LSTMCell": run_cell(our_cell, True)}, 5)
    return {k: statistics.median(v) / steps * 1e6 for k, v in times.items()}


def first_call_seconds(H: int) -> float:
    """Seconds of the first forward+backward of a custom LSTM cell compiled with
    ``compile_steps=COMPILE_STEPS``, in this (fresh) process: what a new training run pays
    once inductor's disk cache holds the graphs."""
    torch.manual_seed(0)
    layer = rnnlab.Recurrent.from_torch(nn.LSTM(I, H, batch_first=True), backend="compiled",
                                        compile_steps=COMPILE_STEPS)
    x = torch.randn(B, T, I, requires_grad=True)
    t = time.perf_counter()
    out, _ = layer(x)
    out.sum().backward()
    return time.perf_counter() - t


def warm_first_call(H: int) -> float:
    """:func:`first_call_seconds` in a new process (same ``TORCHINDUCTOR_CACHE_DIR``)."""
    run = subprocess.run([sys.executable, __file__, "--first-call", str(H)], capture_output=True, text=True, check=True)
    return float(run.stdout.strip().splitlines()[-1])


def to_markdown(res: dict) -> str:
    where = (f"{res['gpu']}, torch.mm 8192³" if "gpu" in res
             else f"torch.mm 1024³, {res['threads']} threads")
    lines = [f"GEMM peak ({where}): {res['gemm_peak_gflops']:.0f} GFLOP/s; "
             f"T={T}, B={B}, I={I}, float32, torch {res['torch']}; medians of {res['rounds']} interleaved rounds.", "",
             "| layer | H | L | bi | torch fwd ms | rnnlab fused fwd ms | torch fwd+bwd ms | rnnlab fused fwd+bwd ms | "
             "fused/torch (train) | GFLOP/s (fused train) | of peak | hoisted/torch (train) | "
             "reference/torch (train) | "
             "lengths overhead, fused (auto: LSTM) | lengths overhead, hoisted (auto: GRU, RNN) | activations MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["grid"]:
        refr = f"{r['reference_vs_torch_train']:.2f}×" if "reference_vs_torch_train" in r else "–"
        lines.append(f"| {r['kind']} | {r['H']} | {r['layers']} | {'yes' if r['bidirectional'] else 'no'} | "
                     f"{r['torch_fwd_ms']:.1f} | {r['fused_fwd_ms']:.1f} | {r['torch_train_ms']:.1f} | "
                     f"{r['fused_train_ms']:.1f} | {r['fused_vs_torch_train']:.2f}× | {r['fused_train_gflops']:.0f} | "
                     f"{r['fused_train_gflops'] / res['gemm_peak_gflops']:.0%} | "
                     f"{r['hoisted_vs_torch_train']:.2f}× | {refr} | "
                     f"{(r['lengths_overhead'] - 1) * 100:+.0f}% | {(r['hoisted_lengths_overhead'] - 1) * 100:+.0f}% | "
                     f"{r['activation_MB']:.0f} |")
    comp = [r for r in res["grid"] if "compiled_vs_torch_train" in r]
    if comp:
        lines += ["", "Custom-cell paths (the cell's equations, rnnlab.LSTMCell etc.), forward+backward against "
                  "torch.nn: the eager reference loop and the compiled backend, one step per graph and "
                  f"(LSTM) {COMPILE_STEPS} steps per graph (`compile_steps`); first call = compilation, with "
                  "inductor's disk cache as this process found it, and (last column) in a new process once "
                  "this one has filled the cache — what the next training run pays:", "",
                  f"| layer | H | reference/torch | compiled/torch | first call s | compiled, {COMPILE_STEPS} steps "
                  "per graph/torch | first call s | first call s, next process |", "|---|---|---|---|---|---|---|---|"]
        for r in comp:
            chunk = (f"{r['compiled_chunk_vs_torch_train']:.2f}× | {r['compile_chunk_first_call_s']:.1f} | "
                     + (f"{r['compile_chunk_warm_first_call_s']:.1f}"
                        if "compile_chunk_warm_first_call_s" in r else "–")
                     if "compiled_chunk_vs_torch_train" in r else "– | – | –")
            lines.append(f"| {r['kind']} | {r['H']} | {r['reference_vs_torch_train']:.2f}× | "
                         f"{r['compiled_vs_torch_train']:.2f}× | {r['compile_first_call_s']:.1f} | {chunk} |")
    lines += ["", "Streaming, batch 1, H=256 (µs per step, lower is better):", "",
              "| way | µs/step |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in res["streaming"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="H=256, one layer, unidirectional only")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where to run the grid (cuda: torch.nn is cuDNN; results go to speed-cuda.*)")
    ap.add_argument("--no-compile", action="store_true", help="skip the compiled backend (minutes of compiling)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed")
    ap.add_argument("--gemm", action="store_true",
                    help="only print this machine's GEMM peak (GFLOP/s), the figure quoted beside every time")
    ap.add_argument("--first-call", type=int, metavar="H",
                    help="only time the first call of a compiled custom LSTM cell of width H (used internally)")
    args = ap.parse_args()
    if args.first_call:
        print(first_call_seconds(args.first_call))
        return
    if args.gemm:
        print(f"GEMM peak ({args.device}): {gemm_peak(args.device):.0f} GFLOP/s")
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False)")
    sizes = [256] if args.quick else [256, 512]
    grid = []
    for kind in ("LSTM", "GRU", "RNN"):
        for H in sizes:
            for layers in ([1] if args.quick else [1, 2]):
                for bidir in ([False] if args.quick else [False, True]):
                    row = bench_config(kind, H, layers, bidir, args.rounds, reference=(layers == 1 and not bidir),
                                       device=args.device, compile=not args.no_compile)
                    if "compiled_chunk_vs_torch_train" in row and args.device == "cpu":
                        row["compile_chunk_warm_first_call_s"] = warm_first_call(H)
                    grid.append(row)
                    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
                    print(json.dumps(rounded), flush=True)
    res = {"gemm_peak_gflops": gemm_peak(args.device), "rounds": args.rounds, "grid": grid,
           "streaming": streaming(device=args.device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    stem = "speed"
    if args.device == "cuda":
        res["gpu"] = torch.cuda.get_device_name()
        stem = "speed-cuda"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
