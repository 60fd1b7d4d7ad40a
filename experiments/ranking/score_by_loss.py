"""Does the supernet order architectures better by its holdout loss than by its holdout
accuracy? For every row of the ablation (its supernet, the same 30 architectures and
standalone runs), score each architecture by the mean cross-entropy of its inherited-weight
predictions on the holdout split (lower is better; BatchNorm recalibrated as the row does)
and compare with the seed-mean standalone accuracy.

    python experiments/ranking/score_by_loss.py BENCHMARK [--threads 2]

Reads `ablation/BENCHMARK/<row>/ranking.csv` (written by run_ablation.py) and the rows'
supernets; writes `ablation_BENCHMARK_loss.json` / `.md` next to this file. Added after the
ablation's accuracy-based taus were seen (a diagnosis, not part of the fixed protocol): the
standalone accuracies of the 30 architectures spread by about 1 point, while the holdout
split of 1,120 images resolves accuracy in steps of 0.09 points with a sampling error of
about 0.75 points; the loss is a continuous score of the same predictions. (Since then the
holdout loss is the registered score `supernet_loss`, which `mlpnas rank` reports itself.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from mlpnas.data import build_data
from mlpnas.rank import correlation, difference, kendall_tau
from mlpnas.space import load_space
from mlpnas.supernet import SupernetRecipe, load_trained_supernet, subnet_metrics
from mlpnas.train import CHECKPOINT, EvalSetting, load_checkpoint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def holdout_loss(net, space, arch_key: str, data, recal_batches: int) -> float:
    """The registered score `supernet_loss` (mlpnas.supernet.subnet_metrics)."""
    return subnet_metrics(net, space.arch_from_key(arch_key), data.holdout, data.train,
                          EvalSetting(500, recal_batches, None, 0, None),
                          torch.device("cpu"))["loss"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmark")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = json.loads((HERE / f"ablation_{args.benchmark}.json").read_text())
    run_cfg = OmegaConf.load(ROOT / "runs/search" / f"{args.benchmark}-seed0-supernet_acc"
                             / "config.yaml")
    space = load_space(str(run_cfg.space.name), str(run_cfg.space.scale))
    data_cfg = OmegaConf.to_container(run_cfg.data)
    data = build_data(data_cfg, space.input_size, int(run_cfg.seed))
    table = []
    for row in rows:
        report = HERE / "ablation" / args.benchmark / row["row"]
        stats = json.loads((report / "ranking.json").read_text())
        ranking = pd.read_csv(report / "ranking.csv")
        folder = Path(stats["supernet_dir"])
        # the recipe it was trained with: the run's, with what its fingerprint records
        recipe = SupernetRecipe.of_trained(
            load_checkpoint(folder / CHECKPOINT)["fingerprint"]["recipe"], run_cfg.train)
        net = load_trained_supernet(space, folder, data_cfg, recipe, int(run_cfg.seed),
                                    data.num_classes)
        loss = np.array([holdout_loss(net, space, k, data, int(stats["recal_batches"]))
                         for k in ranking["arch"]])
        truth = ranking["standalone_mean"].to_numpy()
        est = correlation(-loss, truth)
        by_acc = correlation(ranking["supernet_acc"].to_numpy(), truth)
        diff = difference(-loss, ranking["supernet_acc"].to_numpy(), truth)
        mflops = kendall_tau(ranking["mflops"].to_numpy(), truth)
        table.append({"row": row["row"], "what": row["what"],
                      "loss_tau": round(est.value, 4), "loss_tau_ci": [round(c, 4) for c in est.ci],
                      "accuracy_tau": round(by_acc.value, 4),
                      "loss_minus_accuracy_tau_ci": [round(c, 4) for c in diff.ci],
                      "mflops_tau": round(float(mflops), 4)})
        print(f"{row['row']}: tau by holdout loss {est.value:.3f} [{est.ci[0]:.3f}, "
              f"{est.ci[1]:.3f}], by accuracy {by_acc.value:.3f}", flush=True)
    stem = HERE / f"ablation_{args.benchmark}_loss"
    stem.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n")
    lines = ["| row | tau by holdout loss [95% CI] | tau by holdout accuracy | loss minus "
             "accuracy tau, 95% CI | MFLOPs tau |", "|---|---|---|---|---|"]
    for r in table:
        lo, hi = r["loss_tau_ci"]
        d0, d1 = r["loss_minus_accuracy_tau_ci"]
        lines.append(f"| {r['what']} | {r['loss_tau']:.3f} [{lo:.3f}, {hi:.3f}] | "
                     f"{r['accuracy_tau']:.3f} | [{d0:.3f}, {d1:.3f}] | {r['mflops_tau']:.3f} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
