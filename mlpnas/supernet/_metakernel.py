"""Differentiable architecture search with meta kernels (`search.strategy=metakernel`).

One training run learns the supernet's weights and a distribution over its architectures
(MetaKernel, arXiv 1912.04749, applied to the pseudo-kernels of CycleFC and the axial shift):

- **kernel** of each block: a softmax (or, with `hard_kernels`, a straight-through one-hot
  Gumbel sample) over the family's kernel options, merged into one depthwise kernel before
  the shared Linear (`ElasticCycleMixer.set_mixture`): one feature map for all candidates,
  exact (tests/test_metakernel.py);
- **family** of each block (CycleFC or the shift): a straight-through one-hot Gumbel sample
  (as in GDAS), so one family is computed per block and step; their weights differ in shape
  of use, and merging them would double the cost;
- **MLP ratio** of each block: Gumbel-softmax weights over channel masks of the largest
  hidden layer (as in FBNetV2);
- **depth** of each stage: Gumbel-softmax weights over the stage's outputs after each allowed
  number of blocks.

Costs (MFLOPs, parameters, latency) are expectations under this distribution from the
per-block cost tables, exact for the tables because costs add up per block; a budget adds
`cost_weight * max(0, log(E[cost] / budget))` to the architecture loss.

Training alternates, step by step, a weight step on a training batch (the architecture drawn
from the current distribution, no gradient to it) and, after `warmup_epochs`, an
architecture step on a holdout batch (first-order DARTS: the architecture is fitted on
images the weights are not trained on, so it cannot win by overfitting them). The Gumbel
temperature falls from `tau_start` to `tau_end` geometrically over the run. The derived
architecture is the most probable one within the budgets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import DataSplits, iterate_batches
from ..errors import UserError
from ..models import residual
from ..space import Arch, BlockChoice, Space
from ..spec import family as family_info
from ..train import Losses, RunFolder, autocast, run_training, setup_device
from ._eval import subnet_accuracy
from ._recipe import SupernetRecipe
from ._supernet import SuperBlock, Supernet
from ._train import describe_mismatch, fingerprint

SETTINGS = ("arch_lr", "arch_weight_decay", "warmup_epochs", "tau_start", "tau_end",
            "hard_kernels", "cost_weight")


def check_metakernel_space(space: Space) -> None:
    """Refuse, in one sentence, a space with families whose options change weight shapes."""
    others = sorted({f for st in space.stages for f in st.families
                     if not family_info(f).mergeable})
    if others:
        names = ", ".join(f"{f} ({family_info(f).paper})" for f in others)
        raise UserError(f"search.strategy=metakernel merges the kernels of CycleFC and the "
                        f"axial shift only, and space '{space.name}' also has {names} blocks, "
                        f"whose weights change shape with their options; use "
                        f"search.strategy=optuna for this space.")
    for st in space.stages:
        for fam in st.families:
            opts = st.options_of(fam)
            if len(opts) != 1:
                raise UserError(f"search.strategy=metakernel needs the {fam} blocks of space "
                                f"'{space.name}' to search their kernel option only, not "
                                f"{', '.join(opts)}.")


def _probabilities(logits: torch.Tensor, tau: float, how: str) -> torch.Tensor:
    if how == "hard":
        return F.gumbel_softmax(logits, tau=tau, hard=True)
    if how == "gumbel":
        return F.gumbel_softmax(logits, tau=tau, hard=False)
    return logits.softmax(-1)


class ArchParameters(nn.Module):
    """Logits of the architecture distribution: per stage its depth; per block position (of
    the deepest setting) its family, each family's kernel option and its MLP ratio."""

    def __init__(self, space: Space):
        super().__init__()
        check_metakernel_space(space)
        self.space = space
        self.positions = [(i, j) for i, st in enumerate(space.stages)
                          for j in range(max(st.depths))]
        self.depth = nn.ParameterList([nn.Parameter(torch.zeros(len(st.depths)))
                                       for st in space.stages])
        self.family = nn.ParameterList([
            nn.Parameter(torch.zeros(len(space.stages[i].families))) for i, _ in self.positions])
        self.option = nn.ParameterDict({
            f"{i}_{j}_{fam}": nn.Parameter(torch.zeros(len(self.values(i, fam))))
            for i, j in self.positions for fam in space.stages[i].families})
        self.ratio = nn.ParameterList([
            nn.Parameter(torch.zeros(len(space.stages[i].mlp_ratios)))
            for i, _ in self.positions])

    def values(self, stage: int, fam: str) -> tuple:
        """The kernel option values of `fam` at `stage`."""
        return next(iter(self.space.stages[stage].options_of(fam).values()))

    def option_name(self, stage: int, fam: str) -> str:
        return next(iter(self.space.stages[stage].options_of(fam)))

    # -- the distribution ----------------------------------------------------------------
    @torch.no_grad()
    def probabilities(self) -> dict:
        """Softmax probabilities of every choice, as plain lists (architecture.json)."""
        out = {"depth": [], "blocks": []}
        for i, st in enumerate(self.space.stages):
            out["depth"].append(dict(zip(map(str, st.depths),
                                         self._plain(self.depth[i].softmax(-1)))))
        for k, (i, j) in enumerate(self.positions):
            st = self.space.stages[i]
            out["blocks"].append({
                "stage": i, "block": j,
                "family": dict(zip(st.families, self._plain(self.family[k].softmax(-1)))),
                "option": {fam: dict(zip(map(str, self.values(i, fam)), self._plain(
                    self.option[f"{i}_{j}_{fam}"].softmax(-1)))) for fam in st.families},
                "mlp_ratio": dict(zip(map(str, st.mlp_ratios),
                                      self._plain(self.ratio[k].softmax(-1))))})
        return out

    @staticmethod
    def _plain(t: torch.Tensor) -> list[float]:
        return [round(float(v), 5) for v in t.detach().cpu()]

    def _choice(self, i: int, fam: str, option, ratio) -> BlockChoice:
        return BlockChoice(fam, ((self.option_name(i, fam), option),), float(ratio))

    @torch.no_grad()
    def most_probable(self) -> Arch:
        stages = []
        for i, st in enumerate(self.space.stages):
            depth = st.depths[int(self.depth[i].argmax())]
            blocks = []
            for j in range(depth):
                k = self.positions.index((i, j))
                fam = st.families[int(self.family[k].argmax())]
                opt = self.values(i, fam)[int(self.option[f"{i}_{j}_{fam}"].argmax())]
                ratio = st.mlp_ratios[int(self.ratio[k].argmax())]
                blocks.append(self._choice(i, fam, opt, ratio))
            stages.append(tuple(blocks))
        return Arch(tuple(stages))

    @torch.no_grad()
    def log_prob(self, arch: Arch) -> float:
        lp = 0.0
        for i, st in enumerate(self.space.stages):
            lp += float(self.depth[i].log_softmax(-1)[st.depths.index(len(arch.stages[i]))])
        for i, j, b in arch.blocks():
            k = self.positions.index((i, j))
            st = self.space.stages[i]
            lp += float(self.family[k].log_softmax(-1)[st.families.index(b.family)])
            lp += float(self.option[f"{i}_{j}_{b.family}"].log_softmax(-1)[
                self.values(i, b.family).index(b.options[0][1])])
            lp += float(self.ratio[k].log_softmax(-1)[st.mlp_ratios.index(b.mlp_ratio)])
        return lp

    @torch.no_grad()
    def sample(self, rng: np.random.Generator) -> Arch:
        def pick(logits, values):
            p = logits.detach().softmax(-1).double().cpu().numpy()
            return values[int(rng.choice(len(values), p=p / p.sum()))]

        stages = []
        for i, st in enumerate(self.space.stages):
            depth = pick(self.depth[i], st.depths)
            blocks = []
            for j in range(depth):
                k = self.positions.index((i, j))
                fam = pick(self.family[k], st.families)
                opt = pick(self.option[f"{i}_{j}_{fam}"], self.values(i, fam))
                blocks.append(self._choice(i, fam, opt, pick(self.ratio[k], st.mlp_ratios)))
            stages.append(tuple(blocks))
        return Arch(tuple(stages))

    def derive(self, feasible: Callable[[Arch], bool], n_samples: int = 4000,
               seed: int = 0) -> Arch | None:
        """The most probable architecture if it is feasible, else the most probable feasible
        one among `n_samples` drawn from the distribution (None if none is)."""
        best = self.most_probable()
        if feasible(best):
            return best
        rng = np.random.default_rng(seed)
        found: dict[str, tuple[float, Arch]] = {}
        for _ in range(n_samples):
            arch = self.sample(rng)
            if arch.key not in found and feasible(arch):
                found[arch.key] = (self.log_prob(arch), arch)
        if not found:
            return None
        return max(found.values(), key=lambda t: t[0])[1]

    # -- expected costs -------------------------------------------------------------------
    def _cost_table(self, costs, name: str, stage: int, fam: str,
                    device: torch.device) -> torch.Tensor:
        """(options x MLP ratios) block costs of `fam` at `stage`, built once per cost model
        (every architecture step asks for them)."""
        cache = self.__dict__.setdefault("_cost_tables", {})
        key = (costs, name, stage, fam, device)
        if key not in cache:
            st = self.space.stages[stage]
            cache[key] = torch.tensor(
                [[costs.block_cost(name, stage, self._choice(stage, fam, o, r))
                  for r in st.mlp_ratios] for o in self.values(stage, fam)],
                dtype=torch.float32, device=device)
        return cache[key]

    def expected_cost(self, costs, name: str) -> torch.Tensor:
        """E[cost] under the softmax distribution, differentiable in the logits."""
        total = torch.tensor(costs.fixed_cost(name), dtype=torch.float32,
                             device=self.depth[0].device)
        for i, st in enumerate(self.space.stages):
            p_depth = self.depth[i].softmax(-1)
            for j in range(max(st.depths)):
                reach = sum(p_depth[d] for d, depth in enumerate(st.depths) if depth > j)
                k = self.positions.index((i, j))
                p_fam, p_ratio = self.family[k].softmax(-1), self.ratio[k].softmax(-1)
                block = 0.0
                for f, fam in enumerate(st.families):
                    table = self._cost_table(costs, name, i, fam, total.device)
                    p_opt = self.option[f"{i}_{j}_{fam}"].softmax(-1)
                    block = block + p_fam[f] * (p_opt @ table @ p_ratio)
                total = total + reach * block
        return total


