"""A look after amendment 3 (not part of its protocol; a lead, not a default): how NASWOT's
Kendall tau on the two benchmarks moves with its settings (initialisations averaged, batch
size) and how stable it is from one set of initialisations to another. Reads the benchmarks'
standalone accuracies from `scores/<benchmark>/label_free/ranking.csv`; computes NASWOT with
the score code of the package on the benchmarks' holdout images.

    python experiments/ranking/explore_naswot.py --threads 2

Writes explore_naswot.json / .md next to this file.
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
from mlpnas.models import MlpBackbone
from mlpnas.rank import bootstrap_indices, correlation, kendall_tau
from mlpnas.score import ZeroCostSetting, fixed_batch, score_network, seed_columns
from mlpnas.space import load_space

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNS = {"mnist": "ranking_mnist-seed0-mflops",
        "mnist_all_mixers": "ranking_mnist_all_mixers-seed0-mflops"}
SETTINGS = [(1, 64), (3, 64), (10, 64), (3, 128), (10, 128)]


def naswot(space, keys, data, inits: int, batch: int, seed: int) -> np.ndarray:
    x, y = fixed_batch(data.holdout, batch)
    setting = ZeroCostSetting(inits=inits, batch_size=batch, splits=2, seed=seed)
    out = []
    for k in keys:
        spec = space.to_netspec(space.arch_from_key(k), data.num_classes)
        out.append(score_network(lambda spec=spec: MlpBackbone(spec), x, y, ["naswot"],
                                 setting)["naswot"])
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = {}
    for bench, run in RUNS.items():
        cfg = OmegaConf.load(ROOT / "runs/search" / run / "config.yaml")
        space = load_space(str(cfg.space.name), str(cfg.space.scale))
        data_cfg = OmegaConf.to_container(cfg.data)
        data = build_data(data_cfg, space.input_size, int(cfg.seed))
        table = pd.read_csv(HERE / "scores" / bench / "label_free" / "ranking.csv")
        truth = table[seed_columns(table)].to_numpy(float).mean(axis=1)
        keys = list(table["arch"])
        idx = bootstrap_indices(len(keys))
        rows = {}
        for inits, batch in SETTINGS:
            a = naswot(space, keys, data, inits, batch, seed=0)
            b = naswot(space, keys, data, inits, batch, seed=100)  # other initialisations
            est = correlation(a, truth, kendall_tau, idx)
            rows[f"K={inits}, batch {batch}"] = {
                "tau": round(est.value, 4), "ci": [round(v, 4) for v in est.ci],
                "tau_other_inits": round(float(kendall_tau(b, truth)), 4),
                "self_tau": round(float(kendall_tau(a, b)), 4)}
            print(bench, inits, batch, rows[f"K={inits}, batch {batch}"], flush=True)
        result[bench] = rows
    (HERE / "explore_naswot.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["NASWOT's Kendall tau against the standalone accuracy by its settings (seed 0 of "
             "the initialisations; the same with seeds 100+), and its agreement with itself "
             "across the two sets of initialisations.", "",
             "| benchmark | setting | tau [95% CI] | tau, other initialisations | "
             "self-agreement tau |", "|---|---|---|---|---|"]
    for bench, rows in result.items():
        for name, r in rows.items():
            lines.append(f"| {bench} | {name} | {r['tau']:.3f} [{r['ci'][0]:.3f}, "
                         f"{r['ci'][1]:.3f}] | {r['tau_other_inits']:.3f} | {r['self_tau']:.3f} |")
    (HERE / "explore_naswot.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
