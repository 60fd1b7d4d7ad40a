"""Training-step time of the supernet with an active architecture against the extracted
static model of the same architecture, same batch; plus (with --train) the wall time and peak
memory of a default `mlpnas train +space=cycle_vs_shift`.

A step is forward + label-smoothed cross-entropy + backward + AdamW update. The supernet and
the static model are timed round-robin in one loop, so each ratio compares measurements
taken under the same machine load.

    python experiments/supernet_overhead/bench_overhead.py [--train]

Writes results.json and results.md next to this file (or --out DIR).
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
import torch.nn.functional as F

from mlpnas.cost import machine_description
from mlpnas.space import load_space
from mlpnas.supernet import build_supernet


def step_fn(model, opt, x, y):
    def step():
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def bench(space_name: str, batch: int, repeats: int, warmup: int, seed: int):
    space = load_space(space_name)
    torch.manual_seed(0)
    net = build_supernet(space, 10)
    x = torch.randn(batch, *space.input_size)
    y = torch.randint(0, 10, (batch,))
    rows = []
    for label, arch in (("smallest", space.smallest()), (f"random (seed {seed})",
                        space.sample(seed)), ("largest", space.largest())):
        net.set_active(arch)
        static = net.extract(arch).train()
        net.train()
        opt_super = torch.optim.AdamW(net.parameters(), lr=1e-4)
        opt_static = torch.optim.AdamW(static.parameters(), lr=1e-4)
        fns = {"supernet": step_fn(net, opt_super, x, y),
               "static": step_fn(static, opt_static, x, y)}
        times = {k: [] for k in fns}
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        for _ in range(repeats):
            for k, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        row = {"arch": label, "key": arch.key, "supernet_ms": med["supernet"],
               "static_ms": med["static"], "overhead": med["supernet"] / med["static"] - 1}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def run_default_train() -> dict:
    """`mlpnas train +space=cycle_vs_shift` in a fresh folder: wall time and peak RSS."""
    out = Path(tempfile.mkdtemp(prefix="mlpnas-train-"))
    cmd = [sys.executable, "-m", "mlpnas.cli", "train", "+space=cycle_vs_shift",
           f"out_dir={out}", "progress=false"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    last = (out / "metrics.csv").read_text().strip().splitlines()[-1].split(",")
    shutil.rmtree(out, ignore_errors=True)
    return {"command": "mlpnas train +space=cycle_vs_shift", "wall_s": round(wall, 1),
            "peak_rss_mb": round(peak_kb / 1024), "final_metrics_row": last,
            "stdout_tail": proc.stdout.strip().splitlines()[-1]}


def to_markdown(result) -> str:
    lines = [f"# supernet_overhead ({result['machine']}, torch {result['torch']})", "",
             f"Space `{result['space']}` (small scale), batch {result['batch']}, median of "
             f"{result['repeats']} steps (forward + loss + backward + AdamW).", "",
             "| arch | key | supernet ms | static ms | overhead |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['arch']} | `{r['key']}` | {r['supernet_ms']:.1f} | "
                     f"{r['static_ms']:.1f} | {100 * r['overhead']:+.1f}% |")
    lines.append("")
    lines.append(f"Target: overhead <= 15% -> {'met' if result['target_met'] else 'NOT met'}.")
    if result.get("train"):
        t = result["train"]
        lines += ["", f"`{t['command']}`: wall time {t['wall_s']} s, peak memory "
                      f"{t['peak_rss_mb']} MB; {t['stdout_tail']}"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--space", default="cycle_vs_shift")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", action="store_true",
                    help="also run the default `mlpnas train +space=cycle_vs_shift` (~5 min)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    rows = bench(args.space, args.batch, args.repeats, args.warmup, args.seed)
    result = {"machine": machine_description(), "torch": torch.__version__, "space": args.space,
              "batch": args.batch, "repeats": args.repeats, "rows": rows,
              "target_met": all(r["overhead"] <= 0.15 for r in rows)}
    if args.train:
        result["train"] = run_default_train()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "results.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