class _Draw:
    """One block's relaxed choice for a forward pass."""

    __slots__ = ("family", "family_weight", "options", "option_weights", "ratio_mask")

    def __init__(self, family, family_weight, options, option_weights, ratio_mask):
        self.family, self.family_weight = family, family_weight
        self.options, self.option_weights, self.ratio_mask = options, option_weights, ratio_mask


def draw(arch: ArchParameters, net: Supernet, tau: float, hard_kernels: bool
         ) -> tuple[dict[tuple[int, int], _Draw], list[torch.Tensor]]:
    """A relaxed architecture: per block its family (one-hot, straight-through), kernel
    weights and MLP mask; per stage its depth weights. Differentiable in `arch` unless called
    under no_grad."""
    draws = {}
    for k, (i, j) in enumerate(arch.positions):
        st = arch.space.stages[i]
        g = _probabilities(arch.family[k], tau, "hard")
        f = int(g.argmax())
        fam = st.families[f]
        opts = list(arch.values(i, fam))
        w = _probabilities(arch.option[f"{i}_{j}_{fam}"], tau,
                           "hard" if hard_kernels else "soft")
        block: SuperBlock = net.stages[i].blocks[j]
        hidden = block.mlp.fc1.out_features
        r = _probabilities(arch.ratio[k], tau, "gumbel")
        steps = torch.stack([(torch.arange(hidden, device=r.device) < int(block.dim * ratio))
                             .to(r.dtype) for ratio in st.mlp_ratios])
        draws[(i, j)] = _Draw(fam, g[f], opts, w, r @ steps)
    depths = [_probabilities(arch.depth[i], tau, "gumbel") for i in range(len(arch.space.stages))]
    return draws, depths


