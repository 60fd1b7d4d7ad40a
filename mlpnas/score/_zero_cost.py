"""Training-free scores: properties of a freshly initialised network on one fixed batch of
training images, averaged over a few initialisations.

Every score runs over every trainable parameter of the network (the published code sums
over convolution and linear weights only; here the CycleFC, shift, Hire-MLP and permutator
weights, the norms' affine parameters and the biases count too) and over every rectifying
nonlinearity (GELU as well as ReLU).

- `naswot` (Mellor et al. 2021): for each input image, the binary code of which units are
  active (input of a nonlinearity > 0) at every nonlinearity; K[i, j] = number of units where
  images i and j agree; score = log|det K|. Networks that tell more images apart score
  higher.
- `jacob_cov` (Mellor et al. 2020): the correlation matrix of the per-image input gradients
  of the summed outputs; score = -sum(log(v + k) + 1 / (v + k)) over its eigenvalues v,
  k = 1e-5. Less correlated gradients score higher.
- `grad_norm`: sum over parameters of the L2 norm of the cross-entropy gradient.
- `snip` (Lee et al. 2019): sum of |w * dL/dw|.
- `zico` (Li et al. 2023): the batch is cut into `splits` parts; per parameter, the gradient's
  mean absolute value over the parts divided by its standard deviation, summed over the
  elements whose deviation is not zero; score = sum over parameters of the log of that sum.
- `synflow` (Tanaka et al. 2020): every parameter replaced by its absolute value, an input of
  ones, R = sum of the outputs in float64; score = log of sum |w * dR/dw|. As published it is
  about 0 on networks with BatchNorm or LayerNorm (a constant input normalises to zero), so
  every norm is replaced by its affine part (w * x + b) while it is computed.

Passes, each shared by the scores that need it: the whole batch forward in training mode
(NASWOT's codes, the input gradients of `jacob_cov`, the gradients of `grad_norm` and `snip`);
`splits` smaller forward/backward passes for ZiCo; one float64 pass for SynFlow. So a score's
value does not depend on which other scores are computed with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TRAINING_FREE = ("naswot", "jacob_cov", "grad_norm", "snip", "synflow", "zico")
RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Mish,
              nn.Hardswish)
_FULL_BATCH = {"naswot", "jacob_cov", "grad_norm", "snip"}
JACOB_K = 1e-5


@dataclass(frozen=True)
class ZeroCostSetting:
    """The training-free scores' settings (`scoring.*` of conf/, where their defaults live);
    the constructor holds the checks."""

    inits: int        # initialisations averaged
    batch_size: int   # images of the fixed batch
    splits: int       # parts of the batch for ZiCo's gradient statistics
    seed: int         # initialisation k uses seed + k

    def __post_init__(self):
        from ..errors import UserError, whole_number

        for name, low in (("inits", 1), ("batch_size", 2), ("splits", 2), ("seed", 0)):
            whole_number(getattr(self, name), low, f"scoring.{name}")
        if self.batch_size < self.splits:
            raise UserError(f"scoring.batch_size={self.batch_size} is smaller than "
                            f"scoring.splits={self.splits}; every part needs an image.")

    @classmethod
    def of(cls, node: Mapping) -> ZeroCostSetting:
        """From the `scoring` node (or a report's record of it)."""
        return cls(*(node[k] for k in ("inits", "batch_size", "splits", "seed")))

    def record(self) -> dict:
        return {"inits": self.inits, "batch_size": self.batch_size, "splits": self.splits,
                "seed": self.seed}


def _params(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


class _ActivationCodes:
    """Forward hooks on every rectifier that accumulate NASWOT's kernel K (N x N)."""

    def __init__(self, model: nn.Module, n: int):
        self.K = torch.zeros(n, n, dtype=torch.float64)
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, RECTIFIERS)]
        self.units = 0

    def _hook(self, module, inputs, output) -> None:
        x = inputs[0].detach()
        c = (x.reshape(x.shape[0], -1) > 0).to(torch.float32)
        d = c.shape[1]
        rows = c.sum(1, dtype=torch.float64)
        agree = 2.0 * (c @ c.T).double() - rows[:, None] - rows[None, :] + d
        self.K += agree.cpu()
        self.units += d

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def score(self) -> float:
        sign, logdet = torch.linalg.slogdet(self.K)
        return float(logdet) if sign > 0 else -math.inf


def jacob_cov_of(jacobians: torch.Tensor) -> float:
    """Mellor et al.'s score of per-image input gradients (N, ...)."""
    j = jacobians.reshape(jacobians.shape[0], -1).double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(j))
    v = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    return float(-np.sum(np.log(v + JACOB_K) + 1.0 / (v + JACOB_K)))


def _ce_grads(model: nn.Module, params, x, y) -> list[torch.Tensor]:
    out = model(x)
    return [g.detach() if g is not None else torch.zeros_like(p) for g, (_, p) in zip(
        torch.autograd.grad(F.cross_entropy(out, y), [p for _, p in params],
                            allow_unused=True), params)]


def _zico_terms(grads: list[list[torch.Tensor]]) -> list[float]:
    """Per parameter: log(sum over elements of mean|g| / std(g)) across the batch parts
    (elements with zero deviation skipped; a parameter with nothing left adds 0)."""
    terms = []
    for per_part in zip(*grads):
        g = torch.stack(per_part).double()
        std = g.std(0, unbiased=False)
        ok = std > 0
        total = float((g.abs().mean(0)[ok] / std[ok]).sum()) if ok.any() else 0.0
        terms.append(math.log(total) if total > 0 else 0.0)
    return terms


