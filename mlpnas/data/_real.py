"""Real datasets: image folders through timm's dataset factory, CIFAR-format directories,
both with timm's transforms."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset, Subset

from ..errors import UserError


def _check_root(root: str | None, what: str) -> Path:
    if root in (None, "", "???"):
        raise UserError(f"data={what} needs a dataset folder: add data.root=/path/to/dataset.")
    p = Path(root).expanduser()
    if not p.is_dir():
        raise UserError(f"data.root '{p}' does not exist or is not a folder; point data.root "
                        f"at the {what} dataset.")
    return p


INTERPOLATION = "bicubic"  # also in mlpnas.data.preprocessing


def normalisation(cfg) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """(mean, std, crop fraction) of a real dataset's evaluation images."""
    return tuple(cfg["mean"]), tuple(cfg["std"]), float(cfg["crop_pct"])


def transforms(input_size, is_training: bool, cfg):
    from timm.data import create_transform

    scale = cfg["scale"]
    mean, std, crop_pct = normalisation(cfg)
    return create_transform(
        tuple(input_size), is_training=is_training, no_aug=bool(cfg["no_aug"]),
        scale=tuple(scale) if scale is not None else None,
        hflip=cfg["hflip"] if is_training else 0.0,
        auto_augment=cfg["auto_augment"] if is_training else None,
        crop_pct=crop_pct, interpolation=INTERPOLATION, mean=mean, std=std)


