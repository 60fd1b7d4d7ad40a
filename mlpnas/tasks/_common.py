"""Helpers shared by the tasks: configuration nodes to plain data, the space of a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..errors import UserError


def plain(node) -> Any:
    """An OmegaConf node as plain Python data (dicts, lists, scalars)."""
    if isinstance(node, DictConfig) or OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def space_from_cfg(cfg: DictConfig):
    from ..space import known_spaces, load_space

    node = cfg.get("space")
    if node is None:
        raise UserError(f"no search space given; add +space=NAME with NAME one of "
                        f"{', '.join(known_spaces())} (or +space=/path/to/space.yaml).")
    path = node.get("path") or node.get("name")
    return load_space(path, node.get("scale"))


def device_of(cfg: DictConfig) -> tuple[str, str | None, int | None]:
    hw = cfg.hardware
    return str(hw.device), hw.get("amp"), hw.get("threads")


def out_path(cfg: DictConfig, key: str = "out_dir") -> Path:
    return Path(str(cfg[key]))


def save_config(cfg: DictConfig, out: Path, name: str = "config.yaml") -> None:
    """Record the run's configuration in `out` unless a previous run already did (so that a
    refused or resumed run never overwrites what was written)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    if not path.exists():
        path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
