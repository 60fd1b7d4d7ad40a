"""The published models as NetSpecs, registered with timm on `import mlpnas`.

Order, as in timm's model files: checkpoint filter, `_create`, default cfgs,
`@register_model` entry points that are just a dict of arguments; the per-family spec
builders (the "model classes" of the authors, as plain data) are in `_specs`.
"""

from __future__ import annotations

from pathlib import Path

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from ..spec import NetSpec
from ._archfile import (
    ENTRY,
    WEIGHTS_FILE,
    ExportedBackbone,
    exported_cfg,
    read_arch_file,
    read_weights,
)
from ._specs import asmlp_spec, cycle_spec, hire_spec, vip_spec
from .backbone import MlpBackbone

# --------------------------------------------------------------------------------------------
# checkpoint filter, creation
# --------------------------------------------------------------------------------------------


def checkpoint_filter_fn(state_dict, model: MlpBackbone):
    """Accept our own state dicts as they are, and the authors' checkpoints (plain or under a
    'model' / 'state_dict' key) through the key mapping of `mlpnas.models.official`."""
    from .official import convert_official_state

    for key in ("model", "state_dict"):
        if key in state_dict and isinstance(state_dict[key], dict):
            state_dict = state_dict[key]
    if "stem.conv.weight" in state_dict:
        return state_dict
    return convert_official_state(model, state_dict)


def _create(variant: str, pretrained: bool, spec: NetSpec, cls: type = MlpBackbone,
            **kwargs) -> MlpBackbone:
    # features_only=True returns every stage the architecture has (found ones may have 2)
    return build_model_with_cfg(
        cls, variant, pretrained, spec=spec,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(feature_cls="getter", out_indices=tuple(range(len(spec.stages)))),
        **kwargs)


def _cfg(**kwargs):
    return {
        "url": "", "num_classes": 1000, "input_size": (3, 224, 224), "pool_size": None,
        "crop_pct": 0.9, "interpolation": "bicubic", "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD, "first_conv": "stem.conv", "classifier": "head",
        **kwargs,
    }


def _test_cfg(size: int):
    return _cfg(num_classes=10, input_size=(3, size, size), crop_pct=1.0)


default_cfgs = generate_default_cfgs({
    "cyclemlp_b1": _cfg(), "cyclemlp_b2": _cfg(), "cyclemlp_b3": _cfg(),
    "cyclemlp_b4": _cfg(crop_pct=0.875), "cyclemlp_b5": _cfg(crop_pct=0.875),
    "asmlp_t": _cfg(), "asmlp_s": _cfg(), "asmlp_b": _cfg(),
    "hiremlp_tiny": _cfg(), "hiremlp_small": _cfg(), "hiremlp_base": _cfg(),
    "hiremlp_large": _cfg(),
    "vip_s7": _cfg(crop_pct=0.875), "vip_m7": _cfg(), "vip_l7": _cfg(),
    "test_cyclemlp": _test_cfg(64), "test_asmlp": _test_cfg(64), "test_hiremlp": _test_cfg(64),
    "test_vip": _test_cfg(56),
    "mlpnas_exported": _cfg(),
})

# the spec builder and arguments of every registered name (also used by tests and experiments)
PUBLISHED: dict[str, tuple] = {
    "cyclemlp_b1": (cycle_spec, dict(depths=(2, 2, 4, 2), dims=(64, 128, 320, 512))),
    "cyclemlp_b2": (cycle_spec, dict(depths=(2, 3, 10, 3), dims=(64, 128, 320, 512))),
    "cyclemlp_b3": (cycle_spec, dict(depths=(3, 4, 18, 3), dims=(64, 128, 320, 512),
                                     mlp_ratios=(8, 8, 4, 4))),
    "cyclemlp_b4": (cycle_spec, dict(depths=(3, 8, 27, 3), dims=(64, 128, 320, 512),
                                     mlp_ratios=(8, 8, 4, 4))),
    "cyclemlp_b5": (cycle_spec, dict(depths=(3, 4, 24, 3), dims=(96, 192, 384, 768))),
    "asmlp_t": (asmlp_spec, dict(depths=(2, 2, 6, 2), embed_dim=96)),
    "asmlp_s": (asmlp_spec, dict(depths=(2, 2, 18, 2), embed_dim=96)),
    "asmlp_b": (asmlp_spec, dict(depths=(2, 2, 18, 2), embed_dim=128)),
    "hiremlp_tiny": (hire_spec, dict(depths=(2, 2, 4, 2), dims=(64, 128, 320, 512))),
    "hiremlp_small": (hire_spec, dict(depths=(3, 4, 10, 3), dims=(64, 128, 320, 512))),
    "hiremlp_base": (hire_spec, dict(depths=(4, 6, 24, 3), dims=(64, 128, 320, 512))),
    "hiremlp_large": (hire_spec, dict(depths=(4, 6, 24, 3), dims=(96, 192, 384, 768))),
    "vip_s7": (vip_spec, dict(depths=(4, 3, 8, 3), dims=(192, 384, 384, 384),
                              transitions=(True, False, False, False),
                              segments=(32, 16, 16, 16))),
    "vip_m7": (vip_spec, dict(depths=(4, 3, 14, 3), dims=(256, 256, 512, 512),
                              transitions=(False, True, False, False),
                              segments=(32, 32, 16, 16))),
    "vip_l7": (vip_spec, dict(depths=(8, 8, 16, 4), dims=(256, 512, 512, 512),
                              transitions=(True, False, False, False),
                              segments=(32, 16, 16, 16))),
    # tiny variants of every family for fast tests
    "test_cyclemlp": (cycle_spec, dict(depths=(1, 1, 2, 1), dims=(16, 24, 32, 48), mlp_ratios=2,
                                       img_size=64, num_classes=10)),
    "test_asmlp": (asmlp_spec, dict(depths=(1, 1, 2, 1), embed_dim=16, mlp_ratio=2,
                                    shift_size=3, img_size=64, num_classes=10)),
    "test_hiremlp": (hire_spec, dict(depths=(1, 1, 3, 1), dims=(16, 24, 32, 48), mlp_ratios=2,
                                     img_size=64, num_classes=10)),
    "test_vip": (vip_spec, dict(depths=(1, 1, 1, 1), dims=(32, 64, 64, 64),
                                transitions=(True, False, False, False),
                                segments=(8, 4, 4, 4), mlp_ratios=2, img_size=56,
                                num_classes=10)),
}


