"""Export architectures of a trained supernet: extract, re-estimate BatchNorm statistics
where needed, write arch file + weights + model card (+ ONNX)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..export import write_export
from ..train import EvalSetting
from ._eval import extract_recalibrated


def export_subnets(net, space, keys, out_dir: Path, infos: dict, recal_ds,
                   setting: EvalSetting, device: torch.device, onnx: bool = False) -> list[Path]:
    return [write_export(extract_recalibrated(net, space.arch_from_key(key), recal_ds,
                                              setting, device),
                         out_dir / key, key, dict(infos.get(key, {})), onnx)
            for key in keys]
