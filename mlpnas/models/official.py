"""Load the authors' modules and checkpoints into mlpnas modules.

`from_official(official_class, kwargs, state_dict)` builds the mlpnas equivalent of one of the
authors' classes (CycleFC, CycleMLP, AxialShift, HireMLP, WeightedPermuteMLP, CycleNet, AS_MLP,
HireMLPNet, VisionPermutator) from the constructor arguments the authors' class was given, and
loads the authors' state dict into it. The returned module takes the same input layout as the
authors' module (NCHW for the channels-first classes) and returns the same output.

`convert_official_state(model, state_dict)` is the key mapping alone, for an `MlpBackbone`
whose spec follows a published family; it is what timm's `pretrained_filter_fn` calls, so an
official ImageNet checkpoint loads with

    timm.create_model("cyclemlp_b1", pretrained=True,
                      pretrained_cfg_overlay=dict(file="CycleMLP_B1.pth"))

Every key of the authors' state dict must be consumed except the CycleFC `offset` buffers and
BatchNorm `num_batches_tracked`; a missing or unknown key is an error naming it. A checkpoint
whose classifier has another number of classes than the model (fine-tuning an ImageNet
checkpoint with `num_classes=N`) loads everything but the classifier, which keeps its fresh
initialisation, as timm does for its own models.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import UserError
from ..mixers import CycleFC, CycleMixer, HireMixer, PermuteMixer, ShiftMixer
from ..spec import NetSpec
from ._specs import asmlp_spec, cycle_spec, hire_spec, vip_spec
from .backbone import MlpBackbone

_logger = logging.getLogger(__name__)


class OfficialCheckpointError(UserError, ValueError):
    """The authors' arguments or state dict do not fit the mlpnas module."""


_IGNORED = re.compile(r"(^|\.)(offset|num_batches_tracked)$")

# ours -> theirs, per mixer family (suffixes after the mixer prefix)
_MIXER_NAMES: dict[str, dict[str, str]] = {
    "cycle": {"along_w": "sfc_h", "along_h": "sfc_w", "fc_c": "mlp_c"},
    "shift": {"fc_in": "conv1", "norm_in": "norm1", "fc_w": "conv2_1", "fc_h": "conv2_2",
              "norm_out": "norm2", "fc_out": "conv3"},
    "hire": {"fc_h1": "mlp_h1", "norm_h": "mlp_h1_norm", "fc_h2": "mlp_h2", "fc_w1": "mlp_w1",
             "norm_w": "mlp_w1_norm", "fc_w2": "mlp_w2", "fc_c": "mlp_c"},
    "permute": {"fc_h": "mlp_h", "fc_w": "mlp_w", "fc_c": "mlp_c"},
}
_MIXER_ATTR = {"cycle": "attn", "shift": "axial_shift", "hire": "attn", "permute": "attn"}
_FAMILY_OF = {CycleMixer: "cycle", ShiftMixer: "shift", HireMixer: "hire",
              PermuteMixer: "permute"}

Transform = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------
# Weight transforms
# --------------------------------------------------------------------------------------------


def _hire_transform(mixer: HireMixer, our_name: str) -> Transform | None:
    """The authors fold channel c and row k of a region to index c*p + k; mlpnas uses
    k*C + c. Permute the folded axis of the first and second branch FCs."""
    p, C = mixer.region, mixer.dim
    if our_name in ("fc_h1.weight", "fc_w1.weight"):  # (C/2, C*p): columns are folded
        return lambda t: t.reshape(t.shape[0], C, p).transpose(1, 2).reshape(t.shape[0], p * C)
    if our_name in ("fc_h2.weight", "fc_w2.weight"):  # (C*p, C/2): rows are folded
        return lambda t: t.reshape(C, p, -1).transpose(0, 1).reshape(p * C, -1)
    if our_name in ("fc_h2.bias", "fc_w2.bias"):
        return lambda t: t.reshape(C, p).t().reshape(-1)
    return None


