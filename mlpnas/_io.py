"""Writing files so that a reader, or a run killed mid-write, never sees half a file: write
next to the target, then replace it in one step."""

from __future__ import annotations

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
