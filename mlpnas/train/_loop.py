"""The training loop shared by supernet training and standalone retraining.

A `Job` says what one step does (forward and backward of one or several networks) and what
is measured at the end of an epoch; the loop owns everything else: devices and
DistributedDataParallel, AdamW and the cosine schedule with warm-up (timm's factories),
the data order, progress bars, atomic checkpoints, `metrics.csv` / `timing.csv`, and resuming.

Reproducible and resumable: the data order of epoch e and the randomness of step s are
functions of (seed, e) and (seed, s); the full state is written atomically to
`checkpoint.pt` every `checkpoint_every` steps and at every epoch end, and a run started on
the same folder continues from it. `metrics.csv` holds deterministic values only, so a killed
and resumed run writes the same file as an uninterrupted one; wall times go to `timing.csv`.

Watched: `watching_epochs(fn)` calls fn(what, row) with every epoch's metrics row of every
run in its body (how a task logs training curves to TensorBoard without a logger passed
through every trainer).

Distributed: under `torchrun` (RANK / WORLD_SIZE set) every process takes an equal slice of
each global batch; gradients are averaged by DistributedDataParallel, so N processes with
batch B/N train the same model as one process with batch B, as long as no BatchNorm
statistics (per process, no SyncBN) or within-batch mixup pairing enter the step.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from .._io import atomic_target
from ..data import DataSplits, iterate_batches
from ..errors import UserError
from ._recipe import Recipe

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
TIMING = "timing.csv"


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
    module: nn.Module = field(repr=False)

    @property
    def supernet(self) -> nn.Module:
        return self.module


class Job(Protocol):
    """What a training run trains; see SupernetJob and RetrainJob."""

    module: nn.Module            # holds every trained parameter (DDP wraps it)
    loss_names: tuple[str, ...]  # the losses train_step returns, averaged per epoch
    eval_names: tuple[str, ...]  # the metrics epoch_end returns
    find_unused: bool            # parameters may be unused in a step (DDP)

    def train_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   step: int) -> dict[str, float]: ...

    def epoch_end(self, optimizer: torch.optim.Optimizer, last: bool) -> dict[str, float]: ...

    def describe(self, row: dict[str, Any]) -> str: ...

    # optional: state the job keeps outside `module` (e.g. architecture parameters and their
    # optimizer), saved with every checkpoint and restored on resume
    #   def extra_state(self) -> dict: ...
    #   def load_extra_state(self, state: dict) -> None: ...


def setup_device(device: str) -> tuple[torch.device, DistEnv]:
    """The torch device of this process (under torchrun, its local GPU) and its place among
    the processes; starts the process group. Torch's thread count is the task's to set, once
    (`tasks._common.Hardware`)."""
    dist = DistEnv.from_env()
    dev = torch.device(device if device != "cuda" or dist.world == 1
                       else f"cuda:{dist.local_rank}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("hardware=cuda was asked for but no CUDA device is visible; use "
                            "hardware=cpu.")
        torch.cuda.set_device(dev)
    if dist.world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dev, dist


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 12345]).permutation(n)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_target(path, durable=True) as tmp:
        tmp.write_bytes(data)


def save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    _atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by `save_checkpoint`: tensors and plain Python data only. It is
    read with `weights_only=True`, so a file that would build any other object (and could
    run code while doing so) is refused, not loaded."""
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused an object: never load such a file
        raise UserError(f"'{path}' holds objects other than tensors and plain data, which "
                        f"mlpnas never loads (loading them could run code); it was not "
                        f"written by mlpnas: move it away, or use another folder.") from None
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"cannot read the checkpoint '{path}' ({type(e).__name__}); move it "
                        f"away to start over, or use another folder.") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise UserError(f"'{path}' is not a checkpoint of mlpnas (it holds no model state); "
                        f"move it away to start over, or use another folder.")
    return state


@contextlib.contextmanager
def restoring(path: Path):
    """Put a checkpoint's content into the network, optimizer and loop: a file that loads
    but was written for another network (other keys, shapes or types) is one sentence."""
    try:
        yield
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        # torch's "Error(s) in loading state_dict for X:" names the key on its next line
        first = (lines[1] if len(lines) > 1 and lines[0].endswith(":") else
                 lines[0] if lines else type(e).__name__)[:160]
        raise UserError(f"'{path}' does not fit this network ({first}); it was not written "
                        f"for this run: move it away to start over, or use another "
                        f"folder.") from None


def write_metrics(path: Path, rows: list[dict], fields: tuple[str, ...]) -> None:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in fields})
    _atomic_write_bytes(path, out.getvalue().encode())


def _append_timing(path: Path, epoch: int, step: int, seconds: float) -> None:
    new = not path.is_file()
    with open(path, "a") as fh:
        if new:
            fh.write("epoch,step,seconds\n")
        fh.write(f"{epoch},{step},{seconds:.2f}\n")


_WATCHERS: ContextVar[tuple[Callable[[str, dict], None], ...]] = ContextVar(
    "mlpnas_epoch_watchers", default=())


@contextlib.contextmanager
def watching_epochs(fn: Callable[[str, dict[str, Any]], None]) -> Iterator[None]:
    """Call `fn(what, row)` at the end of every epoch of every training run in the body (in
    the main process): `what` names the run ('supernet', 'retraining run', ...), `row` is
    its metrics.csv row (epoch, step, lr, losses, validation accuracies)."""
    token = _WATCHERS.set((*_WATCHERS.get(), fn))
    try:
        yield
    finally:
        _WATCHERS.reset(token)


