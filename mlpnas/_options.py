"""The options a verb knows, read from its configuration files (no Hydra, no torch), so that
a misspelt option is one sentence naming the nearest known one instead of being silently
added (`+search.n_trial=5`) or refused by Hydra in several lines.

Known options of a verb: the keys of `conf/<verb>.yaml`, plus, for every configuration group
it selects (`data`, `train`, `hardware`, `search`, `space`, `rank`, ...), the keys of the
chosen option's file, plus whatever an `+experiment=` file sets. Group selections come
from the verb's defaults list, the command line and the experiment's overrides.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import number_problem


def _flat(node: Any, prefix: str = "") -> set[str]:
    """Every dotted key of a nested mapping (the mappings themselves included)."""
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "defaults":
                continue
            key = f"{prefix}{k}"
            out.add(key)
            out |= _flat(v, f"{key}.")
    return out


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def groups(conf_dir: Path) -> set[str]:
    """Configuration groups: the folders of conf/ (hydra's own excluded)."""
    return {p.name for p in conf_dir.iterdir() if p.is_dir() and p.name != "hydra"}


def _selections(conf: dict) -> dict[str, str]:
    """{group: option} of a defaults list (plain `- group: option` and `override /group:`)."""
    out = {}
    for entry in conf.get("defaults") or []:
        if isinstance(entry, dict):
            for k, v in entry.items():
                name = str(k).replace("override ", "").strip().lstrip("/")
                if name != "hydra" and not name.startswith("hydra/") and isinstance(v, str):
                    out[name] = v
    return out


def known_options(conf_dir: Path, verb: str, overrides: Iterable[str]) -> set[str]:
    conf = _load(conf_dir / f"{verb}.yaml")
    known = {k for k in _flat(conf) if not k.startswith("hydra")}
    chosen = _selections(conf)
    for o in overrides:
        key, sep, value = o.partition("=")
        key = key.lstrip("+~")
        if sep and key in groups(conf_dir) and "/" not in value:
            chosen[key] = value
    experiment = chosen.pop("experiment", None)
    if experiment:
        exp = _load(conf_dir / "experiment" / f"{experiment}.yaml")
        for group, option in _selections(exp).items():
            chosen[group] = option
        known |= _flat(exp)
    for group, option in chosen.items():
        known.add(group)
        for one in option.split(","):  # a sweep (`-m data=a,b`) knows every option's keys
            known |= _flat(_load(conf_dir / group / f"{one.strip()}.yaml"), f"{group}.")
    return known


def unknown_option(conf_dir: Path, verb: str, overrides: list[str]) -> str | None:
    """A sentence about the first override that names no known option, or None. Groups
    (`+space=NAME`, `data=NAME`, `+experiment=NAME`) and Hydra's own options pass."""
    known = None
    grp = groups(conf_dir)
    for o in overrides:
        raw, sep, _ = o.partition("=")
        if raw.startswith("~"):  # Hydra's deletion: every option of mlpnas is needed
            key = raw.lstrip("~")
            return (f"'{o}' would delete {key}, and mlpnas needs every option it has; set a "
                    f"value instead (`mlpnas {verb} --help` lists the options and their "
                    f"defaults).")
        if not sep or raw.startswith("-"):
            continue
        key = raw.lstrip("+~")
        if key in grp or key.split(".")[0] == "hydra" or key.split("/")[0] in grp:
            continue
        if known is None:
            known = known_options(conf_dir, verb, overrides)
        if key in known:
            if raw.startswith("+") and not raw.startswith("++"):
                return (f"'{raw}' adds an option that already exists; set it without '+': "
                        f"{key}={o.partition('=')[2]}.")
            continue
        near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = (f"did you mean {near[0]}?" if near else
                f"`mlpnas {verb} --help` lists the options.")
        return f"unknown option '{key}' for mlpnas {verb}; {hint}"
    return None


# -- values ------------------------------------------------------------------------------------
# (dotted key, kind, lower bound, upper bound); kind: int (a whole number), num (any number);
# the bounds are inclusive; `None` passes where the key is listed in NULLABLE
SEED_MAX = 2**31 - 1  # numpy's and Optuna's samplers take seeds below 2**32 (worker offsets added)
RULES: tuple[tuple[str, str, float | None, float | None], ...] = (
    ("seed", "int", 0, SEED_MAX),
    ("img_size", "int", 8, 8192),
    ("search.n_trials", "int", 1, None),
    ("search.population_size", "int", 2, None),
    ("search.eval_batch_size", "int", 1, None),
    ("search.eval_limit", "int", 1, None),
    ("search.recal_batches", "int", 0, None),
    ("search.worker", "int", 0, 1_000_000),
    ("search.metakernel.arch_lr", "num", 1e-12, None),
    ("search.metakernel.arch_weight_decay", "num", 0, None),
    ("search.metakernel.warmup_epochs", "int", 0, None),
    ("search.metakernel.tau_start", "num", 1e-6, None),
    ("search.metakernel.tau_end", "num", 1e-6, None),
    ("search.metakernel.cost_weight", "num", 0, None),
    ("scoring.inits", "int", 1, None),
    ("scoring.batch_size", "int", 2, None),
    ("scoring.splits", "int", 2, None),
    ("scoring.seed", "int", 0, None),
    ("scoring.reference_archs", "int", 2, None),
    ("hardware.threads", "int", 1, None),
    ("hardware.latency.batch_size", "int", 1, None),
    ("hardware.latency.warmup", "int", 0, None),
    ("hardware.latency.repeats", "int", 1, None),
    ("hardware.latency.rounds", "int", 1, None),
    ("data.num_classes", "int", 2, None),
    ("data.train_size", "int", 1, None),
    ("data.holdout_size", "int", 1, None),
    ("data.val_size", "int", 1, None),
    ("data.seed", "int", 0, SEED_MAX),
    ("data.holdout_fraction", "num", 0.001, 0.999),
)
NULLABLE = {"img_size", "search.eval_limit", "hardware.threads"}
# settings with a fixed set of values (None stands for null)
CHOICES: dict[str, tuple] = {
    "hardware.amp": (None, "none", "fp32", "bf16"),
    "hardware.latency.dtype": ("fp32", "bf16", "fp16"),
    "search.metakernel.hard_kernels": (True, False),
    "progress": (True, False),
}
DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


def _get(cfg: dict, key: str):
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def bad_value(cfg: dict) -> str | None:
    """A sentence about the first setting of `cfg` (a plain nested dict) that breaks its
    rule, or None."""
    for key, kind, low, high in RULES:
        value = _get(cfg, key)
        if value is _MISSING or (value is None and key in NULLABLE):
            continue
        problem = number_problem(key, value, kind, low, high)
        if problem:
            return problem
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value is not _MISSING and (isinstance(value, (list, dict)) or value not in allowed
                                      or type(value) is int):  # 1 == True, but no bool
            shown = ", ".join("null" if a is None else str(a).lower() if isinstance(a, bool)
                              else str(a) for a in allowed)
            return f"{key}={value!r} is not one of its values; use one of {shown}."
    device = _get(cfg, "hardware.device")
    if device is not _MISSING and not (isinstance(device, str) and DEVICE.fullmatch(device)):
        return (f"hardware.device={device!r} is not a device mlpnas runs on; use cpu, cuda or "
                f"cuda:N (hardware=cpu or hardware=cuda set it).")
    return _contradiction(cfg)


def _contradiction(cfg: dict) -> str | None:
    """Settings that are each in range but cannot work together."""
    epochs = _get(cfg, "train.epochs")  # checked by the training recipe
    scale = _get(cfg, "data.scale")
    if scale not in (_MISSING, None) and not (
            isinstance(scale, list) and len(scale) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in scale) and 0 < scale[0] <= scale[1] <= 1):
        return (f"data.scale={scale!r} is not an area range; give [low, high] with "
                f"0 < low <= high <= 1, e.g. data.scale=[0.08,1.0].")
    if _get(cfg, "search.strategy") == "metakernel":
        mk = _get(cfg, "search.metakernel")
        start, end = mk.get("tau_start"), mk.get("tau_end")
        if start < end:
            return (f"search.metakernel.tau_start={start:g} is below tau_end={end:g}, but the "
                    f"Gumbel temperature falls from tau_start to tau_end; swap them.")
        if epochs is not _MISSING and mk.get("warmup_epochs") >= epochs:
            return (f"search.metakernel.warmup_epochs={mk.get('warmup_epochs')} leaves no "
                    f"epoch of the training (train.epochs={epochs}) to learn the "
                    f"architecture; give fewer warm-up epochs or more train.epochs.")
    return None
