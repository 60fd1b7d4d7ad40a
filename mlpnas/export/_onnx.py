"""ONNX export of an exported architecture (optional `onnx` extra: onnx, onnxscript,
onnxruntime), checked against PyTorch with onnxruntime. The batch axis is dynamic; the image
size is the architecture's (its mixers are built for that map size). The input size and the
preprocessing are written into the file's metadata (`metadata_props`)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError

ONNX_FILE = "model.onnx"
CHECK_BATCHES = (1, 3)  # onnxruntime runs the file at these batch sizes against PyTorch


def _require():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise UserError(f"ONNX export needs the onnx extra ({e.name} is missing); install it "
                        f"with `pip install \"mlpnas[onnx]\"` (from a source checkout: "
                        f"`pip install -e \".[onnx]\"`).") from None


def export_onnx(model: torch.nn.Module, path: str | Path, input_size,
                metadata: Mapping[str, Any] | None = None) -> Path:
    """Write `model` as ONNX to `path` (torch.export-based exporter): input 'images'
    (N, C, H, W) with any batch size N, output 'logits'. `metadata` (values as JSON
    unless strings) goes into the file's metadata_props, beside the input size."""
    _require()
    import onnx

    path = Path(path)
    x = torch.randn(2, *input_size)  # not 1: torch.export would fix a batch of 1
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(), (x,), dynamo=True, input_names=["images"], output_names=["logits"],
            dynamic_shapes={"x": {0: batch}}, external_data=False, verbose=False)
    program.save(str(path))
    props = {"input_size": list(input_size), "batch": "any", **dict(metadata or {})}
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {k: v if isinstance(v, str) else json.dumps(v)
                                        for k, v in props.items()})
    onnx.save(proto, str(path))
    return path


def onnx_max_error(path: str | Path, model: torch.nn.Module, x: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime's and PyTorch's outputs on `x`."""
    _require()
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    if out.shape[0] != x.shape[0]:
        raise ValueError("the ONNX model was exported for another batch size")
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    return float(abs(out - ref).max())
