"""How well does the per-block latency table predict the measured end-to-end latency?

Builds (or reads from the cache) the latency table of a space on this machine, then for
--n random architectures (seeds other than the ones the table's calibration used) compares
the predicted latency (calibrated sum of the fixed part and the blocks) with the measured
latency of the whole static network, both with the same harness (warm-up, repeats, median;
fixed thread count). Reports the share of architectures within +-10%, the mean absolute
percentage error and the rank correlation (Spearman rho, Kendall tau), for the calibrated
prediction and for the plain sum.

    python experiments/latency_predictor/check_predictor.py [--space cycle_vs_shift] [--n 40]
    python experiments/latency_predictor/check_predictor.py --device cuda --dtype bf16

Writes results_<device>_<dtype>_bs<batch>.json / .md and a scatter plot next to this file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from mlpnas.cost import (
    CostModel,
    LatencySetting,
    flops_table,
    latency_table,
    machine_description,
    measure_archs,
)
from mlpnas.space import load_space


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--space", default="cycle_vs_shift")
    ap.add_argument("--scale", default="small")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path("runs/cache"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    t0 = time.perf_counter()
    space = load_space(args.space, args.scale)
    setting = LatencySetting(args.device, args.batch, args.dtype, args.threads, 10, args.repeats,
                             args.rounds)
    table = latency_table(space, 10, setting, args.cache, progress=True)
    costs = CostModel(flops_table(space, 10, args.cache), table)
    rows = []
    archs = [space.sample(seed) for seed in range(1000, 1000 + args.n)]
    measured = dict(zip([a.key for a in archs], measure_archs(space, archs, 10, setting)))
    for arch in archs:
        rows.append({"arch": arch.key, "mflops": costs.cost(arch, "mflops"),
                     "predicted_ms": costs.cost(arch, "latency_ms"),
                     "summed_ms": table.raw_cost(arch, "latency_ms"),
                     "measured_ms": measured[arch.key]})
    pred = np.array([r["predicted_ms"] for r in rows])
    summed = np.array([r["summed_ms"] for r in rows])
    meas = np.array([r["measured_ms"] for r in rows])
    err = (pred - meas) / meas
    err_sum = (summed - meas) / meas
    rho, _ = spearmanr(pred, meas)
    tau, _ = kendalltau(pred, meas)
    summary = {
        "machine": machine_description(args.device), "torch": torch.__version__,
        "space": args.space, "scale": args.scale, "setting": setting.__dict__,
        "n_archs": len(rows), "calibration_scale": table.scale["latency_ms"],
        "within_10pct": float(np.mean(np.abs(err) <= 0.10)),
        "mape": float(np.mean(np.abs(err))), "mean_error": float(np.mean(err)),
        "plain_sum_within_10pct": float(np.mean(np.abs(err_sum) <= 0.10)),
        "plain_sum_mape": float(np.mean(np.abs(err_sum))),
        "spearman_rho": float(rho), "kendall_tau": float(tau),
        "table": table.meta, "wall_s": round(time.perf_counter() - t0), "rows": rows,
    }
    stem = f"results_{args.device}_{args.dtype}_bs{args.batch}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = [f"# latency predictor: {args.space} ({args.scale}) on {summary['machine']}", "",
          f"torch {torch.__version__}, batch {args.batch}, {args.dtype}, {args.repeats} timed runs "
          f"in {args.rounds} interleaved rounds after 10 warm-up runs (smallest round median); "
          f"{len(rows)} random architectures.", "",
          f"- within +-10% of the measurement: {100 * summary['within_10pct']:.0f}%",
          f"- mean absolute error: {100 * summary['mape']:.1f}% (mean signed error "
          f"{100 * summary['mean_error']:+.1f}%)",
          f"- rank correlation: Spearman rho {rho:.3f}, Kendall tau {tau:.3f}",
          f"- calibration factor of the table: {summary['calibration_scale']:.3f}; the plain "
          f"sum (no calibration) is within +-10% for "
          f"{100 * summary['plain_sum_within_10pct']:.0f}% (mean absolute error "
          f"{100 * summary['plain_sum_mape']:.1f}%)",
          f"- wall time (table included): {summary['wall_s']} s", ""]
    (args.out / f"{stem}.md").write_text("\n".join(md))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(meas, pred, s=14)
    lim = [min(meas.min(), pred.min()) * 0.9, max(meas.max(), pred.max()) * 1.1]
    ax.plot(lim, lim, "k--", lw=1)
    ax.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="0.85")
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms, per-block table)")
    ax.set_title(f"{100 * summary['within_10pct']:.0f}% within +-10%, rho {rho:.2f}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out / f"{stem}.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()
