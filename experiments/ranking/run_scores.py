"""Amendment 3 of PROTOCOL.md: every registered score on the two ranking benchmarks.

Steps (each skipped when its output exists, so the script resumes):

1. the benchmarks' run folders: a search scored by MFLOPs (no supernet, a few trials: the
   folder only carries the space, data and recipe; the architectures come from the plan);
2. the hygiene supernets: per benchmark, seeds 0 and 1, uniform single path, 3 subnets a
   step, the standalone runs' 2 epochs and learning rate, no weight decay;
3. benchmark 2's standalone runs (30 uniform random architectures x 3 seeds; run two
   workers by hand first, see README.md, or let this script train them on one);
4. `mlpnas rank` per benchmark: once without a supernet (every label-free score, the
   ensembles, the predictor) and once per hygiene supernet (its two scores); benchmark 1
   re-scores the 90 recorded standalone runs with rank.labels;
5. `scores_<benchmark>.json` / `.md`: every row, the supernet rows per seed, the family
   shares; `results.json` gains `default_score`, `benchmarks` and `scores` by the
   protocol's decision rule.

    python experiments/ranking/run_scores.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MLPNAS = [sys.executable, "-m", "mlpnas.cli"]

BENCHMARKS = {
    "mnist": {"experiment": "ranking_mnist", "space": "cycle_vs_shift", "max_mflops": 14.0,
              "labels": HERE / "ablation/ranking_mnist/sandwich_distill/ranking.csv"},
    "mnist_all_mixers": {"experiment": "ranking_mnist_all_mixers", "space": "all_mixers",
                         "max_mflops": 14.5, "labels": None},
}
HYGIENE = ["train.sampling=uniform", "train.sandwich_random=3", "train.epochs=2",
           "train.lr=0.002", "train.weight_decay=0"]
STANDALONE = ["rank.epochs=2", "rank.seeds=3", "rank.n_archs=30"]
SUPERNET_SEEDS = (0, 1)
# the family question (seed 0, benchmark 1): which departure from the hygiene recipe makes
# the supernet under-credit the axial shift, as the earlier default (6 epochs, weight decay
# 0.05, sandwich with distillation) did
DIAGNOSTIC = {"hygiene_wd0.05": ["train.weight_decay=0.05"],
              "hygiene_6epochs": ["train.epochs=6"]}
CANDIDATE_ENSEMBLES = ["naswot+mflops", "naswot+synflow+zico", "naswot+synflow+zico+mflops"]


def sh(args: list[str], log: Path | None = None) -> None:
    print("$", " ".join(str(a) for a in args), flush=True)
    out = open(log, "a") if log else None  # noqa: SIM115
    try:
        subprocess.run([str(a) for a in args], cwd=ROOT, check=True, stdout=out,
                       stderr=subprocess.STDOUT if out else None)
    finally:
        if out:
            out.close()


def run_dir(bench: str) -> Path:
    return ROOT / "runs" / "search" / f"{BENCHMARKS[bench]['experiment']}-seed0-mflops"


def supernet_dir(bench: str, seed: int) -> Path:
    return ROOT / "runs" / "supernets" / f"hygiene-{bench}-seed{seed}"


def out_dir(bench: str, row: str) -> Path:
    return HERE / "scores" / bench / row


def prepare(bench: str, threads: int) -> None:
    b = BENCHMARKS[bench]
    if not (run_dir(bench) / "run.json").is_file():
        sh([*MLPNAS, "search", f"+experiment={b['experiment']}", "search.score=mflops",
            "search.n_trials=4", "search.population_size=2", "search.compare_random=false",
            "search.export_pareto=false", "search.measure_pareto_latency=false",
            "progress=false", f"hardware.threads={threads}"])
    for seed in SUPERNET_SEEDS:
        d = supernet_dir(bench, seed)
        if not (d / "supernet.json").is_file():
            sh([*MLPNAS, "train", f"+experiment={b['experiment']}", *HYGIENE, f"seed={seed}",
                f"out_dir={d}", "progress=false", f"hardware.threads={threads}"],
               log=HERE / "scores" / f"train-{bench}-seed{seed}.log")


def diagnose(threads: int) -> dict:
    """Train the DIAGNOSTIC supernets of benchmark 1 and report each one's taus: its scores
    against the standalone accuracy, and the shift share against its scores."""
    from mlpnas.rank import kendall_tau

    bench, b = "mnist", BENCHMARKS["mnist"]
    out = {}
    for row, extra in DIAGNOSTIC.items():
        d = ROOT / "runs" / "supernets" / f"{row}-{bench}-seed0"
        if not (d / "supernet.json").is_file():
            sh([*MLPNAS, "train", f"+experiment={b['experiment']}", *HYGIENE, *extra, "seed=0",
                f"out_dir={d}", "progress=false", f"hardware.threads={threads}"],
               log=HERE / "scores" / f"train-{row}.log")
        folder = out_dir(bench, row)
        if not (folder / "ranking.json").is_file():
            sh([*MLPNAS, "rank", run_dir(bench), f"rank.max_mflops={b['max_mflops']}",
                f"rank.labels={b['labels']}", f"rank.out_dir={folder}",
                f"rank.supernet_dir={d}", "rank.scores=[supernet_acc,supernet_loss]",
                "progress=false", f"hardware.threads={threads}"])
        r = json.loads((folder / "ranking.json").read_text())
        t = pd.read_csv(folder / "ranking.csv")
        share = family_shares(t)["share_shift"].to_numpy()
        out[row] = {"options": extra,
                    **{f"{n}_tau": r["scores"][n]["kendall_tau"]
                       for n in ("supernet_acc", "supernet_loss")},
                    "shift_share_vs_supernet_acc": round(float(kendall_tau(
                        share, t["supernet_acc"].to_numpy(float))), 4),
                    "shift_share_vs_supernet_loss": round(float(kendall_tau(
                        share, -t["supernet_loss"].to_numpy(float))), 4)}
    return out


def rank(bench: str, threads: int) -> None:
    b = BENCHMARKS[bench]
    common = [*MLPNAS, "rank", run_dir(bench), f"rank.max_mflops={b['max_mflops']}",
              "progress=false", f"hardware.threads={threads}"]
    if b["labels"]:
        common.append(f"rank.labels={b['labels']}")
    else:
        common += [*STANDALONE, "rank.random_fraction=1"]
    if not (out_dir(bench, "label_free") / "ranking.json").is_file():
        sh([*common, f"rank.out_dir={out_dir(bench, 'label_free')}"])
    for seed in SUPERNET_SEEDS:
        row = f"supernet_seed{seed}"
        if not (out_dir(bench, row) / "ranking.json").is_file():
            sh([*common, f"rank.out_dir={out_dir(bench, row)}",
                f"rank.supernet_dir={supernet_dir(bench, seed)}",
                "rank.scores=[supernet_acc,supernet_loss]"])


def family_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Per architecture, the share of its blocks of each family."""
    codes = {"c": "cycle", "s": "shift", "h": "hire", "p": "permute"}
    rows = []
    for key in table["arch"]:
        tokens = [t for stage in key.split("_") for t in stage.split("-")]
        rows.append({f"share_{name}": sum(t[0] == c for t in tokens) / len(tokens)
                     for c, name in codes.items()})
    return pd.DataFrame(rows)


