"""The file format of an exported architecture, as far as building a model needs it: the
folder holds `arch.json` (the architecture key, its space, the full network description and
the preprocessing of the data it was trained on) and `model.safetensors` (the weights).
Writing and loading whole exports is `mlpnas.export`; the timm entry `mlpnas_exported` reads
the same files.

An exported architecture is an `ExportedBackbone`: the backbone whose reconstruction
arguments (what timm's `save_for_hf` / `push_to_hf_hub` write as `model_args`) are its
NetSpec, so that `timm.create_model("local-dir:DIR")` or `"hf-hub:USER/REPO"` rebuilds it on
any machine; and whose `pretrained_cfg` holds the data's mean, std, crop and input size, so
that `timm.data.resolve_data_config(model=m)` prepares images the way it was trained."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    folder = p if p.is_dir() else p.parent
    arch_file = folder / ARCH_FILE
    if not arch_file.is_file():
        raise UserError(f"'{folder}' is not an exported architecture: it has no {ARCH_FILE}; "
                        f"export one with `mlpnas export RUN_DIR`.")
    try:
        record = json.loads(arch_file.read_text())
        NetSpec.from_dict(record["netspec"])
    except (json.JSONDecodeError, KeyError, SpecError) as e:
        raise UserError(f"'{arch_file}' is damaged or not an mlpnas export ({e}); export the "
                        f"architecture again.") from None
    return record


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
