"""The file format of an exported architecture, as far as building a model needs it: the
folder holds `arch.json` (the architecture key, its space, the full network description and
the preprocessing of the data it was trained on) and `model.safetensors` (the weights).
Writing and loading whole exports is `mlpnas.export`; the timm entry `mlpnas_exported` reads
the same files.

An exported architecture is an `ExportedBackbone`: the backbone whose reconstruction
arguments (what timm's `save_for_hf` / `push_to_hf_hub` write as `model_args`) are its
NetSpec, so that `timm.create_model("local-dir:DIR")` or `"hf-hub:USER/REPO"` rebuilds it on
any machine; and whose `pretrained_cfg` holds the data's mean, std, crop and input size, so
that `timm.data.resolve_data_config(model=m)` prepares images the way it was trained.

Both files may come from someone else, so both are checked before they are used: arch.json
through `NetSpec.from_dict` (types, ranges, the network's size) and its preprocessing
record, the weights against the network arch.json describes (names, shapes and dtypes from
the file's header, before any tensor is read; then that every value is finite)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..spec import NetSpec, SpecError
from .backbone import MlpBackbone

ARCH_FILE = "arch.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "mlpnas-export-1"
ENTRY = "mlpnas_exported"  # the timm name of exported architectures

# what `preprocessing` in arch.json holds, as timm's pretrained_cfg names it
PREPROCESSING_KEYS = ("mean", "std", "crop_pct", "interpolation")
# timm's defaults, for exports written before arch.json recorded the preprocessing
_IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "crop_pct": 0.9,
             "interpolation": "bicubic"}
# factory arguments that describe this machine, not the architecture (never saved for a hub)
_LOCAL_ARGS = ("export_path", "spec")


def read_arch_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise UserError(f"'{p}' does not exist; give the folder of an exported architecture "
                        f"(`mlpnas export RUN_DIR` writes them).")
    folder = p if p.is_dir() else p.parent
    arch_file = folder / ARCH_FILE
    if not arch_file.is_file():
        raise UserError(f"'{folder}' is not an exported architecture: it has no {ARCH_FILE}; "
                        f"export one with `mlpnas export RUN_DIR`.")
    try:
        record = json.loads(arch_file.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("arch"), str) \
                or not isinstance(record.get("netspec"), dict):
            raise SpecError("it is not an object with an 'arch' key and a 'netspec'")
        NetSpec.from_dict(record["netspec"])
        _check_preprocessing(record.get("preprocessing"))
    except (ValueError, RecursionError, OSError) as e:  # JSON, text, SpecError, nesting
        why = "nested too deeply" if isinstance(e, RecursionError) else e
        raise UserError(f"'{arch_file}' is damaged or not an mlpnas export ({why}); export the "
                        f"architecture again.") from None
    return record


def _check_preprocessing(prep) -> None:
    """`preprocessing` of arch.json, as export writes it (or absent): mean and std one to
    64 finite numbers, crop_pct a number in (0, 1], interpolation a word."""
    import math

    if prep is None:
        return
    if not isinstance(prep, dict):
        raise SpecError("its preprocessing is not a mapping")

    def numbers(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    for key in ("mean", "std"):
        v = prep.get(key, _IMAGENET[key])
        if not isinstance(v, (list, tuple)) or not 1 <= len(v) <= 64 \
                or not all(numbers(x) for x in v):
            raise SpecError(f"its preprocessing {key} is not a list of numbers")
    crop = prep.get("crop_pct", _IMAGENET["crop_pct"])
    if not numbers(crop) or not 0 < crop <= 1:
        raise SpecError("its preprocessing crop_pct is not a number in (0, 1]")
    if not isinstance(prep.get("interpolation", "bicubic"), str):
        raise SpecError("its preprocessing interpolation is not a name")


def read_weights(folder: str | Path, spec: NetSpec, map_location="cpu") -> dict:
    """The state dict in `folder/model.safetensors`, checked against the network `spec`
    describes: the names, shapes and dtypes in the file's header first (nothing is read if
    they do not match), then that every value is finite. Any problem is one sentence."""
    from safetensors import SafetensorError, safe_open

    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise UserError(f"'{folder}' has no {WEIGHTS_FILE}; the architecture file is there but "
                        f"its weights are missing; export it again.")
    with torch.device("meta"):  # names, shapes and dtypes without allocating
        ours = {k: (tuple(v.shape), v.dtype) for k, v in MlpBackbone(spec).state_dict().items()}

    def mismatch(what: str) -> UserError:
        return UserError(f"the weights in '{weights}' do not match {ARCH_FILE} ({what}); the "
                         f"two files come from different exports; export the architecture "
                         f"again.")

    try:
        with safe_open(str(weights), framework="pt", device=str(map_location)) as f:
            theirs = {}
            for k in f.keys():  # noqa: SIM118 (a safe_open handle is not iterable)
                part = f.get_slice(k)
                theirs[k] = (tuple(part.get_shape()), part.get_dtype())
            missing = sorted(set(ours) - set(theirs))
            unexpected = sorted(set(theirs) - set(ours))
            if missing or unexpected:
                raise mismatch(f"missing '{missing[0]}'" if missing else
                               f"unexpected '{unexpected[0][:80]}'")
            for k, (shape, dtype) in ours.items():
                if theirs[k][0] != shape:
                    raise mismatch(f"'{k}' has shape {theirs[k][0]} instead of {shape}")
                if theirs[k][1] != _SAFETENSORS_DTYPE.get(dtype, str(dtype)):
                    raise mismatch(f"'{k}' is stored as {theirs[k][1]}, not "
                                   f"{_SAFETENSORS_DTYPE.get(dtype, dtype)}")
            state = {k: f.get_tensor(k) for k in ours}
    except (SafetensorError, OSError) as e:
        raise UserError(f"'{weights}' cannot be read ({e}); export the architecture again.") \
            from None
    bad = next((k for k, v in state.items() if v.is_floating_point()
                and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise UserError(f"the weights in '{weights}' hold values that are not finite (NaN or "
                        f"infinite, in '{bad}'); the model would compute nothing useful: "
                        f"export the architecture again.")
    return state


# how safetensors headers name the dtypes of the tensors an MlpBackbone holds
_SAFETENSORS_DTYPE = {torch.float32: "F32", torch.int64: "I64"}


def exported_cfg(record: Mapping[str, Any]) -> dict[str, Any]:
    """The pretrained_cfg entries an exported architecture sets (over timm's defaults for
    `mlpnas_exported`): classes, input size, and the normalisation, crop and interpolation
    of the data it was trained on (timm's ImageNet defaults for an export that predates
    that record)."""
    spec = record["netspec"]
    prep = {**_IMAGENET, **{k: v for k, v in (record.get("preprocessing") or {}).items()
                            if k in PREPROCESSING_KEYS}}
    return {"num_classes": int(spec["num_classes"]),
            "input_size": (int(spec.get("in_chans", 3)), *map(int, spec["img_size"])),
            "mean": tuple(float(v) for v in prep["mean"]),
            "std": tuple(float(v) for v in prep["std"]),
            "crop_pct": float(prep["crop_pct"]), "interpolation": str(prep["interpolation"])}


def full_exported_cfg(record: Mapping[str, Any]) -> dict[str, Any]:
    """timm's complete pretrained_cfg of an exported architecture (what `create_model`
    attaches to the model it builds)."""
    from timm.models import resolve_pretrained_cfg

    return resolve_pretrained_cfg(ENTRY, pretrained_cfg_overlay=exported_cfg(record)).to_dict()


class ExportedBackbone(MlpBackbone):
    """An architecture found by mlpnas, as timm builds it. timm records the arguments of
    `create_model` as the model's reconstruction arguments; here they are the NetSpec itself
    (never the folder it was read from), so a model saved with `timm.models.save_for_hf` or
    `push_to_hf_hub` is rebuilt by `create_model("local-dir:...")` / `"hf-hub:..."`."""

    @property
    def _model_args(self) -> dict[str, Any]:
        given = {k: v for k, v in self.__dict__.get("_factory_args", {}).items()
                 if k not in _LOCAL_ARGS}
        return {**given, "spec": self.spec.to_dict()}

    @_model_args.setter
    def _model_args(self, value: Mapping[str, Any]) -> None:
        self._factory_args = dict(value)
