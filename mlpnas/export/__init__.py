"""Exported architectures: arch file + safetensors weights + model card, and loading them."""

from ._export import (
    ARCH_FILE,
    CARD_FILE,
    WEIGHTS_FILE,
    export_model,
    load_exported,
    model_card,
    read_arch_file,
)

__all__ = ["ARCH_FILE", "CARD_FILE", "WEIGHTS_FILE", "export_model", "load_exported",
           "model_card", "read_arch_file"]
