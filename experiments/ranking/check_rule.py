"""The benchmark rule of PROTOCOL.md, from the standalone runs alone (no supernet score is
read): over the planned architectures, tau(seed 0, seed 1) >= 0.8, and the standard deviation
of the seed-mean accuracies >= 2x the pooled standard deviation between seeds.

    python experiments/ranking/check_rule.py RUN_DIR [--epochs 2] [--seeds 2] [--out F.json]

RUN_DIR is the benchmark's search run; the jobs folder is `RUN_DIR/rank/standalone-e<epochs>-*`
(one per standalone recipe). Prints the numbers and PASS or FAIL; exit 0 either way, 2 when
the runs are not all finished. `--out` also writes the numbers as JSON (the experiment's
`rule_*.json` files, collected into `results.json` by run_ablation.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mlpnas.rank import kendall_tau, seed_ceiling, seed_noise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write the numbers to this JSON file")
    args = ap.parse_args()
    folders = sorted((args.run / "rank").glob(f"standalone-e{args.epochs}-*"))
    if len(folders) != 1:
        raise SystemExit(f"expected one standalone-e{args.epochs}-* folder in {args.run}/rank, "
                         f"found {len(folders)}.")
    plan = json.loads((args.run / "rank" / "plan.json").read_text())["archs"]
    acc, missing = [], 0
    for p in plan:
        row = []
        for s in range(args.seeds):
            f = folders[0] / p["arch"] / f"seed{s}" / "result.json"
            if f.is_file():
                row.append(json.loads(f.read_text())["val_acc"])
            else:
                missing += 1
                row.append(np.nan)
        acc.append(row)
    if missing:
        print(f"{missing} of {len(plan) * args.seeds} standalone runs not finished yet.")
        raise SystemExit(2)
    acc = np.array(acc)
    tau01 = kendall_tau(acc[:, 0], acc[:, 1])
    noise = seed_noise(acc)
    spread = float(np.std(acc.mean(1), ddof=1))
    ceiling = seed_ceiling(acc)
    print(f"{folders[0]}: N={len(acc)} archs x {args.seeds} seeds")
    print(f"  tau(seed 0, seed 1) = {tau01:.3f} (rule: >= 0.8)")
    print(f"  mean pairwise seed tau = {ceiling.value:.3f} "
          f"[{ceiling.ci[0]:.3f}, {ceiling.ci[1]:.3f}]")
    print(f"  spread (std of seed means) = {100 * spread:.2f} points, pooled seed std = "
          f"{100 * noise:.2f} points, ratio {spread / noise:.2f} (rule: >= 2)")
    print(f"  seed-mean accuracy {100 * acc.mean(1).min():.2f} .. {100 * acc.mean(1).max():.2f}")
    passed = bool(tau01 >= 0.8 and spread >= 2 * noise)
    print("  PASS" if passed else "  FAIL")
    if args.out:
        args.out.write_text(json.dumps({
            "run": args.run.name, "jobs": folders[0].name, "n_archs": len(acc),
            "seeds": args.seeds, "standalone_epochs": args.epochs,
            "seed01_tau": round(float(tau01), 4),
            "seed_ceiling_tau": round(ceiling.value, 4),
            "seed_ceiling_tau_ci": [round(c, 4) for c in ceiling.ci],
            "spread_points": round(100 * spread, 3), "seed_std_points": round(100 * noise, 3),
            "spread_ratio": round(spread / noise, 3),
            "accuracy_range": [round(float(acc.mean(1).min()), 4),
                               round(float(acc.mean(1).max()), 4)],
            "passed": passed}, indent=1) + "\n")


if __name__ == "__main__":
    main()
