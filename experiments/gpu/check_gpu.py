"""The CUDA path in one prepared run (issue: the CUDA path, proven). Every part prints one
result line; the run ends with a pass/fail summary and writes everything under OUT.

Parts (GPU sizes; `--dry-run` runs the same code on the CPU at toy sizes in under a minute):

1. ops_fp32 / ops_bf16: `experiments/ops_speed/bench_ops.py` (CycleFC and the axial shift
   against a Linear of the same width, forward + backward); target: both <= 2x the Linear
   in bf16 at every CycleMLP-B1 stage shape.
2. overhead: a bf16 training step of the supernet with an active architecture against the
   extracted static model, same batch, ImageNet scale (224x224); target <= 1.2x.
3. train_bf16: `train_supernet` on synthetic 224x224 data for a few hundred bf16 steps:
   images per second, peak GPU memory, and the static largest model's training throughput
   for the same batch as a ratio.
4. latency: a CUDA-event latency table and the predictor on 50 unseen architectures
   (`experiments/latency_predictor/check_predictor.py`); targets: >= 90% within +-10%,
   Spearman rho >= 0.9.
5. extract_export: the supernet trained in part 3 (on the GPU): extracted static models equal
   the supernet (fp32, eval), export and ONNX checked with onnxruntime.
6. search: `mlpnas search +space=tiny hardware=cuda` end to end.

    experiments/gpu/run.sh [--dry-run] [--out DIR] [--parts ops_fp32,overhead,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class Context:
    def __init__(self, dry: bool, out: Path):
        import torch

        self.dry, self.out = dry, out
        self.device = "cpu" if dry else "cuda"
        if not dry and not torch.cuda.is_available():
            raise SystemExit("no CUDA device is visible; run with --dry-run on a CPU machine.")
        self.amp = "bf16"
        self.trained = None  # (space, supernet) from part 3, for part 5


def _python(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError((r.stderr or r.stdout).strip().splitlines()[-1])
    return r


def part_ops(ctx: Context, dtype: str) -> tuple[bool, str, dict]:
    out = ctx.out / "ops"
    extra = ["--shapes", "toy", "--repeats", "2", "--deform-repeats", "1", "--warmup", "0"] \
        if ctx.dry else ["--repeats", "15", "--deform-repeats", "3"]
    _python("experiments/ops_speed/bench_ops.py", "--device", ctx.device, "--dtype", dtype,
            "--out", str(out), *extra)
    res = json.loads((out / f"results_{ctx.device}_{dtype}.json").read_text())
    worst_c = max(r["cyclefc_over_linear"] for r in res["rows"])
    worst_s = max(r["shift_mixer_over_linear"] for r in res["rows"])
    ok = dtype != "bf16" or (worst_c <= 2.0 and worst_s <= 2.0)
    return ok, (f"CycleFC / Linear <= {worst_c:.2f}, AS mixer / Linear <= {worst_s:.2f} "
                f"(fwd+bwd, {dtype})"), res


def _step_time(model, x, y, amp: str | None, repeats: int, warmup: int) -> float:
    """Median seconds of one training step (forward, loss, backward, AdamW)."""
    import statistics

    import torch
    import torch.nn.functional as F

    from mlpnas.train import autocast

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    cuda = x.device.type == "cuda"

    def step():
        with autocast(x.device, amp):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    times = []
    for i in range(warmup + repeats):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def part_overhead(ctx: Context) -> tuple[bool, str, dict]:
    import torch

    from mlpnas.space import load_space
    from mlpnas.supernet import build_supernet

    space = load_space("tiny" if ctx.dry else "cycle_vs_shift",
                       "small" if ctx.dry else "imagenet")
    batch, repeats, warmup = (8, 3, 1) if ctx.dry else (64, 20, 5)
    torch.manual_seed(0)
    net = build_supernet(space, 1000).to(ctx.device).train()
    x = torch.randn(batch, *space.input_size, device=ctx.device)
    y = torch.randint(0, 1000, (batch,), device=ctx.device)
    rows = []
    for label, arch in (("largest", space.largest()), ("random", space.sample(0)),
                        ("smallest", space.smallest())):
        net.set_active(arch)
        static = net.extract(arch).train()
        t_super = _step_time(net, x, y, ctx.amp, repeats, warmup)
        t_static = _step_time(static, x, y, ctx.amp, repeats, warmup)
        rows.append({"arch": label, "key": arch.key, "supernet_ms": 1e3 * t_super,
                     "static_ms": 1e3 * t_static, "ratio": t_super / t_static})
    worst = max(r["ratio"] for r in rows)
    return worst <= 1.2, (f"supernet step / static step <= {worst:.2f} (bf16, batch {batch}, "
                          f"{space.input_size[1]}x{space.input_size[2]})"), {"rows": rows}


def part_train(ctx: Context) -> tuple[bool, str, dict]:
    import torch

    from mlpnas.data import build_data, data_config
    from mlpnas.space import load_space
    from mlpnas.supernet import SupernetRecipe, train_supernet

    if ctx.dry:
        space = load_space("tiny")
        data_cfg = data_config(train_size=128, holdout_size=32, val_size=32)
        batch, epochs = 32, 1
    else:
        space = load_space("cycle_vs_shift", "imagenet")
        data_cfg = data_config(train_size=4096, holdout_size=512,
                               val_size=512)
        batch, epochs = 64, 3  # 192 steps of the sandwich (3 subnets each)
    t = time.perf_counter()
    data = build_data(data_cfg, space.input_size)
    gen_s = time.perf_counter() - t
    recipe = SupernetRecipe.of(dict(
        epochs=epochs, batch_size=batch, lr=1e-3, min_lr=1e-5, weight_decay=0.05,
        warmup_epochs=0.2, label_smoothing=0.1, mixup=0.0, cutmix=0.0, sampling="sandwich",
        sandwich_random=1, distill=True, kd_temperature=1.0, grad_clip=5.0, drop_path=0.0,
        sort_channels=True, few_shot="none", init_from=None, checkpoint_every=10_000,
        recal_batches=2, eval_batch_size=64, eval_limit=256, num_workers=0))
    if ctx.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    r = train_supernet(space, data, recipe, ctx.out / "supernet", device=ctx.device,
                       amp=ctx.amp, progress=False, log=lambda m: None, data_cfg=data_cfg)
    wall = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**30 if ctx.device == "cuda" else float("nan")
    ips = r.steps * batch / wall
    net = r.module
    static = net.extract(space.largest()).train()
    x = torch.randn(batch, *space.input_size, device=ctx.device)
    y = torch.randint(0, data.num_classes, (batch,), device=ctx.device)
    t_static = _step_time(static, x, y, ctx.amp, 3 if ctx.dry else 20, 1 if ctx.dry else 5)
    static_ips = batch / t_static
    ctx.trained = (space, net, data)
    last = r.metrics[-1]
    return True, (f"{r.steps} sandwich steps, {ips:.0f} images/s (3 subnets per step), "
                  f"static largest {static_ips:.0f} images/s (ratio {static_ips / ips:.2f}), "
                  f"peak {peak:.1f} GiB, val acc largest {last['val_acc_largest']:.3f}"), {
        "steps": r.steps, "batch": batch, "wall_s": wall, "data_generation_s": gen_s,
        "images_per_s": ips, "static_largest_images_per_s": static_ips,
        "peak_gib": peak, "metrics": r.metrics}


def part_latency(ctx: Context) -> tuple[bool, str, dict]:
    out = ctx.out / "latency"
    args = (["--space", "tiny", "--n", "4", "--repeats", "2", "--rounds", "1", "--device",
             "cpu"] if ctx.dry else
            ["--space", "cycle_vs_shift", "--scale", "imagenet", "--n", "50", "--batch", "32",
             "--dtype", "bf16", "--repeats", "30", "--rounds", "3", "--device", "cuda"])
    _python("experiments/latency_predictor/check_predictor.py", *args, "--cache",
            str(out / "cache"), "--out", str(out))
    res = json.loads(next(out.glob("results_*.json")).read_text())
    ok = res["within_10pct"] >= 0.9 and res["spearman_rho"] >= 0.9
    return ok, (f"{100 * res['within_10pct']:.0f}% of {res['n_archs']} unseen architectures "
                f"within +-10%, Spearman rho {res['spearman_rho']:.3f}"), \
        {k: v for k, v in res.items() if k != "rows"}


def part_extract_export(ctx: Context) -> tuple[bool, str, dict]:
    import torch

    from mlpnas.export import load_exported, onnx_max_error
    from mlpnas.supernet import export_subnets

    if ctx.trained is None:
        raise RuntimeError("needs the supernet of part train_bf16")
    space, net, data = ctx.trained
    net = net.eval()
    x = torch.randn(2, *space.input_size, device=ctx.device)
    worst = 0.0
    archs = [space.largest(), space.smallest(), space.sample(1)]
    for arch in archs:
        net.set_active(arch)
        with torch.no_grad():
            worst = max(worst, float((net.extract(arch).eval()(x) - net(x)).abs().max()))
    keys = [archs[2].key]
    from mlpnas.train import EvalSetting

    written = export_subnets(net, space, keys, ctx.out / "exported", {}, data.train,
                             EvalSetting(32, 2, None, 0, None), torch.device(ctx.device),
                             onnx=True)
    model = load_exported(written[0])
    xc = torch.randn(1, *space.input_size)
    onnx_err = onnx_max_error(written[0] / "model.onnx", model, xc)
    ok = worst <= 1e-3 and onnx_err <= 1e-3
    return ok, (f"extracted vs supernet max |diff| {worst:.2e} (fp32, eval, on "
                f"{ctx.device}); ONNX vs PyTorch {onnx_err:.2e}"), {
        "extract_max_abs_diff": worst, "onnx_max_abs_error": onnx_err}


def part_search(ctx: Context) -> tuple[bool, str, dict]:
    out = ctx.out / "search"
    hw = "cpu" if ctx.dry else "cuda"
    t = time.perf_counter()
    size = ["data.train_size=128", "data.val_size=64", "data.holdout_size=64",
            "search.n_trials=6", "search.compare_random=false"] if ctx.dry else [
            "data.train_size=2048", "data.val_size=512", "data.holdout_size=512",
            "search.n_trials=20"]
    _python("-m", "mlpnas.cli", "search", "+space=tiny", f"hardware={hw}", *size,
            "train.batch_size=64", "train.epochs=1",
            "search.population_size=4", "progress=false", f"out_dir={out / 'run'}",
            f"supernet_dir={out / 'supernet'}", f"cache_dir={out / 'cache'}")
    wall = time.perf_counter() - t
    import pandas as pd

    trials = pd.read_csv(out / "run" / "trials.csv")
    ok = len(trials) >= 6 and (out / "run" / "pareto_mflops.png").is_file()
    return ok, f"{len(trials)} trials, {wall:.0f} s, hardware={hw}", {"wall_s": wall}


PARTS = {
    "ops_fp32": lambda c: part_ops(c, "fp32"),
    "ops_bf16": lambda c: part_ops(c, "bf16"),
    "overhead": part_overhead,
    "train_bf16": part_train,
    "latency": part_latency,
    "extract_export": part_extract_export,
    "search": part_search,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true",
                    help="the same code paths on the CPU at toy sizes (CI runs this)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default: experiments/gpu/results, or a temporary "
                         "folder with --dry-run)")
    ap.add_argument("--parts", default=",".join(PARTS))
    args = ap.parse_args()
    if args.out is None:
        import tempfile

        args.out = Path(tempfile.mkdtemp(prefix="mlpnas-gpu-dry-")) if args.dry_run \
            else HERE / "results"
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    from mlpnas.cost import machine_description

    ctx = Context(args.dry_run, args.out)
    results = {"machine": machine_description(ctx.device), "torch": torch.__version__,
               "dry_run": args.dry_run, "parts": {}}
    t0 = time.perf_counter()
    for name in args.parts.split(","):
        t = time.perf_counter()
        try:
            met, line, data = PARTS[name](ctx)
            ran = True
        except Exception as e:  # one broken part must not hide the others' results
            met, ran, line, data = False, False, f"error: {type(e).__name__}: {e}", {
                "traceback": traceback.format_exc()}
        # a dry run proves the code paths run; its toy sizes on a CPU judge no target
        ok = ran if args.dry_run else met
        if args.dry_run and ran:
            line += f" [target {'met' if met else 'not met'}; not judged in a dry run]"
        seconds = time.perf_counter() - t
        results["parts"][name] = {"pass": ok, "target_met": met, "line": line,
                                  "seconds": round(seconds, 1), **data}
        print(f"{name:<15} {'PASS' if ok else 'FAIL'}  {line}  ({seconds:.0f} s)", flush=True)
        (args.out / "summary.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    passed = sum(p["pass"] for p in results["parts"].values())
    total = len(results["parts"])
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    (args.out / "summary.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"summary: {passed}/{total} parts passed in {results['wall_s']:.0f} s on "
          f"{results['machine']} (torch {results['torch']}); results in {args.out}")
    sys.exit(0 if passed == total else 1)


if __name__ == "__main__":
    main()
