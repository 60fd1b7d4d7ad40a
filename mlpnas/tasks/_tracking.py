"""Where users of TensorBoard, MLflow or Weights & Biases look: `log.tensorboard` writes the
training curves (every epoch of the supernet, meta-kernel or standalone training) and the
search (every trial's objectives, feasibility and the best feasible score so far) with
torch's own SummaryWriter; `search.callbacks` adds Optuna callbacks named in the
configuration (e.g. optuna-integration's MLflowCallback or WeightsAndBiasesCallback), so
that no code is needed."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..search import PARETO_FILE, SUMMARY_FILE, TRIALS_FILE
from ._common import plain

TENSORBOARD_DIR = "tensorboard"


def tensorboard_dir(cfg, out: Path) -> Path | None:
    """The folder of `log.tensorboard` (true: out/tensorboard; a path: that folder; false or
    null: none)."""
    value = (cfg.get("log") or {}).get("tensorboard")
    if value is None or value is False or value == "":
        return None
    return out / TENSORBOARD_DIR if value is True else Path(str(value))


class TensorBoardLog:
    """Scalars for TensorBoard (torch.utils.tensorboard, which needs the tensorboard
    package: the `tensorboard` extra). The event file is made at the first value, so that a
    run refused before any work leaves nothing behind."""

    def __init__(self, folder: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("log.tensorboard needs the tensorboard package; install it with "
                            "`pip install \"mlpnas[tensorboard]\"` (from a source checkout: "
                            "`pip install -e \".[tensorboard]\"`), or leave log.tensorboard "
                            "false.") from None
        self.folder = folder
        self._make = SummaryWriter
        self._writer = None
        self._best: dict[str, float] = {}

    @property
    def writer(self):
        if self._writer is None:
            self._writer = self._make(log_dir=str(self.folder))
        return self._writer

    def epoch(self, what: str, row: dict[str, Any]) -> None:
        """One epoch of a training run: its losses, learning rate and accuracies."""
        tag = what.replace(" ", "_")
        for key, value in row.items():
            if key not in ("epoch", "step") and _finite(value):
                self.writer.add_scalar(f"{tag}/{key}", float(value), int(row["step"]))
        self.writer.flush()

    def trial(self, study, trial) -> None:
        """An Optuna callback: one trial's objectives (by the study's metric names: the
        score, the costs) and feasibility, and the best feasible score of its study so far
        (step: the trial number)."""
        if trial.values is None:
            return
        name = study.study_name.rsplit("-", 1)[-1]  # the sampler: <base>-<sampler>
        names = study.metric_names or [f"objective{i}" for i in range(len(trial.values))]
        feasible = bool(trial.user_attrs.get("feasible", True))
        for key, value in zip(names, trial.values):
            self.writer.add_scalar(f"search_{name}/{key}", float(value), trial.number)
        self.writer.add_scalar(f"search_{name}/feasible", float(feasible), trial.number)
        lower = (study.user_attrs.get("score") or {}).get("direction") == "minimize"
        if feasible:
            value = float(trial.values[0])
            best = self._best.get(name)
            self._best[name] = value if best is None else (min if lower else max)(best, value)
        if name in self._best:
            self.writer.add_scalar(f"search_{name}/best_feasible_{names[0]}", self._best[name],
                                   trial.number)
        self.writer.flush()

    def summary(self, text: str) -> None:
        """The run's summary.txt, as text beside the scalars."""
        self.writer.add_text("summary", "```\n" + text + "\n```")
        self.writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def optuna_callbacks(cfg) -> list:
    """The callbacks `search.callbacks` names: each a class as 'package.module.Class' (made
    without arguments) or a mapping with `_target_` and its arguments (Hydra's instantiate),
    e.g. {_target_: optuna_integration.MLflowCallback, metric_name: [accuracy, mflops]}.
    Made before any work, so that a missing package is refused at once."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    out = []
    for entry in plain(cfg.search.get("callbacks") or []):
        spec = {"_target_": entry} if isinstance(entry, str) else entry
        target = spec.get("_target_") if isinstance(spec, dict) else None
        if not target:
            raise UserError(f"search.callbacks entry {entry!r} names no class; give "
                            f"'package.module.Class' or {{_target_: package.module.Class, "
                            f"argument: value}}.")
        try:
            callback = instantiate(spec)
        except InstantiationException as e:
            cause: BaseException = e  # the innermost error says what is wrong
            while cause.__cause__ is not None or cause.__context__ is not None:
                cause = cause.__cause__ or cause.__context__
            text = str(cause).strip()
            why = text.splitlines()[0].rstrip(".:") if text else type(cause).__name__
            raise UserError(f"search.callbacks cannot make '{target}' ({why}); install the "
                            f"package that provides it (e.g. optuna-integration and mlflow) "
                            f"or correct its name and arguments.") from None
        if not callable(callback):
            raise UserError(f"search.callbacks: '{target}' is not callable; an Optuna callback "
                            f"is called with (study, trial) after every trial.")
        out.append(callback)
    return out


def search_callbacks(cfg, log: TensorBoardLog | None) -> list:
    """The Optuna callbacks of a search: `search.callbacks`, and the TensorBoard log's."""
    return [*optuna_callbacks(cfg), *([log.trial] if log is not None else [])]


@contextlib.contextmanager
def tracked(cfg, out: Path) -> Iterator[TensorBoardLog | None]:
    """TensorBoard for the body, when `log.tensorboard` asks for it (else None): every
    training epoch in the body is written; a search adds the log's `trial` to its Optuna
    callbacks (`search_callbacks`) and its summary with `summary`."""
    folder = tensorboard_dir(cfg, out)
    if folder is None:
        yield None
        return
    from ..train import watching_epochs  # loads torch: only for a log

    log = TensorBoardLog(folder)
    try:
        with watching_epochs(log.epoch):
            yield log
    finally:
        log.close()


ARTIFACTS_DIR = "artifacts"
# what goes to a trial: its export (the files a model hub takes, and the card) and ONNX
_EXPORT_FILES = ("arch.json", "README.md", "config.json", "model.safetensors", "model.onnx")
_RUN_FILES = (SUMMARY_FILE, TRIALS_FILE, PARETO_FILE)


def attach_artifacts(storage, study, out: Path, enabled: bool = True) -> int:
    """Attach a search run's plots, tables and summary to its study, and the files of every
    exported architecture (arch file, card, hub config, weights, ONNX) under its trial's
    name (`trial<N>-<key>-<file>`), with Optuna's artifact store in out/artifacts
    (`search.artifacts=false`: none)."""
    from ..search import attach_files

    if not enabled:
        return 0
    exported = out / "exported"
    by_arch = {d.name: [d / f for f in _EXPORT_FILES]
               for d in sorted(exported.iterdir()) if d.is_dir()} if exported.is_dir() else {}
    files = [*sorted(out.glob("*.png")), *(out / f for f in _RUN_FILES)]
    return attach_files(storage, study, out / ARTIFACTS_DIR, by_arch, files)
