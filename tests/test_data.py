"""Data: the synthetic dataset, image folders and CIFAR-format directories written here."""

import pickle
import re

import numpy as np
import pytest
import torch
from helpers import write_cifar, write_image_folder
from PIL import Image

from mlpnas.data import build_data, data_config, iterate_batches, sequential_batches
from mlpnas.data.synthetic import CLASSES, generate, render
from mlpnas.errors import UserError


def test_synthetic_is_deterministic_and_balanced():
    a, la = generate(200, 5)
    b, lb = generate(200, 5)
    c, _ = generate(200, 6)
    assert np.array_equal(a, b) and np.array_equal(la, lb) and not np.array_equal(a, c)
    assert np.bincount(la).tolist() == [20] * 10
    assert a.shape == (200, 3, 32, 32) and a.dtype == np.uint8


def test_synthetic_classes_need_spatial_structure():
    """Position-free statistics (the histogram of pixel values) do not tell the relational
    classes apart: a nearest-class-mean classifier on histograms stays near chance among
    'square right of / below / left of / above disk'."""
    imgs, labels = generate(1600, 1)
    sel = (labels >= 4) & (labels <= 7)
    x = imgs[sel].mean(1).reshape(sel.sum(), -1)
    feats = np.stack([np.histogram(v, bins=16, range=(0, 255))[0] for v in x]).astype(float)
    y = labels[sel] - 4
    half = len(y) // 2
    means = np.stack([feats[:half][y[:half] == c].mean(0) for c in range(4)])
    pred = np.argmin(((feats[half:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y[half:]).mean() < 0.4  # chance is 0.25
    assert len(CLASSES) == 10


def test_synthetic_any_size():
    img = render(3, np.random.default_rng(0), 45, 61)
    assert img.shape == (3, 45, 61) and img.min() >= 0 and img.max() <= 1


def test_build_synthetic_splits_are_disjoint_draws():
    d = build_data(data_config(train_size=100, holdout_size=50,
                               val_size=50), (3, 16, 16))
    assert (len(d.train), len(d.holdout), len(d.val), d.num_classes) == (100, 50, 50, 10)
    assert not torch.equal(d.train.images[:50], d.holdout.images)
    x, y = next(iterate_batches(d.val, sequential_batches(50, 8)))
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.float32 and y.shape == (8,)


def test_image_folder_through_timm(tmp_path):
    write_image_folder(tmp_path)
    d = build_data(data_config("imagefolder", root=str(tmp_path), holdout_fraction=0.25),
                   (3, 16, 16))
    assert d.num_classes == 3 and len(d.train) == 9 and len(d.holdout) == 3 and len(d.val) == 12
    x, y = next(iterate_batches(d.val, [list(range(4))]))
    assert x.shape == (4, 3, 16, 16) and set(y.tolist()) <= {0, 1, 2}
    x, _ = next(iterate_batches(d.train, [list(range(4))]))
    assert x.shape == (4, 3, 16, 16)


def _images(folder, n=2, size=12):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{i}.png")


def test_image_folder_val_uses_the_train_class_indices(tmp_path):
    """train {a, b, c}, val {a, c}: val's c is class 2, as in train, not 1."""
    for c in "abc":
        _images(tmp_path / "train" / c)
    _images(tmp_path / "val" / "a", n=2)
    _images(tmp_path / "val" / "c", n=3)
    d = build_data(data_config("imagefolder", root=str(tmp_path), holdout_fraction=0.2),
                   (3, 8, 8))
    assert d.num_classes == 3 and d.val.num_classes == 3
    _, y = next(iterate_batches(d.val, [list(range(len(d.val)))]))
    assert sorted(y.tolist()) == [0, 0, 2, 2, 2]


def test_image_folder_val_class_missing_from_train_is_refused(tmp_path):
    for c in "ab":
        _images(tmp_path / "train" / c)
    for c in "abde":
        _images(tmp_path / "val" / c)
    with pytest.raises(UserError) as err:
        build_data(data_config("imagefolder", root=str(tmp_path)), (3, 8, 8))
    message = str(err.value)
    assert "'d', 'e'" in message and "'b'" not in message
    assert str(tmp_path / "val") in message and str(tmp_path / "train") in message


@pytest.mark.parametrize("variant,sub", [(10, "cifar-10-batches-py"), (100, "")])
def test_cifar_format_directory(tmp_path, variant, sub):
    write_cifar(tmp_path / sub if sub else tmp_path / "c", variant)
    root = tmp_path if sub else tmp_path / "c"
    d = build_data(data_config(f"cifar{variant}", root=str(root), holdout_fraction=0.1),
                   (3, 32, 32))
    assert d.num_classes == variant and len(d.train) == 27 and len(d.holdout) == 3
    assert len(d.val) == 10
    x, y = next(iterate_batches(d.val, [[0, 1, 2]]))
    assert x.shape == (3, 3, 32, 32)


@pytest.mark.parametrize("cfg,message", [
    (data_config("imagefolder"), "data=imagefolder needs a dataset folder: add data.root="),
    (data_config("imagefolder", root="/no/such/dir"), "data.root '/no/such/dir' does not exist"),
    (data_config("cifar10", root="EMPTY"), "holds no CIFAR-10 batch files"),
    (data_config("imagefolder", root="EMPTY"), "has no 'train' folder"),
    ({"name": "imagenet21k"}, "unknown dataset 'imagenet21k'"),
])
def test_missing_or_empty_dataset_is_one_clear_error(tmp_path, cfg, message):
    cfg = {k: (str(tmp_path) if v == "EMPTY" else v) for k, v in cfg.items()}
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        build_data(cfg, (3, 16, 16))


def test_image_folder_without_images(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "val" / "a").mkdir(parents=True)
    with pytest.raises(UserError, match="holds no images"):
        build_data(data_config("imagefolder", root=str(tmp_path)), (3, 16, 16))


class _Payload:
    """Unpickling this creates a file: what a crafted data or checkpoint file could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_crafted_cifar_batch_is_refused_and_runs_nothing(tmp_path):
    root = tmp_path / "c"
    write_cifar(root, 10)
    marker = tmp_path / "pwned"
    with open(root / "data_batch_1", "wb") as fh:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1],
                     "x": _Payload(marker)}, fh)
    with pytest.raises(UserError, match="is not a plain CIFAR batch .*reads no other pickled "
                                        "objects"):
        build_data(data_config("cifar10", root=str(root)), (3, 32, 32))
    assert not marker.exists()


def test_relational_variant_draws_direction_classes_only():
    from mlpnas.data.synthetic import generate

    a, la = generate(64, 3, 32, 32, 16, "relational")
    b, lb = generate(64, 3, 32, 32, 16, "relational")
    assert np.array_equal(a, b) and np.array_equal(la, lb)  # deterministic
    assert sorted(np.bincount(la, minlength=16).tolist()) == [4] * 16  # balanced
    d = build_data(data_config(variant="relational", num_classes=16,
                               train_size=32, holdout_size=16, val_size=16), (3, 32, 32))
    assert d.num_classes == 16 and d.train.classes[4] == "square at 90deg of disk"
    with pytest.raises(UserError, match="has 2 to 16 classes, got data.num_classes=17"):
        generate(8, 0, 32, 32, 17, "relational")
    with pytest.raises(UserError, match="unknown synthetic variant 'swirl'"):
        generate(8, 0, 32, 32, 10, "swirl")


class _Huge:
    """Unpickles to a numpy array of 10**12 values through `_reconstruct`, a global every
    CIFAR batch uses: no code runs, but the memory would fill."""

    def __reduce__(self):
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy 1
            from numpy.core.multiarray import _reconstruct
        return (_reconstruct, (np.ndarray, (10**12,), b"b"))


@pytest.mark.parametrize("batch,message", [
    ({"labels": [12] * 15}, "(a label is 12, outside 0..9)"),
    ({"labels": [-1] * 15}, "(a label is -1, outside 0..9)"),
    ({"data": np.zeros((15, 100), np.uint8)}, "its 'data' is not rows of 3072 bytes but "
                                              "(15, 100)"),
    ({"data": "hello"}, "its 'data' is not rows of 3072 bytes but str"),
    ({"labels": None}, "it has no 'labels' list with one label per image"),
    ({"labels": [[1]] * 15}, "its 'labels' are not whole numbers"),
    ({"data": _Huge()}, "it asks for an array of 1e+12 values"),
])
def test_a_cifar_batch_of_the_wrong_content_is_one_sentence(tmp_path, batch, message):
    """Labels out of range used to fail mid-training, rows of the wrong length and an array
    larger than the file in tracebacks; each is refused when the batch is read."""
    root = tmp_path / "c"
    write_cifar(root, 10)
    entry = {"data": np.zeros((15, 3072), np.uint8), "labels": [1] * 15, **batch}
    with open(root / "data_batch_1", "wb") as fh:
        pickle.dump(entry, fh)
    with pytest.raises(UserError, match=re.escape(message)):
        build_data(data_config("cifar10", root=str(root)), (3, 32, 32))


def test_synthetic_data_larger_than_memory_is_refused_before_it_is_drawn():
    """An export at the largest input size (8192x8192) asked for 96 GiB of synthetic images."""
    with pytest.raises(UserError, match=re.escape(
            "the synthetic data would take 132.0 GiB of memory (512 + 128 + 64 images of "
            "3x8192x8192), more than the 8 GiB mlpnas generates")):
        build_data(data_config(train_size=512, holdout_size=128,
                               val_size=64), (3, 8192, 8192))


def test_a_data_node_lacking_a_key_is_one_sentence_naming_it():
    """Defaults live in conf/data/ alone: a node without one of its kind's keys is refused
    (before, the code filled in train_size=20000 where conf/ says 9600)."""
    node = data_config(train_size=16, holdout_size=8, val_size=8)
    del node["train_size"]
    with pytest.raises(UserError, match=re.escape(
            "the data settings lack data.train_size; give it (the files in conf/data/ hold "
            "every one).")):
        build_data(node, (3, 8, 8))
    node = data_config("cifar10", root="/nowhere")
    del node["crop_pct"]
    with pytest.raises(UserError, match="the data settings lack data.crop_pct"):
        build_data(node, (3, 8, 8))
    with pytest.raises(UserError, match="data=synthetic has no option 'train_sise'; its options "
                                        "are holdout_size, name, num_classes, seed, "):
        data_config(train_sise=16)
    with pytest.raises(UserError, match="no configuration file conf/data/mnist.yaml; use one "
                                        "of cifar10, cifar100, imagefolder, synthetic"):
        data_config("mnist")
