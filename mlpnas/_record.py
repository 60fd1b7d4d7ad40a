"""Which command made a run: the command line (or the Python call, as the command line that
does the same) and the overrides of this job, recorded in the run folder (`commands.txt`,
one entry per invocation, oldest first) beside the configuration it used (`config.yaml`).

The entry (`mlpnas.cli.run`, or a job of a Hydra multirun) says what is running with
`invocation(...)`; the task that writes the run folder's configuration adds the entry."""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

COMMANDS_FILE = "commands.txt"

_current: ContextVar[dict | None] = ContextVar("mlpnas_invocation", default=None)


@contextlib.contextmanager
def invocation(command: str, overrides: Sequence[str], from_python: bool = False
               ) -> Iterator[None]:
    token = _current.set({"command": command, "overrides": list(overrides),
                          "from_python": from_python})
    try:
        yield
    finally:
        _current.reset(token)


def current() -> dict | None:
    """{command, overrides} of what is running now, or None outside an invocation."""
    now = _current.get()
    return None if now is None else {"command": now["command"], "overrides": now["overrides"]}


def entry() -> str | None:
    """The commands.txt entry of what is running now (None outside an invocation): a comment
    line (when, where, which mlpnas; whether it came from Python), the command line, and the
    overrides of this job as Hydra composed them."""
    now = _current.get()
    if now is None:
        return None
    from . import __version__

    how = "from Python (the same as this command line)" if now["from_python"] else ""
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    return "\n".join([f"# {when} in {os.getcwd()}, mlpnas {__version__} {how}".rstrip(),
                      now["command"],
                      f"# overrides: {shlex.join(now['overrides'])}", ""])
