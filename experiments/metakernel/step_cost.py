"""Time and memory of one training step of the supernet at the small scale (batch 128,
32x32 synthetic images, cycle_vs_shift): what the meta-kernel search costs against one
single-path supernet step, and against the same relaxation with the kernel candidates
computed separately (the DARTS-style weighted sum that meta kernels remove).

    python experiments/metakernel/step_cost.py [--threads 2] [--steps 10] [--out FILE.json]

Variants (each measured in a fresh process, so peak memory is its own):
- `single_path`: one sampled architecture, forward + backward (what a supernet training
  step does per subnet);
- `metakernel`: the meta-kernel weight step: per block a one-hot family, all kernel options
  merged into one depthwise kernel, masked MLP, depth mixture; forward + backward;
- `metakernel_arch`: the same with gradients to the architecture logits too (its
  architecture step);
- `separate`: the same relaxation, but each kernel option's shift and Linear computed
  separately and summed with the same weights (equal output, K times the Linears).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("single_path", "metakernel", "metakernel_arch", "separate")


def _patch_separate() -> None:
    """Make the mixtures compute every kernel option on its own (same values, see
    tests/test_metakernel.py), as a weighted sum of separate candidates."""
    import torch.nn.functional as F

    from mlpnas.mixers import axial_shift, cycle_groups, group_shift
    from mlpnas.supernet import ElasticCycleMixer, ElasticShiftMixer

    def cycle_branches(self, x):
        if self.mixture is None:
            return ElasticCycleMixer.__mro__[1].branches(self, x)
        pairs, w = self.mixture
        C = x.shape[-1]
        a = sum(w[i] * F.linear(group_shift(x, 2, cycle_groups(C, kw)), self.along_w.weight,
                                self.along_w.bias) for i, (_, kw) in enumerate(pairs))
        b = sum(w[i] * F.linear(group_shift(x, 1, cycle_groups(C, kh)), self.along_h.weight,
                                self.along_h.bias) for i, (kh, _) in enumerate(pairs))
        return a, b, self.fc_c(x)

    def shift_forward(self, x):
        if self.mixture is None:
            return ElasticShiftMixer.__mro__[1].forward(self, x)
        sizes, w = self.mixture
        t = self.act(self.norm_in(self.fc_in(x)))
        a = self.act(sum(w[i] * self.fc_w(axial_shift(t, s, 2)) for i, s in enumerate(sizes)))
        b = self.act(sum(w[i] * self.fc_h(axial_shift(t, s, 1)) for i, s in enumerate(sizes)))
        return self.fc_out(self.norm_out(a + b))

    ElasticCycleMixer.branches = cycle_branches
    ElasticShiftMixer.forward = shift_forward


def measure(variant: str, threads: int, steps: int) -> dict:
    import random

    import torch
    import torch.nn.functional as F

    from mlpnas.space import load_space
    from mlpnas.supernet import ArchParameters, Supernet
    from mlpnas.supernet._metakernel import draw, mixed_forward

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if variant == "separate":
        _patch_separate()
    space = load_space("cycle_vs_shift")
    net = Supernet(space, 10).train()
    arch = ArchParameters(space)
    x = torch.randn(128, 3, 32, 32)
    y = torch.randint(0, 10, (128,))
    rng = random.Random(0)

    def step():
        net.zero_grad(set_to_none=True)
        if variant == "single_path":
            net.set_active(space.sample(rng))
            loss = F.cross_entropy(net(x), y)
        else:
            with torch.set_grad_enabled(variant == "metakernel_arch"):
                draws, depths = draw(arch, net, 1.0, False)
            loss = F.cross_entropy(mixed_forward(net, x, draws, depths), y)
        loss.backward()

    for _ in range(2):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"variant": variant, "median_s": statistics.median(times),
            "times_s": [round(t, 4) for t in times],
            "peak_rss_mib": round(peak / 1024, 1),
            "rss_growth_in_timed_steps_mib": round((peak - before) / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent / "step_cost.json")
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:  # the child process
        print(json.dumps(measure(args.variant, args.threads, args.steps)))
        return
    rows = []
    for rnd in range(2):  # two interleaved rounds: the machine is shared and noisy
        for v in VARIANTS:
            r = subprocess.run([sys.executable, __file__, "--variant", v, "--threads",
                                str(args.threads), "--steps", str(args.steps)],
                               capture_output=True, text=True, check=True)
            row = json.loads(r.stdout.strip().splitlines()[-1])
            row["round"] = rnd
            rows.append(row)
            print(f"round {rnd} {v}: {1000 * row['median_s']:.0f} ms/step, peak RSS "
                  f"{row['peak_rss_mib']:.0f} MiB", flush=True)
    summary = {}
    for v in VARIANTS:
        med = statistics.median(r["median_s"] for r in rows if r["variant"] == v)
        peak = max(r["peak_rss_mib"] for r in rows if r["variant"] == v)
        summary[v] = {"median_s": round(med, 4), "peak_rss_mib": peak}
    base = summary["single_path"]["median_s"]
    for v in VARIANTS:
        summary[v]["time_vs_single_path"] = round(summary[v]["median_s"] / base, 2)
    summary["separate"]["time_vs_metakernel"] = round(
        summary["separate"]["median_s"] / summary["metakernel"]["median_s"], 2)
    import torch

    from mlpnas.cost import machine_description

    torch.set_num_threads(args.threads)
    out = {"machine": f"{machine_description('cpu')}, torch {torch.__version__}",
           "batch": 128, "input": "3x32x32", "space": "cycle_vs_shift (small)",
           "steps_per_round": args.steps, "summary": summary, "rows": rows}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for v, s in summary.items():
        print(f"{v}: {1000 * s['median_s']:.0f} ms/step ({s['time_vs_single_path']}x single "
              f"path), peak RSS {s['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
