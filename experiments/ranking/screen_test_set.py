"""How much of the seed-to-seed noise of the standalone accuracies is the finite validation
set? Re-scores the finished standalone models of a ranking study (each job's `model/`
export) on further images none of them trained or were validated on, and prints the
benchmark rule's numbers (tau between seed 0 and seed 1, spread against seed noise) on the
validation set, on the further images, and on both.

    python experiments/ranking/screen_test_set.py RUN/rank/standalone-e2-* DATA_DIR/test \\
        --mean 0.22 --std 0.33

Standalone numbers only: no supernet score is read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mlpnas import load_exported
from mlpnas.rank import kendall_tau, seed_noise


def load_folder(folder: Path, mean: float, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    xs, ys = [], []
    for label, name in enumerate(classes):
        for f in sorted((folder / name).glob("*.png")):
            img = np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0
            xs.append(img.transpose(2, 0, 1))
            ys.append(label)
    x = (torch.from_numpy(np.stack(xs)) - mean) / std
    return x, torch.tensor(ys)


@torch.no_grad()
def accuracy(model, x, y, batch: int = 1000) -> tuple[int, int]:
    correct = 0
    for i in range(0, len(y), batch):
        correct += int((model(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
    return correct, len(y)


def rule(acc: np.ndarray) -> str:
    tau = kendall_tau(acc[:, 0], acc[:, 1])
    noise = seed_noise(acc[:, :2])
    spread = float(np.std(acc[:, :2].mean(1), ddof=1))
    ok = tau >= 0.8 and spread >= 2 * noise
    return (f"tau(seed 0, seed 1) {tau:.3f}, spread {100 * spread:.2f} points, seed noise "
            f"{100 * noise:.2f} points (ratio {spread / noise:.2f}): {'PASS' if ok else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jobs", type=Path)
    ap.add_argument("test", type=Path)
    ap.add_argument("--mean", type=float, default=0.22)
    ap.add_argument("--std", type=float, default=0.33)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--val-size", type=int, default=5000, help="images of the val split")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = load_folder(args.test, args.mean, args.std)
    plan = json.loads((args.jobs.parent / "plan.json").read_text())["archs"]
    rows = []
    for p in plan:
        row = {"arch": p["arch"]}
        for s in range(args.seeds):
            job = args.jobs / p["arch"] / f"seed{s}"
            val = json.loads((job / "result.json").read_text())["val_acc"]
            correct, n = accuracy(load_exported(job / "model"), x, y)
            row[f"val{s}"], row[f"test{s}"] = val, correct / n
            row[f"both{s}"] = (val * args.val_size + correct) / (args.val_size + n)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for split in ("val", "test", "both"):
        acc = np.array([[r[f"{split}{s}"] for s in range(args.seeds)] for r in rows])
        print(f"{split:>5}: {rule(acc)}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
