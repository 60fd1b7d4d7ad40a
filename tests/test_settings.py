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
    (["train", "+space=tiny", "hardware.device=bogus"],
     "hardware.device='bogus' is not a device mlpnas runs on; use cpu, cuda or cuda:N"),
    (["train", "+space=tiny", "hardware.amp=bogus"],
     "hardware.amp='bogus' is not one of its values; use one of null, none, fp32, bf16"),
    (["train", "+space=tiny", "train.epochs=1", "train.warmup_epochs=2"],
     "train.warmup_epochs=2 is longer than the training (train.epochs=1)"),
    (["train", "+space=tiny", "train.lr=inf"], "train.lr=inf is not a finite number"),
    (["train", "+space=tiny", "seed=-1"], "seed=-1 is out of range; give a whole number from "
                                          "0 to 2147483647"),
    (["train", "+space=tiny", f"seed={2**63}"], f"seed={2**63} is out of range"),
    (["search", "+space=tiny", "~search.n_trials"],
     "'~search.n_trials' would delete search.n_trials, and mlpnas needs every option"),
    (["train", "+space=tiny", "data=cifar10", "data.root=x", "data.scale=[2,1]"],
     "data.scale=[2, 1] is not an area range"),
    (["search", "+space=tiny", "search.strategy=metakernel",
      "search.metakernel.tau_start=0.1", "search.metakernel.tau_end=50"],
     "search.metakernel.tau_start=0.1 is below tau_end=50"),
    (["search", "+space=tiny", "search.strategy=metakernel",
      "search.metakernel.hard_kernels=abc"],
     "search.metakernel.hard_kernels='abc' is not one of its values; use one of true, false"),
    (["search", "+space=tiny", "search.strategy=metakernel", "train.epochs=1",
      "search.metakernel.warmup_epochs=5"],
     "search.metakernel.warmup_epochs=5 leaves no epoch of the training"),
    (["search", "+space=tiny", "search.strategy=metakernel",
      "search.metakernel.arch_lr=inf"], "search.metakernel.arch_lr=inf is not a finite"),
    (["export", "x", "+experiment=ranking_mnist"], "mlpnas export takes no +experiment="),
    (["train", "space=tiny.txt"], "search space file 'tiny.txt' must be a YAML file"),
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


def _foreign_sqlite(path):
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("create table notes (t text)")


def _other_study(path):
    url = f"sqlite:///{path}"
    open_study(open_storage(url), "someone-elses", ["accuracy", "mflops"],
               make_sampler("random", 0), {})


def _damaged_page(path):
    """A study storage whose second page (of the studies table) is overwritten: SQLite finds
    it only when the storage reads that page."""
    _other_study(path)
    data = bytearray(path.read_bytes())
    data[4096:8192] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("study_db,message", [
    (b"", "is empty (0 bytes), so it holds no study"),
    (b"\n", "is not an SQLite database (1 bytes of something else), so it holds no study"),
    (bytes(range(100)), "is not an SQLite database (100 bytes"),
    (_foreign_sqlite, "is an SQLite database of something else (its tables: notes), not a "
                      "study storage"),
    (None, "holds the results of a search (trials.csv), but '{run}/study.db' is gone"),
    (_other_study, "holds the results of a search (trials.csv), but its study "
                   f"'tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2' is not in the storage"),
    (_damaged_page, "study.db' is damaged (database disk image is malformed); restore it"),
])
def test_a_study_file_that_holds_no_study_is_refused_and_nothing_is_overwritten(
        tmp_path, study_db, message):
    """SQLite reads a file of 0 or 1 bytes as an empty database, and the storage would add
    its tables to a foreign one: a search used to rerun every trial and overwrite the
    results without a word. A deleted study.db beside results is refused too."""
    run = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    run.mkdir(parents=True)
    if isinstance(study_db, bytes):
        (run / "study.db").write_bytes(study_db)
    elif study_db is not None:
        study_db(run / "study.db")
    (run / "trials.csv").write_text("precious\n")
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(UserError) as e:
        _search(tmp_path)
    assert message.format(run=run.relative_to(tmp_path)) in str(e.value)
    assert (run / "trials.csv").read_text() == "precious\n"
    assert sorted(p.name for p in run.iterdir()) == before


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


def test_a_seed_claimed_but_never_tagged_is_evaluated_on_resume(tmp_path, monkeypatch):
    """The worker dies after Optuna made the seed trial RUNNING and before it wrote its
    worker tag (here: it exits there): on the default storage no other worker of the run is
    alive, so the search run again fails that trial and evaluates the seed."""
    from mlpnas.search import Objective

    def exits_before_the_tag(self, trial):
        raise SystemExit("killed")

    monkeypatch.setattr(Objective, "__call__", exits_before_the_tag)
    with pytest.raises(SystemExit):
        _search(tmp_path)
    monkeypatch.undo()
    run = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    url = default_storage_url(run)
    name = f"tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2"
    zombie = optuna.load_study(study_name=name, storage=url).get_trials()[0]
    assert zombie.state == optuna.trial.TrialState.RUNNING
    assert WORKER_ATTR not in zombie.user_attrs
    _search(tmp_path)
    trials = optuna.load_study(study_name=name, storage=url).get_trials()
    assert trials[zombie.number].state == optuna.trial.TrialState.FAIL
    done = {t.user_attrs.get("seed") for t in trials
            if t.state == optuna.trial.TrialState.COMPLETE}
    assert set(load_space("tiny").uniform_archs()) <= done
    assert zombie.user_attrs["seed"] in (run / "trials.csv").read_text()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_an_untagged_trial_is_failed_after_the_grace_period(tmp_path):
    from mlpnas.search._study import fail_dead_trials

    study = open_study(open_storage(default_storage_url(tmp_path)), "s",
                       ["accuracy", "mflops"], make_sampler("random", 0), {})
    study.ask()
    assert fail_dead_trials(study, grace_s=3600) == 0  # a live worker may still tag it
    assert fail_dead_trials(study, grace_s=0) == 1


def test_two_metakernel_workers_on_one_run_are_refused(tmp_path):
    from mlpnas.tasks._common import held_alone

    out = tmp_path / f"runs/search/tiny-small-synthetic-seed0-metakernel{SCORE_SUFFIX}"
    with held_alone(out.parent / f".{out.name}.metakernel.lock", "busy"), \
            pytest.raises(UserError, match="a meta-kernel search is already running on .* it "
                                           "trains one network, so it runs as one worker"):
        _search(tmp_path, "search.strategy=metakernel", "search.worker=1",
                "search.metakernel.warmup_epochs=0")


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
    # exporting into the read-only run folder (safetensors' own writer gave a traceback)
    export = subprocess.run([*_as_another_user(), *cli_command(
        "export", f"{base}/runs/search/tiny-small-synthetic-seed0-supernet_acc",
        "export.arch=c3r1_c3r1",
        "export.measure_latency=false")], capture_output=True, text=True, cwd=mine, env=env,
        timeout=600)
    assert export.returncode == 2, export.stderr
    assert f"mlpnas export: error: cannot write '{base}/runs/search/" in export.stderr
    assert "(permission denied)" in export.stderr and len(export.stderr.splitlines()) == 1


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
