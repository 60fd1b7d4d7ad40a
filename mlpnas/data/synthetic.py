"""The built-in synthetic dataset: shapes whose class depends on spatial structure.

Generated deterministically from a seed, no download. Ten classes:

- 0, 1: a bar at 45 or 135 degrees (local orientation);
- 2, 3: a plus sign or a diagonal cross (arrangement of strokes);
- 4-9: a square placed in one of six directions (0, 60, ..., 300 degrees) from a disk,
  10 to 16 pixels away at 32x32 (relative position of two objects far apart: the head
  averages over positions, so only a network that mixes tokens across the map can tell;
  these classes are where architectures differ).

Every image has a random dark background with a colour gradient and noise, random object
colours, sizes and positions, and two small distractor dots. Images are stored as uint8
(N, 3, H, W) and normalised on access.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError

CLASSES = (
    "bar 45deg", "bar 135deg", "plus", "cross",
    "square at 0deg of disk", "square at 60deg of disk", "square at 120deg of disk",
    "square at 180deg of disk", "square at 240deg of disk", "square at 300deg of disk",
)
MEAN, STD = 0.5, 0.25
MIN_SIZE = 8  # smaller images cannot hold two shapes apart
VERSION = 2  # bump when the images a seed produces change (invalidates trained supernets)


def _bar(yy, xx, cy, cx, angle, half_len, half_thick):
    dy, dx = np.sin(angle), np.cos(angle)
    along = (yy - cy) * dy + (xx - cx) * dx
    across = -(yy - cy) * dx + (xx - cx) * dy
    return (np.abs(along) <= half_len) & (np.abs(across) <= half_thick)


def _disk(yy, xx, cy, cx, r):
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _square(yy, xx, cy, cx, a):
    return (np.abs(yy - cy) <= a) & (np.abs(xx - cx) <= a)


def render(label: int, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One (3, H, W) float image in [0, 1] of class `label`."""
    s = min(height, width) / 32.0  # sizes below are for 32x32 and scale with the image
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    bg = rng.uniform(0.0, 0.35, size=3)
    gy, gx = rng.uniform(-0.15, 0.15, size=2)
    img = bg[:, None, None] + gy * (yy / height - 0.5) + gx * (xx / width - 0.5)
    img = np.broadcast_to(img, (3, height, width)).copy()

    def paint(mask):
        color = rng.uniform(0.55, 1.0, size=3)
        img[:, mask] = color[:, None]

    def pos(margin):
        return (rng.uniform(margin, height - margin), rng.uniform(margin, width - margin))

    if label < 4:
        half_len = rng.uniform(5.0, 9.0) * s
        half_thick = max(rng.uniform(0.8, 1.6) * s, 0.75)  # visible at any size
        cy, cx = pos(half_len + 1)
        if label < 2:
            angle = (1 + 2 * label) * np.pi / 4 + rng.normal(0, 0.06)
            paint(_bar(yy, xx, cy, cx, angle, half_len, half_thick))
        else:
            base = (0.0 if label == 2 else np.pi / 4) + rng.normal(0, 0.06)
            mask = _bar(yy, xx, cy, cx, base, half_len, half_thick)
            mask |= _bar(yy, xx, cy, cx, base + np.pi / 2, half_len, half_thick)
            paint(mask)
    else:
        angle = (label - 4) * np.pi / 3 + rng.uniform(-0.3, 0.3)  # 0, 60, ..., 300 degrees
        r = rng.uniform(2.5, 3.5) * s
        a = rng.uniform(2.0, 3.0) * s
        dist = rng.uniform(0.32, 0.5) * min(height, width)
        _disk_and_square(paint, rng, yy, xx, angle, r, a, dist)

    for _ in range(2):  # distractors: small dots anywhere
        paint(_disk(yy, xx, *pos(1), max(rng.uniform(0.6, 1.1) * s, 0.5)))
    img += rng.normal(0, 0.06, size=img.shape)
    return np.clip(img, 0.0, 1.0)


def _disk_and_square(paint, rng: np.random.Generator, yy, xx, angle: float, r: float,
                     a: float, dist: float) -> None:
    """Paint a disk of radius r and a square of half-side a at `dist` pixels from it in
    direction `angle`, the pair placed uniformly where both fit in the image."""
    height, width = yy.shape
    oy, ox = dist * np.sin(angle), dist * np.cos(angle)
    margin = max(r, a) + 1
    lo_y, hi_y = margin - min(0, oy), height - margin - max(0, oy)
    lo_x, hi_x = margin - min(0, ox), width - margin - max(0, ox)
    cy, cx = rng.uniform(lo_y, max(lo_y, hi_y)), rng.uniform(lo_x, max(lo_x, hi_x))
    paint(_disk(yy, xx, cy, cx, r))
    paint(_square(yy, xx, cy + oy, cx + ox, a))


