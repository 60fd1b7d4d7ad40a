"""Helpers shared by the tasks: configuration nodes to plain data, the space of a config."""

from __future__ import annotations

import contextlib
import fcntl
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


@contextlib.contextmanager
def config_recorded(cfg: DictConfig, out: Path, name: str = "config.yaml"):
    """Record the run's configuration in `out` for the duration of the body, unless a previous
    run already did (a resumed run never overwrites what was written). If the body refuses
    the run (UserError), the record this call wrote is removed again, so that the corrected
    command records its own settings rather than the refused ones."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    wrote = not path.exists()
    if wrote:
        path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        yield
    except UserError:
        if wrote:
            path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive lock between workers on one machine (a study storage or a ranking plan
    is set up by one at a time; a missing supernet is trained once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
