"""FLOPs the way the papers count them: fvcore's multiply-add count (one MAC = one FLOP)."""

from __future__ import annotations

import warnings
from collections import Counter

import torch
from torch import nn

# elementwise ops fvcore does not count (the papers do not count them either); anything else
# showing up as unsupported would be a mixer whose compute went uncounted
ELEMENTWISE_OPS = frozenset({
    "aten::add", "aten::sub", "aten::mul", "aten::div", "aten::neg", "aten::gelu",
    "aten::softmax", "aten::mean", "aten::index_select", "aten::rsub", "aten::add_",
    "aten::remainder", "aten::arange",
})


def fvcore_count(model: nn.Module, input_size: tuple[int, int, int], batch: int = 1
                 ) -> tuple[int, Counter]:
    """(multiply-adds for one forward pass of `batch` images, unsupported op counts)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = torch.zeros(batch, *input_size, device=device)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis  # its import warns about torch.jit.script

        fa = FlopCountAnalysis(model, x)
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        total = int(fa.total())
        unsupported = Counter(fa.unsupported_ops())
    model.train(was_training)
    return total, unsupported


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
