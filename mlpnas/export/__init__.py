"""Exported architectures: arch file + safetensors weights + model card (+ ONNX), loading
them back (also through timm), and retraining them standalone."""

from ._export import (
    ARCH_FILE,
    CARD_FILE,
    WEIGHTS_FILE,
    export_model,
    load_exported,
    model_card,
    read_arch_file,
    write_arch_file,
)
from ._from_supernet import export_subnets
from ._onnx import ONNX_FILE, export_onnx, onnx_max_error

__all__ = ["ARCH_FILE", "CARD_FILE", "ONNX_FILE", "WEIGHTS_FILE", "export_model",
           "export_onnx", "export_subnets", "load_exported", "model_card", "onnx_max_error",
           "read_arch_file", "write_arch_file"]
