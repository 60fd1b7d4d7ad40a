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

from ..errors import UserError, section_values
from .synthetic import MEAN, STD, SyntheticShapes

__all__ = ["REAL_KEYS", "SYNTHETIC_KEYS", "DataSplits", "SyntheticShapes", "build_data",
           "data_config", "iterate_batches", "sequential_batches"]


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


# the keys of each kind of data node (conf/data/*.yaml hold every one, with its value)
SYNTHETIC_KEYS = ("num_classes", "train_size", "holdout_size", "val_size", "seed", "variant")
REAL_KEYS = ("root", "holdout_fraction", "seed", "hflip", "scale", "no_aug", "auto_augment",
             "crop_pct", "mean", "std")


def data_config(name: str = "synthetic", **overrides) -> dict[str, Any]:
    """The data node of `conf/data/<name>.yaml` with `overrides` replacing its values: how a
    library caller or an experiment names its data without restating the defaults."""
    from .._io import packaged_conf

    node = packaged_conf("data", name)
    unknown = sorted(set(overrides) - set(node))
    if unknown:
        raise UserError(f"data={name} has no option '{unknown[0]}'; its options are "
                        f"{', '.join(sorted(node))}.")
    return {**node, **overrides}


def build_data(cfg: Mapping[str, Any], input_size: Sequence[int], seed: int = 0) -> DataSplits:
    """`cfg` is the `data` node of the configuration (conf/data/*.yaml, or `data_config`):
    every key its kind of data has must be there; `input_size` is (channels, height, width)
    of the search space."""
    name = section_values(cfg, ("name",), "data")["name"]
    c, h, w = input_size
    if name == "synthetic":
        v = section_values(cfg, SYNTHETIC_KEYS, "data")
        n_cls, base = int(v["num_classes"]), int(v["seed"]) * 1000 + 7919
        sizes = [int(v[k]) for k in ("train_size", "holdout_size", "val_size")]
        need = sum(sizes) * c * h * w  # uint8 images, generated up front
        if need > SYNTHETIC_MAX_BYTES:
            raise UserError(
                f"the synthetic data would take {need / 2**30:.1f} GiB of memory "
                f"({' + '.join(str(n) for n in sizes)} images of {c}x{h}x{w}), more "
                f"than the {SYNTHETIC_MAX_BYTES / 2**30:g} GiB mlpnas generates; lower "
                f"data.train_size (data.holdout_size, data.val_size) or use a smaller input "
                f"size.")
        train, holdout, val = (SyntheticShapes(n, base + offset, h, w, n_cls, c,
                                               str(v["variant"]))
                               for offset, n in enumerate(sizes, start=1))
        return DataSplits(name, train, holdout, val, n_cls,
                          preprocessing(input_size, (MEAN,) * c, (STD,) * c, 1.0))
    if name not in ("imagefolder", "cifar10", "cifar100"):
        raise UserError(f"unknown dataset '{name}'; use data=synthetic, data=imagefolder, "
                        f"data=cifar10 or data=cifar100.")
    from . import _real

    v = section_values(cfg, REAL_KEYS, "data")
    if name == "imagefolder":
        def make(split, training, classes_of=None):
            return _real.image_folder(v["root"], split, input_size, training, v, classes_of)
        train_aug = make("train", True)  # its class indices label the other splits
        train_plain, val = make("train", False, train_aug), make("val", False, train_aug)
        n_cls = train_aug.num_classes
    else:
        variant = int(name[5:])

        def make(train, training):
            return _real.CifarFolder(v["root"], train, variant,
                                     _real.transforms(input_size, training, v))
        train_aug, train_plain, val = make(True, True), make(True, False), make(False, False)
        n_cls = variant
    frac, split_seed = float(v["holdout_fraction"]), int(v["seed"])
    train, _ = _real.holdout_split(train_aug, frac, split_seed)
    _, holdout = _real.holdout_split(train_plain, frac, split_seed)
    return DataSplits(name, train, holdout, val, n_cls,
                      preprocessing(input_size, *_real.normalisation(v)))


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
