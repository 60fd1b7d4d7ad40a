"""The meta-kernel search against the Optuna search on the ranking benchmark (MNIST,
experiments/ranking), under the same MFLOPs budget, both picks trained standalone.

    python experiments/metakernel/compare.py [--budget 14] [--mk-epochs 6] [--threads 2]
    python experiments/metakernel/compare.py --mk-epochs 35 --tag equal_time

1. `mlpnas search +experiment=ranking_mnist search.max_mflops=B search.compare_random=false`:
   the Optuna (NSGA-II, 100 trials) search on the benchmark's supernet (reused if trained);
   its time is the supernet's training plus the study.
2. `mlpnas search +experiment=ranking_mnist search.strategy=metakernel search.max_mflops=B
   train.epochs=E`: the meta-kernel search, E epochs of alternating steps.
3. `mlpnas rank` of the Optuna run with `rank.archs=` the meta-kernel's derived architecture
   and the Optuna study's 4 best feasible ones, 3 seeds, the benchmark's standalone recipe
   (2 epochs): the standalone accuracy of each pick.

Writes results.json, results.md and standalone/ next to this file, or with `--tag T`
results_T.json, results_T.md and standalone_T/ (the meta-kernel run then goes to its own
folder, `...-metakernel-max_mflopsB-T`); resumable (each step reuses what is done, the
standalone runs of architectures already trained included).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def mlpnas(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "mlpnas.cli", *args], cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"mlpnas {' '.join(args)} failed with exit code {r.returncode}")


def session_seconds(run: Path, study: str) -> tuple[float, float]:
    """(supernet or meta-kernel training seconds, study seconds) summed over a run's
    sessions (a rerun that reuses finished work adds about nothing)."""
    sessions = json.loads((run / "run.json").read_text())["sessions"]
    return (sum(float(s["supernet_s"]) for s in sessions),
            sum(float(s["studies"].get(study, {}).get("seconds", 0.0)) for s in sessions))


def training_seconds(folder: Path) -> float:
    return float(pd.read_csv(folder / "timing.csv")["seconds"].sum())


def reuse_standalone(base: Path, work: Path, archs: list[str]) -> None:
    """Copy the finished standalone runs of `archs` (the Optuna picks, the same in every
    comparison) from the first comparison's rank folder into this one's, so that `mlpnas
    rank` reuses them (it checks each run's fingerprint) instead of training them again."""
    import shutil

    if work == base or not base.is_dir() or (work / "plan.json").exists():
        return
    for folder in [base / "archs", *base.glob("standalone-*")]:
        for arch in archs:
            if (folder / arch).is_dir():
                shutil.copytree(folder / arch, work / folder.name / arch, dirs_exist_ok=True)
        if (folder / "recipe.json").is_file():
            shutil.copy2(folder / "recipe.json", work / folder.name / "recipe.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=14.0)
    ap.add_argument("--mk-epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="",
                    help="name of a second comparison (its own meta-kernel run and files)")
    args = ap.parse_args()
    tag = f"_{args.tag}" if args.tag else ""
    # the comparison was made with the supernet's holdout accuracy as the Optuna search's
    # accuracy axis (the default then); it names it, so it means the same today
    common = ["+experiment=ranking_mnist", f"search.max_mflops={args.budget:g}",
              "search.score=supernet_acc", "progress=false", f"hardware.threads={args.threads}"]
    suffix = f"-max_mflops{args.budget:g}-supernet_acc"
    optuna_run = ROOT / f"runs/search/ranking_mnist-seed0{suffix}"
    mk_run = ROOT / f"runs/search/ranking_mnist-seed0-metakernel{suffix}"
    if args.tag:
        mk_run = mk_run.with_name(f"{mk_run.name}-{args.tag}")
    standalone = HERE / f"standalone{tag}"
    mlpnas("search", *common, "search.compare_random=false")
    mlpnas("search", *common, "search.strategy=metakernel", f"train.epochs={args.mk_epochs}",
           f"out_dir={mk_run}")

    trials = pd.read_csv(optuna_run / "trials.csv")
    ours = trials[(trials["sampler"] == "nsga2") & trials["feasible"]]
    best = ours.sort_values("supernet_acc", ascending=False).drop_duplicates("arch")
    derived = json.loads((mk_run / "metakernel/architecture.json").read_text())["derived"]
    picks = [derived] + [a for a in best["arch"] if a != derived][:4]
    work = ROOT / f"runs/metakernel_compare{tag}"
    reuse_standalone(ROOT / "runs/metakernel_compare", work, picks[1:])
    mlpnas("rank", str(optuna_run), f"rank.archs=[{','.join(picks)}]", "rank.seeds=3",
           "rank.epochs=2", f"rank.max_mflops={args.budget:g}", f"rank.work_dir={work}",
           f"rank.out_dir={standalone}", "progress=false",
           f"hardware.threads={args.threads}")
    ranking = pd.read_csv(standalone / "ranking.csv").set_index("arch")
    seeds = [c for c in ranking.columns if c.startswith("seed")]

    supernet = ROOT / "runs/supernets/ranking_mnist-seed0"
    optuna_s = training_seconds(supernet) + session_seconds(optuna_run, "nsga2")[1]
    mk_s = sum(session_seconds(mk_run, "metakernel"))
    rows = []
    for arch in picks:
        r = ranking.loc[arch]
        row = {"arch": arch, "found_by": "metakernel" if arch == derived else "optuna",
               "mflops": float(r["mflops"]), "params_m": float(r["params_m"]),
               "standalone": [float(r[s]) for s in seeds],
               "standalone_mean": float(r[seeds].mean()),
               "standalone_std": float(r[seeds].std(ddof=1)),
               "optuna_supernet_acc": float(r["supernet_acc"])}
        if arch != derived:
            row["optuna_rank"] = int(list(best["arch"]).index(arch)) + 1
        rows.append(row)
    out = {"benchmark": "ranking_mnist (experiments/ranking)", "budget_mflops": args.budget,
           "optuna": {"run": optuna_run.name, "seconds": round(optuna_s, 1),
                      "best": picks[1] if len(picks) > 1 else None},
           "metakernel": {"run": mk_run.name, "seconds": round(mk_s, 1), "derived": derived,
                          "epochs": args.mk_epochs},
           "standalone_recipe": "2 epochs, 3 seeds (the benchmark's)",
           "machine": json.loads((standalone / "ranking.json").read_text())["machine"],
           "picks": rows}
    (HERE / f"results{tag}.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["| architecture | found by | MFLOPs | standalone accuracy (mean +- std, 3 seeds) "
             "| supernet holdout accuracy (Optuna's supernet) |", "|---|---|---|---|---|"]
    for r in rows:
        who = ("meta-kernel" if r["found_by"] == "metakernel"
               else f"Optuna, #{r['optuna_rank']} by supernet accuracy")
        lines.append(f"| `{r['arch']}` | {who} | {r['mflops']:.2f} | "
                     f"{100 * r['standalone_mean']:.2f} +- {100 * r['standalone_std']:.2f} | "
                     f"{100 * r['optuna_supernet_acc']:.2f} |")
    lines.append("")
    lines.append(f"Search time: Optuna {optuna_s:.0f} s (supernet + NSGA-II study), "
                 f"meta-kernel {mk_s:.0f} s ({args.mk_epochs} epochs + evaluation).")
    (HERE / f"results{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
