"""The supernet-recipe ablation of the ranking benchmark (PROTOCOL.md): every row trains one
supernet on the benchmark's training split with `mlpnas train`, then `mlpnas rank` scores the
same 30 architectures with it against the same standalone runs (its plan and jobs are the
benchmark run's, so nothing is retrained standalone). Writes `ablation/<row>/ranking.*`
and the table `ablation.md` / `ablation.json` next to this file.

    python experiments/ranking/run_ablation.py BENCHMARK [--rows a,b] [--threads 2] \
        [--rank rank.epochs=2 ...]

BENCHMARK names the experiment config (`conf/experiment/BENCHMARK.yaml`) whose seed-0 search
run `runs/search/BENCHMARK-seed0-supernet_acc` (`mlpnas search +experiment=BENCHMARK
search.score=supernet_acc`) holds the ranking plan and the standalone jobs; `--rank`
passes the options that run's `mlpnas rank` was given (its standalone epochs and seeds pick
the same jobs folder).

Resumable: a row whose supernet is trained is not trained again, a finished row's report is
rewritten from its stored results in seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RANK = ["rank.max_mflops=14"]
# name -> (what, train overrides or None for the benchmark run's own supernet,
#          extra rank overrides, subnet-epochs of supernet training)
ROWS = {
    "sandwich_distill": ("sandwich + in-place distillation (default)", None, [], 18),
    "sandwich_nodistill": ("sandwich, no distillation", ["train.distill=false"], [], 18),
    "uniform": ("uniform single path (SPOS), 3 per step",
                ["train.sampling=uniform", "train.sandwich_random=3"], [], 18),
    "fair": ("strict fairness (FairNAS), 12 per step",
             ["train.sampling=fair", "train.epochs=2"], [], 24),
    "recal10": ("default supernet, 10 BatchNorm recalibration batches", None,
                ["rank.recal_batches=10"], 18),
    "longer": ("sandwich + distillation, 12 epochs (2x budget)", ["train.epochs=12"], [], 36),
    # few-shot NAS: a one-shot sandwich supernet for half the budget, then one part per
    # family of the first block, trained in turn from it for the other half
    "sandwich_half": ("sandwich + distillation, 3 epochs (half budget)", ["train.epochs=3"],
                      [], 9),
    "fewshot": ("few-shot, split on the first block's family, from the 3-epoch one",
                ["train.few_shot=first_block", "train.epochs=3",
                 "train.init_from={supernets}/{benchmark}-ablation-sandwich_half"],
                [], 18),
}


def mlpnas(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "mlpnas.cli", *args], cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"mlpnas {' '.join(args)} failed with exit code {r.returncode}")


def supernet_seconds(folder: Path) -> float | None:
    timing = folder / "timing.csv"
    return round(float(pd.read_csv(timing)["seconds"].sum()), 1) if timing.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmark", help="experiment config name, e.g. ranking_mnist")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--rank", nargs="*", default=[],
                    help="further mlpnas rank options of the benchmark run")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    # the benchmark's search, scored by the supernet's holdout accuracy (the default then)
    run = ROOT / "runs/search" / f"{args.benchmark}-seed0-supernet_acc"
    experiment = f"+experiment={args.benchmark}"
    if not (run / "rank" / "plan.json").is_file():
        raise SystemExit(f"{run} has no ranking plan; run `mlpnas rank {run}` first.")
    unknown = [r for r in args.rows.split(",") if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown row {unknown[0]!r}; rows are {', '.join(ROWS)}.")
    table = []
    for name in args.rows.split(","):
        what, train, extra, budget = ROWS[name]
        out = HERE / "ablation" / args.benchmark / name
        supernet = None
        if train is not None:
            supernet = ROOT / "runs/supernets" / f"{args.benchmark}-ablation-{name}"
            t = time.perf_counter()
            train = [o.format(supernets=ROOT / "runs/supernets", benchmark=args.benchmark)
                     for o in train]
            mlpnas("train", experiment, *train, f"out_dir={supernet}", "progress=false",
                   f"hardware.threads={args.threads}")
            print(f"{name}: supernet ready ({time.perf_counter() - t:.0f} s)", flush=True)
        overrides = [*RANK, *args.rank, *extra, f"rank.out_dir={out}", "progress=false",
                     f"hardware.threads={args.threads}"]
        if supernet is not None:
            overrides.append(f"rank.supernet_dir={supernet}")
        mlpnas("rank", str(run), *overrides)
        stats = json.loads((out / "ranking.json").read_text())
        seconds = supernet_seconds(supernet or Path(stats["supernet_dir"]))
        table.append({"row": name, "what": what, "train": " ".join(train or []),
                      "rank": " ".join(extra), "subnet_epochs": budget,
                      "supernet_train_s": seconds, **{k: stats[k] for k in (
                          "kendall_tau", "kendall_tau_ci", "spearman_rho",
                          "seed_ceiling_tau", "mflops_tau", "params_tau",
                          "tau_minus_mflops_tau_ci", "tau_minus_params_tau_ci", "regret",
                          "regret_mflops", "regret_random", "precision_at_10",
                          "precision_at_30")}})
    stem = HERE / f"ablation_{args.benchmark}"
    # rows run before (another --rows) stay in the table, in the order of ROWS
    done = {r["row"]: r for r in (json.loads(stem.with_suffix(".json").read_text())
                                  if stem.with_suffix(".json").is_file() else [])}
    done.update({r["row"]: r for r in table})
    table = [done[name] for name in ROWS if name in done]
    stem.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n")
    lines = ["| row | budget (subnet-epochs) | supernet training (s) | Kendall tau [95% CI] | "
             "Spearman | seed ceiling | MFLOPs tau | params tau | regret (points) | "
             "P@10% | P@30% |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        ci = r["kendall_tau_ci"]
        lines.append(f"| {r['what']} | {r['subnet_epochs']} | {r['supernet_train_s']} | "
                     f"{r['kendall_tau']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | "
                     f"{r['spearman_rho']:.3f} | {r['seed_ceiling_tau']:.3f} | "
                     f"{r['mflops_tau']:.3f} | {r['params_tau']:.3f} | {r['regret']:.2f} | "
                     f"{r['precision_at_10']:.2f} | {r['precision_at_30']:.2f} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    write_results(args.benchmark, table)


def write_results(benchmark: str, table: list[dict]) -> None:
    """results.json: the benchmark's numbers with today's default recipe (the first row), the
    rule check of every candidate (rule_*.json from check_rule.py) and the ablation table."""
    default = HERE / "ablation" / benchmark / "sandwich_distill" / "ranking.json"
    if not default.is_file():
        return
    stats = json.loads(default.read_text())
    keys = ("n_archs", "seeds", "kendall_tau", "kendall_tau_ci", "spearman_rho",
            "spearman_rho_ci", "seed_ceiling_tau", "seed_ceiling_tau_ci", "seed01_tau",
            "mflops_tau", "mflops_kendall_tau_ci", "params_tau", "params_kendall_tau_ci",
            "tau_minus_mflops_tau_ci", "tau_minus_params_tau_ci", "precision_at_10",
            "precision_at_30", "regret", "regret_pick", "regret_mflops", "regret_random",
            "n_feasible", "budgets", "seed_noise_std", "standalone_spread_std",
            "standalone_range", "standalone_recipe", "standalone_seconds_per_job",
            "standalone_seconds_total", "machine")
    results = {"benchmark": benchmark, **{k: stats.get(k) for k in keys},
               "candidates": [json.loads(f.read_text())
                              for f in sorted(HERE.glob("rule_*.json"))],
               "ablation": table}
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