@dataclass(frozen=True)
class RunFolder:
    """Where a training run lives and what identifies it: the folder, the fingerprint of the
    model it trains (stored in every checkpoint) and the function that says, in a clause,
    how a stored fingerprint differs from this one; and how sentences name the run (`what`:
    "supernet", "retraining run") and the option that chose the folder."""

    path: Path
    fingerprint: dict
    mismatch: Callable[[dict, dict], str | None]
    what: str = "training run"
    option: str = "out_dir"


def run_training(job: Job, data: DataSplits, recipe: Recipe, folder: RunFolder, seed: int,
                 dev: torch.device, dist: DistEnv, progress: bool = True,
                 log: Callable[[str], None] = print,
                 stop_after_steps: int | None = None) -> TrainResult:
    out, fingerprint, what = Path(folder.path), folder.fingerprint, folder.what
    bs, sec = recipe.batch_size, recipe.section
    if bs % dist.world:
        raise UserError(f"{sec}.batch_size={bs} is not divisible by the {dist.world} "
                        f"processes; use a multiple of {dist.world}.")
    share = bs // dist.world
    if recipe.mixes_batches and share % 2:
        where = (f"{sec}.batch_size={bs} is odd" if dist.world == 1 else
                 f"each of the {dist.world} processes gets {share} of {sec}.batch_size={bs}")
        raise UserError(f"mixup and cutmix pair the images of a batch, but {where}; use an "
                        f"even number of images per process, or {sec}.mixup=0 "
                        f"{sec}.cutmix=0.")
    n_train = len(data.train)
    spe = n_train // bs
    if spe < 1:
        raise UserError(f"the training split has {n_train} images, fewer than one batch of "
                        f"{bs}; lower {sec}.batch_size.")
    epochs = recipe.epochs
    total = epochs * spe
    fields = ("epoch", "step", "lr", *job.loss_names, *job.eval_names)
    net = job.module

    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    opt = create_optimizer_v2(net, "adamw", lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched, _ = create_scheduler_v2(opt, sched="cosine", num_epochs=epochs,
                                   warmup_epochs=recipe.warmup_epochs,
                                   min_lr=recipe.min_lr, warmup_lr=recipe.min_lr,
                                   step_on_epochs=False, updates_per_epoch=spe)
    step, metrics = 0, []
    sums = dict.fromkeys(job.loss_names, 0.0) | {"n": 0}
    ckpt_path = out / CHECKPOINT
    if ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        with restoring(ckpt_path):
            why = folder.mismatch(state.get("fingerprint", {}), fingerprint)
            if why:
                raise UserError(f"'{out}' already holds a {what}, but {why}; use another "
                                f"{folder.option} (or remove that folder) to train this one.")
            net.load_state_dict(state["model"])
            if hasattr(job, "load_extra_state"):
                job.load_extra_state(state["extra"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            step, metrics, sums = int(state["step"]), list(state["metrics"]), dict(state["sums"])
        if step >= total:
            if dist.main:
                log(f"the {what} in '{out}' is complete ({step} steps); reusing it")
            return TrainResult(out, step, metrics, net)
        if dist.main:
            log(f"resuming from step {step}/{total} ({len(metrics)} of {epochs} epochs done)")
    elif dist.main:
        out.mkdir(parents=True, exist_ok=True)
    if dist.main:
        write_metrics(out / METRICS, metrics, fields)

    model = net
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[dev.index] if dev.type == "cuda" else None,
            find_unused_parameters=job.find_unused, broadcast_buffers=False)
    workers, grad_clip = recipe.num_workers, float(recipe.grad_clip)

    def snapshot(done_steps: int) -> dict:
        return {"model": net.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "step": done_steps, "metrics": metrics,
                "sums": dict(sums), "fingerprint": fingerprint,
                "finished": done_steps >= total,
                **({"extra": job.extra_state()} if hasattr(job, "extra_state") else {})}

    def finish_early():
        return TrainResult(out, step, metrics, net)

    first = job.loss_names[0]
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
            losses = job.train_step(model, x, y, step)
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            sched.step_update(step)
            for k, v in losses.items():
                sums[k] += v
            sums["n"] += 1
            if bar is not None:  # one redraw per step: the postfix rides on the update
                bar.set_postfix(loss=f"{sums[first] / sums['n']:.3f}",
                                lr=f"{opt.param_groups[0]['lr']:.2e}", refresh=False)
                bar.update(1)
            if step % spe == 0:
                break
            if dist.main and step % recipe.checkpoint_every == 0:
                save_checkpoint(ckpt_path, snapshot(step))
            if stop_after_steps is not None and step >= stop_after_steps:
                if bar is not None:
                    bar.close()
                return finish_early()
        if bar is not None:
            bar.close()
        # -- epoch end ----------------------------------------------------------------------
        row = {"epoch": epoch + 1, "step": step, "lr": float(opt.param_groups[0]["lr"])}
        row.update({k: sums[k] / max(sums["n"], 1) for k in job.loss_names})
        row.update(job.epoch_end(opt, epoch + 1 == epochs))
        metrics.append(row)
        sums = dict.fromkeys(job.loss_names, 0.0) | {"n": 0}
        if dist.main:
            save_checkpoint(ckpt_path, snapshot(step))
            write_metrics(out / METRICS, metrics, fields)
            elapsed = time.perf_counter() - t_epoch
            _append_timing(out / TIMING, epoch + 1, step, elapsed)
            log(f"epoch {epoch + 1}/{epochs}: {job.describe(row)} ({elapsed:.0f} s)")
            for watcher in _WATCHERS.get():
                watcher(what, row)
        t_epoch = time.perf_counter()
        if stop_after_steps is not None and step >= stop_after_steps:
            return finish_early()
    if dist.main:
        save_checkpoint(ckpt_path, snapshot(step))
        write_metrics(out / METRICS, metrics, fields)
    return TrainResult(out, step, metrics, net)
