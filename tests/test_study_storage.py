"""The study storage keeps work: a study file that holds no study is refused and nothing is
overwritten; a killed worker's trial (tagged or not) is evaluated again exactly once; two
workers with one number, or two on one meta-kernel run, are refused; studies name their
metrics for plain Optuna."""

import socket
import subprocess
import sys

import optuna
import pytest
from helpers import SCORE_SUFFIX, tiny_search

from mlpnas.cost import CostModel, flops_table
from mlpnas.errors import UserError
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
        tiny_search(tmp_path)
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
        tiny_search(tmp_path)
    monkeypatch.undo()
    run = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    url = default_storage_url(run)
    name = f"tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2"
    zombie = optuna.load_study(study_name=name, storage=url).get_trials()[0]
    assert zombie.state == optuna.trial.TrialState.RUNNING
    assert WORKER_ATTR not in zombie.user_attrs
    tiny_search(tmp_path)
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
        tiny_search(tmp_path, "search.strategy=metakernel", "search.worker=1",
                "search.metakernel.warmup_epochs=0")

def test_two_workers_with_the_same_number_are_refused(tmp_path):
    from mlpnas.tasks._common import held_alone

    out = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    with held_alone(out.parent / f".{out.name}.worker0.lock", "busy"):
        # the lock is an flock on its own open file: held here, it refuses this process too
        with pytest.raises(UserError) as e:
            tiny_search(tmp_path)
        assert ("a worker with search.worker=0 is already running on" in str(e.value)
                and "search.worker=1" in str(e.value))
        tiny_search(tmp_path, "search.worker=1")  # no UserError: the command would exit 0
