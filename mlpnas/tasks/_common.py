"""Helpers shared by the tasks: configuration nodes to plain data, the space of a config."""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Hardware:
    """Where a task runs (`hardware.device`, `hardware.amp`, `hardware.threads`)."""

    device: str
    amp: str | None
    threads: int | None


def hardware(cfg: DictConfig) -> Hardware:
    """The task's hardware settings. Sets torch's thread count to `hardware.threads` (when
    given) for the whole process: the one place that does, called once at a task's start."""
    hw = cfg.hardware
    threads = hw.get("threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    return Hardware(str(hw.device), hw.get("amp"), threads)


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


RUN_SECTIONS = ("space", "data", "train", "search", "hardware")


def read_run_config(run_dir: Path):
    """The config.yaml a search recorded in `run_dir` and the supernet recipe it holds,
    read as a file that may come from someone else: plain YAML data only (no tags, anchors
    or aliases), no interpolations (mlpnas records resolved values: `${oc.env:...}` would
    pull in this machine's environment), the sections a search records, and every value
    within the rules the command line and the recipe apply. Any problem is one sentence."""
    from .._io import YamlProblem, read_plain_yaml
    from .._options import bad_value
    from ..supernet import SupernetRecipe
    from ..train import LEGACY_DATA_VALUES

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"'{run_dir}' has no config.yaml; it was not written by `mlpnas "
                        f"search`.")

    def refused(why: str) -> UserError:
        return UserError(f"'{path}' {why}; it is not the configuration `mlpnas search` "
                         f"records: restore it, or run the search again.")

    try:
        data = read_plain_yaml(path)
    except YamlProblem as e:
        raise refused(str(e)) from None
    if not isinstance(data, dict):
        raise refused("is not a mapping of settings")
    missing = [k for k in RUN_SECTIONS if not isinstance(data.get(k), dict)]
    if missing or not isinstance(data.get("supernet_dir"), str):
        raise refused(f"has no '{missing[0] if missing else 'supernet_dir'}' section")
    text = next((t for t in _strings(data) if "${" in t), None)
    if text is not None:
        raise refused(f"holds an interpolation ('{text[:60]}'), which mlpnas never records")
    if data["data"].get("name") == "synthetic":  # recorded before the variant key existed
        data["data"] = {**LEGACY_DATA_VALUES, **data["data"]}
    problem = bad_value(data)
    try:
        recipe = None if problem else SupernetRecipe.of(data["train"])
    except UserError as e:
        problem = str(e)
    if problem:
        raise refused(f"holds a setting mlpnas refuses ({problem.rstrip('.')})")
    return OmegaConf.create(data), recipe


def _strings(node):
    if isinstance(node, dict):
        node = [*node.keys(), *node.values()]
    if isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


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


def refuse_links(folder: Path, option: str) -> None:
    """Refuse a folder that holds a symbolic link anywhere below it. mlpnas writes no links
    into its folders, and a run folder may have come from someone else: a planted link
    (`exported` -> elsewhere) would steer what mlpnas writes there out of the folder."""
    for where, dirs, files in os.walk(folder):  # does not descend into linked folders
        for name in (*dirs, *files):
            path = Path(where) / name
            if path.is_symlink():
                raise UserError(f"'{path}' is a symbolic link (to '{os.readlink(path)}'), which "
                                f"mlpnas never writes into a run folder, and it does not write "
                                f"through one; remove the link, or give {option} a folder of "
                                f"your own.")


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


def is_held(path: Path) -> bool:
    """Whether another process holds the `held_alone` / `file_lock` lock on `path`."""
    try:
        fh = open(path, "a")  # noqa: SIM115 (closed below; "a" keeps the file as it is)
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


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
