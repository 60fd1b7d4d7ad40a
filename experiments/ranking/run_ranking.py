"""Does the supernet rank architectures the way standalone training does?

For architectures spread along the front of a finished search run (the Pareto front, then
the next non-dominated layers until there are --n of them, picked evenly by cost), compare
the accuracy with weights inherited from the supernet against the accuracy after training
the same architecture from scratch with `mlpnas retrain` (every architecture with the same
recipe: the default `train` config). Both accuracies are measured on the validation split.

    python experiments/ranking/run_ranking.py [--run RUN_DIR] [--n 12] [--epochs E]  # ~20 min

Each retraining resumes if interrupted. Writes results.csv, results.json, results.md and
ranking.png next to this file (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

from mlpnas.cost import machine_description
from mlpnas.search import pareto_mask

ROOT = Path(__file__).resolve().parents[2]


def spread_along_front(trials: pd.DataFrame, sampler: str, n: int) -> pd.DataFrame:
    t = trials[(trials["sampler"] == sampler) & trials["feasible"]].drop_duplicates("arch")
    layers, rest = [], t
    while len(rest) and sum(len(x) for x in layers) < n:
        mask = pareto_mask(rest[["accuracy", "mflops"]].to_numpy(float), ["maximize", "minimize"])
        layers.append(rest[mask])
        rest = rest[~mask]
    pool = pd.concat(layers).sort_values("mflops").reset_index(drop=True)
    if len(pool) <= n:
        return pool
    picks = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    return pool.iloc[picks].reset_index(drop=True)


def cli(*args) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "mlpnas.cli", *args], capture_output=True,
                       text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(r.stdout + r.stderr)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", type=Path,
                    default=ROOT / "runs/search/cycle_vs_shift-small-synthetic-seed0")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--work", type=Path, default=ROOT / "runs/ranking")
    ap.add_argument("--epochs", type=int, default=None,
                    help="standalone training epochs (default: the train recipe's)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    budget = [] if args.epochs is None else [f"train.epochs={args.epochs}"]
    tag = "" if args.epochs is None else f"_e{args.epochs}"

    from mlpnas import load_exported
    from mlpnas.data import build_data
    from mlpnas.plots import load_results
    from mlpnas.supernet import evaluate

    t0 = time.perf_counter()
    results = load_results(args.run)
    chosen = spread_along_front(results.trials, results.sampler, args.n)
    numbers = ",".join(str(int(n)) for n in chosen["number"])
    cli("export", str(args.run), f"export.trials=[{numbers}]",
        f"export.out_dir={args.work / 'archs'}", "export.measure_latency=false")
    from omegaconf import OmegaConf

    run_cfg = OmegaConf.load(args.run / "config.yaml")
    data_cfg = OmegaConf.to_container(run_cfg.data, resolve=True)
    data = build_data(data_cfg, (3, 32, 32), seed=int(run_cfg.seed))
    data_args = [f"data.{k}={v}" for k, v in data_cfg.items() if k != "name"]
    rows = []
    for i, row in chosen.iterrows():
        key = row["arch"]
        folder = args.work / "archs" / key
        inherited = evaluate(load_exported(folder), data.val, 500, torch.device("cpu"))
        t = time.perf_counter()
        out = args.work / f"retrain{tag}" / key
        cli("retrain", str(folder), "init=scratch", f"out_dir={out}", "progress=false",
            *data_args, *budget)
        standalone = pd.read_csv(out / "metrics.csv")["val_acc"].iloc[-1]
        epochs = int(OmegaConf.load(out / "config.yaml").train.epochs)
        rows.append({"arch": key, "mflops": row["mflops"], "params_m": row["params_m"],
                     "holdout_acc_search": row["accuracy"], "inherited_val_acc": inherited,
                     "standalone_val_acc": float(standalone)})
        print(f"[{i + 1}/{len(chosen)}] {key}: inherited {inherited:.4f}, standalone "
              f"{standalone:.4f} ({time.perf_counter() - t:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    tau, p_tau = kendalltau(df["inherited_val_acc"], df["standalone_val_acc"])
    rho, p_rho = spearmanr(df["inherited_val_acc"], df["standalone_val_acc"])
    tau_h, _ = kendalltau(df["holdout_acc_search"], df["standalone_val_acc"])
    summary = {"run": str(args.run), "n_archs": len(df), "kendall_tau": tau,
               "kendall_p": p_tau, "spearman_rho": rho, "spearman_p": p_rho,
               "kendall_tau_search_holdout": tau_h, "target_tau": 0.6,
               "target_met": bool(tau >= 0.6),
               "machine": f"{machine_description()}, torch {torch.__version__}",
               "wall_s": round(time.perf_counter() - t0)}
    args.out.mkdir(parents=True, exist_ok=True)
    summary["standalone_epochs"] = epochs
    df.to_csv(args.out / f"results{tag}.csv", index=False)
    (args.out / f"results{tag}.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"Kendall tau {tau:.3f} (p {p_tau:.3g}), Spearman rho {rho:.3f} (p {p_rho:.3g}) "
             f"over {len(df)} architectures; target tau >= 0.6: "
             f"{'met' if tau >= 0.6 else 'NOT met'}.", "",
             "| arch | MFLOPs | inherited val acc | standalone val acc |", "|---|---|---|---|"]
    lines += [f"| `{r.arch}` | {r.mflops:.2f} | {r.inherited_val_acc:.4f} | "
              f"{r.standalone_val_acc:.4f} |" for r in df.itertuples()]
    (args.out / f"results{tag}.md").write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sc = ax.scatter(df["inherited_val_acc"], df["standalone_val_acc"], c=df["mflops"],
                    cmap="viridis")
    fig.colorbar(sc, label="MFLOPs")
    ax.set_xlabel("accuracy with supernet weights")
    ax.set_ylabel("accuracy after standalone training")
    ax.set_title(f"Kendall tau {tau:.2f}, Spearman rho {rho:.2f}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / f"ranking{tag}.png", dpi=120)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
