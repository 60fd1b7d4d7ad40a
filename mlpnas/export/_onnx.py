"""ONNX export of an exported architecture (optional `onnx` extra: onnx, onnxscript,
onnxruntime), checked against PyTorch with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..errors import UserError

ONNX_FILE = "model.onnx"


def _require():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise UserError(f"ONNX export needs the onnx extra ({e.name} is missing); install it "
                        f"with `pip install -e \".[onnx]\"`.") from None


def export_onnx(model: torch.nn.Module, path: str | Path, input_size, batch: int = 1
                ) -> Path:
    """Write `model` as ONNX to `path` (torch.export-based exporter, fixed batch size)."""
    _require()
    path = Path(path)
    x = torch.randn(batch, *input_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(), (x,), dynamo=True, input_names=["images"], output_names=["logits"],
            external_data=False, verbose=False)
    program.save(str(path))
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