class _AffineNorms:
    """While active: BatchNorm in eval mode with statistics (0, 1), LayerNorm and GroupNorm
    as their affine part on the channel dimension (last for mlpnas' channels-last norms)."""

    def __init__(self, model: nn.Module):
        self.patched: list[nn.Module] = []
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.eval()
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)) and m.weight is not None:
                m.forward = self._affine(m)  # instance attribute shadows the method
                self.patched.append(m)

    @staticmethod
    def _affine(m: nn.Module) -> Callable:
        channels_first = isinstance(m, nn.GroupNorm) and type(m).forward is nn.GroupNorm.forward

        def forward(x: torch.Tensor) -> torch.Tensor:
            if channels_first and x.dim() > 2:
                shape = (1, -1) + (1,) * (x.dim() - 2)
                return x * m.weight.reshape(shape) + m.bias.reshape(shape)
            return x * m.weight + m.bias
        return forward

    def restore(self) -> None:
        for m in self.patched:
            del m.forward


def synflow_terms(model: nn.Module, input_shape) -> dict[str, float]:
    """Per parameter, sum |w * dR/dw| of SynFlow (see the module docstring). The model is
    changed (absolute float64 weights): give it a fresh copy."""
    model = model.double().train()
    norms = _AffineNorms(model)  # after train(): it puts BatchNorm in eval mode
    params = _params(model)
    with torch.no_grad():
        for _, p in params:
            p.abs_()
    x = torch.ones((1, *input_shape), dtype=torch.float64,
                   device=next(model.parameters()).device)
    grads = torch.autograd.grad(model(x).sum(), [p for _, p in params], allow_unused=True)
    norms.restore()
    return {n: float((p.detach() * g).abs().sum()) if g is not None else 0.0
            for (n, p), g in zip(params, grads)}


def _log(v: float) -> float:
    return math.log(v) if v > 0 else -math.inf


def scores_once(model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: Iterable[str],
                splits: int = 2) -> dict[str, float]:
    """The training-free scores `names` of one freshly initialised `model` on (x, y). The
    model is left changed (SynFlow makes its weights absolute): build a new one per call."""
    names = set(names)
    unknown = names - set(TRAINING_FREE)
    if unknown:
        raise ValueError(f"not training-free scores: {sorted(unknown)}")
    model.train()
    params = _params(model)
    out: dict[str, float] = {}
    if names & _FULL_BATCH:
        codes = _ActivationCodes(model, len(x)) if "naswot" in names else None
        want_jac = "jacob_cov" in names
        want_grad = bool(names & {"grad_norm", "snip"})
        xin = x.clone().requires_grad_(want_jac)
        try:
            with torch.set_grad_enabled(want_jac or want_grad):
                logits = model(xin)
        finally:
            if codes is not None:
                codes.remove()
        if codes is not None:
            out["naswot"] = codes.score()
        if want_jac:
            (jac,) = torch.autograd.grad(logits.sum(), xin, retain_graph=want_grad)
            out["jacob_cov"] = jacob_cov_of(jac)
        if want_grad:
            grads = torch.autograd.grad(F.cross_entropy(logits, y), [p for _, p in params],
                                        allow_unused=True)
            grads = [g if g is not None else torch.zeros_like(p)
                     for g, (_, p) in zip(grads, params)]
            if "grad_norm" in names:
                out["grad_norm"] = float(sum(float(g.norm()) for g in grads))
            if "snip" in names:
                out["snip"] = float(sum(float((g * p.detach()).abs().sum())
                                        for g, (_, p) in zip(grads, params)))
    if "zico" in names:
        parts = [_ce_grads(model, params, xs, ys)
                 for xs, ys in zip(x.tensor_split(splits), y.tensor_split(splits))]
        out["zico"] = float(sum(_zico_terms(parts)))
    if "synflow" in names:
        out["synflow"] = _log(sum(synflow_terms(model, x.shape[1:]).values()))
    return out


def parameter_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str,
                    splits: int = 2) -> dict[str, float]:
    """Per parameter, its share of a gradient score (for tests and diagnosis): the term the
    score sums (grad_norm, snip, synflow: the sum is the score; zico: the sum is the
    score; synflow's score is the log of the sum)."""
    model.train()
    params = _params(model)
    if name == "synflow":
        return synflow_terms(model, x.shape[1:])
    if name == "zico":
        parts = [_ce_grads(model, params, xs, ys)
                 for xs, ys in zip(x.tensor_split(splits), y.tensor_split(splits))]
        return dict(zip([n for n, _ in params], _zico_terms(parts)))
    grads = _ce_grads(model, params, x, y)
    if name == "grad_norm":
        return {n: float(g.norm()) for (n, _), g in zip(params, grads)}
    if name == "snip":
        return {n: float((g * p.detach()).abs().sum()) for (n, p), g in zip(params, grads)}
    raise ValueError(f"'{name}' is not a gradient score")


def score_network(make_model: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor,
                  names: Iterable[str], setting: ZeroCostSetting) -> dict[str, float]:
    """The scores `names`, each the mean over `setting.inits` initialisations (initialisation
    k: `make_model()` under torch's seed `setting.seed + k`; the global random state is left
    as it was)."""
    names = list(names)
    if not names:
        return {}
    totals = dict.fromkeys(names, 0.0)
    for k in range(setting.inits):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(setting.seed + k)
            model = make_model().to(x.device)
        for n, v in scores_once(model, x, y, names, setting.splits).items():
            totals[n] += v
    return {n: v / setting.inits for n, v in totals.items()}
