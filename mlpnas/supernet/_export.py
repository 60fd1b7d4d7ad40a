"""Export architectures of a trained supernet: extract, re-estimate BatchNorm statistics
where needed, write arch file + weights + model card (+ ONNX)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..export import CHECK_BATCHES, ONNX_FILE, export_model, export_onnx, onnx_max_error
from ..train import has_batchnorm, recalibrate_bn


def export_subnets(net, space, keys, out_dir: Path, infos: dict, recal_ds, batch_size: int,
                   recal_batches: int, device: torch.device, onnx: bool = False) -> list[Path]:
    written = []
    for key in keys:
        arch = space.arch_from_key(key)
        model = net.extract(arch).eval()
        if has_batchnorm(model) and recal_batches > 0:
            recalibrate_bn(model, recal_ds, batch_size, recal_batches, device)
        info = dict(infos.get(key, {}))
        folder = export_model(model, out_dir / key, key, info)
        if onnx:
            cpu = model.cpu()
            meta = {"arch": key, **{k: v for k, v in (info.get("preprocessing") or {}).items()
                                    if k != "input_size"}}
            path = export_onnx(cpu, folder / ONNX_FILE, space.input_size, meta)
            error = max(onnx_max_error(path, cpu, torch.randn(n, *space.input_size))
                        for n in CHECK_BATCHES)
            info.setdefault("metrics", {})["onnx_max_abs_error"] = error
            export_model(cpu, folder, key, info)  # the model card records the ONNX check
        written.append(folder)
    return written
