"""M1 yearly (181 series, horizon 6): rnnlab's global forecasters beside statsforecast
run here and the Monash archive's published row.

    python benchmarks/forecast_m1.py                                   # forking, seeds 0-4
    python benchmarks/forecast_m1.py --models forking deepar --seeds 0 1 2 3 4
    python benchmarks/forecast_m1.py --variant "input_len=18" --variant "ensemble=1"

Protocol: exactly the Monash archive's (Godahewa et al. 2021, arXiv 2105.06643): one
fixed origin per series, its last 6 values held out; MASE per series scaled by the
in-sample mean absolute lag-1 difference (yearly data: no season), series with an
infinite MASE dropped (none in M1 yearly), then the mean over series; sMAPE the mean of
200 |F − A| / (|F| + |A|). The data is aeon's bundled ``m1_yearly_dataset.tsf``, the file
Monash distributes. Each seed is ``rnnlab forecast train --data m1_yearly --seed S
[--set ...]``; the statsforecast baselines (AutoETS, AutoTheta, AutoARIMA, and the naive
forecast) come from the same runs (deterministic). Writes ``m1.json`` and ``m1.md``
under benchmarks/results/forecast/m1/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import train, write_results

from rnnlab.apps.forecast import APP

#: Godahewa et al. 2021, Table 2 (mean MASE) and Table 4 (mean sMAPE) rows for M1 yearly
MONASH_MASE = {"SES": 4.938, "Theta": 4.191, "TBATS": 3.499, "ETS": 3.771, "(DHR-)ARIMA": 4.479, "PR": 4.588,
               "CatBoost": 4.427, "FFNN": 4.355, "DeepAR": 4.603, "N-BEATS": 4.384, "WaveNet": 4.666,
               "Transformer": 5.519}
MONASH_SMAPE = {"TBATS": 17.42, "ETS": 18.61}
KEYS = ("mase", "smape", "wql", "coverage80", "coverage95", "msis", "train_seconds")
BASELINES = ("seasonal_naive", "auto_ets", "auto_theta", "auto_arima")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["forking"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variant", action="append", default=None,
                    help="extra --set keys for one row, space-separated (repeatable; default: none)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "forecast" / "m1")
    args = ap.parse_args()
    rows, baselines = [], {}
    for model in args.models:
        for variant in args.variant or [""]:
            overrides = [f"model={model}", *variant.split()]
            runs = []
            for seed in args.seeds:
                # the deterministic baselines once, in the first run; the others skip them
                extra = [f"panel_baselines={json.dumps(BASELINES)}"] if not baselines else ["quick_baselines=true"]
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    m = train(APP, Path(tmp) / "run", "m1_yearly", seed, overrides + extra)
                    m["wall_seconds"] = time.perf_counter() - t0
                runs.append(m)
                for b in BASELINES:
                    if f"baseline_{b}_mase" in m and b not in baselines:
                        baselines[b] = {key: m[f"baseline_{b}_{key}"] for key in KEYS if key != "train_seconds"}
                print(model, variant, seed, {key: round(m[key], 3) for key in KEYS}, flush=True)
            row = {"model": model, "variant": variant or "default", "seeds": args.seeds}
            for key in KEYS:
                vals = [r[key] for r in runs]
                row[key], row[key + "_std"] = statistics.mean(vals), statistics.pstdev(vals)
                row[key + "_all"] = vals
            rows.append(row)
    lines = [f"M1 yearly, 181 series, horizon 6, the last 6 values of each series held out (Monash's protocol). "
             f"rnnlab: mean ± std over seeds {args.seeds}; baselines: statsforecast run here on the same split.", "",
             "| method | mean MASE | mean sMAPE % | wQL (≈CRPS) | 80% coverage | 95% coverage | MSIS | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| rnnlab {r['model']} {r['variant']} | {r['mase']:.3f} ± {r['mase_std']:.3f} | "
                     f"{r['smape']:.2f} ± {r['smape_std']:.2f} | {r['wql']:.4f} | {r['coverage80']:.3f} | "
                     f"{r['coverage95']:.3f} | {r['msis']:.2f} | {r['train_seconds']:.0f} |")
    names = {"seasonal_naive": "naive (NumPy; seasonal naive with m = 1)", "auto_ets": "statsforecast AutoETS",
             "auto_theta": "statsforecast AutoTheta", "auto_arima": "statsforecast AutoARIMA"}
    for b, m in baselines.items():
        lines.append(f"| {names[b]} | {m['mase']:.3f} | {m['smape']:.2f} | {m['wql']:.4f} | {m['coverage80']:.3f} | "
                     f"{m['coverage95']:.3f} | {m['msis']:.2f} | |")
    lines += ["", "Monash archive, published (Godahewa et al. 2021, Table 2, mean MASE; sMAPE from Table 4 where "
              "quoted):", "", "| " + " | ".join(MONASH_MASE) + " |", "|" + "---|" * len(MONASH_MASE),
              "| " + " | ".join(f"{v:.3f}" for v in MONASH_MASE.values()) + " |", "",
              "Monash sMAPE: " + ", ".join(f"{k} {v}" for k, v in MONASH_SMAPE.items()) + "."]
    write_results(args.out, "m1", {"rows": rows, "baselines": baselines, "monash_mase": MONASH_MASE}, lines)


if __name__ == "__main__":
    main()
