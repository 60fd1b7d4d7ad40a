"""Standalone training of an exported architecture (`mlpnas retrain PATH`, and every run of
`mlpnas rank`): from scratch or fine-tuned from its inherited weights, with the progress,
checkpoint and resume behaviour of supernet training (the same loop). This is how a user
learns an architecture's true accuracy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..cost import COST_NAMES
from ..data import DataSplits
from ..errors import UserError
from ..export import export_model, load_exported, read_arch_file
from ..models import MlpBackbone
from ..spec import NetSpec
from ._eval import autocast, evaluate
from ._fingerprint import data_fingerprint, first_difference
from ._loop import RunFolder, TrainResult, run_training, setup_device
from ._losses import Losses
from ._recipe import Recipe

INITS = ("scratch", "inherited")


class RetrainJob:
    loss_names = ("loss",)
    eval_names = ("val_acc",)
    find_unused = False

    def __init__(self, model: MlpBackbone, data: DataSplits, recipe: Recipe, dev: torch.device,
                 amp: str | None, eval_last_only: bool = False):
        self.module, self.data, self.recipe, self.dev, self.amp = model, data, recipe, dev, amp
        self.losses = Losses(recipe, data.num_classes)
        self.eval = recipe.evaluation(amp)
        self.eval_last_only = eval_last_only

    def train_step(self, model, x, y, step: int) -> dict[str, float]:
        if self.losses.mixup is not None:
            x, y = self.losses.mixup(x, y)
        with autocast(self.dev, self.amp if self.dev.type == "cuda" else None):
            logits = model(x)
        loss = self.losses.label_loss(logits.float(), y)
        loss.backward()
        return {"loss": float(loss.detach())}

    def epoch_end(self, optimizer, last: bool) -> dict[str, float]:
        if self.eval_last_only and not last:
            return {"val_acc": float("nan")}
        e = self.eval
        return {"val_acc": evaluate(self.module, self.data.val, e.batch_size, self.dev, e.limit,
                                    e.num_workers, e.amp)}

    @staticmethod
    def describe(row) -> str:
        acc = row["val_acc"]
        return f"loss {row['loss']:.3f}" + ("" if acc != acc else f", val acc {acc:.3f}")


def _fingerprint(record: dict, init: str, data_cfg: dict, recipe: Recipe, seed: int) -> dict:
    return {"arch": record["arch"], "init": init, "data": data_fingerprint(data_cfg),
            "recipe": recipe.fingerprint(),
            "seed": seed, "num_classes": record["netspec"]["num_classes"]}


def _mismatch(stored: dict, wanted: dict) -> str | None:
    return first_difference(stored, wanted, ("arch", "init", "data", "recipe", "seed"))


def retrain(path: str | Path, data: DataSplits, recipe: Recipe, out_dir: str | Path,
            init: str = "scratch", seed: int = 0, device: str = "cpu", amp: str | None = None,
            data_cfg: dict | None = None, progress: bool = True,
            log: Callable[[str], None] = print,
            stop_after_steps: int | None = None, eval_last_only: bool = False) -> TrainResult:
    """Train the exported architecture at `path` on `data` into `out_dir`; at the end the
    trained model is exported to `out_dir/model` (arch file, weights, model card).
    `eval_last_only` evaluates on the validation split after the last epoch only (the
    others' val_acc is NaN): a ranking study needs the final accuracy alone."""
    if init not in INITS:
        raise UserError(f"retrain.init must be one of {', '.join(INITS)}, got '{init}'.")
    record = read_arch_file(path)
    n_cls = record["netspec"]["num_classes"]
    if n_cls != data.num_classes:
        raise UserError(f"the architecture at '{path}' classifies {n_cls} classes but data "
                        f"'{data.name}' has {data.num_classes}; use the data options of the "
                        f"search that found it.")
    if init == "inherited" and record.get("fresh_weights"):
        raise UserError(f"the architecture at '{path}' carries fresh weights (its search "
                        f"trained no supernet), so there is nothing to inherit; use "
                        f"init=scratch.")
    dev, dist = setup_device(device)
    torch.manual_seed(seed)
    if init == "inherited":
        model = load_exported(path)
    else:
        model = MlpBackbone(NetSpec.from_dict(record["netspec"]),
                            drop_path_rate=float(recipe.drop_path))
    model = model.to(dev).train()
    job = RetrainJob(model, data, recipe, dev, amp, eval_last_only)
    fp = _fingerprint(record, init, dict(data_cfg or {"name": data.name}), recipe, seed)
    result = run_training(job, data, recipe,
                          RunFolder(Path(out_dir), fp, _mismatch, "retraining run"), seed, dev,
                          dist, progress, log, stop_after_steps)
    epochs_done = len(result.metrics) == recipe.epochs
    if dist.main and epochs_done and stop_after_steps is None:
        last = result.metrics[-1]
        info = {k: record.get(k) for k in ("space", "scale", "data") if k in record}
        info["preprocessing"] = data.preprocessing  # what it was trained on
        info["metrics"] = {
            **{k: v for k, v in record.get("metrics", {}).items()
               if k in (*COST_NAMES, "latency_ms_measured", "latency_setting", "score",
                        "score_value", "score_label", "score_on")},
            "accuracy": last["val_acc"],
            "accuracy_on": f"validation split of '{data.name}' ({len(data.val)} images) after "
                           f"standalone training ({init} init, {recipe.epochs} epochs)",
            "supernet_accuracy": record.get("metrics", {}).get("accuracy"),
        }
        info["weights_from"] = f"retrained from {init} ({Path(out_dir)})"
        export_model(model.eval(), Path(out_dir) / "model", record["arch"], info)
    return result
