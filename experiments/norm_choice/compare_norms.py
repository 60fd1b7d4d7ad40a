"""Why the small-scale spaces use BatchNorm blocks: LayerNorm, GroupNorm(1) and BatchNorm on
the built-in synthetic data, same architecture, same steps.

Trains one static architecture of `cycle_vs_shift` (default: all-CycleFC K=3, depth 2,
MLP ratio 4) on the synthetic training split with each block norm for --steps steps
(AdamW 2e-3, one-cycle schedule, batch 128, label smoothing 0.1) and reports the validation
accuracy.

    python experiments/norm_choice/compare_norms.py      # ~3 minutes on 2 cores

Writes results.json and results.md next to this file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from mlpnas.cost import machine_description
from mlpnas.data import build_data, data_config
from mlpnas.models import MlpBackbone
from mlpnas.space import SPACES_DIR, parse_space


def train(norm: str, arch_key: str, steps: int, data) -> float:
    raw = yaml.safe_load((SPACES_DIR / "cycle_vs_shift.yaml").read_text())
    raw["scales"]["small"]["norm"] = norm
    space = parse_space(raw)
    torch.manual_seed(0)
    model = MlpBackbone(space.to_netspec(space.arch_from_key(arch_key), data.num_classes))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps,
                                                pct_start=0.1)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x, y = data.train.get_batch(rng.integers(0, len(data.train), 128))
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        x, y = data.val.get_batch(range(len(data.val)))
        return float((model(x).argmax(-1) == y).float().mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--arch", default="c3r4-c3r4_c3r4-c3r4_c3r4-c3r4_c3r4-c3r4")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    data = build_data(data_config(train_size=9600, holdout_size=100,
                                  val_size=2000), (3, 32, 32))
    rows = []
    for norm in ("layer", "group", "batch"):
        t = time.perf_counter()
        acc = train(norm, args.arch, args.steps, data)
        rows.append({"norm": norm, "val_acc": acc, "seconds": round(time.perf_counter() - t)})
        print(json.dumps(rows[-1]), flush=True)
    result = {"machine": machine_description(), "torch": torch.__version__, "arch": args.arch,
              "steps": args.steps, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [f"Architecture `{args.arch}`, {args.steps} steps of batch 128 on the synthetic data "
          f"({result['machine']}, torch {torch.__version__}):", "",
          "| block norm | validation accuracy |", "|---|---|"]
    md += [f"| {r['norm']} | {r['val_acc']:.3f} |" for r in rows]
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
