"""The published architectures of each family as plain data (`NetSpec` builders): the
authors' model classes, with their stage rules, written as specs (torch-free)."""

from __future__ import annotations

from collections.abc import Sequence

from ..spec import BlockSpec, DownsampleSpec, NetSpec, StageSpec, StemSpec


def _per_stage(value, n: int, name: str) -> list:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries but there are {n} stages.")
        return list(value)
    return [value] * n


def _conv_entry(transition: bool, dim_changes: bool, kernel=3, padding=1, norm=None, act=None):
    """CycleMLP / ViP rule: a stride-2 conv where a transition is marked, a 1x1 conv where only
    the width changes, nothing otherwise."""
    if transition:
        return DownsampleSpec("conv", kernel, 2, padding, norm, act)
    if dim_changes:
        return DownsampleSpec("conv", 1, 1, 0, norm, act)
    return None


def cycle_spec(depths, dims, mlp_ratios=4, kernel=3, transitions=True, img_size=224,
               num_classes=1000, in_chans=3, skip_lam=1.0) -> NetSpec:
    """CycleMLP (CycleNet): stem conv 7x7/4 pad 2, LayerNorm blocks, 3x3/2 conv between
    stages, three-branch CycleMLP mixer (CycleFC 1xK and Kx1)."""
    n = len(depths)
    ratios = _per_stage(mlp_ratios, n, "mlp_ratios")
    trans = _per_stage(transitions, n, "transitions")
    stages = []
    for i in range(n):
        ds = None if i == 0 else _conv_entry(trans[i - 1], dims[i] != dims[i - 1])
        blocks = tuple(BlockSpec.make("cycle", int(dims[i] * ratios[i]), kernel=kernel)
                       for _ in range(depths[i]))
        stages.append(StageSpec(dims[i], blocks, ds))
    return NetSpec(StemSpec(7, 4, 2), tuple(stages), "layer", in_chans, num_classes, img_size,
                   skip_lam, meta=(("family", "cycle"),))


def asmlp_spec(depths, embed_dim=96, mlp_ratio=4, shift_size=5, patch_size=4, img_size=224,
               num_classes=1000, in_chans=3, dims=None) -> NetSpec:
    """AS-MLP: patch conv + GroupNorm(1) stem, GroupNorm(1) blocks, Swin-style patch merging
    (width doubles), axial-shift mixer."""
    n = len(depths)
    dims = list(dims) if dims is not None else [embed_dim * 2**i for i in range(n)]
    ratios = _per_stage(mlp_ratio, n, "mlp_ratio")
    stages = []
    for i in range(n):
        ds = None if i == 0 else DownsampleSpec("merge", norm="group")
        blocks = tuple(BlockSpec.make("shift", int(dims[i] * ratios[i]), shift_size=shift_size)
                       for _ in range(depths[i]))
        stages.append(StageSpec(dims[i], blocks, ds))
    return NetSpec(StemSpec(patch_size, patch_size, 0, norm="group"), tuple(stages), "group",
                   in_chans, num_classes, img_size, meta=(("family", "shift"),))


def hire_spec(depths, dims, mlp_ratios=4, regions=(4, 3, 3, 2), step_strides=(2, 2, 3, 2),
              step_dilations=(2, 2, 1, 1), img_size=224, num_classes=1000,
              in_chans=3) -> NetSpec:
    """Hire-MLP: stem conv 7x7/4 + BN + ReLU, BatchNorm blocks, 3x3/2 conv + BN + ReLU between
    stages; block j of a stage uses step (j mod step_stride) * step_dilation."""
    n = len(depths)
    ratios = _per_stage(mlp_ratios, n, "mlp_ratios")
    regions = _per_stage(regions, n, "regions")
    strides = _per_stage(step_strides, n, "step_strides")
    dilations = _per_stage(step_dilations, n, "step_dilations")
    stages = []
    for i in range(n):
        ds = None if i == 0 else DownsampleSpec("conv", 3, 2, 1, "batch", "relu")
        blocks = tuple(
            BlockSpec.make("hire", int(dims[i] * ratios[i]), region=regions[i],
                           step=(j % strides[i]) * dilations[i])
            for j in range(depths[i]))
        stages.append(StageSpec(dims[i], blocks, ds))
    return NetSpec(StemSpec(7, 4, 2, "batch", "relu"), tuple(stages), "batch", in_chans,
                   num_classes, img_size, meta=(("family", "hire"),))


def vip_spec(depths, dims, transitions, segments, mlp_ratios=3, patch_size=7, img_size=224,
             num_classes=1000, in_chans=3, skip_lam=1.0) -> NetSpec:
    """Vision Permutator: patch conv (kernel = stride = patch size), LayerNorm blocks, a 2x2/2
    conv between stages marked as transitions (1x1 where only the width changes)."""
    n = len(depths)
    ratios = _per_stage(mlp_ratios, n, "mlp_ratios")
    segs = _per_stage(segments, n, "segments")
    trans = _per_stage(transitions, n, "transitions")
    stages = []
    for i in range(n):
        ds = None if i == 0 else _conv_entry(trans[i - 1], dims[i] != dims[i - 1], 2, 0)
        blocks = tuple(BlockSpec.make("permute", int(dims[i] * ratios[i]), segments=segs[i])
                       for _ in range(depths[i]))
        stages.append(StageSpec(dims[i], blocks, ds))
    return NetSpec(StemSpec(patch_size, patch_size, 0), tuple(stages), "layer", in_chans,
                   num_classes, img_size, skip_lam, meta=(("family", "permute"),))