def published_spec(name: str, **overrides) -> NetSpec:
    builder, args = PUBLISHED[name]
    return builder(**{**args, **overrides})


def _entry(name: str, pretrained: bool, kwargs) -> MlpBackbone:
    # the spec depends on img_size (the permutator's FC sizes); timm passes it in kwargs
    img_size = kwargs.pop("img_size", None)
    spec = published_spec(name) if img_size is None else published_spec(name, img_size=img_size)
    return _create(name, pretrained, spec, **kwargs)


@register_model
def cyclemlp_b1(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("cyclemlp_b1", pretrained, kwargs)


@register_model
def cyclemlp_b2(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("cyclemlp_b2", pretrained, kwargs)


@register_model
def cyclemlp_b3(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("cyclemlp_b3", pretrained, kwargs)


@register_model
def cyclemlp_b4(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("cyclemlp_b4", pretrained, kwargs)


@register_model
def cyclemlp_b5(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("cyclemlp_b5", pretrained, kwargs)


@register_model
def asmlp_t(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("asmlp_t", pretrained, kwargs)


@register_model
def asmlp_s(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("asmlp_s", pretrained, kwargs)


@register_model
def asmlp_b(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("asmlp_b", pretrained, kwargs)


@register_model
def hiremlp_tiny(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("hiremlp_tiny", pretrained, kwargs)


@register_model
def hiremlp_small(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("hiremlp_small", pretrained, kwargs)


@register_model
def hiremlp_base(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("hiremlp_base", pretrained, kwargs)


@register_model
def hiremlp_large(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("hiremlp_large", pretrained, kwargs)


@register_model
def vip_s7(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("vip_s7", pretrained, kwargs)


@register_model
def vip_m7(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("vip_m7", pretrained, kwargs)


@register_model
def vip_l7(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("vip_l7", pretrained, kwargs)


@register_model
def test_cyclemlp(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("test_cyclemlp", pretrained, kwargs)


@register_model
def test_asmlp(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("test_asmlp", pretrained, kwargs)


@register_model
def test_hiremlp(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("test_hiremlp", pretrained, kwargs)


@register_model
def test_vip(pretrained=False, **kwargs) -> MlpBackbone:
    return _entry("test_vip", pretrained, kwargs)


@register_model
def mlpnas_exported(pretrained=False, export_path=None, spec=None, **kwargs) -> MlpBackbone:
    """An architecture exported by mlpnas (a folder with arch.json and model.safetensors):

        timm.create_model("mlpnas_exported", pretrained=True, export_path=FOLDER)

    builds the architecture from FOLDER/arch.json and, with pretrained=True, loads
    FOLDER/model.safetensors through timm (num_classes=N resets the classifier for
    fine-tuning, as timm does for its own models); its pretrained_cfg holds the mean, std,
    crop and input size of the data it was trained on. `spec=` (a NetSpec or its dict)
    builds the architecture without a folder: that is what the `model_args` of a model saved
    with `timm.models.save_for_hf` / `push_to_hf_hub` hold, so `create_model("local-dir:DIR")`
    and `"hf-hub:USER/REPO"` rebuild it (and load its weights with pretrained=True)."""
    overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
    if spec is None:
        if export_path is None and overlay.get("file"):
            export_path = Path(overlay["file"]).parent
        if export_path is None:
            raise ValueError("mlpnas_exported needs export_path=FOLDER, the folder `mlpnas "
                             "search` or `mlpnas export` wrote (with arch.json and "
                             "model.safetensors), or spec=NETSPEC.")
        record = read_arch_file(export_path)
        spec = NetSpec.from_dict(record["netspec"])
        overlay.update(exported_cfg(record))
        if pretrained:  # read and checked as load_exported reads it; timm takes the state dict
            overlay.pop("file", None)
            overlay["state_dict"] = read_weights(export_path, spec)
        else:
            overlay.setdefault("file", str(Path(export_path) / WEIGHTS_FILE))
    spec = spec if isinstance(spec, NetSpec) else NetSpec.from_dict(spec)
    overlay.setdefault("num_classes", spec.num_classes)
    overlay.setdefault("input_size", (spec.in_chans, *spec.img_size))
    return _create(ENTRY, pretrained, spec, cls=ExportedBackbone, pretrained_cfg_overlay=overlay,
                   **kwargs)
