"""Search spaces as plain data: parsing, validation, architectures and their keys.

The modules of this package import no torch (a test checks their imports): spaces are read,
sampled and validated by plain Python.
"""

from ._load import SPACES_DIR, known_spaces, load_space, parse_space, resolve_space_path
from ._space import Arch, BlockChoice, Space, SpaceError, StageChoices, stable_repr

__all__ = [
    "SPACES_DIR",
    "Arch",
    "BlockChoice",
    "Space",
    "SpaceError",
    "StageChoices",
    "stable_repr",
    "known_spaces",
    "load_space",
    "parse_space",
    "resolve_space_path",
]
