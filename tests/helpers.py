"""What the test files share (fixtures live in conftest.py): the command line run as a
subprocess, the same task run in-process, the override lists of small runs, and writers of
test inputs (reference cases, image folders, CIFAR-format directories).

Test files import these as `from helpers import ...`: tests/ has no __init__.py, so pytest's
default (prepend) import mode puts tests/ on sys.path before it imports conftest.py and the
test files.

Which runner to use: `run_cli` where the process boundary is what a test checks (exit
status, the one-sentence stderr message `mlpnas <verb>: error: ...`, `--help`, no traceback,
killing and resuming a run, several workers at once, what a fresh process imports);
`run_task` everywhere else: the files, values and messages of a run, without paying the
import of torch and timm in a new process.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np


# -- settings from the packaged conf/ (the only place defaults live) -----------------------
def _default_score_key() -> str:
    from mlpnas._io import packaged_conf
    from mlpnas.score import parse_score

    return parse_score(packaged_conf("search", "default")["score"]).key


def latency_setting(**over):
    """conf/hardware/cpu.yaml's latency setting with the fields in `over` replaced."""
    import dataclasses

    from mlpnas._io import packaged_conf
    from mlpnas.cost import LatencySetting

    return dataclasses.replace(LatencySetting.from_cfg(packaged_conf("hardware", "cpu")), **over)


# what the default score adds to a run folder's and a study's name
SCORE_SUFFIX = f"-{_default_score_key()}"

# a one-epoch single-path supernet recipe for direct train_supernet calls (every key a
# recipe from conf/ has, so that no code default is needed)
QUICK_RECIPE = dict(epochs=1, batch_size=32, lr=1e-3, min_lr=1e-5, weight_decay=0.05,
                    warmup_epochs=0.0, label_smoothing=0.0, mixup=0.0, cutmix=0.0,
                    sandwich_random=0, distill=False, kd_temperature=1.0, grad_clip=0.0,
                    drop_path=0.0, sort_channels=False, checkpoint_every=100, recal_batches=0,
                    eval_batch_size=16, eval_limit=None, num_workers=0, sampling="sandwich",
                    few_shot="none", init_from=None)


def recipe(base: dict, **over):
    """The supernet recipe of a test's dict of every `train` setting, with `over` replaced
    (built as a task builds it, checks included)."""
    from mlpnas.supernet import SupernetRecipe

    return SupernetRecipe.of({**base, **over})

# -- override lists of small runs -----------------------------------------------------------
# the search, export and budget tests: 512 training images, one epoch, one thread
SMALL_RUN = ["data.train_size=512", "data.val_size=64", "data.holdout_size=128",
             "train.batch_size=64", "train.epochs=1", "progress=false", "hardware.threads=1"]
SMALL_SEARCH = [*SMALL_RUN, "search.population_size=4"]

# the settings tests: the least a search of the tiny space needs (128 training images, four
# trials, no random baseline, no latency measurement, no export)
TINY_RUN = ["data.train_size=128", "data.val_size=32", "data.holdout_size=32",
            "train.batch_size=64", "train.epochs=1", "progress=false", "hardware.threads=1"]
# (its holdout split holds 32 images: the training-free scores read all of them)
TINY_SEARCH = [*TINY_RUN, "scoring.batch_size=32", "search.n_trials=4",
               "search.population_size=2", "search.compare_random=false",
               "search.measure_pareto_latency=false", "search.export_pareto=false"]



def tiny_search(tmp_path, *extra, cwd=None):
    """A four-trial search of the tiny space in-process, run in `cwd` (default: tmp_path),
    so that its folders are the defaults under runs/."""
    return run_task("search", ["+space=tiny", *TINY_SEARCH, *extra], cwd=cwd or tmp_path)


def small_search(tmp: Path, *args) -> list[str]:
    """The overrides of a small search of the tiny space (SMALL_SEARCH) whose run, supernet
    and cost tables are tmp/search, tmp/supernet and tmp/cache, then `args`."""
    return ["+space=tiny", *SMALL_SEARCH, f"out_dir={tmp / 'search'}",
            f"supernet_dir={tmp / 'supernet'}", f"cache_dir={tmp / 'cache'}", *map(str, args)]


# the shared finished search run (the `tiny_search_run` fixture of conftest.py): twelve
# trials under a budget of 0.15 MFLOPs, so that its plots have infeasible trials (scored by
# the supernet, so that its exports inherit trained weights); its curves go to TensorBoard
# and every trial to the Optuna callback `RecordedTrials` (as a user's MLflow or W&B
# callback would be named)
SHARED_RUN = ["+space=tiny", *SMALL_SEARCH, "search.n_trials=12", "search.max_mflops=0.15",
              "search.score=supernet_acc", "log.tensorboard=true",
              "search.callbacks=[helpers.RecordedTrials]"]


class RecordedTrials:
    """An Optuna callback for `search.callbacks`: every (study name, trial number) it was
    called with, in `RecordedTrials.seen` (shared by its instances)."""

    seen: list[tuple[str, int]] = []

    def __call__(self, study, trial) -> None:
        RecordedTrials.seen.append((study.study_name, trial.number))


