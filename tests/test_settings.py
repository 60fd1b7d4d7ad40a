"""Bad settings are refused before anything is written (one sentence, exit 2), and the faults
that used to lose or hide work: the recorded config, relative folders, a killed worker's
trial, an empty study file, read-only folders, two workers with one number."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys

import optuna
import pytest
from helpers import SCORE_SUFFIX, TINY_SEARCH, cli_command, run_task

from mlpnas.cli import main
from mlpnas.cost import CostModel, flops_table
from mlpnas.errors import UserError
from mlpnas.export import read_arch_file
from mlpnas.search import (
    Objective,
    default_storage_url,
    make_sampler,
    open_storage,
    open_study,
    run_trials,
    seed_trials,
)
from mlpnas.search._objective import WORKER_ATTR
from mlpnas.space import load_space


def refused(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("args,message", [
    (["search", "+space=tiny", "+search.n_trial=5"],
     "unknown option 'search.n_trial' for mlpnas search; did you mean search.n_trials?"),
    (["search", "+space=tiny", "search.n_trial=5"], "did you mean search.n_trials?"),
    (["search", "+space=tiny", "+search.n_trials=5"],
     "adds an option that already exists; set it without '+': search.n_trials=5"),
    (["train", "+space=tiny", "data=imagefolder", "data.rot=x"], "did you mean data.root?"),
    (["search", "+space=tiny", "search.n_trials=0"],
     "search.n_trials=0 is out of range; give a whole number of at least 1"),
    (["search", "+space=tiny", "search.n_trials=abc"], "search.n_trials='abc' is not a whole"),
    (["search", "+space=tiny", "search.population_size=1"],
     "search.population_size=1 is out of range"),
    (["train", "+space=tiny", "train.batch_size=0"], "train.batch_size=0 is out of range"),
    (["train", "+space=tiny", "train.epochs=-1"], "train.epochs=-1 is out of range"),
    (["train", "+space=tiny", "train.lr=-0.1"], "train.lr=-0.1 is out of range; give a number "
                                                "above 0"),
    (["train", "+space=tiny", "hardware.threads=-2"], "hardware.threads=-2 is out of range"),
    (["train", "+space=tiny", "data.num_classes=1"], "data.num_classes=1 is out of range"),
    (["train", "+space=tiny", "seed=1.5"], "seed=1.5 is not a whole number"),
    (["info", "model=test_vip", "img_size=abc"], "img_size='abc' is not a whole number"),
    (["info", "model=test_vip", "img_size=8"], "stage 1 would have a 0x0 feature map"),
])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = args + ([f"out_dir={out}"] if args[0] in ("search", "train") else [])
    assert message in refused(capsys, *argv)
    assert not out.exists()


def test_an_input_too_small_for_the_synthetic_data(tmp_path, capsys):
    from pathlib import Path

    text = Path(load_space("tiny").path).read_text()
    small = tmp_path / "small.yaml"
    small.write_text(text.replace("input_size: [3, 16, 16]", "input_size: [3, 4, 4]"))
    err = refused(capsys, "train", f"+space={small}", f"out_dir={tmp_path / 'o'}")
    assert "draws its shapes on images of at least 8x8, but the space's input size is 4x4" in err


def test_a_dataset_folder_with_one_class_is_refused(tmp_path):
    from PIL import Image

    from mlpnas.data import build_data

    for split in ("train", "val"):
        (tmp_path / split / "only").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / "only" / "a.png")
    with pytest.raises(UserError, match="holds one class .*needs at least two class folders"):
        build_data({"name": "imagefolder", "root": str(tmp_path)}, (3, 8, 8))


@pytest.mark.parametrize("change,message", [
    (lambda d: d["stages"][0].update(dim=10**9), "stage 0 dim=1000000000 is out of range"),
    (lambda d: d["stages"][0].update(dim=-8), "stage 0 dim=-8 is out of range"),
    (lambda d: d["stages"][0].update(dim="64"), "stage 0 dim must be a whole number, got '64'"),
    (lambda d: d.update(img_size=[10**6, 16]), "img_size=1000000 is out of range"),
    (lambda d: d["stages"][0].update(blocks=d["stages"][0]["blocks"] * 300),
     "stage 0 blocks: 600 entries are more than the 256 allowed"),
    (lambda d: d["stages"][0]["blocks"][0].update(mlp_hidden=100000) or
     d["stages"][0].update(dim=16000, blocks=d["stages"][0]["blocks"] * 100),
     "would hold about"),
])
def test_an_arch_file_out_of_range_is_refused_before_any_tensor(tmp_path, change, message):
    from mlpnas.export import export_model
    from mlpnas.models import MlpBackbone

    space = load_space("tiny")
    export_model(MlpBackbone(space.to_netspec(space.largest(), 10)), tmp_path, "k")
    record = json.loads((tmp_path / "arch.json").read_text())
    change(record["netspec"])
    (tmp_path / "arch.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match=message):
        read_arch_file(tmp_path)


def _search(tmp_path, *extra, cwd=None):
    """A four-trial search of the tiny space in-process, run in `cwd` (default: tmp_path),
    so that its folders are the defaults under runs/."""
    return run_task("search", ["+space=tiny", *TINY_SEARCH, *extra], cwd=cwd or tmp_path)


def test_config_records_the_run_that_finished_and_folders_resolve_from_anywhere(tmp_path):
    run = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\nsearch: {n_trials: 99}\n")  # a crashed run's
    _search(tmp_path)  # no UserError: the command would exit 0
    text = (run / "config.yaml").read_text()
    assert "n_trials: 4" in text and "n_trials: 99" not in text
    assert f"supernet_dir: {tmp_path}/runs/supernets/" in text  # absolute
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_task("export", [run, "export.measure_latency=false"], cwd=elsewhere)  # exit 0
    # an older run recorded its folders relative to where it ran: still found
    text = (run / "config.yaml").read_text().replace(f"{tmp_path}/", "")
    (run / "config.yaml").write_text(text)
    run_task("export", [run, "export.measure_latency=false"], cwd=elsewhere)  # exit 0


def test_an_empty_study_file_is_refused_and_nothing_is_overwritten(tmp_path):
    run = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    run.mkdir(parents=True)
    (run / "study.db").write_bytes(b"")
    (run / "trials.csv").write_text("precious\n")
    with pytest.raises(UserError) as e:
        _search(tmp_path)
    assert "the study file" in str(e.value) and "is empty (0 bytes)" in str(e.value)
    assert (run / "trials.csv").read_text() == "precious\n"


def test_studies_carry_their_metric_names_for_plain_optuna(tmp_path):
    url = default_storage_url(tmp_path)
    open_study(open_storage(url), "s", ["accuracy", "mflops"], make_sampler("random", 0), {})
    assert optuna.load_study(study_name="s", storage=url).metric_names == ["accuracy",
                                                                           "mflops"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_a_seed_whose_worker_was_killed_is_evaluated_exactly_once(tmp_path):
    """The worker evaluating a seed dies (SIGKILL) and the search is run again at once,
    within Optuna's heartbeat grace: the dead worker's RUNNING trial is failed and the seed
    evaluated once by the new run."""
    space = load_space("tiny")
    costs = CostModel(flops_table(space, 10, None))
    seeds = space.uniform_archs()
    url = default_storage_url(tmp_path)
    study = open_study(open_storage(url), "s", ["accuracy", "mflops"],
                       make_sampler("random", 0), {})
    seed_trials(study, seeds)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    zombie = study.ask()  # the first seed, claimed by the dead worker
    zombie.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{dead.pid}")
    evaluated = []

    def evaluate(arch):
        evaluated.append(arch.key)
        return 0.5

    again = open_study(open_storage(url), "s", ["accuracy", "mflops"],
                       make_sampler("random", 0), {})
    seed_trials(again, seeds)
    run_trials(again, Objective(space, costs, evaluate, ["accuracy", "mflops"], {}),
               len(seeds), progress=False)
    done = again.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.user_attrs["arch"] for t in done) == sorted(a.key for a in seeds.values())
    assert sorted(evaluated) == sorted(a.key for a in seeds.values())
    assert again.get_trials()[zombie.number].state == optuna.trial.TrialState.FAIL


def test_two_workers_with_the_same_number_are_refused(tmp_path):
    from mlpnas.tasks._common import held_alone

    out = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    with held_alone(out.parent / f".{out.name}.worker0.lock", "busy"):
        # the lock is an flock on its own open file: held here, it refuses this process too
        with pytest.raises(UserError) as e:
            _search(tmp_path)
        assert ("a worker with search.worker=0 is already running on" in str(e.value)
                and "search.worker=1" in str(e.value))
        _search(tmp_path, "search.worker=1")  # no UserError: the command would exit 0


def test_supernet_lock_in_a_folder_that_takes_no_lock_file(tmp_path):
    """Where the lock file cannot be written (here: a folder stands in its place), a finished
    supernet is reused without it and an unfinished one is refused in one sentence."""
    from mlpnas.data import build_data
    from mlpnas.supernet import train_supernet
    from mlpnas.tasks._common import supernet_lock

    space = load_space("tiny")
    data_cfg = {"name": "synthetic", "train_size": 64, "holdout_size": 16, "val_size": 16}
    recipe = dict(epochs=1, batch_size=32, lr=1e-3, min_lr=1e-5, weight_decay=0.05,
                  warmup_epochs=0.0, label_smoothing=0.0, mixup=0.0, cutmix=0.0,
                  sandwich_random=0, distill=False, kd_temperature=1.0, grad_clip=0.0,
                  drop_path=0.0, sort_channels=False, checkpoint_every=1, recal_batches=0,
                  eval_batch_size=16)
    done, half = tmp_path / "done", tmp_path / "half"
    data = build_data(data_cfg, space.input_size)
    train_supernet(space, data, recipe, done, progress=False, log=lambda m: None)
    train_supernet(space, data, recipe, half, progress=False, log=lambda m: None,
                   stop_after_steps=1)
    for d in (done, half):
        (d.parent / f".{d.name}.lock").mkdir()
    with supernet_lock(done):
        pass
    with pytest.raises(UserError, match=f"cannot write in '{tmp_path}' .* to train the "
                                        f"supernet there; give supernet_dir a folder"), \
            supernet_lock(half):
        pass


def _as_another_user() -> list[str]:
    return (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            if os.geteuid() == 0 else [])


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="as root, only another user sees a folder read-only (needs setpriv)")
def test_read_only_folders_reuse_what_can_be_read_and_name_the_folder(tmp_path):
    """A finished supernet and cost tables in folders this user cannot write to (someone
    else's, shared) are reused; an output folder there is one sentence naming it."""
    base = tmp_path / "shared"
    base.mkdir()
    _search(base, "search.score=supernet_acc")  # no UserError: the command would exit 0
    if os.geteuid() != 0:  # as root the files are someone else's already; else drop write
        for p in [base / "runs", *(base / "runs").rglob("*")]:
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o777)
    for p in (tmp_path, *tmp_path.parents):  # let the other user reach the folders
        if p.stat().st_mode & 0o005 != 0o005 and str(p).startswith(tempfile_root()):
            p.chmod(p.stat().st_mode | 0o005)
    env = dict(os.environ, HOME=str(mine), MPLCONFIGDIR=str(mine / "mpl"))
    common = [*_as_another_user(), *cli_command("search", "+space=tiny", *TINY_SEARCH,
                                                "search.score=supernet_acc"),
              f"supernet_dir={base}/runs/supernets/tiny-small-synthetic-seed0",
              f"cache_dir={base}/runs/cache"]
    ok = subprocess.run([*common, f"out_dir={mine}/search"], capture_output=True, text=True,
                        cwd=mine, env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert "complete" in ok.stdout  # the supernet was reused, not retrained
    blocked = subprocess.run([*common, f"out_dir={base}/runs/search/other"],
                             capture_output=True, text=True, cwd=mine, env=env, timeout=600)
    assert blocked.returncode == 2, blocked.stderr
    assert f"cannot write '{base}/runs/search" in blocked.stderr
    assert "(permission denied)" in blocked.stderr and "Traceback" not in blocked.stderr


def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_a_space_file_runs_at_its_scale_not_none():
    from mlpnas.cli import _space_override

    out = _space_override("train", ["+space=tests/data/spaces/learn.yaml"])
    assert "space.scale=small" in out and "+space=custom" in out
    assert _space_override("train", ["+space=tests/data/spaces/learn.yaml",
                                      "space.scale=small"]).count("space.scale=small") == 1


def test_the_training_bar_redraws_once_per_step_at_most(tmp_path, monkeypatch):
    """The postfix rides on the step's update: no forced redraw besides tqdm's own."""
    import tqdm.auto

    from mlpnas.data import build_data
    from mlpnas.supernet import train_supernet

    forced = []

    class Counting(tqdm.auto.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "mininterval": 1e9, "disable": False})

        def refresh(self, *a, **k):
            forced.append(1)
            return super().refresh(*a, **k)

    monkeypatch.setattr(tqdm.auto, "tqdm", Counting)
    space = load_space("tiny")
    data_cfg = {"name": "synthetic", "train_size": 256, "holdout_size": 16, "val_size": 16}
    recipe = dict(epochs=1, batch_size=32, lr=1e-3, min_lr=1e-5, weight_decay=0.05,
                  warmup_epochs=0.0, label_smoothing=0.0, mixup=0.0, cutmix=0.0,
                  sandwich_random=0, distill=False, kd_temperature=1.0, grad_clip=0.0,
                  drop_path=0.0, sort_channels=False, checkpoint_every=100, recal_batches=0,
                  eval_batch_size=16)
    train_supernet(space, build_data(data_cfg, space.input_size), recipe, tmp_path,
                   progress=True, log=lambda m: None)
    assert len(forced) <= 2  # 8 steps: the old postfix call forced 8 redraws