def summarise(bench: str) -> dict:
    from mlpnas.rank import kendall_tau

    label_free = json.loads((out_dir(bench, "label_free") / "ranking.json").read_text())
    table = pd.read_csv(out_dir(bench, "label_free") / "ranking.csv")
    scores = dict(label_free["scores"])
    for seed in SUPERNET_SEEDS:
        r = json.loads((out_dir(bench, f"supernet_seed{seed}") / "ranking.json").read_text())
        t = pd.read_csv(out_dir(bench, f"supernet_seed{seed}") / "ranking.csv")
        for name in ("supernet_acc", "supernet_loss"):
            scores[f"{name}@seed{seed}"] = r["scores"][name]
            table[f"{name}@seed{seed}"] = t[name].to_numpy()
    seeds = [c for c in table.columns if c.startswith("seed") and c[4:].isdigit()]
    truth = table[seeds].to_numpy(float).mean(axis=1)
    shares = family_shares(table)
    family = {}
    for col in shares:
        if shares[col].std() == 0:
            continue
        s = shares[col].to_numpy()
        row = {"standalone": round(float(kendall_tau(s, truth)), 4)}
        for name in ("mflops", "naswot", "synflow", "zico", *(f"{n}@seed{k}" for k in
                     SUPERNET_SEEDS for n in ("supernet_acc", "supernet_loss"))):
            col_name = "mflops" if name == "mflops" else name
            if col_name in table:
                v = table[col_name].to_numpy(float)
                v = -v if "loss" in name else v
                row[name] = round(float(kendall_tau(s, v)), 4)
        family[col] = row
    return {"name": bench, "space": BENCHMARKS[bench]["space"],
            "n_archs": label_free["n_archs"], "seeds": label_free["seeds"],
            "seed_ceiling_tau": label_free["seed_ceiling_tau"],
            "seed_ceiling_tau_ci": label_free["seed_ceiling_tau_ci"],
            "regret_budget_mflops": BENCHMARKS[bench]["max_mflops"],
            "regret_random": label_free["regret_random"],
            "standalone_range": label_free["standalone_range"],
            "scores": scores, "family_tau": family, "machine": label_free["machine"]}


def supernet_mean(summary: dict, name: str) -> dict:
    rows = [summary["scores"][f"{name}@seed{k}"] for k in SUPERNET_SEEDS]
    return {"kendall_tau": round(float(np.mean([r["kendall_tau"] for r in rows])), 4),
            "above_mflops": all(r["tau_minus_mflops_ci"][0] > 0 for r in rows)}


