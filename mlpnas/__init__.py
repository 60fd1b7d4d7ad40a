"""mlpnas: neural-architecture search over MLP-like vision backbones.

`import mlpnas` is light (no torch): the subpackages load when first used, e.g.
`mlpnas.space` (torch-free search spaces) or `mlpnas.models`, whose import registers the
published models (CycleMLP, AS-MLP, Hire-MLP, ViP), their tiny `test_*` variants and
`mlpnas_exported` with timm, so that `import timm, mlpnas.models` then
`timm.create_model("cyclemlp_b1")` works.

The verbs run from Python with the command line's checks and return result objects
(`mlpnas.api`): `mlpnas.search("tiny", search={"n_trials": 8})`, `mlpnas.export(run_dir)`,
`mlpnas.rank(run_dir)`. `mlpnas.search`, `mlpnas.export` and `mlpnas.rank` are also the
subpackages of those names: calling one runs the verb, and its attributes are the
subpackage's (`mlpnas.search.trials_frame`, `mlpnas.export.load_exported`, ...).
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

from .spec import NetSpec, SpecError  # noqa: E402

__all__ = ["NetSpec", "SpecError", "__version__", "export", "load_exported", "rank", "search"]

_SUBPACKAGES = ("cost", "data", "export", "layers", "mixers", "models", "plots", "rank",
                "score", "search", "space", "supernet", "tasks", "train")
_VERBS = ("search", "export", "rank")  # subpackages that are also a verb of the Python API


def __getattr__(name: str):
    """`mlpnas.models`, `mlpnas.space`, ... without importing them first (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'mlpnas' has no attribute '{name}'")


class _Verb:
    """`mlpnas.search` and the like: called, it runs the verb (`mlpnas.api.<verb>`); any
    other use is the subpackage of that name, imported when first needed."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _module(self) -> types.ModuleType:
        return importlib.import_module(f"{__name__}.{self._name}")

    def __call__(self, *args, **kwargs):
        return getattr(importlib.import_module(f"{__name__}.api"), self._name)(*args, **kwargs)

    def __getattr__(self, attr: str):
        return getattr(self._module(), attr)

    def __setattr__(self, attr: str, value) -> None:  # e.g. pytest's monkeypatch
        setattr(self._module(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._module(), attr)

    def __dir__(self):
        return sorted(set(dir(self._module())) | {"__call__"})

    def __repr__(self) -> str:
        return f"<mlpnas verb and subpackage '{__name__}.{self._name}'>"

    @property
    def __doc__(self):  # help(mlpnas.search): what calling it does
        return getattr(importlib.import_module(f"{__name__}.api"), self._name).__doc__


class _Package(types.ModuleType):
    """The package module: importing a subpackage that is also a verb leaves the verb in
    place (Python's import would otherwise put the plain subpackage there)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _VERBS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


for _name in _VERBS:
    globals()[_name] = _Verb(_name)
sys.modules[__name__].__class__ = _Package


def load_exported(path, map_location="cpu", num_classes=None):
    """Load an architecture exported by `mlpnas search` / `mlpnas export` (a folder with
    arch.json and model.safetensors) as a timm-style model."""
    from .export import load_exported as _load

    return _load(path, map_location=map_location, num_classes=num_classes)