def mixed_forward(net: Supernet, x: torch.Tensor, draws, depths) -> torch.Tensor:
    """The supernet's forward pass under a relaxed architecture (see `draw`)."""
    x = net.stem(x)
    for i, stage in enumerate(net.stages):
        x = stage.downsample(x)
        allowed = net.space.stages[i].depths
        outs = []
        for j, block in enumerate(stage.blocks):
            d = draws[(i, j)]
            mixer = block.mixers[d.family]
            mixer.set_mixture(d.options, d.option_weights)
            x = residual(x, block, lambda t, m=mixer, d=d: m(t) * d.family_weight,
                         lambda t, mlp=block.mlp, d=d: mlp.forward_masked(t, d.ratio_mask))
            outs.append(x)
        x = sum(w * outs[depth - 1] for w, depth in zip(depths[i], allowed))
    return net.forward_head(x)


def budget_penalty(arch: ArchParameters, costs, budgets: dict[str, float],
                   weight: float) -> torch.Tensor:
    """weight * sum over budgets of max(0, log(E[cost] / budget))."""
    total = torch.zeros((), device=arch.depth[0].device)
    for name, limit in budgets.items():
        total = total + F.relu(torch.log(arch.expected_cost(costs, name) / limit))
    return weight * total


class MetaKernelJob:
    """Alternating weight and architecture steps (see the module's docstring)."""

    loss_names = ("loss_weights", "loss_arch")
    eval_names = ("val_acc_derived", "mflops_expected", "mflops_derived")
    find_unused = True

    def __init__(self, space: Space, net: Supernet, data: DataSplits, recipe: SupernetRecipe,
                 settings: dict, costs, budgets: dict[str, float], seed: int,
                 dev: torch.device, amp: str | None):
        self.space, self.module, self.data, self.recipe = space, net, data, recipe
        self.settings, self.costs, self.budgets = settings, costs, dict(budgets)
        self.seed, self.dev, self.amp = seed, dev, amp
        self.arch = ArchParameters(space).to(dev)
        self.arch_opt = torch.optim.Adam(self.arch.parameters(), lr=settings["arch_lr"],
                                         betas=(0.5, 0.999),
                                         weight_decay=settings["arch_weight_decay"])
        self.losses = Losses(recipe.train, data.num_classes)
        self.eval = recipe.train.evaluation(amp)
        self.steps_per_epoch = len(data.train) // recipe.train.batch_size
        self.total = recipe.train.epochs * self.steps_per_epoch
        self.derived: Arch | None = None

    # the loop saves and restores these with its checkpoint
    def extra_state(self) -> dict:
        return {"arch": self.arch.state_dict(), "arch_opt": self.arch_opt.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.arch.load_state_dict(state["arch"])
        self.arch_opt.load_state_dict(state["arch_opt"])

    def tau(self, step: int) -> float:
        s = self.settings
        return s["tau_start"] * (s["tau_end"] / s["tau_start"]) ** (step / max(self.total, 1))

    def _holdout_batch(self, step: int):
        n = len(self.data.holdout)
        size = min(self.recipe.train.batch_size, n)
        idx = np.random.default_rng([self.seed, step, 777]).choice(n, size, replace=False)
        x, y = next(iterate_batches(self.data.holdout, [idx.tolist()]))
        return x.to(self.dev), y.to(self.dev)

    def train_step(self, model, x, y, step: int) -> dict[str, float]:
        tau, hard = self.tau(step), bool(self.settings["hard_kernels"])
        loss_arch = math.nan
        if step >= int(self.settings["warmup_epochs"]) * self.steps_per_epoch:
            xh, yh = self._holdout_batch(step)
            draws, depths = draw(self.arch, self.module, tau, hard)
            with autocast(self.dev, self.amp if self.dev.type == "cuda" else None):
                logits = mixed_forward(self.module, xh, draws, depths)
            loss = F.cross_entropy(logits.float(), yh)
            loss = loss + budget_penalty(self.arch, self.costs, self.budgets,
                                         float(self.settings["cost_weight"]))
            params = list(self.arch.parameters())
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for p, g in zip(params, grads):
                p.grad = g
            self.arch_opt.step()
            self.arch_opt.zero_grad(set_to_none=True)
            loss_arch = float(loss.detach())
        with torch.no_grad():
            draws, depths = draw(self.arch, self.module, tau, hard)
        if self.losses.mixup is not None:
            x, target = self.losses.mixup(x, y)
        else:
            target = y
        with autocast(self.dev, self.amp if self.dev.type == "cuda" else None):
            logits = mixed_forward(self.module, x, draws, depths)
        loss = self.losses.label_loss(logits.float(), target)
        loss.backward()
        return {"loss_weights": float(loss.detach()), "loss_arch": loss_arch}

    def feasible(self, arch: Arch) -> bool:
        return all(self.costs.cost(arch, n) <= limit for n, limit in self.budgets.items())

    def epoch_end(self, optimizer, last: bool) -> dict[str, float]:
        self.derived = self.arch.derive(self.feasible, seed=self.seed)
        arch = self.derived or self.arch.most_probable()
        with torch.no_grad():
            expected = float(self.arch.expected_cost(self.costs, "mflops"))
        acc = subnet_accuracy(self.module, arch, self.data.val, self.data.train, self.eval,
                              self.dev)
        return {"val_acc_derived": acc, "mflops_expected": expected,
                "mflops_derived": self.costs.cost(arch, "mflops")}

    @staticmethod
    def describe(row) -> str:
        return (f"loss {row['loss_weights']:.3f} (architecture {row['loss_arch']:.3f}), "
                f"derived: val acc {row['val_acc_derived']:.3f}, "
                f"{row['mflops_derived']:.4g} MFLOPs (expected {row['mflops_expected']:.4g})")


class MetaKernelResult:
    def __init__(self, net: Supernet, arch: ArchParameters, derived: Arch | None, steps: int,
                 metrics: list):
        self.supernet, self.arch, self.derived = net, arch, derived
        self.steps, self.metrics = steps, metrics


def train_metakernel(space: Space, data: DataSplits, recipe: SupernetRecipe, settings: dict,
                     costs, budgets: dict[str, float], out_dir: str | Path, seed: int = 0,
                     device: str = "cpu", amp: str | None = None,
                     data_cfg: dict | None = None, progress: bool = True,
                     log: Callable[[str], None] = print,
                     stop_after_steps: int | None = None) -> MetaKernelResult:
    """Train (or resume) weights and architecture together into `out_dir`; write
    `architecture.json` (the distribution and the derived architecture) there."""
    from .._io import write_json_atomic

    check_metakernel_space(space)
    settings = {k: settings[k] for k in SETTINGS}
    dev, dist = setup_device(device)
    if dist.world > 1:
        raise UserError("search.strategy=metakernel runs in one process; start it without "
                        "torchrun.")
    fp = fingerprint(space, dict(data_cfg or {"name": data.name}), recipe, seed,
                     data.num_classes)
    fp["metakernel"] = {**settings, "budgets": dict(budgets)}

    def mismatch(stored: dict, wanted: dict) -> str | None:
        why = describe_mismatch(stored, wanted)
        if why is None and stored.get("metakernel") != wanted["metakernel"]:
            return (f"it was searched with other meta-kernel settings or budgets "
                    f"({stored.get('metakernel')})")
        return why

    torch.manual_seed(seed)
    net = Supernet(space, data.num_classes, drop_path_rate=recipe.train.drop_path).to(dev)
    job = MetaKernelJob(space, net, data, recipe, settings, costs, budgets, seed, dev, amp)
    result = run_training(job, data, recipe.train,
                          RunFolder(Path(out_dir), fp, mismatch, "meta-kernel search"), seed,
                          dev, dist, progress, log, stop_after_steps)
    derived = job.arch.derive(job.feasible, seed=seed)
    write_json_atomic(Path(out_dir) / "architecture.json", {
        "derived": derived.key if derived else None,
        "most_probable": job.arch.most_probable().key,
        "budgets": dict(budgets), "steps": result.steps,
        "expected": {n: round(float(job.arch.expected_cost(costs, n).detach()), 4)
                     for n in costs.names},
        "probabilities": job.arch.probabilities()})
    net.set_active(space.largest())  # the static path again (no mixture left set)
    return MetaKernelResult(net, job.arch, derived, result.steps, result.metrics)