def render_relational(label: int, n_classes: int, rng: np.random.Generator, height: int,
                      width: int) -> np.ndarray:
    """One (3, H, W) image of the `relational` variant: a small square in direction
    `label * 360 / n_classes` degrees (+- a third of the sector) from a disk, at a distance
    drawn from 12% to 50% of the image, among three distractor dots. Near pairs are told apart
    by a small receptive field, far ones only by mixing tokens across the map, so accuracy
    grows with how far an architecture's blocks reach, without the sudden plateau exit of
    the default data."""
    s = min(height, width) / 32.0
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    bg = rng.uniform(0.0, 0.35, size=3)
    img = np.broadcast_to(bg[:, None, None], (3, height, width)).copy()

    def paint(mask):
        img[:, mask] = rng.uniform(0.55, 1.0, size=3)[:, None]

    sector = 2 * np.pi / n_classes
    angle = label * sector + rng.uniform(-sector / 3, sector / 3)
    r, a = rng.uniform(2.6, 3.4) * s, rng.uniform(1.2, 1.8) * s
    dist = rng.uniform(0.12, 0.5) * min(height, width)
    _disk_and_square(paint, rng, yy, xx, angle, r, a, dist)
    for _ in range(3):
        py, px = rng.uniform(1, height - 1), rng.uniform(1, width - 1)
        paint(_disk(yy, xx, py, px, max(rng.uniform(0.5, 0.8) * s, 0.5)))
    img += rng.normal(0, 0.06, size=img.shape)
    return np.clip(img, 0.0, 1.0)


VARIANTS = {"shapes": len(CLASSES), "relational": 16}  # variant: most classes


def generate(n: int, seed: int, height: int = 32, width: int = 32,
             num_classes: int = 10, variant: str = "shapes") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3, H, W), labels int64 (n,)); balanced classes, deterministic.
    `variant`: `shapes` (the default data, classes in CLASSES) or `relational` (direction
    classes only, see `render_relational`)."""
    if variant not in VARIANTS:
        raise UserError(f"unknown synthetic variant '{variant}'; use data.variant=shapes or "
                        f"relational.")
    most = VARIANTS[variant]
    if not 2 <= num_classes <= most:
        raise UserError(f"the synthetic dataset ({variant}) has 2 to {most} classes, got "
                        f"data.num_classes={num_classes}; choose a number in that range.")
    if min(height, width) < MIN_SIZE:
        raise UserError(f"the synthetic dataset draws its shapes on images of at least "
                        f"{MIN_SIZE}x{MIN_SIZE}, but the space's input size is {height}x{width}; "
                        f"use a space scale with larger inputs, or real data.")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    images = np.empty((n, 3, height, width), dtype=np.uint8)
    for i, label in enumerate(labels):
        img = (render(int(label), rng, height, width) if variant == "shapes" else
               render_relational(int(label), num_classes, rng, height, width))
        images[i] = np.round(img * 255)
    return images, labels.astype(np.int64)


class SyntheticShapes(Dataset):
    """In-memory synthetic split. `get_batch(indices)` returns normalised float tensors."""

    def __init__(self, n: int, seed: int, height: int = 32, width: int = 32,
                 num_classes: int = 10, in_chans: int = 3, variant: str = "shapes"):
        if in_chans != 3:
            raise UserError(f"the synthetic dataset has 3 channels, but the space's input has "
                            f"{in_chans}; use input_size [3, H, W] or real data.")
        images, labels = generate(n, seed, height, width, num_classes, variant)
        self.images = torch.from_numpy(images)
        self.targets = torch.from_numpy(labels)
        self.num_classes = num_classes
        self.classes = (list(CLASSES[:num_classes]) if variant == "shapes" else
                        [f"square at {k * 360 / num_classes:g}deg of disk"
                         for k in range(num_classes)])

    def __len__(self) -> int:
        return len(self.targets)

    def get_batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        x = self.images.index_select(0, idx).float().div_(255.0).sub_(MEAN).div_(STD)
        return x, self.targets.index_select(0, idx)

    def __getitem__(self, i: int):
        x, y = self.get_batch([i])
        return x[0], int(y[0])
