"""Static building blocks shared by every family; they know nothing of search."""

from timm.layers import Mlp  # channel MLP: fc1, GELU, dropout, fc2, dropout

from ._embed import ConvCL, ConvEmbed, PatchMerging
from ._norms import BatchNormCL, GroupNorm1CL, LayerNormCL, create_act, create_norm

__all__ = [
    "BatchNormCL",
    "ConvCL",
    "ConvEmbed",
    "GroupNorm1CL",
    "LayerNormCL",
    "Mlp",
    "PatchMerging",
    "create_act",
    "create_norm",
]
