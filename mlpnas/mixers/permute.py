"""The ViP weighted permutator (channels-last).

Channels are cut into g segments of S = C/g. Height branch: for each column and segment the
H x S values are laid out row-major (row y, channel j -> y*S + j) and mapped by one linear
layer without bias shared by all columns and segments. Width branch: the same along W.
Channel branch: a linear map without bias. Then the reweight fusion and a projection.

The authors' layer is Linear(C, C), which only works when H*S == C (and W*S == C). Built with
`input_size=(H, W)` this mixer generalises it to Linear(H*S, H*S) and Linear(W*S, W*S), so any
segment count dividing C works at any resolution; where H*S == C the parameters and the result
are exactly the authors'. Built without `input_size` it is the authors' layer and says which
numbers must match when they do not.
"""

from __future__ import annotations

import torch
from torch import nn

from ._fusion import ThreeBranchMixer


class PermuteMixer(ThreeBranchMixer):
    needs_input_size = True

    def __init__(self, dim: int, segments: int = 8, input_size: tuple[int, int] | None = None):
        super().__init__(dim)
        if segments < 1 or dim % segments:
            raise ValueError(
                f"permute: segments={segments} must divide the width {dim} (the channels are "
                f"cut into equal segments).")
        self.segments = segments
        self.seg_width = dim // segments
        self.input_size = None if input_size is None else tuple(input_size)
        if self.input_size is None:
            n_h = n_w = dim
        else:
            n_h, n_w = self.input_size[0] * self.seg_width, self.input_size[1] * self.seg_width
        self.fc_h = nn.Linear(n_h, n_h, bias=False)
        self.fc_w = nn.Linear(n_w, n_w, bias=False)
        self.fc_c = nn.Linear(dim, dim, bias=False)

    def _check(self, H: int, W: int) -> None:
        S, g, C = self.seg_width, self.segments, self.dim
        if self.input_size is None:
            if H * S != C or W * S != C:
                raise ValueError(
                    f"the weighted permutator with width C={C} and segments={g} (S = C/segments "
                    f"= {S}) needs H*S == C and W*S == C, i.e. a {g}x{g} feature map, but got "
                    f"{H}x{W}; change the input resolution or the segment count so that "
                    f"height = width = segments.")
        elif self.input_size != (H, W):
            raise ValueError(
                f"this permute mixer was built for a {self.input_size[0]}x{self.input_size[1]} "
                f"feature map (its FC sizes are H*S and W*S) but got {H}x{W}; build the model "
                f"for the input size you use.")

    def axis_fcs(self) -> tuple[nn.Module, nn.Module]:
        """The height and width FCs of the current segment count."""
        return self.fc_h, self.fc_w

    def branches(self, x):
        B, H, W, C = x.shape
        self._check(H, W)
        g, S = self.segments, self.seg_width
        fc_h, fc_w = self.axis_fcs()
        xs = x.reshape(B, H, W, g, S)
        h = xs.permute(0, 3, 2, 1, 4).reshape(B, g, W, H * S)
        h = fc_h(h).reshape(B, g, W, H, S).permute(0, 3, 2, 1, 4).reshape(B, H, W, C)
        w = xs.permute(0, 1, 3, 2, 4).reshape(B, H, g, W * S)
        w = fc_w(w).reshape(B, H, g, W, S).permute(0, 1, 3, 2, 4).reshape(B, H, W, C)
        return h, w, self.fc_c(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, segments={self.segments}, input_size={self.input_size}"

# --------------------------------------------------------------------------------------------
# The elastic version (supernet): runs every option value of a space with shared weights
# --------------------------------------------------------------------------------------------


class ElasticPermuteMixer(PermuteMixer):
    """One (fc_h, fc_w) pair per segment option (their size H*S depends on the segment
    count, so they cannot be shared); channel FC, fusion and projection shared."""

    @classmethod
    def for_options(cls, dim: int, options: dict, resolution) -> ElasticPermuteMixer:
        """The elastic mixer able to run every value listed in `options["segments"]`."""
        return cls(dim, tuple(options["segments"]), resolution)

    def __init__(self, dim: int, segments: tuple[int, ...], input_size: tuple[int, int]):
        super().__init__(dim, segments[0], input_size)
        H, W = input_size
        self.fc_h = nn.ModuleDict({str(g): nn.Linear(H * dim // g, H * dim // g, bias=False)
                                   for g in segments})
        self.fc_w = nn.ModuleDict({str(g): nn.Linear(W * dim // g, W * dim // g, bias=False)
                                   for g in segments})
        self._active = str(segments[0])

    def set_active(self, segments: int) -> None:
        self.segments, self.seg_width = segments, self.dim // segments
        self._active = str(segments)

    def axis_fcs(self) -> tuple[nn.Module, nn.Module]:
        return self.fc_h[self._active], self.fc_w[self._active]

    def extract_state(self, segments: int) -> dict[str, torch.Tensor]:
        g = str(segments)
        state = {}
        for k, v in self.state_dict().items():
            if k.startswith(("fc_h.", "fc_w.")):
                axis, opt, rest = k.split(".", 2)
                if opt == g:
                    state[f"{axis}.{rest}"] = v
            else:
                state[k] = v
        return state
