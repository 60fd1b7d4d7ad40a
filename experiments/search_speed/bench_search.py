"""The default `mlpnas search +space=cycle_vs_shift` as a newcomer runs it, from nothing
(no supernet, no cost tables, no study): wall time split into supernet training (none with a
training-free accuracy axis) and search, trials per minute, peak memory; plus how much
faster a cost-table lookup is than an fvcore trace of the extracted model.

    python experiments/search_speed/bench_search.py            # ~3 minutes on 2 cores
    python experiments/search_speed/bench_search.py search.score=supernet_acc  # ~11

Writes results.json and results.md next to this file (or --out DIR), and copies the run's
summary.txt, trials.csv, pareto.csv, run.json and plots to --run-copy (default:
experiments/cycle_vs_shift_synthetic, the experiment of the main command).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from mlpnas.cost import machine_description


def lookup_vs_trace(n_archs: int = 20) -> dict:
    """Median time of pricing an architecture with the cost table and with fvcore."""
    from mlpnas.cost import CostModel, flops_table, fvcore_count
    from mlpnas.models import MlpBackbone
    from mlpnas.space import load_space

    space = load_space("cycle_vs_shift")
    costs = CostModel(flops_table(space, 10, None))
    archs = [space.sample(s) for s in range(n_archs)]
    lookups, builds, traces = [], [], []
    for arch in archs:
        t = time.perf_counter()
        for _ in range(100):
            costs.costs(arch)
        lookups.append((time.perf_counter() - t) / 100)
        t = time.perf_counter()
        model = MlpBackbone(space.to_netspec(arch, 10))
        t1 = time.perf_counter()
        fvcore_count(model, space.input_size)
        builds.append(t1 - t)
        traces.append(time.perf_counter() - t1)
    lk, bd, tr = (statistics.median(v) for v in (lookups, builds, traces))
    # without the table, pricing an arch means building its model and tracing it
    return {"lookup_us": lk * 1e6, "build_ms": bd * 1e3, "trace_ms": tr * 1e3,
            "fvcore_ms": (bd + tr) * 1e3, "speedup": (bd + tr) / lk}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--run-copy", type=Path,
                    default=Path(__file__).resolve().parents[1] / "cycle_vs_shift_synthetic")
    ap.add_argument("overrides", nargs="*", help="extra overrides for mlpnas search")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlpnas-search-"))
    run_dir = work / "search"
    cmd = [sys.executable, "-m", "mlpnas.cli", "search", "+space=cycle_vs_shift",
           f"out_dir={run_dir}", f"supernet_dir={work / 'supernet'}",
           f"cache_dir={work / 'cache'}", "progress=false", *args.overrides]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    run = json.loads((run_dir / "run.json").read_text())
    timing = run["sessions"][-1]
    trials = sum(v["trials_run"] for v in timing["studies"].values())
    study_s = sum(v["seconds"] for v in timing["studies"].values())
    result = {
        "machine": machine_description(), "torch": torch.__version__,
        "command": "mlpnas search +space=cycle_vs_shift " + " ".join(args.overrides),
        "wall_s": round(wall, 1), "peak_rss_mb": round(peak_mb),
        "supernet_s": timing["supernet_s"], "search_s": round(study_s, 1),
        "trials": trials, "trials_per_minute": round(60 * trials / study_s, 1),
        "score": run["score"]["key"], "scoring_s": timing["scoring_s"],
        "scorings": timing["scorings"], "reference_s": timing.get("reference_s", 0.0),
        "cache_hits": timing["cache_hits"], "cost_model_s": timing["cost_model_s"],
        "optuna_and_rest_s": round(study_s - timing["scoring_s"]
                                   - timing["cost_model_s"], 1),
        "hypervolume": run["hypervolume"], "improvement_over_random":
            run["improvement_over_random"], "hv_reference": run["hv_reference"],
        "cost_lookup": lookup_vs_trace(),
        "summary": proc.stdout.strip().splitlines()[-8:],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    keep = args.run_copy
    keep.mkdir(parents=True, exist_ok=True)
    names = ["summary.txt", "trials.csv", "pareto.csv", "run.json", "plot_numbers.json"]
    names += sorted(p.name for p in run_dir.glob("*.png"))
    for f in names:
        if (run_dir / f).is_file():
            shutil.copy(run_dir / f, keep / f)
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [f"# search_speed ({result['machine']}, torch {result['torch']})", "",
          f"`{result['command']}` from nothing: **{result['wall_s']:.0f} s wall time** "
          f"(supernet training {result['supernet_s']:.0f} s, search {result['search_s']:.0f} s),"
          f" peak memory {result['peak_rss_mb']} MB.", "",
          f"Accuracy axis: `{result['score']}`. Search: {result['trials']} trials "
          f"({result['trials_per_minute']} per minute); scoring {result['scoring_s']:.0f} s "
          f"({result['scorings']} architectures scored, {result['cache_hits']} answered from "
          f"the cache), cost model "
          f"{result['cost_model_s']:.3f} s, Optuna and the rest "
          f"{result['optuna_and_rest_s']:.0f} s.", "",
          f"Cost table lookup {result['cost_lookup']['lookup_us']:.1f} us against building the "
          f"model and tracing it with fvcore {result['cost_lookup']['fvcore_ms']:.0f} ms "
          f"(build {result['cost_lookup']['build_ms']:.0f} ms, trace "
          f"{result['cost_lookup']['trace_ms']:.0f} ms): "
          f"{result['cost_lookup']['speedup']:.0f}x faster.", "",
          f"Hypervolume: {json.dumps(result['hypervolume'])}, relative improvement over random "
          f"{result['improvement_over_random']}.", ""]
    (args.out / "results.md").write_text("\n".join(md))
    print("\n".join(md))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