# -- the command line in a subprocess --------------------------------------------------------
def cli_command(*args) -> list[str]:
    """`python -m mlpnas.cli ARGS` as an argument list (for Popen: workers, killed runs)."""
    return [sys.executable, "-m", "mlpnas.cli", *map(str, args)]


def run_cli(*args, cwd=None, timeout: float = 600, env=None) -> subprocess.CompletedProcess:
    """`mlpnas ARGS` in a new process; stdout and stderr captured as text."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


# -- the same task in-process ----------------------------------------------------------------
def compose_config(verb: str, overrides: Iterable[str] = ()):
    """conf/<verb>.yaml composed with `overrides` by Hydra's compose API, as the command line
    composes it (mlpnas.cli.compose; no checks of the overrides)."""
    from mlpnas.cli import compose

    return compose(verb, [str(o) for o in overrides])


@contextlib.contextmanager
def working_dir(path) -> Iterator[None]:
    """Run the body in `path` (None: where we are), and come back."""
    if path is None:
        yield
        return
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _torch_threads_kept() -> Iterator[None]:
    """A task may set torch's thread count (hardware.threads); the test process keeps its own."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_task(verb: str, overrides: Iterable = (), cwd=None):
    """What `mlpnas VERB OVERRIDES` does, in this process: `mlpnas.cli.run`, the entry the
    command line and the Python API use (the command line's checks, the configuration
    composed by Hydra, `mlpnas.tasks.<verb>.run(cfg)`); returns what the task returns. A
    refusal is raised as mlpnas.errors.UserError carrying the sentence the command line
    prints. `cwd`: the folder to run in (relative folders, e.g. the default out_dir, are
    made from it)."""
    from mlpnas import cli

    with working_dir(cwd), _torch_threads_kept():
        return cli.run(verb, [str(o) for o in overrides])


def complete_trials(storage: str, name: str) -> list:
    """The COMPLETE trials of study `name` in the storage at URL `storage`."""
    import optuna

    study = optuna.load_study(study_name=name, storage=storage)
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


# -- test inputs -----------------------------------------------------------------------------
REF_DIR = Path(__file__).parent / "data" / "reference"


def reference_cases() -> list[dict]:
    """The cases of the authors' reference tensors (tests/data/reference/cases.json)."""
    return json.loads((REF_DIR / "cases.json").read_text())["cases"]


def load_case(name: str):
    """(input, output, state dict) of one reference case."""
    from safetensors.torch import load_file

    data = load_file(str(REF_DIR / f"{name}.safetensors"))
    state = {k[len("state."):]: v for k, v in data.items() if k.startswith("state.")}
    return data["input"], data["output"], state


def write_image_folder(root: Path, classes: int = 3, per_class: int = 4, size: int = 20) -> None:
    """An ImageFolder dataset: root/{train,val}/class<c>/<i>.png, random pixels."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            d = root / split / f"class{c}"
            d.mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 255, (size, size + 3, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{i}.png")


def write_cifar(root: Path, variant: int, n_train: int = 30, n_test: int = 10) -> None:
    """A CIFAR-10 (`variant` 10) or CIFAR-100 (100) directory in the python pickle format."""
    rng = np.random.default_rng(0)
    key = "labels" if variant == 10 else "fine_labels"

    def batch(n):
        return {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                key: rng.integers(0, variant, n).tolist()}

    root.mkdir(parents=True)
    if variant == 10:
        for i in range(1, 3):
            with open(root / f"data_batch_{i}", "wb") as fh:
                pickle.dump(batch(n_train // 2), fh)
        with open(root / "test_batch", "wb") as fh:
            pickle.dump(batch(n_test), fh)
    else:
        for name, n in (("train", n_train), ("test", n_test)):
            with open(root / name, "wb") as fh:
                pickle.dump(batch(n), fh)


def write_rank_report(folder, n=12, space="tiny", data="synthetic", drop=None):
    """A rank report (ranking.csv, ranking.json) of `n` architectures of the tiny space with
    made-up scores, whose standalone accuracy follows NASWOT; `drop` leaves a column out."""
    import pandas as pd

    from mlpnas.score import SCORES
    from mlpnas.space import load_space

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    sp = load_space("tiny")
    keys = list(dict.fromkeys(sp.sample(i).key for i in range(60)))[:n]
    table = pd.DataFrame({"arch": keys, "mflops": rng.uniform(0.1, 0.2, n),
                          "params_m": rng.uniform(0.01, 0.02, n)})
    for name in SCORES:
        if SCORES[name].kind == "training_free":
            table[name] = rng.normal(size=n)
    table["seed0"] = 0.5 + 0.1 * table["naswot"] + 0.01 * rng.normal(size=n)
    table["seed1"] = table["seed0"] + 0.01 * rng.normal(size=n)
    if drop:
        table = table.drop(columns=[drop])
    table.to_csv(folder / "ranking.csv", index=False)
    (folder / "ranking.json").write_text(json.dumps({
        "space": space, "scale": "small", "data": data,
        "scoring": {"inits": 1, "batch_size": 8, "splits": 2, "seed": 0}}))
    return folder
