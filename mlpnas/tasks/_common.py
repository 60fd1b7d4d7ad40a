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


DIR_KEYS = ("out_dir", "supernet_dir", "cache_dir")


@contextlib.contextmanager
def config_recorded(cfg: DictConfig, out: Path, name: str = "config.yaml"):
    """Record in `out` the configuration this run uses, with its folders made absolute (so
    that the record reads the same from any working directory). Every run writes its own:
    a resumed run is refused when a setting that matters differs, so the record always
    describes what the folder holds, and a run that crashed is followed by the one that
    finishes. The command line and overrides of the run are added to `commands.txt`. If
    the body refuses the run (UserError), the earlier records are put back (or none, if
    there were none), so the refused settings are never left behind."""
    from .._io import write_text_atomic
    from .._record import COMMANDS_FILE, entry

    out.mkdir(parents=True, exist_ok=True)
    path, commands = out / name, out / COMMANDS_FILE
    before = {p: p.read_text() if p.is_file() else None for p in (path, commands)}
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in DIR_KEYS:
        if data.get(key):
            data[key] = str(Path(str(data[key])).expanduser().resolve())
    write_text_atomic(path, OmegaConf.to_yaml(OmegaConf.create(data)))
    if entry() is not None:
        write_text_atomic(commands, (before[commands] or "") + entry())
    try:
        yield
    except UserError:
        for p, text in before.items():
            if text is None:
                p.unlink(missing_ok=True)
            else:
                write_text_atomic(p, text)
        raise


def run_folder_path(run_dir: Path, recorded: str) -> Path:
    """A folder named in a run's config.yaml: as written if absolute; a relative one (older
    runs recorded them relative to where the search ran) is looked for from the working
    directory, then from the run folder and each folder above it."""
    p = Path(recorded).expanduser()
    if p.is_absolute() or p.exists():
        return p
    for base in (run_dir, *run_dir.resolve().parents):
        if (base / p).exists():
            return base / p
    return p


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


@contextlib.contextmanager
def held_alone(path: Path, busy: str):
    """Hold an exclusive lock on `path` for the body; if another process of this machine
    holds it, refuse with the sentence `busy` instead of waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def supernet_lock(directory: Path):
    """One process at a time trains the supernet in `directory`. A finished supernet in a
    folder this user cannot write to (shared, read-only) is reused without the lock; an
    unfinished one there cannot be trained, which is said in one sentence."""
    lock = directory.parent / f".{directory.name}.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock, "w")  # noqa: SIM115 (closed below, after the fallback)
    except OSError as e:
        from ..train import CHECKPOINT, load_checkpoint

        ckpt = directory / CHECKPOINT
        if ckpt.is_file() and load_checkpoint(ckpt).get("finished"):
            yield  # read-only use of a finished supernet needs no lock
            return
        raise UserError(f"cannot write in '{lock.parent}' ({e.strerror or e}) to train the "
                        f"supernet there; give supernet_dir a folder you can write to.") \
            from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
