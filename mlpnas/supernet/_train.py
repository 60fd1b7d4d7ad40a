"""Once-for-all training of a supernet: sandwich rule with in-place distillation.

Every step trains the largest subnet on the labels, then the smallest and N random subnets on
the largest's soft predictions (in-place distillation), accumulating gradients, then takes one
AdamW step (timm's optimizer factory, cosine schedule with warm-up, label smoothing and
optional mixup from timm). bf16 autocast on CUDA. The loop itself (checkpoints, resume,
metrics, DistributedDataParallel) is `mlpnas.train.run_training`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import DataSplits
from ..space import Arch, Space, stable_repr
from ..train import (
    CHECKPOINT,
    Losses,
    RunFolder,
    TrainResult,
    autocast,
    data_fingerprint,
    first_difference,
    load_checkpoint,
    restoring,
    run_training,
    setup_device,
)
from ._eval import subnet_accuracy
from ._recipe import SupernetRecipe
from ._supernet import Supernet, build_supernet


def fingerprint(space: Space, data_cfg: dict, recipe: SupernetRecipe, seed: int,
                num_classes: int) -> dict:
    """What identifies a trained supernet: the space (its file content), data, recipe, seed."""
    data_cfg = dict(data_cfg)
    if data_cfg["name"] == "synthetic":
        from ..data.synthetic import VERSION

        data_cfg["generator_version"] = VERSION
    return {
        "space": space.name, "scale": space.scale,
        "space_spec": [repr(space.input_size), repr(space.stem), repr(space.downsample),
                       space.norm, stable_repr(space.stages)],
        "data": data_fingerprint(data_cfg), "recipe": recipe.fingerprint(),
        "seed": seed, "num_classes": num_classes,
    }


def describe_mismatch(stored: dict, wanted: dict) -> str | None:
    """A sentence naming the first difference between two supernet fingerprints, or None."""
    if stored.get("space") != wanted["space"] or stored.get("scale") != wanted["scale"]:
        return (f"its space is '{stored.get('space')}' (scale {stored.get('scale')}), not "
                f"'{wanted['space']}' (scale {wanted['scale']})")
    if stored.get("space_spec") != wanted["space_spec"]:
        return f"the file of space '{wanted['space']}' has changed since it was trained"
    return first_difference(stored, wanted, ("data", "recipe", "seed", "num_classes"))


def sandwich(space: Space, seed: int, step: int, n_random: int) -> list[Arch]:
    """Largest, smallest and `n_random` random architectures for `step`."""
    rng = random.Random(seed * 1_000_003 + step)
    return [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(n_random)]


def fair_paths(space: Space, rng: random.Random) -> list[Arch]:
    """Strict fairness (FairNAS): m architectures, m the largest number of block choices of a
    stage, in which every block position takes every one of its choices exactly once (a
    random permutation per position; a stage with fewer choices repeats its permutation) and
    every stage every allowed depth equally often."""
    m = max(len(st.block_choices) for st in space.stages)

    def spread(values: list) -> list:
        values = list(values)
        rng.shuffle(values)
        return (values * -(-m // len(values)))[:m]

    grids = [[spread(st.block_choices) for _ in range(max(st.depths))] for st in space.stages]
    depths = [spread(st.depths) for st in space.stages]
    return [Arch(tuple(tuple(grid[j][p] for j in range(depth[p]))
                       for grid, depth in zip(grids, depths))) for p in range(m)]


def step_archs(space: Space, recipe: SupernetRecipe, seed: int, step: int) -> list[Arch]:
    """The subnets one training step trains, by `recipe.sampling`: `sandwich` (largest,
    smallest and `sandwich_random` random ones; the others learn from the largest when
    `distill`), `uniform` (`sandwich_random` random ones, as single-path one-shot NAS), or
    `fair` (every block choice once per step, see `fair_paths`)."""
    how, n = recipe.sampling, recipe.sandwich_random
    if how == "sandwich":
        return sandwich(space, seed, step, n)
    rng = random.Random(seed * 1_000_003 + step)
    if how == "uniform":
        return [space.sample(rng) for _ in range(max(n, 1))]
    return fair_paths(space, rng)


def with_first_family(space: Space, arch: Arch, family: str, rng: random.Random,
                      extreme: str | None = None) -> Arch:
    """`arch` with its first block of `family` (few-shot training of that family's part): kept
    if it already is, else a random choice of that family, or its largest / smallest one
    (largest MLP ratio and option values, or smallest) for the sandwich's extremes."""
    first = arch.stages[0][0]
    if first.family == family:
        return arch
    choices = [b for b in space.stages[0].block_choices if b.family == family]
    if extreme is None:
        block = rng.choice(choices)
    else:
        def size(b):
            return (b.mlp_ratio, tuple(_order_key(v) for _, v in b.options))
        block = (max if extreme == "largest" else min)(choices, key=size)
    return Arch(((block, *arch.stages[0][1:]), *arch.stages[1:]))


def _order_key(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


class SupernetJob:
    """The sandwich step and the epoch-end evaluation of the largest and smallest subnets."""

    loss_names = ("loss_largest", "loss_others")
    eval_names = ("val_acc_largest", "val_acc_smallest")
    find_unused = True  # each step runs only some paths

    def __init__(self, space: Space, net: Supernet, data: DataSplits, recipe: SupernetRecipe,
                 seed: int, dev: torch.device, amp: str | None):
        self.space, self.module, self.data, self.recipe = space, net, data, recipe
        self.seed, self.dev, self.amp = seed, dev, amp
        self.losses = Losses(recipe.train, data.num_classes, recipe.kd_temperature_if_distilled)
        self.eval = recipe.train.evaluation(amp)
        self.teacher = recipe.teacher
        self.parts = getattr(net, "families", None)  # few-shot: one part per step, in turn

    def train_step(self, model, x, y, step: int) -> dict[str, float]:
        archs = step_archs(self.space, self.recipe, self.seed, step)
        if self.parts:
            family = self.parts[step % len(self.parts)]
            rng = random.Random(self.seed * 1_000_003 + step + 17)
            ends = ("largest", "smallest") if self.teacher else ()
            archs = [with_first_family(self.space, a, family, rng,
                                       ends[i] if i < len(ends) else None)
                     for i, a in enumerate(archs)]
        first, rest = _sandwich_step(model, self.module, x, y, archs, self.losses, self.dev,
                                     self.amp, self.teacher)
        return {"loss_largest": first, "loss_others": rest}

    def epoch_end(self, optimizer, last: bool) -> dict[str, float]:
        if self.recipe.sort_channels:
            self.module.sort_channels(optimizer)
        return {f"val_acc_{name}": subnet_accuracy(self.module, arch, self.data.val,
                                                   self.data.train, self.eval, self.dev)
                for name, arch in (("largest", self.space.largest()),
                                   ("smallest", self.space.smallest()))}

    @staticmethod
    def describe(row) -> str:
        return (f"loss {row['loss_largest']:.3f}, val acc largest {row['val_acc_largest']:.3f}, "
                f"smallest {row['val_acc_smallest']:.3f}")


def train_supernet(space: Space, data: DataSplits, recipe: SupernetRecipe, out_dir: str | Path,
                   seed: int = 0, device: str = "cpu", amp: str | None = None,
                   data_cfg: dict | None = None,
                   progress: bool = True, log: Callable[[str], None] = print,
                   stop_after_steps: int | None = None,
                   dir_option: str = "out_dir") -> TrainResult:
    """Train (or resume training of) the supernet of `space` into `out_dir`."""
    dev, dist = setup_device(device)
    fp = fingerprint(space, dict(data_cfg or {"name": data.name}), recipe, seed,
                     data.num_classes)
    torch.manual_seed(seed)
    net = build_supernet(space, data.num_classes, few_shot=recipe.few_shot,
                         drop_path_rate=recipe.train.drop_path)
    if recipe.init_from:
        _init_from(net, space, Path(recipe.init_from), recipe, data_cfg or {"name": data.name},
                   data.num_classes)
    net = net.to(dev)
    job = SupernetJob(space, net, data, recipe, seed, dev, amp)
    result = run_training(job, data, recipe.train,
                          RunFolder(Path(out_dir), fp, describe_mismatch, "supernet", dir_option),
                          seed, dev, dist, progress, log, stop_after_steps)
    out = Path(out_dir)
    epochs = recipe.train.epochs
    if dist.main and result.steps >= epochs * (len(data.train) // recipe.train.batch_size):
        text = json.dumps({"space": space.name, "scale": space.scale,
                           "num_classes": data.num_classes, "steps": result.steps,
                           "epochs": epochs,
                           "final": result.metrics[-1] if result.metrics else None},
                          indent=1) + "\n"
        path = out / "supernet.json"
        if not path.is_file() or path.read_text() != text:  # a reused one is only read
            path.write_text(text)
    return result


def _sandwich_step(model, net: Supernet, x, y, archs: list[Arch], losses: Losses,
                   dev: torch.device, amp: str | None, teacher_first: bool = True
                   ) -> tuple[float, float]:
    """Forward/backward every subnet of the step; gradients accumulate in the shared weights.
    With `teacher_first` (the sandwich) the first subnet, the largest, is the teacher of the
    others when distilling. Returns (loss of the first, mean loss of the others)."""
    if losses.mixup is not None:
        x, target = losses.mixup(x, y)
    else:
        target = y
    ddp = model is not net
    teacher = None
    l_big, l_rest = 0.0, 0.0
    for i, arch in enumerate(archs):
        net.set_active(arch)
        last = i == len(archs) - 1
        ctx = model.no_sync() if (ddp and not last) else contextlib.nullcontext()
        with ctx:
            with autocast(dev, amp if dev.type == "cuda" else None):
                logits = model(x)
            if i == 0 or not (losses.distill and teacher_first):
                loss = losses.label_loss(logits.float(), target)
            else:
                loss = losses.kd(logits, teacher)
            loss.backward()
        if i == 0:
            teacher = logits.detach()
            l_big = float(loss.detach())
        else:
            l_rest += float(loss.detach()) / (len(archs) - 1)
    return l_big, l_rest


def _init_from(net, space: Space, directory: Path, recipe: SupernetRecipe, data_cfg: dict,
               num_classes: int) -> None:
    """Start from the weights of the finished one-shot supernet in `directory` (few-shot
    NAS trains its parts from there); it must be of the same space and data."""
    from ..errors import UserError

    path = directory / CHECKPOINT
    if not path.is_file():
        raise UserError(f"train.init_from='{directory}' holds no trained supernet "
                        f"({CHECKPOINT}); train it first with `mlpnas train`.")
    state = load_checkpoint(path)
    with restoring(path):
        fp = state.get("fingerprint", {})
        theirs = SupernetRecipe.of_trained(fp.get("recipe", {}), dataclasses.asdict(recipe.train))
        why = describe_mismatch(fp, fingerprint(space, data_cfg, theirs, fp.get("seed", 0),
                                                num_classes))
        if not state.get("finished") or why or theirs.few_shot != "none":
            reason = why or ("it is not fully trained" if not state.get("finished")
                             else "it is itself a few-shot supernet")
            raise UserError(f"train.init_from='{directory}' cannot start this supernet: "
                            f"{reason}; give a finished one-shot supernet of this space and "
                            f"data.")
        if hasattr(net, "load_shared"):
            net.load_shared(state["model"])
        else:
            net.load_state_dict(state["model"])


def load_trained_supernet(space: Space, directory: str | Path, data_cfg: dict,
                          recipe: SupernetRecipe,
                          seed: int, num_classes: int,
                          device: str | torch.device = "cpu") -> Supernet:
    """The finished supernet in `directory`, checked against the settings it must have been
    trained with."""
    from ..errors import UserError

    path = Path(directory) / CHECKPOINT
    if not path.is_file():
        raise UserError(f"the supernet of this run is missing: '{directory}' holds no "
                        f"{CHECKPOINT}; run the same `mlpnas search` again to train it.")
    state = load_checkpoint(path)
    if not state.get("finished"):
        raise UserError(f"the supernet in '{directory}' is not fully trained (step "
                        f"{state.get('step')}); run `mlpnas train` or `mlpnas search` with the "
                        f"same options to finish it.")
    with restoring(path):
        why = describe_mismatch(state.get("fingerprint", {}),
                                fingerprint(space, data_cfg, recipe, seed, num_classes))
        if why:
            raise UserError(f"the supernet in '{directory}' does not belong to this run: "
                            f"{why}.")
        net = build_supernet(space, num_classes, few_shot=recipe.few_shot)
        net.load_state_dict(state["model"])
    return net.to(device).eval()
