"""Search spaces as plain data: parsing, validation, architectures and their keys.

This package imports no torch (a test checks it), so spaces can be read, sampled and
validated anywhere.
"""

from ._load import SPACES_DIR, known_spaces, load_space, parse_space, resolve_space_path
from ._space import Arch, BlockChoice, Space, SpaceError, StageSpace

__all__ = [
    "SPACES_DIR",
    "Arch",
    "BlockChoice",
    "Space",
    "SpaceError",
    "StageSpace",
    "known_spaces",
    "load_space",
    "parse_space",
    "resolve_space_path",
]