def decide(summaries: dict) -> tuple[str, str, dict]:
    """The protocol's rule: among label-free candidates, those whose paired interval
    against MFLOPs is above 0 on both benchmarks; the best mean tau of them; else the best
    mean tau overall."""
    from mlpnas.score import SCORES

    candidates = [n for n in SCORES if n not in ("mflops",)] + CANDIDATE_ENSEMBLES
    table = {}
    for name in candidates:
        taus, above = [], []
        for s in summaries.values():
            if SCORES.get(name) is not None and SCORES[name].kind == "supernet":
                m = supernet_mean(s, name)
                taus.append(m["kendall_tau"])
                above.append(m["above_mflops"])
            else:
                r = s["scores"][name]
                taus.append(r["kendall_tau"])
                above.append(r["tau_minus_mflops_ci"][0] > 0)
        table[name] = {"mean_tau": round(float(np.mean(taus)), 4), "above_mflops": above}
    winners = [n for n, r in table.items() if all(r["above_mflops"])]
    pool = winners or list(table)
    best = max(pool, key=lambda n: table[n]["mean_tau"])
    why = ("its paired interval against MFLOPs lies above 0 on both benchmarks"
           + (f" (of {len(winners)} that do, the best mean tau)" if len(winners) > 1 else "")
           if winners else "no candidate beats MFLOPs on both benchmarks: the best mean tau")
    return best, why, table


def markdown(summary: dict) -> str:
    lines = [f"# {summary['name']}: {summary['n_archs']} architectures x {summary['seeds']} "
             f"seeds (space {summary['space']}), seed ceiling {summary['seed_ceiling_tau']} "
             f"{summary['seed_ceiling_tau_ci']}", "",
             "| score | Kendall tau [95% CI] | tau - MFLOPs tau [95% CI] | P@10% | P@30% | "
             "regret (points) | s / arch |", "|---|---|---|---|---|---|---|"]
    rows = sorted(summary["scores"].items(), key=lambda kv: -kv[1]["kendall_tau"])
    for name, r in rows:
        ci, d = r["kendall_tau_ci"], r["tau_minus_mflops_ci"]
        sec = "" if r.get("seconds_per_arch") is None else f"{r['seconds_per_arch']:.3f}"
        lines.append(f"| {name} | {r['kendall_tau']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | "
                     + ("" if name == "mflops" else
                        f"{r['tau_minus_mflops']:+.3f} [{d[0]:+.3f}, {d[1]:+.3f}]")
                     + f" | {r['precision_at_10']:.2f} | {r['precision_at_30']:.2f} | "
                       f"{r['regret']:.2f} | {sec} |")
    lines += ["", f"A random pick's regret: {summary['regret_random']:.2f} points on average "
                  f"(budget {summary['regret_budget_mflops']} MFLOPs).", "",
              "Kendall tau of each family's block share against the standalone accuracy and "
              "against the scores:", "", "| share | " + " | ".join(
                  next(iter(summary["family_tau"].values()))) + " |",
              "|---|" + "---|" * len(next(iter(summary["family_tau"].values())))]
    for share, row in summary["family_tau"].items():
        lines.append(f"| {share} | " + " | ".join(f"{v:+.3f}" for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["prepare", "rank", "diagnose", "summary"], default=None)
    ap.add_argument("--bench", choices=list(BENCHMARKS), default=None,
                    help="prepare / rank this benchmark only")
    args = ap.parse_args()
    benches = [args.bench] if args.bench else list(BENCHMARKS)
    (HERE / "scores").mkdir(exist_ok=True)
    if args.only in (None, "prepare"):
        for bench in benches:
            prepare(bench, args.threads)
    if args.only in (None, "rank"):
        for bench in benches:
            rank(bench, args.threads)
    if args.only in (None, "diagnose"):
        (HERE / "scores" / "family_diagnosis.json").write_text(
            json.dumps(diagnose(args.threads), indent=1) + "\n")
    if args.only in (None, "summary"):
        summaries = {b: summarise(b) for b in BENCHMARKS}
        for b, s in summaries.items():
            (HERE / f"scores_{b}.json").write_text(json.dumps(s, indent=1) + "\n")
            (HERE / f"scores_{b}.md").write_text(markdown(s))
        best, why, table = decide(summaries)
        results = json.loads((HERE / "results.json").read_text())
        results["default_score"] = best
        results["default_score_why"] = why
        results["candidates"] = table
        results["benchmarks"] = [{k: s[k] for k in ("name", "space", "n_archs", "seeds",
                                                    "seed_ceiling_tau")}
                                 for s in summaries.values()]
        results["scores"] = {
            b: {name: {"tau": r["kendall_tau"], "ci": r["kendall_tau_ci"],
                       "diff_mflops_ci": r["tau_minus_mflops_ci"], "regret": r["regret"],
                       "seconds_per_arch": r.get("seconds_per_arch")}
                for name, r in s["scores"].items()}
            for b, s in summaries.items()}
        (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        print(f"default score: {best} ({why})")
        for name, r in sorted(table.items(), key=lambda kv: -kv[1]["mean_tau"]):
            print(f"  {name:<28} mean tau {r['mean_tau']:+.3f}  above MFLOPs {r['above_mflops']}")


if __name__ == "__main__":
    main()