def _mixer_key(mixer: nn.Module, rest: str) -> tuple[str, Transform | None]:
    fam = _FAMILY_OF[type(mixer)]
    head, _, tail = rest.partition(".")
    theirs = _MIXER_NAMES[fam].get(head, head) + "." + tail
    transform = _hire_transform(mixer, rest) if fam == "hire" else None
    return theirs, transform


# --------------------------------------------------------------------------------------------
# Model-level name mapping
# --------------------------------------------------------------------------------------------


def _network_positions(spec: NetSpec) -> tuple[list[int], list[int | None]]:
    """Index in the authors' `network` ModuleList of every stage and of every downsampler
    (CycleNet, HireMLPNet, VisionPermutator all interleave them)."""
    stage_pos, ds_pos, pos = [], [], 0
    for st in spec.stages:
        if st.downsample is not None and stage_pos:
            ds_pos.append(pos)
            pos += 1
        else:
            ds_pos.append(None)
        stage_pos.append(pos)
        pos += 1
    return stage_pos, ds_pos


def _official_name(model: MlpBackbone, key: str, family: str) -> tuple[str, Transform | None]:
    """Map one of our state-dict keys to the authors' key (and a tensor transform)."""
    if key.startswith("stem.conv."):
        return "patch_embed.proj." + key[len("stem.conv."):], None
    if key.startswith("stem.norm."):
        return "patch_embed.norm." + key[len("stem.norm."):], None
    if key.startswith(("norm.", "head.")):
        return key, None
    m = re.match(r"stages\.(\d+)\.(downsample|blocks)\.(.*)$", key)
    if m is None:
        raise OfficialCheckpointError(f"mlpnas key '{key}' has no counterpart in the authors' "
                                      f"model.")
    i, part, rest = int(m.group(1)), m.group(2), m.group(3)
    asmlp = family == "shift"
    stage_pos, ds_pos = _network_positions(model.spec)
    if part == "downsample":
        if asmlp:  # AS-MLP: the merging layer ends the previous stage
            return f"layers.{i - 1}.downsample.{rest}", None
        rest = rest.replace("conv.", "proj.", 1) if rest.startswith("conv.") else rest
        return f"network.{ds_pos[i]}.{rest}", None
    j, _, rest = rest.partition(".")
    prefix = f"layers.{i}.blocks.{j}." if asmlp else f"network.{stage_pos[i]}.{j}."
    if rest.startswith("mixer."):
        mixer = model.stages[i].blocks[int(j)].mixer
        theirs, transform = _mixer_key(mixer, rest[len("mixer."):])
        return prefix + _MIXER_ATTR[family] + "." + theirs, transform
    return prefix + rest, None


def _load_mapped(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                 name_fn: Callable[[str], tuple[str, Transform | None]],
                 skip_head: bool = False) -> dict[str, Any]:
    """Fill every parameter/buffer of `module` from `state_dict` via `name_fn`; raise on a
    missing, unknown or mis-shaped key. With `skip_head`, the classifier (`head.*`, the same
    name on both sides) keeps the module's own values and the checkpoint's is dropped.
    Returns our state dict."""
    ours = module.state_dict()
    out, used = {}, set()
    if skip_head:
        used = {k for k in state_dict if k.startswith("head.")}
    for key, ref in ours.items():
        if skip_head and key.startswith("head."):
            out[key] = ref
            continue
        theirs, transform = name_fn(key)
        if theirs not in state_dict:
            if _IGNORED.search(key):  # num_batches_tracked may be absent
                out[key] = ref
                continue
            raise OfficialCheckpointError(
                f"the official state dict has no key '{theirs}' (needed for mlpnas '{key}'); "
                f"check that the checkpoint and the constructor arguments belong together.")
        t = state_dict[theirs]
        used.add(theirs)
        if _IGNORED.search(key):
            out[key] = ref
            continue
        if t.dim() == 4 and ref.dim() == 2:  # 1x1 conv weight -> linear weight
            t = t.flatten(1)
        if transform is not None:
            t = transform(t)
        if t.shape != ref.shape:
            raise OfficialCheckpointError(
                f"official key '{theirs}' has shape {tuple(state_dict[theirs].shape)}, but "
                f"mlpnas '{key}' needs {tuple(ref.shape)}; the constructor arguments do not "
                f"match the checkpoint.")
        out[key] = t.to(ref.dtype)
    unknown = sorted(k for k in state_dict if k not in used and not _IGNORED.search(k))
    if unknown:
        raise OfficialCheckpointError(
            f"unknown key '{unknown[0]}' in the official state dict"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + "; it belongs to no part of the model built from these arguments.")
    module.load_state_dict(out)
    return out


