"""Static models: one backbone for every family, the published variants, official weights."""

from .backbone import Block, MlpBackbone, Stage, make_block
from .official import OfficialCheckpointError, convert_official_state, from_official
from .zoo import (
    PUBLISHED,
    asmlp_spec,
    cycle_spec,
    hire_spec,
    published_spec,
    vip_spec,
)

__all__ = [
    "PUBLISHED",
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
    "vip_spec",
]
