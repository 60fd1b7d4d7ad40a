"""What identifies a trained model: its data, recipe and seed, plus what the caller adds (the
search space of a supernet, the architecture of a standalone run). A run folder whose stored
fingerprint differs from the one asked for is neither resumed nor reused; the difference is
named in one sentence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# recipe fields that change the trained model; a checkpoint trained with other values of
# these cannot be resumed or reused
RECIPE_KEYS = ("epochs", "batch_size", "lr", "min_lr", "weight_decay", "warmup_epochs",
               "label_smoothing", "mixup", "cutmix", "sampling", "sandwich_random", "distill",
               "kd_temperature", "grad_clip", "drop_path", "sort_channels", "few_shot",
               "init_from")
# not defaults: the values every supernet was trained with before these fields existed, read
# where a stored checkpoint or recorded configuration lacks one
LEGACY_RECIPE_VALUES = {"sampling": "sandwich", "few_shot": "none", "init_from": None}
# not a default: the images every synthetic run had before data.variant existed, read where a
# recorded configuration or a stored fingerprint lacks it
LEGACY_DATA_VALUES = {"variant": "shapes"}
# what a stored fingerprint's part is read with, where it lacks a later key
LEGACY_VALUES = {"recipe": LEGACY_RECIPE_VALUES, "data": LEGACY_DATA_VALUES}
# the recipe fields that change a standalone run (the supernet's sampling ones do not)
STANDALONE_RECIPE_KEYS = tuple(k for k in RECIPE_KEYS if k not in (
    "sandwich_random", "distill", "kd_temperature", "sort_channels", "sampling", "few_shot",
    "init_from"))


def data_fingerprint(data_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The data options that change the images (the loader's worker count does not)."""
    return {k: data_cfg[k] for k in sorted(data_cfg) if k != "num_workers"}


def first_difference(stored: Mapping[str, Any], wanted: Mapping[str, Any],
                     parts: Iterable[str]) -> str | None:
    """A sentence naming the first of `parts` in which two fingerprints differ (for a part
    that is a dict, the first of the wanted keys that differs: a stored key no longer part
    of the identity is not compared), or None when they agree."""
    for part in parts:
        a, b = stored.get(part), wanted.get(part)
        if isinstance(b, Mapping):
            a = dict(a or {})
            a = {**LEGACY_VALUES.get(part, {}), **a}
            for k in sorted(b):
                if a.get(k) != b.get(k):
                    return (f"it was trained with {part}.{k}={a.get(k)!r}, this run asks for "
                            f"{b.get(k)!r}")
        elif a != b:
            return f"it was trained with {part}={a!r}, this run asks for {b!r}"
    return None
