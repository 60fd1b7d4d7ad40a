"""Exported architectures: arch file + safetensors weights + model card (+ ONNX), and
loading them back (also through timm). Depends on `mlpnas.models` only; exporting a
supernet's subnets is `mlpnas.supernet.export_subnets`, retraining is `mlpnas.train`."""

from ..models import ARCH_FILE, WEIGHTS_FILE, read_arch_file
from ._export import (
    CARD_FILE,
    export_fresh,
    export_model,
    load_exported,
    model_card,
    write_arch_file,
    write_export,
)
from ._onnx import ONNX_FILE, export_onnx, onnx_max_error

__all__ = ["ARCH_FILE", "CARD_FILE", "ONNX_FILE", "WEIGHTS_FILE", "export_fresh",
           "export_model", "write_export",
           "export_onnx", "load_exported", "model_card", "onnx_max_error",
           "read_arch_file", "write_arch_file"]
