"""What a variable-length batch costs on the hoisted backend (what ``auto`` runs for GRU
and Elman training on CPU), split in two: the batch given longest first (no permutation
needed) and in any order (sorted on the way in, unsorted on the way out).

    python benchmarks/lengths_overhead.py [--rounds 21] [--out benchmarks/results/speed]

Forward+backward time against the same layer on the equal-length batch, medians of
per-round ratios (variants interleaved, as in speed.py). Lengths uniform in [T/2, T].
Writes ``lengths_overhead.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from speed import B, I, T, round_robin

import rnnlab

CONFIGS = [("RNN", 256, 1, False), ("RNN", 256, 1, True), ("RNN", 512, 1, False), ("RNN", 256, 2, True),
           ("GRU", 256, 1, False), ("GRU", 256, 1, True), ("GRU", 512, 1, False)]


def measure(kind: str, H: int, layers: int, bidir: bool, rounds: int) -> dict:
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(I, H, num_layers=layers, bidirectional=bidir, batch_first=True)
    layer = getattr(rnnlab, kind).from_torch(ref, backend="hoisted")
    x = torch.randn(B, T, I, requires_grad=True)
    lengths = torch.randint(T // 2, T + 1, (B,))
    lengths[0] = T
    longest_first = lengths.sort(descending=True).values

    def step(lens=None):
        def f():
            out, _ = layer(x, lengths=lens)
            out.sum().backward()
        return f

    times = round_robin({"equal": step(), "sorted": step(longest_first), "any order": step(lengths)}, rounds)
    ratio = lambda a: statistics.median(p / q for p, q in zip(times[a], times["equal"]))  # noqa: E731
    return {"kind": kind, "H": H, "layers": layers, "bidirectional": bidir,
            "equal_ms": statistics.median(times["equal"]) * 1e3,
            "sorted_overhead": ratio("sorted") - 1, "any_order_overhead": ratio("any order") - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed")
    args = ap.parse_args()
    rows = []
    for cfg in CONFIGS:
        rows.append(measure(*cfg, rounds=args.rounds))
        print(json.dumps(rows[-1]), flush=True)
    lines = [f"Hoisted backend, T={T}, B={B}, I={I}, lengths uniform in [T/2, T], forward+backward against the "
             f"equal-length batch; medians of {args.rounds} interleaved rounds "
             f"(`python benchmarks/lengths_overhead.py --rounds {args.rounds}`).", "",
             "| layer | H | L | bi | equal-length ms | lengths, longest first | lengths, any order |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['H']} | {r['layers']} | {'yes' if r['bidirectional'] else 'no'} | "
                     f"{r['equal_ms']:.1f} | {100 * r['sorted_overhead']:+.0f}% | "
                     f"{100 * r['any_order_overhead']:+.0f}% |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lengths_overhead.md").write_text("\n".join(lines) + "\n")
    (args.out / "lengths_overhead.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
