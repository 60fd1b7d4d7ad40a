"""The four published token mixers, channels-last (B, H, W, C), pure PyTorch, each with its
elastic (supernet) version in the same file.

Registry names: `cycle` (CycleMLP), `shift` (AS-MLP), `hire` (Hire-MLP), `permute` (ViP).
`create_mixer(name, dim, input_size=None, **options)` validates the options against
`mlpnas.spec.FAMILIES` and builds the module.
"""

from ._registry import MIXERS, create_mixer  # noqa: E402,I001  (after the family modules)
from ._shift_op import axial_groups, cycle_groups, group_shift, merged_shift
from .cycle import CycleFC, CycleMixer, ElasticCycleMixer, kernel_pair
from .hire import ElasticHireMixer, HireMixer
from .permute import ElasticPermuteMixer, PermuteMixer
from .shift import ElasticShiftMixer, ShiftMixer, axial_shift

__all__ = [
    "MIXERS",
    "CycleFC",
    "CycleMixer",
    "ElasticCycleMixer",
    "ElasticHireMixer",
    "ElasticPermuteMixer",
    "ElasticShiftMixer",
    "HireMixer",
    "PermuteMixer",
    "ShiftMixer",
    "axial_groups",
    "axial_shift",
    "create_mixer",
    "cycle_groups",
    "group_shift",
    "kernel_pair",
    "merged_shift",
]
