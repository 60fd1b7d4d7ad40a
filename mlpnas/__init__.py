"""mlpnas: neural-architecture search over MLP-like vision backbones.

Importing the package registers the published models (CycleMLP, AS-MLP, Hire-MLP, ViP) and
their tiny `test_*` variants with timm, so `timm.create_model("cyclemlp_b1")` works.
"""

__version__ = "0.1.0"

from . import models as models  # noqa: E402  (registers the timm models)
from .spec import NetSpec, SpecError  # noqa: E402

__all__ = ["NetSpec", "SpecError", "__version__", "load_exported", "models"]


def load_exported(path, map_location="cpu", num_classes=None):
    """Load an architecture exported by `mlpnas search` / `mlpnas export` (a folder with
    arch.json and model.safetensors) as a timm-style model."""
    from .export import load_exported as _load

    return _load(path, map_location=map_location, num_classes=num_classes)
