"""Computing scores of architectures: the registered scores of one architecture, grouped by
what they need (`BaseScores`), and the accuracy axis of a search from them (`AxisScore`:
one score, the mean rank of several against a reference sample, or the predictor)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import UserError
from ..space import Arch, Space
from ._ensemble import RankReference
from ._predictor import Predictor, family_counts, feature_scores
from ._registry import SCORES, ScoreChoice
from ._zero_cost import ZeroCostSetting, score_network

SupernetMetrics = Callable[[Arch], Mapping[str, float]]  # arch -> {"accuracy", "loss"}


def fixed_batch(ds, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` images and labels of `ds` (the training-free scores' batch)."""
    from ..data import iterate_batches, sequential_batches

    if len(ds) < n:
        raise UserError(f"the training-free scores need scoring.batch_size={n} images, but "
                        f"the split they read holds {len(ds)}; lower scoring.batch_size.")
    xs, ys = zip(*iterate_batches(ds, sequential_batches(len(ds), n, n)))
    return torch.cat(xs), torch.cat(ys)


@dataclass
class ScoreContext:
    """What computing the scores of a space's architectures may use."""
    space: Space
    num_classes: int
    costs: object                      # a mlpnas.cost.CostModel
    batch: tuple[torch.Tensor, torch.Tensor] | None = None   # training-free scores
    zero_cost: ZeroCostSetting | None = None                 # training-free scores
    supernet: SupernetMetrics | None = None                  # supernet scores

    def available(self, name: str) -> bool:
        kind = SCORES[name].kind
        return (kind == "cost" or (kind == "training_free" and self.batch is not None)
                or (kind == "supernet" and self.supernet is not None))


class BaseScores:
    """arch -> {name: value} for a set of registered scores; each kind's passes are shared
    by its scores (one subnet evaluation gives both supernet scores, one set of passes every
    training-free score). Records the seconds spent per kind."""

    def __init__(self, names: Sequence[str], ctx: ScoreContext):
        self.names = list(dict.fromkeys(names))
        self.ctx = ctx
        for n in self.names:
            if not ctx.available(n):
                raise UserError(f"the score '{n}' needs {SCORES[n].needs}, which this run "
                                f"does not have; choose another score.")
        self.seconds: dict[str, float] = {}
        self.calls = 0

    def _timed(self, kind: str, fn):
        t = time.perf_counter()
        out = fn()
        self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - t
        return out

    def __call__(self, arch: Arch) -> dict[str, float]:
        ctx, out = self.ctx, {}
        self.calls += 1
        by_kind: dict[str, list[str]] = {}
        for n in self.names:
            by_kind.setdefault(SCORES[n].kind, []).append(n)
        for n in by_kind.get("cost", []):
            out[n] = float(ctx.costs.cost(arch, SCORES[n].column))
        if "training_free" in by_kind:
            out.update(self._timed("training_free", lambda: self.training_free(
                arch, by_kind["training_free"])))
        if "supernet" in by_kind:
            metrics = self._timed("supernet", lambda: ctx.supernet(arch))
            out.update({n: float(metrics[SCORES[n].column]) for n in by_kind["supernet"]})
        return out

    def training_free(self, arch: Arch, names: Sequence[str]) -> dict[str, float]:
        from ..models import MlpBackbone

        spec = self.ctx.space.to_netspec(arch, self.ctx.num_classes)
        x, y = self.ctx.batch
        return score_network(lambda: MlpBackbone(spec), x, y, names, self.ctx.zero_cost)


def reference_archs(space: Space, n: int, seed: int = 0) -> list[Arch]:
    """`n` distinct architectures sampled uniformly from the space (fewer if it has fewer),
    the same for a given seed: the reference sample of an ensemble's ranks."""
    rng = random.Random(seed)
    out: dict[str, Arch] = {}
    for _ in range(50 * n):
        if len(out) >= n:
            break
        a = space.sample(rng)
        out.setdefault(a.key, a)
    return list(out.values())


class AxisScore:
    """arch -> the value of a search's accuracy axis (`ScoreChoice`): a registered score's
    value, the mean rank of several against `reference`, or the predictor's estimate."""

    def __init__(self, choice: ScoreChoice, ctx: ScoreContext,
                 reference: RankReference | None = None, predictor: Predictor | None = None):
        self.choice = choice
        if choice.is_predictor:
            if predictor is None:
                raise ValueError("the predictor axis needs a fitted predictor")
            names = feature_scores()
        else:
            names = list(choice.members)
        if choice.is_ensemble and reference is None:
            raise ValueError("an ensemble axis needs its reference sample")
        self.base = BaseScores(names, ctx)
        self.reference, self.predictor = reference, predictor

    @property
    def seconds(self) -> float:
        return sum(self.base.seconds.values())

    @property
    def calls(self) -> int:
        return self.base.calls

    def __call__(self, arch: Arch) -> float:
        values = self.base(arch)
        if self.choice.is_predictor:
            return self.predictor.predict({**values, **family_counts(arch.key)})
        if self.choice.is_ensemble:
            return self.reference.value(values)
        return values[self.choice.members[0]]
