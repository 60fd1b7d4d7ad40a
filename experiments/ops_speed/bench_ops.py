"""Speed of mlpnas' CycleFC and axial shift against the authors' formulations and a Linear.

Forward + backward at the CycleMLP-B1 stage shapes (batch 8 at 224x224 input), median of
repeated runs; all ops of one shape are timed round-robin in the same loop, so the ratios
compare measurements taken under the same machine load.

    python experiments/ops_speed/bench_ops.py                      # CPU, fp32
    python experiments/ops_speed/bench_ops.py --device cuda --dtype bf16

Writes results_<device>_<dtype>.json and .md next to this file (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from mlpnas.cost import machine_description
from mlpnas.mixers import CycleFC, ShiftMixer, axial_shift
from mlpnas.mixers.reference import axial_shift_roll, cycle_offsets, cyclefc_deform

SHAPES = [(56, 56, 64), (28, 28, 128), (14, 14, 320), (7, 7, 512)]
TOY_SHAPES = [(8, 8, 16), (4, 4, 32)]  # --shapes toy: the same code paths in seconds
TARGETS = {
    "deform_over_cyclefc": (">=", 10.0),
    "cyclefc_over_linear": ("<=", 2.0),
    "roll_over_shift": (">=", 2.0),
}


class Timer:
    def __init__(self, device: str):
        self.cuda = device == "cuda"

    def __call__(self, fn) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t


def make_ops(B, H, W, C, device, dtype, shift_size=5, kernel=3):
    torch.manual_seed(0)
    x_cl = torch.randn(B, H, W, C, device=device, dtype=dtype, requires_grad=True)
    x_cf = x_cl.detach().permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    g_cl = torch.randn(B, H, W, C, device=device, dtype=dtype)
    g_cf = g_cl.permute(0, 3, 1, 2).contiguous()
    linear = nn.Linear(C, C).to(device, dtype)
    cyc_w = CycleFC(C, C, kernel, "w").to(device, dtype)
    cyc_h = CycleFC(C, C, kernel, "h").to(device, dtype)
    mixer = ShiftMixer(C, shift_size).to(device, dtype)
    weight = nn.Parameter(cyc_w.weight.detach().clone())
    bias = nn.Parameter(cyc_w.bias.detach().clone())
    offsets = cycle_offsets(C, kernel, "w").to(device, dtype)

    def fb(fn, x, g):
        def step():
            fn(x).backward(g)
        return step

    ops = {
        "linear": fb(linear, x_cl, g_cl),
        "cyclefc_w": fb(cyc_w, x_cl, g_cl),
        "cyclefc_h": fb(cyc_h, x_cl, g_cl),
        "shift": fb(lambda t: axial_shift(t, shift_size, 2), x_cl, g_cl),
        "shift_mixer": fb(mixer, x_cl, g_cl),
        "shift_roll": fb(lambda t: axial_shift_roll(t, shift_size, 3), x_cf, g_cf),
    }
    deform_ok = dtype != torch.bfloat16
    if deform_ok:  # torchvision's deform_conv2d has no bf16 kernel (CPU or CUDA)
        ops["cyclefc_deform"] = fb(lambda t: cyclefc_deform(t, weight, bias, offsets), x_cf, g_cf)
    return ops


def bench(device: str, dtype: torch.dtype, repeats: int, warmup: int, deform_repeats: int,
          shapes=SHAPES):
    timer = Timer(device)
    rows = []
    for H, W, C in shapes:
        ops = make_ops(8, H, W, C, device, dtype)
        times = {k: [] for k in ops}
        for fn in ops.values():
            for _ in range(warmup):
                fn()
        for r in range(repeats):
            for name, fn in ops.items():
                if name == "cyclefc_deform" and r >= deform_repeats:
                    continue
                times[name].append(timer(fn))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        row = {"shape": f"8x{H}x{W}x{C}", "ms": med}
        row["cyclefc_over_linear"] = med["cyclefc_w"] / med["linear"]
        row["cyclefc_h_over_linear"] = med["cyclefc_h"] / med["linear"]
        row["shift_over_linear"] = med["shift"] / med["linear"]
        row["shift_mixer_over_linear"] = med["shift_mixer"] / med["linear"]
        row["roll_over_shift"] = med["shift_roll"] / med["shift"]
        if "cyclefc_deform" in med:
            row["deform_over_cyclefc"] = med["cyclefc_deform"] / med["cyclefc_w"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def to_markdown(result) -> str:
    rows = result["rows"]
    lines = [
        f"# ops_speed: {result['device']} {result['dtype']}",
        "",
        f"Machine: {result['machine']}; torch {result['torch']}; forward+backward, median of "
        f"{result['repeats']} runs (deform_conv2d: {result['deform_repeats']}), batch 8.",
        "",
        "| shape (BxHxWxC) | Linear ms | CycleFC 1x3 ms | CycleFC 3x1 ms | deform_conv2d ms "
        "| shift ms | roll shift ms | AS mixer ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["ms"]
        lines.append(
            f"| {r['shape']} | {m['linear']:.2f} | {m['cyclefc_w']:.2f} | {m['cyclefc_h']:.2f} "
            f"| {m.get('cyclefc_deform', float('nan')):.2f} | {m['shift']:.2f} "
            f"| {m['shift_roll']:.2f} | {m['shift_mixer']:.2f} |")
    lines += [
        "",
        "| shape | deform / CycleFC (>= 10) | CycleFC / Linear (<= 2) | CycleFC 3x1 / Linear "
        "| shift / Linear | AS mixer / Linear | roll / shift (>= 2) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r.get('deform_over_cyclefc', float('nan')):.1f} "
            f"| {r['cyclefc_over_linear']:.2f} | {r['cyclefc_h_over_linear']:.2f} "
            f"| {r['shift_over_linear']:.2f} | {r['shift_mixer_over_linear']:.2f} "
            f"| {r['roll_over_shift']:.2f} |")
    lines += ["", "Targets: " + ", ".join(
        f"{k} {op} {v} -> {'met' if result['targets_met'][k] else 'NOT met'}"
        for k, (op, v) in TARGETS.items())]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--deform-repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--shapes", default="b1", choices=["b1", "toy"],
                    help="b1: CycleMLP-B1 stage shapes; toy: tiny ones (dry runs)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    dtype = torch.float32 if args.dtype == "fp32" else torch.bfloat16
    rows = bench(args.device, dtype, args.repeats, args.warmup, args.deform_repeats,
                 SHAPES if args.shapes == "b1" else TOY_SHAPES)
    met = {}
    for key, (op, target) in TARGETS.items():
        vals = [r[key] for r in rows if key in r]
        met[key] = bool(vals) and all((v >= target) if op == ">=" else (v <= target) for v in vals)
    result = {
        "device": args.device, "dtype": args.dtype, "machine": machine_description(args.device),
        "torch": torch.__version__, "repeats": args.repeats,
        "deform_repeats": args.deform_repeats, "rows": rows, "targets_met": met,
    }
    stem = f"results_{args.device}_{args.dtype}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
