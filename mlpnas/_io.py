"""Writing files so that a reader, or a run killed mid-write, never sees half a file: write
next to the target, then replace it in one step. Reading YAML that may come from someone
else as plain data only."""

from __future__ import annotations

import importlib.resources
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_target(path: str | Path, durable: bool = False) -> Iterator[Path]:
    """A temporary path next to `path` to write to; when the block ends without an error it
    replaces `path` (after an fsync when `durable`), otherwise it is removed and `path` is
    left as it was. The file gets the permissions of a plain new file (a library that
    writes it private, as safetensors does, would otherwise make it unreadable to others)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:  # a failed write names no file (a full disk): name the target
            e.filename = str(path)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_target(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, default=float) + "\n")


def _umask() -> int:
    mask = os.umask(0o022)  # reading the mask means setting it: put it back at once
    os.umask(mask)
    return mask


class YamlProblem(ValueError):
    """A YAML file mlpnas does not read; the message is a clause naming why."""


def read_plain_yaml(path: str | Path, aliases: bool = False, max_bytes: int = 1 << 20):
    """The data of a YAML file that may come from someone else (a received run's
    config.yaml, a search space): plain data only (`safe_load`: no Python objects), at most
    `max_bytes`, and without anchors or aliases unless `aliases` (eight lines of aliases
    stand for a billion nodes once a consumer such as OmegaConf expands them; the search
    space parser checks every node's type, so a space file may use them). Raises YamlProblem
    saying what is wrong."""
    import yaml

    path = Path(path)
    if path.stat().st_size > max_bytes:
        raise YamlProblem(f"is larger than {max_bytes // 1024} KiB")
    try:
        text = path.read_text()
        for event in () if aliases else yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise YamlProblem(f"uses YAML anchors or aliases (line {mark.line + 1}), which "
                                  f"mlpnas never writes and does not read")
        return yaml.safe_load(text)
    except UnicodeDecodeError:
        raise YamlProblem("is not text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        if isinstance(e, yaml.constructor.ConstructorError):  # a tag: !!python/object...
            raise YamlProblem(f"holds a YAML tag{where} that builds something other than "
                              f"plain data, which mlpnas does not read") from None
        raise YamlProblem(f"is not valid YAML{where}") from None


# the configuration ships inside the package (mlpnas/conf links to the top-level conf/ in a
# source checkout; a wheel carries the files), so every install finds it
CONF_DIR = Path(str(importlib.resources.files("mlpnas") / "conf"))


def packaged_conf(group: str, option: str) -> dict:
    """The values of the configuration file `conf/<group>/<option>.yaml` shipped with mlpnas
    (e.g. `packaged_conf("data", "synthetic")`): what a library caller or an experiment
    starts from, so that every default stays in conf/ alone."""
    path = CONF_DIR / group / f"{option}.yaml"
    if not path.is_file():
        from .errors import UserError

        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise UserError(f"mlpnas has no configuration file conf/{group}/{option}.yaml; use "
                        f"one of {', '.join(known) or 'none'}.")
    return dict(read_plain_yaml(path) or {})
