"""Once-for-all training of a supernet: sandwich rule with in-place distillation.

Every step trains the largest subnet on the labels, then the smallest and N random subnets on
the largest's soft predictions (in-place distillation), accumulating gradients, then takes one
AdamW step (timm's optimizer factory, cosine schedule with warm-up, label smoothing and
optional mixup from timm). bf16 autocast on CUDA.

Reproducible and resumable: the data order of epoch e and the subnets of step s are
functions of (seed, e) and (seed, s); every `checkpoint_every` steps and at every epoch end
the full state is written atomically to `checkpoint.pt`, and a run started on the same
directory continues from it. `metrics.csv` holds one row per epoch with deterministic values
only (a killed and resumed run writes the same file as an uninterrupted one); wall times go to
`timing.csv`.

Distributed: under `torchrun` (RANK / WORLD_SIZE set) every process takes an equal slice of
each global batch; gradients are averaged by DistributedDataParallel, so N processes with
batch B/N train the same model as one process with batch B.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import DataSplits, iterate_batches
from ..errors import UserError
from ..space import Arch, Space
from ._eval import autocast, subnet_accuracy
from ._supernet import Supernet, build_supernet

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
TIMING = "timing.csv"
METRIC_FIELDS = ("epoch", "step", "lr", "loss_largest", "loss_others", "val_acc_largest",
                 "val_acc_smallest")

# recipe fields that change the trained model; a checkpoint trained with other values of
# these cannot be resumed or reused
_RECIPE_KEYS = ("epochs", "batch_size", "lr", "min_lr", "weight_decay", "warmup_epochs",
                "label_smoothing", "mixup", "cutmix", "sandwich_random", "distill",
                "kd_temperature", "grad_clip", "drop_path", "sort_channels")


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @staticmethod
    def from_env() -> DistEnv:
        return DistEnv(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                       int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    metrics: list[dict[str, Any]]
    supernet: Supernet = field(repr=False)


def fingerprint(space: Space, data_cfg: dict, recipe: dict, seed: int, num_classes: int) -> dict:
    """What identifies a trained supernet: the space (its file content), data, recipe, seed."""
    data_cfg = dict(data_cfg)
    if data_cfg.get("name", "synthetic") == "synthetic":
        from ..data.synthetic import VERSION

        data_cfg["generator_version"] = VERSION
    return {
        "space": space.name, "scale": space.scale,
        "space_spec": [repr(space.input_size), repr(space.stem), repr(space.downsample),
                       space.norm, repr(space.stages)],
        "data": {k: data_cfg[k] for k in sorted(data_cfg) if k not in ("num_workers",)},
        "recipe": {k: recipe.get(k) for k in _RECIPE_KEYS},
        "seed": seed, "num_classes": num_classes,
    }


def describe_mismatch(stored: dict, wanted: dict) -> str | None:
    """A sentence naming the first difference between two fingerprints, or None."""
    if stored.get("space") != wanted["space"] or stored.get("scale") != wanted["scale"]:
        return (f"it holds a supernet of space '{stored.get('space')}' (scale "
                f"{stored.get('scale')}), not '{wanted['space']}' (scale {wanted['scale']})")
    if stored.get("space_spec") != wanted["space_spec"]:
        return f"the file of space '{wanted['space']}' has changed since it was trained"
    for part in ("data", "recipe"):
        a, b = stored.get(part, {}), wanted[part]
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return (f"it was trained with {part}.{k}={a.get(k)!r}, this run asks for "
                        f"{b.get(k)!r}")
    for k in ("seed", "num_classes"):
        if stored.get(k) != wanted[k]:
            return f"it was trained with {k}={stored.get(k)}, this run asks for {wanted[k]}"
    return None


def sandwich(space: Space, seed: int, step: int, n_random: int) -> list[Arch]:
    """Largest, smallest and `n_random` random architectures for `step`."""
    rng = random.Random(seed * 1_000_003 + step)
    return [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(n_random)]


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 12345]).permutation(n)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    _atomic_write_bytes(path, buf.getvalue())


def write_metrics(path: Path, rows: list[dict]) -> None:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=METRIC_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])
                    for k in METRIC_FIELDS})
    _atomic_write_bytes(path, out.getvalue().encode())


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"cannot read the checkpoint '{path}' ({type(e).__name__}); move it "
                        f"away to start over, or point out_dir at another folder.") from None


class _Losses:
    def __init__(self, recipe: dict, num_classes: int):
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

        self.mixup = None
        if recipe["mixup"] > 0 or recipe["cutmix"] > 0:
            self.mixup = Mixup(mixup_alpha=recipe["mixup"], cutmix_alpha=recipe["cutmix"],
                               label_smoothing=recipe["label_smoothing"],
                               num_classes=num_classes)
            self.label_loss = SoftTargetCrossEntropy()
        elif recipe["label_smoothing"] > 0:
            self.label_loss = LabelSmoothingCrossEntropy(recipe["label_smoothing"])
        else:
            self.label_loss = torch.nn.CrossEntropyLoss()
        self.distill = bool(recipe["distill"])
        self.T = float(recipe["kd_temperature"])

    def kd(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        soft = F.softmax(teacher.float() / self.T, dim=-1)
        return -(soft * F.log_softmax(student.float() / self.T, dim=-1)).sum(-1).mean() * self.T**2


def train_supernet(space: Space, data: DataSplits, recipe: dict, out_dir: str | Path,
                   seed: int = 0, device: str = "cpu", amp: str | None = None,
                   threads: int | None = None, data_cfg: dict | None = None,
                   progress: bool = True, log: Callable[[str], None] = print,
                   stop_after_steps: int | None = None,
                   dir_option: str = "out_dir") -> TrainResult:
    """Train (or resume training of) the supernet of `space` into `out_dir`."""
    recipe = dict(recipe)
    out = Path(out_dir)
    dist = DistEnv.from_env()
    if threads:
        torch.set_num_threads(int(threads))
    dev = torch.device(device if device != "cuda" or dist.world == 1
                       else f"cuda:{dist.local_rank}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("hardware=cuda was asked for but no CUDA device is visible; use "
                            "hardware=cpu.")
        torch.cuda.set_device(dev)
    if dist.world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")

    bs = int(recipe["batch_size"])
    if bs % dist.world:
        raise UserError(f"train.batch_size={bs} is not divisible by the {dist.world} "
                        f"processes; use a multiple of {dist.world}.")
    n_train = len(data.train)
    spe = n_train // bs
    if spe < 1:
        raise UserError(f"the training split has {n_train} images, fewer than one batch of "
                        f"{bs}; lower train.batch_size.")
    epochs = int(recipe["epochs"])
    total = epochs * spe
    fp = fingerprint(space, dict(data_cfg or {"name": data.name}), recipe, seed,
                     data.num_classes)

    torch.manual_seed(seed)
    net = build_supernet(space, data.num_classes, drop_path_rate=recipe["drop_path"]).to(dev)
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    opt = create_optimizer_v2(net, "adamw", lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    sched, _ = create_scheduler_v2(opt, sched="cosine", num_epochs=epochs,
                                   warmup_epochs=recipe["warmup_epochs"],
                                   min_lr=recipe["min_lr"], warmup_lr=recipe["min_lr"],
                                   step_on_epochs=False, updates_per_epoch=spe)
    step, metrics = 0, []
    sums = {"largest": 0.0, "others": 0.0, "n": 0}
    ckpt_path = out / CHECKPOINT
    if ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        why = describe_mismatch(state.get("fingerprint", {}), fp)
        if why:
            raise UserError(f"'{out}' already holds a training run, but {why}; use another "
                            f"{dir_option} (or remove that folder) to train this one.")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, metrics, sums = state["step"], state["metrics"], state["sums"]
        if step >= total:
            if dist.main:
                log(f"the supernet in '{out}' is trained ({step} steps); reusing it")
            return TrainResult(out, step, metrics, net)
        if dist.main:
            log(f"resuming from step {step}/{total} ({len(metrics)} of {epochs} epochs done)")
    elif dist.main:
        out.mkdir(parents=True, exist_ok=True)
    if dist.main:
        write_metrics(out / METRICS, metrics)

    model = net
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[dev.index] if dev.type == "cuda" else None,
            find_unused_parameters=True, broadcast_buffers=False)
    losses = _Losses(recipe, data.num_classes)
    n_random = int(recipe["sandwich_random"])
    eval_bs = int(recipe.get("eval_batch_size", 256))
    workers = int(recipe.get("num_workers", 0))

    def snapshot(done_steps: int) -> dict:
        return {"model": net.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "step": done_steps, "metrics": metrics,
                "sums": dict(sums), "fingerprint": fp, "space_name": space.name,
                "num_classes": data.num_classes, "finished": done_steps >= total}

    t_epoch = time.perf_counter()
    while step < total:
        epoch, k0 = divmod(step, spe)
        order = epoch_order(n_train, seed, epoch)
        share = bs // dist.world
        batches = [order[k * bs + dist.rank * share: k * bs + (dist.rank + 1) * share].tolist()
                   for k in range(k0, spe)]
        bar = None
        if progress and dist.main:
            from tqdm.auto import tqdm

            bar = tqdm(total=spe, initial=k0, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                       dynamic_ncols=True)
        for x, y in iterate_batches(data.train, batches, workers, dev.type == "cuda"):
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            torch.manual_seed(seed * 1_000_003 + step)
            np.random.seed((seed * 1_000_003 + step) % 2**32)
            l_big, l_rest = _train_step(model, net, space, x, y, sandwich(space, seed, step,
                                        n_random), losses, dev, amp, recipe["grad_clip"])
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            sched.step_update(step)
            sums["largest"] += l_big
            sums["others"] += l_rest
            sums["n"] += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{sums['largest'] / sums['n']:.3f}",
                                lr=f"{opt.param_groups[0]['lr']:.2e}")
            if step % spe == 0:
                break
            if dist.main and step % int(recipe["checkpoint_every"]) == 0:
                save_checkpoint(ckpt_path, snapshot(step))
            if stop_after_steps is not None and step >= stop_after_steps:
                if bar is not None:
                    bar.close()
                return TrainResult(out, step, metrics, net)
        if bar is not None:
            bar.close()
        # -- epoch end ----------------------------------------------------------------------
        if recipe["sort_channels"]:
            net.sort_channels(opt)
        row = {"epoch": epoch + 1, "step": step, "lr": float(opt.param_groups[0]["lr"]),
               "loss_largest": sums["largest"] / max(sums["n"], 1),
               "loss_others": sums["others"] / max(sums["n"], 1)}
        for name, arch in (("largest", space.largest()), ("smallest", space.smallest())):
            row[f"val_acc_{name}"] = subnet_accuracy(
                net, arch, data.val, data.train, eval_bs, dev, int(recipe["recal_batches"]),
                recipe.get("eval_limit"), workers, amp)
        metrics.append(row)
        sums = {"largest": 0.0, "others": 0.0, "n": 0}
        if dist.main:
            save_checkpoint(ckpt_path, snapshot(step))
            write_metrics(out / METRICS, metrics)
            elapsed = time.perf_counter() - t_epoch
            _append_timing(out / TIMING, epoch + 1, step, elapsed)
            log(f"epoch {epoch + 1}/{epochs}: loss {row['loss_largest']:.3f}, val acc largest "
                f"{row['val_acc_largest']:.3f}, smallest {row['val_acc_smallest']:.3f} "
                f"({elapsed:.0f} s)")
        t_epoch = time.perf_counter()
        if stop_after_steps is not None and step >= stop_after_steps:
            return TrainResult(out, step, metrics, net)
    if dist.main:
        save_checkpoint(ckpt_path, snapshot(step))
        write_metrics(out / METRICS, metrics)
        (out / "supernet.json").write_text(json.dumps(
            {"space": space.name, "scale": space.scale, "num_classes": data.num_classes,
             "steps": step, "epochs": epochs, "final": metrics[-1] if metrics else None},
            indent=1) + "\n")
    return TrainResult(out, step, metrics, net)


def _append_timing(path: Path, epoch: int, step: int, seconds: float) -> None:
    new = not path.is_file()
    with open(path, "a") as fh:
        if new:
            fh.write("epoch,step,seconds\n")
        fh.write(f"{epoch},{step},{seconds:.2f}\n")


def _train_step(model, net: Supernet, space: Space, x, y, archs: list[Arch], losses: _Losses,
                dev: torch.device, amp: str | None, grad_clip: float) -> tuple[float, float]:
    """Forward/backward every subnet of the sandwich; gradients accumulate in the shared
    weights. Returns (loss of the largest, mean loss of the others)."""
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
        sync = (not ddp or last)
        ctx = model.no_sync() if (ddp and not sync) else contextlib.nullcontext()
        with ctx:
            with autocast(dev, amp if dev.type == "cuda" else None):
                logits = model(x)
            if i == 0 or not losses.distill:
                loss = losses.label_loss(logits.float(), target)
            else:
                loss = losses.kd(logits, teacher)
            loss.backward()
        if i == 0:
            teacher = logits.detach()
            l_big = float(loss.detach())
        else:
            l_rest += float(loss.detach()) / (len(archs) - 1)
    if grad_clip and grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    return l_big, l_rest
