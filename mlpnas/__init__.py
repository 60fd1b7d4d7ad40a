"""mlpnas: neural-architecture search over MLP-like vision backbones.

`import mlpnas` is light (no torch): the subpackages load when first used, e.g.
`mlpnas.space` (torch-free search spaces) or `mlpnas.models`, whose import registers the
published models (CycleMLP, AS-MLP, Hire-MLP, ViP), their tiny `test_*` variants and
`mlpnas_exported` with timm, so that `import timm, mlpnas.models` then
`timm.create_model("cyclemlp_b1")` works.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .spec import NetSpec, SpecError  # noqa: E402

__all__ = ["NetSpec", "SpecError", "__version__", "load_exported"]

_SUBPACKAGES = ("cost", "data", "export", "layers", "mixers", "models", "plots", "rank",
                "score", "search", "space", "supernet", "tasks", "train")


def __getattr__(name: str):
    """`mlpnas.models`, `mlpnas.space`, ... without importing them first (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'mlpnas' has no attribute '{name}'")


def load_exported(path, map_location="cpu", num_classes=None):
    """Load an architecture exported by `mlpnas search` / `mlpnas export` (a folder with
    arch.json and model.safetensors) as a timm-style model."""
    from .export import load_exported as _load

    return _load(path, map_location=map_location, num_classes=num_classes)
