"""Names a package exports without importing the modules that define them until first used
(PEP 562), so that its light parts (a recipe, a rule table) load without torch: the command
line refuses a bad setting in a fraction of a second."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """The module `__getattr__` of `package`: `where` maps an exported name to the module,
    relative to `package` ("._loop", "..mixers"), that defines it."""

    def __getattr__(name: str):
        if name in where:
            value = getattr(importlib.import_module(where[name], package), name)
            setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
            return value
        raise AttributeError(f"module '{package}' has no attribute '{name}'")

    return __getattr__

