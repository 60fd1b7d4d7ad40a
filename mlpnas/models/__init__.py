"""Static models: one backbone for every family, the published variants, official weights."""

from ._archfile import (
    ARCH_FILE,
    ENTRY,
    FORMAT,
    PREPROCESSING_KEYS,
    WEIGHTS_FILE,
    ExportedBackbone,
    exported_cfg,
    full_exported_cfg,
    read_arch_file,
    read_weights,
)
from ._specs import asmlp_spec, cycle_spec, hire_spec, vip_spec
from .backbone import POOL_TYPES, Block, MlpBackbone, Stage, global_pooling, make_block, residual
from .official import OfficialCheckpointError, convert_official_state, from_official
from .zoo import PUBLISHED, published_spec

__all__ = [
    "ARCH_FILE",
    "ENTRY",
    "FORMAT",
    "POOL_TYPES",
    "PREPROCESSING_KEYS",
    "PUBLISHED",
    "WEIGHTS_FILE",
    "Block",
    "ExportedBackbone",
    "MlpBackbone",
    "OfficialCheckpointError",
    "Stage",
    "asmlp_spec",
    "convert_official_state",
    "cycle_spec",
    "exported_cfg",
    "from_official",
    "full_exported_cfg",
    "global_pooling",
    "hire_spec",
    "make_block",
    "published_spec",
    "read_arch_file",
    "read_weights",
    "residual",
    "vip_spec",
]
