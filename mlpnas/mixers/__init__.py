"""The four published token mixers, channels-last (B, H, W, C), pure PyTorch.

Registry names: `cycle` (CycleMLP), `shift` (AS-MLP), `hire` (Hire-MLP), `permute` (ViP).
`create_mixer(name, dim, input_size=None, **options)` validates the options against
`mlpnas.spec.FAMILIES` and builds the module.
"""

from ._registry import MIXERS, create_mixer
from ._shift_op import axial_groups, cycle_groups, group_shift, merged_shift
from .cycle import CycleFC, CycleMixer
from .hire import HireMixer
from .permute import PermuteMixer
from .shift import ShiftMixer, axial_shift

__all__ = [
    "MIXERS",
    "CycleFC",
    "CycleMixer",
    "HireMixer",
    "PermuteMixer",
    "ShiftMixer",
    "axial_groups",
    "axial_shift",
    "create_mixer",
    "cycle_groups",
    "group_shift",
    "merged_shift",
]