def _find_split(root: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        if (root / n).is_dir():
            return root / n
    return None


def _class_names(folder: Path) -> set[str]:
    """The classes timm's folder reader finds: the name of the folder holding each image
    (with timm's image extensions)."""
    from timm.data import get_img_extensions

    exts = get_img_extensions(as_set=True)
    names = set()
    for where, _, files in os.walk(folder, followlinks=True):
        if any(os.path.splitext(f)[1].lower() in exts for f in files):
            names.add("" if Path(where) == folder else os.path.basename(where))
    return names


def image_folder(root: str, split: str, input_size, is_training: bool, cfg,
                 classes_of: Dataset | None = None) -> Dataset:
    """`root/<split>/<class>/<image>` read by timm's dataset factory. `classes_of` is the
    training split built before: its class-to-index map labels this split too, so a class
    missing here keeps its index, and a class the training split lacks is refused."""
    from timm.data import create_dataset, get_img_extensions

    base = _check_root(root, "imagefolder")
    names = {"train": ("train", "training"), "val": ("val", "validation", "valid", "test")}
    folder = _find_split(base, names.get(split, (split,)))
    if folder is None:
        raise UserError(f"data.root '{base}' has no '{names.get(split, (split,))[0]}' folder; "
                        f"an image-folder dataset needs {base}/train/<class>/<images> and "
                        f"{base}/val/<class>/<images>.")
    classes = _class_names(folder)
    if not classes:
        raise UserError(f"dataset folder '{folder}' holds no images "
                        f"({', '.join(get_img_extensions())}); put one sub-folder of images "
                        f"per class in it.")
    if classes_of is None and len(classes) < 2:
        raise UserError(f"dataset folder '{folder}' holds one class ({', '.join(classes)}); a "
                        f"classifier needs at least two class folders of images.")
    class_map = None
    if classes_of is not None:
        class_map = dict(classes_of.class_to_idx)
        extra = sorted(classes - set(class_map))
        if extra:
            raise UserError(
                f"'{folder}' has class folder(s) {', '.join(repr(c) for c in extra)} that "
                f"'{classes_of.folder}' lacks; every {split} class needs training images, so "
                f"add them there or remove the class from '{folder}'.")
    ds = create_dataset("", root=str(folder), split=split, search_split=False,
                        class_map=class_map, is_training=is_training,
                        transform=transforms(input_size, is_training, cfg))
    ds.folder = folder
    ds.class_to_idx = dict(ds.reader.class_to_idx)
    ds.num_classes = len(ds.class_to_idx)
    return ds


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR batch holds (dicts, lists, strings, bytes, numbers and numpy
    arrays) and nothing else: any other global a crafted file names is refused, so reading a
    batch never runs code."""

    ALLOWED = {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
               for name in ("_reconstruct", "scalar")} | {("numpy", "ndarray"),
                                                          ("numpy", "dtype")}

    def __init__(self, fh, limit: int, **kwargs):
        super().__init__(fh, **kwargs)
        self.limit = limit

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise _Refused(f"{module}.{name}")
        found = super().find_class(module, name)
        if name != "_reconstruct":
            return found
        limit = self.limit

        def reconstruct(cls, shape, dtype):  # an array no larger than the file itself
            n = np.prod(np.asarray(shape, dtype=np.float64)) if np.ndim(shape) else shape
            if not np.isfinite(n) or n > limit:
                raise _Refused(f"an array of {n:.3g} values in a file of {limit} bytes")
            return found(cls, shape, dtype)

        return reconstruct


class _Refused(pickle.UnpicklingError):
    """What a crafted CIFAR file asks for and mlpnas does not build."""


def read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            entry = _CifarUnpickler(fh, path.stat().st_size, encoding="latin1").load()
    except _Refused as e:
        raise UserError(f"'{path}' is not a plain CIFAR batch (it asks for {e}), and mlpnas "
                        f"reads no other pickled objects (they could run code, or fill the "
                        f"memory); use the files of the official cifar-*-python.tar.gz.") \
            from None
    except (EOFError, ValueError, OSError, pickle.UnpicklingError, TypeError, MemoryError) as e:
        raise UserError(f"cannot read the CIFAR batch '{path}' ({type(e).__name__}); it is "
                        f"damaged or cut short: unpack the archive again.") from None
    if not isinstance(entry, dict) or "data" not in entry:
        raise UserError(f"'{path}' is not a CIFAR batch (no 'data' entry); point data.root at "
                        f"an unpacked CIFAR python archive.")
    return entry


def _cifar_content(entry: dict, key: str, variant: int, path: Path):
    """(images (N, 32, 32, 3) uint8, labels) of one batch, checked: 3072 bytes per image,
    one whole-number label per image within the classes."""
    def bad(why: str) -> UserError:
        return UserError(f"'{path}' is not a CIFAR-{variant} batch ({why}); point data.root "
                         f"at an unpacked CIFAR-{variant} python archive.")

    data, labels = entry.get("data"), entry.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", type(data).__name__)
        raise bad(f"its 'data' is not rows of 3072 bytes but {shape}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise bad(f"it has no '{key}' list with one label per image")
    try:
        labels = np.asarray(labels)
        ok = labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise bad(f"its '{key}' are not whole numbers")
    if len(labels) and (labels.min() < 0 or labels.max() >= variant):
        raise bad(f"a label is {labels.min() if labels.min() < 0 else labels.max()}, outside "
                  f"0..{variant - 1}")
    return data.reshape(-1, 3, 32, 32), [int(t) for t in labels]


class CifarFolder(Dataset):
    """A CIFAR-10/100 directory in the original python-pickle format (`data_batch_1..5` and
    `test_batch`, or `train` and `test` for CIFAR-100), possibly inside
    `cifar-10-batches-py` / `cifar-100-python`. Unlike torchvision's loader it does not insist
    on the md5 sums of the official files, so smaller or re-packed directories work too."""

    def __init__(self, root: str, train: bool, variant: int, transform=None):
        base = _check_root(root, f"cifar{variant}")
        sub = base / ("cifar-10-batches-py" if variant == 10 else "cifar-100-python")
        base = sub if sub.is_dir() else base
        if variant == 10:
            files = sorted(base.glob("data_batch_*")) if train else [base / "test_batch"]
            key = "labels"
        else:
            files = [base / ("train" if train else "test")]
            key = "fine_labels"
        files = [f for f in files if f.is_file()]
        if not files:
            expected = "data_batch_1..5 and test_batch" if variant == 10 else "train and test"
            raise UserError(f"'{base}' holds no CIFAR-{variant} batch files ({expected}); "
                            f"point data.root at an unpacked CIFAR-{variant} python archive.")
        data, labels = [], []
        for f in files:
            images, targets = _cifar_content(read_cifar_batch(f), key, variant, f)
            data.append(images)
            labels.extend(targets)
        self.data = np.concatenate(data).transpose(0, 2, 3, 1)  # N, H, W, C
        self.targets = labels
        self.transform = transform
        self.num_classes = variant

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.data[i])
        return (self.transform(img) if self.transform else img), self.targets[i]


def holdout_split(ds: Dataset, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split a training set into (train, holdout) with a fixed seed: the supernet never sees
    the holdout part, which the search scores architectures on."""
    n = len(ds)
    n_hold = max(1, int(round(n * fraction)))
    order = np.random.default_rng(seed).permutation(n)
    return Subset(ds, sorted(order[n_hold:].tolist())), Subset(ds, sorted(order[:n_hold].tolist()))
