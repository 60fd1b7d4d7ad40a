"""Seconds per architecture of every training-free score at the small scale, on this
machine's cores: each score alone (as `mlpnas rank` computes them) and all six together (as
a predictor's features are computed), with the default scoring settings (3 initialisations
of a 64-image batch, ZiCo on 2 parts), over random architectures of two spaces; the
supernet's holdout evaluation of the same architectures beside them, for scale.

    python experiments/scores_speed/bench_scores.py --threads 2     # ~3 minutes

Writes results.json and results.md next to this file. Run it on a quiet machine: the
numbers are wall times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mlpnas.cost import machine_description

HERE = Path(__file__).resolve().parent


def bench_space(space_name: str, n_archs: int, repeats: int) -> dict:
    from mlpnas.data import build_data, data_config
    from mlpnas.models import MlpBackbone
    from mlpnas.score import TRAINING_FREE, ZeroCostSetting, fixed_batch, score_network
    from mlpnas.space import load_space
    from mlpnas.supernet import build_supernet, subnet_metrics
    from mlpnas.train import EvalSetting

    space = load_space(space_name)
    data = build_data(data_config(train_size=1000, holdout_size=2000,
                                  val_size=8), space.input_size)
    x, y = fixed_batch(data.holdout, 64)
    setting = ZeroCostSetting(inits=3, batch_size=64, splits=2, seed=0)
    archs = [space.sample(1000 + i) for i in range(n_archs)]
    times: dict[str, list[float]] = {n: [] for n in (*TRAINING_FREE, "all six together")}
    for arch in archs:
        spec = space.to_netspec(arch, 10)

        def make(spec=spec):
            return MlpBackbone(spec)

        score_network(make, x, y, TRAINING_FREE, ZeroCostSetting(1, 64, 2, 0))  # warm-up
        for name in (*TRAINING_FREE, "all six together"):
            names = TRAINING_FREE if name == "all six together" else [name]
            best = []
            for _ in range(repeats):
                t = time.perf_counter()
                score_network(make, x, y, names, setting)
                best.append(time.perf_counter() - t)
            times[name].append(min(best))
    # the supernet's score of the same architectures: extract, re-estimate BatchNorm on
    # 2 batches of 500 training images, evaluate 2,000 holdout images
    net = build_supernet(space, 10).eval()
    sn = []
    for arch in archs:
        t = time.perf_counter()
        subnet_metrics(net, arch, data.holdout, data.train, EvalSetting(500, 2, None, 0, None),
                       torch.device("cpu"))
        sn.append(time.perf_counter() - t)
    times["supernet_acc / supernet_loss (one evaluation)"] = sn
    return {name: {"median_s": round(statistics.median(v), 4), "max_s": round(max(v), 4)}
            for name, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = {"machine": f"{machine_description('cpu')}, torch {torch.__version__}",
              "threads": args.threads, "archs_per_space": args.archs,
              "setting": "3 initialisations, 64 holdout images, ZiCo on 2 parts; the "
                         "fastest of --repeats runs per architecture, median over them",
              "spaces": {s: bench_space(s, args.archs, args.repeats)
                         for s in ("cycle_vs_shift", "all_mixers")}}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"Seconds per architecture, small scale, {args.threads} threads "
             f"({result['machine']}; {result['setting']}).", "",
             "| score | cycle_vs_shift median (max) | all_mixers median (max) |",
             "|---|---|---|"]
    a, b = result["spaces"]["cycle_vs_shift"], result["spaces"]["all_mixers"]
    for name in a:
        lines.append(f"| {name} | {a[name]['median_s']:.3f} ({a[name]['max_s']:.3f}) | "
                     f"{b[name]['median_s']:.3f} ({b[name]['max_s']:.3f}) |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
