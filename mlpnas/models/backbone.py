"""One timm-style backbone for every MLP family: `MlpBackbone(spec)`.

Layout: stem (image -> channels-last map), stages (optional downsampler at the entry, then
blocks `x + mixer(norm1(x))`, `x + mlp(norm2(x))`), final norm, spatial mean, linear head.
The mixer of each block is injected from the registry by name (`mlpnas.mixers`); the block
never asks which family it holds.

timm contract: `forward_features(x)` returns the last stage's channels-last map (B, H, W, C)
before the final norm; `forward_head(x, pre_logits=False)` applies the final norm, the global
pooling (`global_pool`: every type timm's adaptive pooling takes, `""` for none) and the
classifier; `forward_intermediates` / `feature_info` serve `features_only=True`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from timm.layers import DropPath, SelectAdaptivePool2d, trunc_normal_
from timm.models._features import feature_take_indices  # what timm's own models use
from torch import nn

from ..layers import ConvEmbed, Mlp, PatchMerging, create_norm
from ..mixers import create_mixer
from ..spec import BlockSpec, DownsampleSpec, NetSpec


class Block(nn.Module):
    def __init__(self, dim: int, mixer: nn.Module, mlp_hidden: int, norm: str,
                 drop_path: float = 0.0, skip_lam: float = 1.0, drop: float = 0.0):
        super().__init__()
        self.norm1 = create_norm(norm, dim)
        self.mixer = mixer
        self.norm2 = create_norm(norm, dim)
        self.mlp = Mlp(dim, mlp_hidden, drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.skip_lam = skip_lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return residual(x, self, self.mixer, self.mlp)


def residual(x: torch.Tensor, block: nn.Module, mixer: Callable, mlp: Callable) -> torch.Tensor:
    """The two residual branches of a block: x + mixer(norm1(x)), then x + mlp(norm2(x)),
    each through the block's drop path and divided by its `skip_lam` (CycleMLP, ViP). The
    static block, the supernet's block and the meta-kernel relaxation all run this, with
    their own mixer and MLP."""
    a = block.drop_path(mixer(block.norm1(x)))
    x = x + (a if block.skip_lam == 1.0 else a / block.skip_lam)
    b = block.drop_path(mlp(block.norm2(x)))
    return x + (b if block.skip_lam == 1.0 else b / block.skip_lam)


def make_block(dim: int, block: BlockSpec, resolution: tuple[int, int], norm: str,
               drop_path: float = 0.0, skip_lam: float = 1.0, drop: float = 0.0) -> Block:
    """The static block described by `block` for a (H, W) = `resolution` map of width `dim`."""
    mixer = create_mixer(block.mixer, dim, input_size=resolution, **block.mixer_options)
    return Block(dim, mixer, block.mlp_hidden, norm, drop_path, skip_lam, drop)


def create_downsample(ds: DownsampleSpec | None, in_dim: int, out_dim: int) -> nn.Module:
    if ds is None:
        return nn.Identity()
    if ds.kind == "merge":
        return PatchMerging(in_dim, out_dim, norm=ds.norm)
    return ConvEmbed(in_dim, out_dim, ds.kernel, ds.stride, ds.padding, ds.norm, ds.act)


class Stage(nn.Module):
    def __init__(self, downsample: nn.Module, blocks: list[nn.Module]):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


def _reduction(ds: DownsampleSpec | None) -> int:
    if ds is None:
        return 1
    return 2 if ds.kind == "merge" else ds.stride


POOL_TYPES = ("", "avg", "max", "avgmax", "catavgmax")


def global_pooling(pool_type: str) -> nn.Module:
    """timm's selectable global pooling of a channels-last map: (B, H, W, C) -> (B, C) (or
    (B, 2C) for 'catavgmax'); `""` keeps the map. 'avg' is a mean over the map, which fvcore
    does not count, so the costs of every architecture stay what they were."""
    name = (pool_type or "").lower()
    if name.removeprefix("fast") not in POOL_TYPES:  # timm's "fast..." names are the same
        raise ValueError(f"global_pool={pool_type!r} is not a pooling type; use one of "
                         f"{', '.join(repr(t) for t in POOL_TYPES)}.")
    return SelectAdaptivePool2d(pool_type=name, flatten=bool(name), input_fmt="NHWC")


class MlpBackbone(nn.Module):
    """Build any published MLP model, or any architecture found by a search, from a NetSpec.

    Keyword overrides (`num_classes`, `in_chans`, `img_size`) replace the spec's values, as
    timm's `create_model` passes them.
    """

    def __init__(self, spec: NetSpec | Mapping[str, Any], num_classes: int | None = None,
                 in_chans: int | None = None, img_size=None, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, global_pool: str = "avg", **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"MlpBackbone got unexpected arguments: {', '.join(kwargs)}")
        if not isinstance(spec, NetSpec):
            spec = NetSpec.from_dict(spec)
        changes = {k: v for k, v in (("num_classes", num_classes), ("in_chans", in_chans),
                                     ("img_size", img_size)) if v is not None}
        if changes:
            spec = spec.replace(**changes)
        self.spec = spec
        self.num_classes = spec.num_classes
        self.in_chans = spec.in_chans
        self.global_pool = global_pool
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        dims = spec.dims
        resolutions = spec.resolutions()
        st = spec.stem
        self.stem = ConvEmbed(spec.in_chans, dims[0], st.kernel, st.stride, st.padding,
                              st.norm, st.act, channels_first_input=True)

        n_blocks = sum(spec.depths)
        dpr = [drop_path_rate * i / max(n_blocks - 1, 1) for i in range(n_blocks)]
        stages, self.feature_info = [], []
        prev, reduction, k = dims[0], st.stride, 0
        for i, stage in enumerate(spec.stages):
            reduction *= _reduction(stage.downsample)
            blocks = []
            for j, b in enumerate(stage.blocks):
                blocks.append(self.create_block(i, j, stage.dim, b, resolutions[i], dpr[k]))
                k += 1
            stages.append(Stage(create_downsample(stage.downsample, prev, stage.dim), blocks))
            self.feature_info.append(
                dict(num_chs=stage.dim, reduction=reduction, module=f"stages.{i}"))
            prev = stage.dim
        self.stages = nn.Sequential(*stages)

        self.num_features = self.head_hidden_size = dims[-1]
        self.norm = create_norm(spec.norm, dims[-1])
        self.pool = global_pooling(global_pool)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = self._classifier(spec.num_classes)
        self.apply(_init_weights)

    def create_block(self, stage: int, index: int, dim: int, block: BlockSpec,
                     resolution: tuple[int, int], drop_path: float) -> nn.Module:
        """The block at (stage, index); the supernet overrides this."""
        return make_block(dim, block, resolution, self.spec.norm, drop_path,
                          self.spec.skip_lam, self.drop_rate)

    # -- timm API --------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.head

    def _classifier(self, num_classes: int) -> nn.Module:
        width = self.num_features * self.pool.feat_mult()
        return nn.Linear(width, num_classes) if num_classes > 0 else nn.Identity()

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
            self.pool = global_pooling(global_pool)
        self.head = self._classifier(num_classes)
        if isinstance(self.head, nn.Linear):
            _init_weights(self.head)
        self.spec = self.spec.replace(num_classes=num_classes)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^stem", blocks=r"^stages\.(\d+)" if coarse else [
            (r"^stages\.(\d+)\.downsample", (0,)),
            (r"^stages\.(\d+)\.blocks\.(\d+)", None),
            (r"^norm", (99999,)),
        ])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            from timm.models import checkpoint_seq

            return checkpoint_seq(self.stages, x)
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(self.norm(x))
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x: torch.Tensor, indices=None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False):
        """Per-stage feature maps (timm's feature-extraction API). `indices`: an int n (the
        last n stages) or a list of stage indices."""
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError("output_fmt must be 'NCHW' or 'NHWC'.")
        n = len(self.stages)
        take, last = feature_take_indices(n, indices)
        intermediates = []
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in take:
                y = self.norm(x) if (norm and i == n - 1) else x
                intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
            if stop_early and i == last:
                break
        if intermediates_only:
            return intermediates
        return x, intermediates  # what forward_features returns: forward_head applies the norm

    def prune_intermediate_layers(self, indices=1, prune_norm: bool = False,
                                  prune_head: bool = True):
        take, last = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[: last + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d)):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