def _checkpoint_classes(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Number of classes of the authors' classifier (0 where it has none, num_classes=0)."""
    head = state_dict.get("head.weight")
    return int(head.shape[0]) if head is not None else 0


def _checkpoint_in_chans(state_dict: Mapping[str, torch.Tensor], default: int) -> int:
    stem = state_dict.get("patch_embed.proj.weight")
    return int(stem.shape[1]) if stem is not None and stem.dim() == 4 else default


def convert_official_state(model: MlpBackbone, state_dict: Mapping[str, torch.Tensor]):
    """The authors' state dict -> ours, for a model of a published family.

    The mapping is checked against the checkpoint's own class count (and input channels), so
    a model built with another `num_classes` gets every weight but the classifier, which is
    the model's own (fresh) one; timm then adapts the stem to the model's `in_chans`."""
    family = dict(model.spec.meta).get("family")
    if family not in _MIXER_NAMES:
        raise OfficialCheckpointError(
            "this model is not one of the published families (its spec has no family tag), so "
            "an official checkpoint cannot be mapped onto it.")
    n_cls = _checkpoint_classes(state_dict)
    spec = model.spec.replace(num_classes=n_cls,
                              in_chans=_checkpoint_in_chans(state_dict, model.spec.in_chans))
    probe = MlpBackbone(spec)  # a scratch copy to load into; `model` stays untouched
    out = _load_mapped(probe, state_dict, lambda k: _official_name(probe, k, family))
    if n_cls != model.spec.num_classes:
        _logger.info("official checkpoint has %d classes, the model %d: the classifier keeps "
                     "its fresh initialisation.", n_cls, model.spec.num_classes)
        own = model.state_dict()
        for key in [k for k in out if k.startswith("head.")]:
            del out[key]
        out.update({k: v for k, v in own.items() if k.startswith("head.")})
    return out


# --------------------------------------------------------------------------------------------
# from_official
# --------------------------------------------------------------------------------------------


class ChannelsFirst(nn.Module):
    """Run a channels-last module on an NCHW tensor (for the authors' channels-first
    classes)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _take(kwargs: Mapping[str, Any], cls: str, allowed: dict[str, Any],
          ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(allowed) - set(ignored))
    if unknown:
        raise OfficialCheckpointError(
            f"{cls} argument '{unknown[0]}' is not supported by mlpnas; supported arguments are "
            f"{', '.join(sorted(allowed))}.")
    return {k: kwargs.get(k, v) for k, v in allowed.items()}


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise OfficialCheckpointError(message)


_DROPS = ("drop_rate", "attn_drop_rate", "drop_path_rate", "attn_drop", "proj_drop", "qk_scale")


def _cyclefc(kw):
    # stride, padding and dilation are accepted and have no effect, as in the authors' class
    a = _take(kw, "CycleFC", dict(in_channels=None, out_channels=None, kernel_size=None,
                                  stride=1, padding=0, dilation=1, groups=1, bias=True))
    size = a["kernel_size"]
    if isinstance(size, int):  # an int K means K x K, as for torch's convolutions
        size = (size, size)
    _require(isinstance(size, (tuple, list)) and len(size) == 2
             and all(isinstance(v, int) and v >= 1 for v in size)
             and (size[0] == 1 or size[1] == 1),
             f"CycleFC kernel_size must be (1, K) or (K, 1) (or 1), got {a['kernel_size']}; "
             f"pass the one-axis shape of the staircase.")
    kh, kw_ = size
    _require(a["groups"] == 1, f"CycleFC groups={a['groups']} is not supported; mlpnas "
                               f"implements groups=1, the setting of every published model.")
    axis, k = ("w", kw_) if kh == 1 else ("h", kh)
    return ChannelsFirst(CycleFC(a["in_channels"], a["out_channels"], k, axis, a["bias"]))


def _cyclemlp(kw):
    a = _take(kw, "CycleMLP", dict(dim=None, qkv_bias=False), _DROPS)
    _require(not a["qkv_bias"], "CycleMLP with qkv_bias=True is not supported (the published "
                                "models use False).")
    return CycleMixer(a["dim"], kernel=3)


def _axialshift(kw):
    a = _take(kw, "AxialShift", dict(dim=None, shift_size=None, as_bias=True), _DROPS)
    return ChannelsFirst(ShiftMixer(a["dim"], a["shift_size"], bias=a["as_bias"]))


def _hiremlp(kw):
    a = _take(kw, "HireMLP", dict(dim=None, pixel=2, step=1, step_pad_mode="c",
                                  pixel_pad_mode="c"), _DROPS)
    _require(a["step_pad_mode"] == "c" and a["pixel_pad_mode"] == "c",
             "only the circular padding modes ('c') of Hire-MLP are supported; they are the "
             "published setting.")
    return ChannelsFirst(HireMixer(a["dim"], region=a["pixel"], step=a["step"]))


def _permute(kw):
    a = _take(kw, "WeightedPermuteMLP", dict(dim=None, segment_dim=8, qkv_bias=False), _DROPS)
    _require(not a["qkv_bias"], "WeightedPermuteMLP with qkv_bias=True is not supported (the "
                                "published models use False).")
    return PermuteMixer(a["dim"], a["segment_dim"], input_size=None)


def _cyclenet(kw):
    a = _take(kw, "CycleNet", dict(layers=None, embed_dims=None, mlp_ratios=None,
                                   transitions=None, num_classes=1000, in_chans=3,
                                   skip_lam=1.0, qkv_bias=False, fork_feat=False),
              _DROPS + ("img_size", "patch_size", "segment_dim"))
    _require(not a["qkv_bias"] and not a["fork_feat"],
             "CycleNet with qkv_bias=True or fork_feat=True is not supported.")
    return MlpBackbone(cycle_spec(a["layers"], a["embed_dims"], a["mlp_ratios"], 3,
                                  a["transitions"], num_classes=a["num_classes"],
                                  in_chans=a["in_chans"], skip_lam=a["skip_lam"]))


def _asmlp(kw):
    a = _take(kw, "AS_MLP", dict(img_size=224, patch_size=4, in_chans=3, num_classes=1000,
                                 embed_dim=96, depths=(2, 2, 6, 2), shift_size=5, mlp_ratio=4.0,
                                 as_bias=True, patch_norm=True), _DROPS + ("use_checkpoint",))
    _require(a["as_bias"] and a["patch_norm"],
             "AS_MLP with as_bias=False or patch_norm=False is not supported.")
    return MlpBackbone(asmlp_spec(a["depths"], a["embed_dim"], a["mlp_ratio"], a["shift_size"],
                                  a["patch_size"], a["img_size"], a["num_classes"],
                                  a["in_chans"]))


def _hirenet(kw):
    a = _take(kw, "HireMLPNet", dict(layers=None, embed_dims=None, mlp_ratios=4.0,
                                     pixel=(2, 2, 2, 2), step_stride=(2, 2, 2, 2),
                                     step_dilation=(1, 1, 1, 1), num_classes=1000,
                                     in_chans=3, step_pad_mode="c", pixel_pad_mode="c"),
              _DROPS + ("img_size", "patch_size"))
    _require(a["step_pad_mode"] == "c" and a["pixel_pad_mode"] == "c",
             "only the circular padding modes ('c') of Hire-MLP are supported.")
    return MlpBackbone(hire_spec(a["layers"], a["embed_dims"], a["mlp_ratios"], a["pixel"],
                                 a["step_stride"], a["step_dilation"],
                                 num_classes=a["num_classes"], in_chans=a["in_chans"]))


def _vipnet(kw):
    a = _take(kw, "VisionPermutator", dict(layers=None, img_size=224, patch_size=4, in_chans=3,
                                           num_classes=1000, embed_dims=None, transitions=None,
                                           segment_dim=None, mlp_ratios=None, skip_lam=1.0,
                                           qkv_bias=False), _DROPS)
    _require(not a["qkv_bias"], "VisionPermutator with qkv_bias=True is not supported.")
    spec = vip_spec(a["layers"], a["embed_dims"], a["transitions"], a["segment_dim"],
                    a["mlp_ratios"], a["patch_size"], a["img_size"], a["num_classes"],
                    a["in_chans"], a["skip_lam"])
    for i, ((h, w), st) in enumerate(zip(spec.resolutions(), spec.stages)):
        seg = st.blocks[0].mixer_options["segments"]
        S = st.dim // seg
        _require(h * S == st.dim and w * S == st.dim,
                 f"VisionPermutator stage {i}: width {st.dim} with segment_dim {seg} gives "
                 f"S = {S}, and the authors' permutator needs H*S == W*S == width, but at "
                 f"img_size {a['img_size']} the stage map is {h}x{w}; use img_size giving a "
                 f"{seg}x{seg} map or change segment_dim.")
    return MlpBackbone(spec)


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "CycleFC": _cyclefc,
    "CycleMLP": _cyclemlp,
    "AxialShift": _axialshift,
    "HireMLP": _hiremlp,
    "WeightedPermuteMLP": _permute,
    "CycleNet": _cyclenet,
    "AS_MLP": _asmlp,
    "HireMLPNet": _hirenet,
    "VisionPermutator": _vipnet,
}
_MODEL_FAMILY = {"CycleNet": "cycle", "AS_MLP": "shift", "HireMLPNet": "hire",
                 "VisionPermutator": "permute"}


def from_official(official_class: str, kwargs: Mapping[str, Any],
                  state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Build the mlpnas module equivalent to the authors' `official_class(**kwargs)` and load
    their `state_dict` into it. The result is in eval mode."""
    if official_class not in _BUILDERS:
        raise OfficialCheckpointError(
            f"unknown official class '{official_class}'; supported: {', '.join(_BUILDERS)}.")
    module = _BUILDERS[official_class](dict(kwargs))
    if official_class in _MODEL_FAMILY:
        fam = _MODEL_FAMILY[official_class]
        n_cls = _checkpoint_classes(state_dict)
        fresh_head = n_cls != module.spec.num_classes
        if fresh_head:
            _logger.info("official checkpoint has %d classes, num_classes is %d: the "
                         "classifier keeps its fresh initialisation.", n_cls,
                         module.spec.num_classes)
        _load_mapped(module, state_dict, lambda k: _official_name(module, k, fam), fresh_head)
    else:
        inner = module.inner if isinstance(module, ChannelsFirst) else module
        prefix = "inner." if isinstance(module, ChannelsFirst) else ""

        def name_fn(key: str):
            rest = key[len(prefix):]
            if official_class == "CycleFC":
                return rest, None
            return _mixer_key(inner, rest)

        _load_mapped(module, state_dict, name_fn)
    return module.eval()
