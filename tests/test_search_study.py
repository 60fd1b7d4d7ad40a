"""The study storage and its workers: resuming after Ctrl-C, workers sharing one study (the
default SQLite storage and PostgreSQL; each worker a process of its own), and a storage that
cannot be opened."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
from helpers import (
    SCORE_SUFFIX,
    SMALL_SEARCH,
    cli_command,
    complete_trials,
    run_task,
    small_search,
)

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
from mlpnas.space import load_space


def test_a_seed_interrupted_by_ctrl_c_is_evaluated_on_resume(tmp_path):
    """Ctrl-C while a seed is evaluated leaves its trial FAIL; the resumed study queues the
    seed again, evaluates every seed exactly once and loses or repeats no trial."""
    space = load_space("tiny")
    costs = CostModel(flops_table(space, 10, None))
    seeds = space.uniform_archs()
    victim = list(seeds)[1]
    evaluated = []

    def evaluate(arch):
        if arch == seeds[victim] and not evaluated.count("interrupted"):
            evaluated.append("interrupted")
            raise KeyboardInterrupt
        evaluated.append(arch.key)
        return 0.5

    def session(n_trials):
        study = open_study(open_storage(default_storage_url(tmp_path)), "s",
                           ["accuracy", "mflops"], make_sampler("random", 0), {})
        seed_trials(study, seeds)
        objective = Objective(space, costs, evaluate, ["accuracy", "mflops"], {})
        run_trials(study, objective, n_trials, progress=False)
        return study

    with pytest.raises(KeyboardInterrupt):
        session(len(seeds) + 3)
    study = session(len(seeds) + 3)  # the same command again
    trials = study.get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.user_attrs.get("seed") for t in failed] == [victim]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == len(seeds) + 3 and len({t.number for t in done}) == len(done)
    for label, arch in seeds.items():
        mine = [t for t in done if t.user_attrs.get("seed") == label]
        assert len(mine) == 1 and mine[0].user_attrs["arch"] == arch.key, label
    assert evaluated.count(seeds[victim].key) == 1
    assert seed_trials(study, seeds) == 0  # nothing left to queue once all are complete
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))


_CLAIM_WORKER = """
import sys, time, optuna
from mlpnas.search._study import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="q", storage=open_storage(sys.argv[1]))
def objective(trial):
    x = trial.suggest_int("x", 0, 10**6)
    print(x, flush=True)
    time.sleep(0.01)
    return x
study.optimize(objective, n_trials=int(sys.argv[2]), catch=())
"""


def test_sqlite_workers_never_claim_the_same_enqueued_trial(tmp_path):
    # SQLite ignores SELECT ... FOR UPDATE; without BEGIN IMMEDIATE two workers claimed one
    # waiting trial, evaluated it twice, and the later one died "Cannot tell a COMPLETE trial"
    url = f"sqlite:///{tmp_path / 'q.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="q")
    for x in range(60):
        study.enqueue_trial({"x": x})
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIM_WORKER, url, "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    evaluated = []
    for p in procs:
        so, se = p.communicate(timeout=300)
        assert p.returncode == 0, se
        evaluated += [int(v) for v in so.split()]
    assert sorted(evaluated) == list(range(60))  # each enqueued trial exactly once
    states = [t.state for t in study.get_trials()]
    assert states == [optuna.trial.TrialState.COMPLETE] * 60


def test_storage_error_hides_the_password_in_one_sentence():
    url = "postgresql://alice:s3cr3t-pw@127.0.0.1:9/nas"
    with pytest.raises(UserError) as e:
        open_storage(url)
    msg = str(e.value)
    assert "s3cr3t-pw" not in msg
    assert "cannot open the study storage 'postgresql://alice:***@127.0.0.1:9/nas' (" in msg
    assert msg.endswith(".") and msg.count(". ") == 0 and "\n" not in msg
    # a driver that quotes the password, in several sentences, is cut to one clause
    from mlpnas.search._study import _short_reason

    reason = _short_reason(RuntimeError("(psycopg.OperationalError) login as alice with "
                                        "s3cr3t-pw failed. Is the server up?\nDETAIL: x"), url)
    assert reason == "login as alice with *** failed"


def _two_workers(tmp_path, n_trials, *extra, separate_out=False):
    """Run two search workers at once on the same study; return their stdout."""
    def cmd(w):
        out = tmp_path / (f"search{w}" if separate_out else "search")
        return cli_command("search", "+space=tiny", *SMALL_SEARCH, f"out_dir={out}",
                           f"supernet_dir={tmp_path / 'supernet'}",
                           f"cache_dir={tmp_path / 'cache'}", f"search.n_trials={n_trials}",
                           "search.compare_random=false", f"search.worker={w}", *extra)

    procs = [subprocess.Popen(cmd(w), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for w in (0, 1)]
    outs = []
    for p in procs:
        so, se = p.communicate(timeout=600)
        assert p.returncode == 0, se
        outs.append(so)
    return outs


@pytest.mark.slow
def test_two_workers_on_the_default_storage(tmp_path):
    run_task("search", small_search(tmp_path, "search.n_trials=2",
                                    "search.compare_random=false"))  # trains the supernet
    outs = _two_workers(tmp_path, 24)
    ran = [int(so.split("nsga2 study")[1].split("(")[1].split(" ")[0]) for so in outs]
    assert all(n > 0 for n in ran), ran  # both workers ran trials
    done = complete_trials(f"sqlite:///{tmp_path / 'search' / 'study.db'}",
                           f"tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2")
    assert 24 <= len(done) <= 25 and len({t.number for t in done}) == len(done)


@pytest.mark.slow
def test_two_workers_starting_a_fresh_study_set_it_up_and_seed_it_once(tmp_path):
    _two_workers(tmp_path, 6)  # no earlier run: both start at once, the supernet is trained once
    trials = optuna.load_study(study_name=f"tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2",
                               storage=f"sqlite:///{tmp_path / 'search' / 'study.db'}").trials
    labels = [t.user_attrs["seed"] for t in trials if "seed" in t.user_attrs]
    assert labels and sorted(labels) == sorted(set(labels)), labels


def _find_initdb():
    found = shutil.which("initdb") or (sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
                                       or [None])[-1]
    return Path(found) if found else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e .[dev])")
    initdb = _find_initdb()
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine; .ci/run installs "
                    "Debian's postgresql package")
    bindir = initdb.resolve().parent
    base = Path(tempfile.mkdtemp(prefix="mlpnas-pg-", dir="/tmp"))
    data, port = base / "data", _free_port()
    prefix = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(base, "postgres")
        os.chmod(base, 0o755)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*args):
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)

    r = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "mlpnas")
    assert r.returncode == 0, r.stderr
    r = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
            f"-p {port} -k {base} -h 127.0.0.1", "start")
    assert r.returncode == 0, r.stderr + (base / "log").read_text()
    try:
        r = run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlpnas",
                "nas")
        assert r.returncode == 0, r.stderr
        yield f"postgresql://mlpnas@127.0.0.1:{port}/nas"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_on_postgresql(tmp_path, postgres_url):
    run_task("search", small_search(tmp_path, "search.n_trials=2", "search.compare_random=false",
                                    f"search.storage={postgres_url}"))  # exit 0
    _two_workers(tmp_path, 20, f"search.storage={postgres_url}", separate_out=True)
    done = complete_trials(postgres_url, f"tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2")
    assert 20 <= len(done) <= 21 and len({t.number for t in done}) == len(done)


