"""Static models: one backbone for every family, the published variants, official weights."""

from ._archfile import ARCH_FILE, FORMAT, WEIGHTS_FILE, read_arch_file, read_weights
from ._specs import asmlp_spec, cycle_spec, hire_spec, vip_spec
from .backbone import Block, MlpBackbone, Stage, make_block, residual
from .official import OfficialCheckpointError, convert_official_state, from_official
from .zoo import PUBLISHED, published_spec

__all__ = [
    "ARCH_FILE",
    "FORMAT",
    "PUBLISHED",
    "WEIGHTS_FILE",
    "Block",
    "MlpBackbone",
    "OfficialCheckpointError",
    "Stage",
    "asmlp_spec",
    "convert_official_state",
    "cycle_spec",
    "from_official",
    "hire_spec",
    "make_block",
    "published_spec",
    "read_arch_file",
    "read_weights",
    "residual",
    "vip_spec",
]
