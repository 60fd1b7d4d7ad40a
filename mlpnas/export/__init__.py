"""Exported architectures: arch file + safetensors weights + model card (+ ONNX), and
loading them back (also through timm). Depends on `mlpnas.models` only; exporting a
supernet's subnets is `mlpnas.supernet.export_subnets`, retraining is `mlpnas.train`."""

from ..models import ARCH_FILE, WEIGHTS_FILE, read_arch_file
from ._export import (
    CARD_FILE,
    HUB_CONFIG_FILE,
    export_fresh,
    export_model,
    load_exported,
    model_card,
    write_arch_file,
    write_export,
    write_hub_config,
)
from ._onnx import CHECK_BATCHES, ONNX_FILE, export_onnx, onnx_max_error

__all__ = ["ARCH_FILE", "CARD_FILE", "CHECK_BATCHES", "HUB_CONFIG_FILE", "ONNX_FILE",
           "WEIGHTS_FILE", "export_fresh", "export_model", "export_onnx", "load_exported",
           "model_card", "onnx_max_error", "read_arch_file", "write_arch_file", "write_export",
           "write_hub_config"]
