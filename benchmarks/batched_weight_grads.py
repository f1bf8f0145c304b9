"""When does batching a weight's gradient over time steps pay? (the compiled backend's
graph pass, ``rnnlab.recurrent.backends.batched_weight_grads``)

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python benchmarks/batched_weight_grads.py

A custom LSTM cell (``rnnlab.LSTMCell``'s equations) compiled with the whole 100-step
sequence as one graph, forward+backward against ``nn.LSTM`` (T=100, B=64, I=128), at
H=256 and 512, with the pass and without it: whether concatenating the steps' terms
costs less than summing them one GEMM at a time, for a running sum that stays in cache
(H=256: 1 MiB) and one that does not (H=512: 4 MiB). Writes
``results/speed/batched_weight_grads.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from _common import write_results
from speed import B, I, T, round_robin
from torch import nn

import rnnlab
from rnnlab.recurrent import run_steps
from rnnlab.recurrent.backends.batched_weight_grads import BatchedWeightGrads


def bench(H: int, rounds: int) -> dict:
    torch.manual_seed(0)
    ref = nn.LSTM(I, H, batch_first=True)
    cell = rnnlab.Recurrent.from_torch(ref, backend="reference").cells[0]
    x = torch.randn(B, T, I, requires_grad=True)
    state = (torch.zeros(B, H), torch.zeros(B, H))

    def compiled(options):
        fn = torch.compile(lambda xp, st: run_steps(cell.step, xp, st), dynamic=False, options=options)

        def f():
            out, _ = fn(cell.project_input(x.transpose(0, 1)), state)
            out.sum().backward()
        return f

    def torch_nn():
        out, _ = ref(x)
        out.sum().backward()

    variants = {"torch": torch_nn, "without": compiled(None),
                "with": compiled({"post_grad_custom_post_pass": BatchedWeightGrads()})}
    times = round_robin(variants, rounds)  # its warm-up call compiles
    ratio = {k: statistics.median([a / b for a, b in zip(times[k], times["torch"])]) for k in ("without", "with")}
    return {"H": H, "sum_MiB": 4 * H * H * 4 / 2 ** 20, "torch_ms": statistics.median(times["torch"]) * 1e3,
            "without_vs_torch": ratio["without"], "with_vs_torch": ratio["with"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed")
    args = ap.parse_args()
    rows = [bench(H, args.rounds) for H in (256, 512)]
    lines = [f"Custom LSTM cell, 100 steps compiled as one graph, forward+backward against nn.LSTM (T={T}, B={B}, "
             f"I={I}, {torch.get_num_threads()} threads, medians of {args.rounds} interleaved rounds): W_hh's gradient "
             "summed step by step (without the pass) or as one GEMM (with it).", "",
             "| H | W_hh gradient MiB | nn.LSTM ms | without/torch | with/torch |", "|---|---|---|---|---|"]
    lines += [f"| {r['H']} | {r['sum_MiB']:.0f} | {r['torch_ms']:.1f} | {r['without_vs_torch']:.2f}× | "
              f"{r['with_vs_torch']:.2f}× |" for r in rows]
    write_results(args.out, "batched_weight_grads", rows, lines)


if __name__ == "__main__":
    main()
