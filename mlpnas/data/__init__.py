"""Data: the built-in synthetic dataset (default) and real datasets (image folders through
timm's dataset factory, CIFAR-format directories), split three ways:

- `train`: what the supernet trains on;
- `holdout`: carved from the training data with a fixed seed, never trained on; the search
  scores architectures on it;
- `val`: the dataset's validation split, for reported accuracies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import UserError
from .synthetic import MEAN, STD, SyntheticShapes

__all__ = ["DataSplits", "SyntheticShapes", "build_data", "iterate_batches", "sequential_batches"]


@dataclass
class DataSplits:
    name: str
    train: Dataset
    holdout: Dataset
    val: Dataset
    num_classes: int
    # how an image becomes the model's input (timm's pretrained_cfg names): exports carry it,
    # so that timm's data pipeline feeds a found architecture what it was trained on
    preprocessing: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return (f"data '{self.name}': {len(self.train)} train, {len(self.holdout)} holdout, "
                f"{len(self.val)} val images, {self.num_classes} classes")


# the most memory the built-in synthetic data may take (it is generated before training)
SYNTHETIC_MAX_BYTES = 8 * 2**30


def build_data(cfg: Mapping[str, Any], input_size: Sequence[int], seed: int = 0) -> DataSplits:
    """`cfg` is the `data` node of the configuration (conf/data/*.yaml); `input_size` is
    (channels, height, width) of the search space."""
    name = cfg.get("name", "synthetic")
    c, h, w = input_size
    if name == "synthetic":
        n_cls = int(cfg.get("num_classes", 10))
        base = int(cfg.get("seed", 0)) * 1000 + 7919
        variant = str(cfg.get("variant", "shapes"))

        sizes = {k: int(cfg.get(k, d)) for k, d in
                 (("train_size", 20000), ("holdout_size", 2000), ("val_size", 2000))}
        need = sum(sizes.values()) * c * h * w  # uint8 images, generated up front
        if need > SYNTHETIC_MAX_BYTES:
            raise UserError(
                f"the synthetic data would take {need / 2**30:.1f} GiB of memory "
                f"({' + '.join(str(n) for n in sizes.values())} images of {c}x{h}x{w}), more "
                f"than the {SYNTHETIC_MAX_BYTES / 2**30:g} GiB mlpnas generates; lower "
                f"data.train_size (data.holdout_size, data.val_size) or use a smaller input "
                f"size.")

        def split(size_key: str, default: int, offset: int) -> SyntheticShapes:
            return SyntheticShapes(sizes[size_key], base + offset, h, w, n_cls, c, variant)

        return DataSplits(name, split("train_size", 20000, 1), split("holdout_size", 2000, 2),
                          split("val_size", 2000, 3), n_cls,
                          preprocessing(input_size, (MEAN,) * c, (STD,) * c, 1.0))
    from . import _real

    frac = float(cfg.get("holdout_fraction", 0.1))
    if name == "imagefolder":
        def make(split, training, classes_of=None):
            return _real.image_folder(cfg.get("root"), split, input_size, training, cfg,
                                      classes_of)
        train_aug = make("train", True)  # its class indices label the other splits
        train_plain, val = make("train", False, train_aug), make("val", False, train_aug)
        n_cls = train_aug.num_classes
    elif name in ("cifar10", "cifar100"):
        variant = int(name[5:])

        def make(train, training):
            return _real.CifarFolder(cfg.get("root"), train, variant,
                                     _real.transforms(input_size, training, cfg))
        train_aug, train_plain, val = make(True, True), make(True, False), make(False, False)
        n_cls = variant
    else:
        raise UserError(f"unknown dataset '{name}'; use data=synthetic, data=imagefolder, "
                        f"data=cifar10 or data=cifar100.")
    split_seed = int(cfg.get("seed", 0))
    train, _ = _real.holdout_split(train_aug, frac, split_seed)
    _, holdout = _real.holdout_split(train_plain, frac, split_seed)
    return DataSplits(name, train, holdout, val, n_cls,
                      preprocessing(input_size, *_real.normalisation(cfg)))


def preprocessing(input_size: Sequence[int], mean: Sequence[float], std: Sequence[float],
                  crop_pct: float) -> dict[str, Any]:
    """The input size, normalisation, crop fraction and resize interpolation of a dataset's
    evaluation images, in timm's pretrained_cfg names."""
    return {"input_size": [int(v) for v in input_size], "mean": [float(v) for v in mean],
            "std": [float(v) for v in std], "crop_pct": float(crop_pct),
            "interpolation": "bicubic"}  # what mlpnas.data._real resizes real images with


def iterate_batches(ds: Dataset, batches: Sequence[Sequence[int]], num_workers: int = 0,
                    pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, labels) for the given lists of indices, in order. In-memory datasets
    (the synthetic one) are sliced directly; others go through a DataLoader."""
    if hasattr(ds, "get_batch"):
        for idx in batches:
            yield ds.get_batch(idx)
        return
    loader = DataLoader(ds, batch_sampler=list(batches), num_workers=num_workers,
                        pin_memory=pin_memory, persistent_workers=False)
    yield from loader


def sequential_batches(n: int, batch_size: int, limit: int | None = None) -> list[list[int]]:
    """Index batches covering the first `limit` (default all) items in order."""
    n = n if limit is None else min(n, limit)
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
