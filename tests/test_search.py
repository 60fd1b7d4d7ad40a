"""The search: define-by-run encoding, budgets as constraints, resume, two workers on the
default storage and on PostgreSQL, and the errors a user can cause."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pandas as pd
import pytest

from mlpnas.cost import CostModel, flops_table
from mlpnas.errors import UserError
from mlpnas.search import (
    Objective,
    arch_params,
    check_budgets,
    hv_reference,
    hypervolume,
    pareto_mask,
    suggest_arch,
    trials_frame,
)
from mlpnas.space import load_space


def test_enqueued_params_reproduce_the_architecture():
    space = load_space("all_mixers")
    study = optuna.create_study(directions=["maximize", "minimize"])
    archs = [space.sample(s) for s in range(5)]
    for a in archs:
        study.enqueue_trial(arch_params(a))
    seen = []
    study.optimize(lambda t: (seen.append(suggest_arch(t, space)) or 0.0, 0.0), n_trials=5)
    assert seen == archs


def test_blocks_beyond_the_depth_are_not_suggested():
    space = load_space("cycle_vs_shift")
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: (suggest_arch(t, space), (0.0, 0.0))[1], n_trials=30)
    for t in study.trials:
        for i in range(4):
            assert (f"s{i}.b1" in t.params) == (t.params[f"s{i}.depth"] == 2)


def test_objective_sets_constraints_and_caches():
    space = load_space("tiny")
    costs = CostModel(flops_table(space, 10, None))
    calls = []

    def evaluate(arch):
        calls.append(arch.key)
        return 0.5

    limit = costs.cost(space.smallest(), "mflops") + 0.01
    obj = Objective(space, costs, evaluate, ["accuracy", "mflops"], {"mflops": limit})
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(1))
    arch = space.largest()
    study.enqueue_trial(arch_params(arch))
    study.enqueue_trial(arch_params(arch))
    study.optimize(obj, n_trials=2)
    t0, t1 = study.trials
    assert t0.user_attrs["arch"] == arch.key and t0.values[1] == pytest.approx(
        costs.cost(arch, "mflops"))
    assert t0.constraints["mflops"] > 0  # over the budget: infeasible
    assert calls == [arch.key]  # the second trial of the same architecture used the cache
    frame = trials_frame(study, "random")
    assert list(frame["feasible"]) == [False, False]


def test_infeasible_budget_names_the_smallest_value():
    space = load_space("cycle_vs_shift")
    costs = CostModel(flops_table(space, 10, None))
    smallest = costs.extreme(space, "mflops")[0]
    with pytest.raises(UserError, match=rf"search.max_mflops=1 is below the smallest "
                                        rf"architecture of space 'cycle_vs_shift' "
                                        rf"\({smallest:.4g} MFLOPs\)"):
        check_budgets(space, costs, {"mflops": 1.0})
    check_budgets(space, costs, {"mflops": smallest})


def test_pareto_and_hypervolume():
    vals = pd.DataFrame({"accuracy": [0.9, 0.8, 0.85, 0.7], "mflops": [10.0, 5.0, 10.0, 6.0],
                         "feasible": [True] * 4})
    assert pareto_mask(vals[["accuracy", "mflops"]].to_numpy(), ["maximize", "minimize"]) \
        .tolist() == [True, True, False, False]
    ref = hv_reference([vals], ["accuracy", "mflops"], {"mflops": 20.0})
    assert ref == {"accuracy": 0.7, "mflops": 20.0}
    # one point (acc 0.9, cost 10 of 20): box of (0.9 - 0.7) x (1 - 0.5)
    one = vals.iloc[:1]
    assert hypervolume(one, ["accuracy", "mflops"], ref) == pytest.approx(0.1)
    # adding a point inside the dominated region changes nothing
    assert hypervolume(vals.iloc[[0, 2]], ["accuracy", "mflops"], ref) == pytest.approx(0.1)
    # (0.8, 5/20) adds (0.8 - 0.7) x (0.5 - 0.25)
    assert hypervolume(vals, ["accuracy", "mflops"], ref) == pytest.approx(0.1 + 0.025)


SMALL = ["data.train_size=512", "data.val_size=64", "data.holdout_size=128",
         "train.batch_size=64", "train.epochs=1", "search.population_size=4",
         "progress=false", "hardware.threads=1"]


def _search(tmp, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "mlpnas.cli", "search", "+space=tiny", *SMALL,
         f"out_dir={tmp / 'search'}", f"supernet_dir={tmp / 'supernet'}",
         f"cache_dir={tmp / 'cache'}", *args],
        capture_output=True, text=True, timeout=timeout)


def _complete(storage, name):
    study = optuna.load_study(study_name=name, storage=storage)
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


@pytest.mark.slow
def test_search_end_to_end_and_resume(tmp_path):
    r = _search(tmp_path, "search.n_trials=10")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "search"
    for f in ("trials.csv", "pareto.csv", "run.json", "summary.txt", "pareto_mflops.png",
              "hypervolume.png", "config.yaml", "study.db"):
        assert (out / f).is_file(), f
    assert "run folder" in r.stdout and "hypervolume" in r.stdout
    trials = pd.read_csv(out / "trials.csv")
    assert set(trials["sampler"]) == {"nsga2", "random"}
    assert (trials["sampler"] == "nsga2").sum() == 10
    assert {"all-cycle", "all-shift", "all-hire", "all-permute"} <= set(trials["seed"].dropna())
    pareto = pd.read_csv(out / "pareto.csv")
    exported = sorted(p.name for p in (out / "exported").iterdir())
    assert exported == sorted(pareto["arch"])
    run = json.loads((out / "run.json").read_text())
    assert run["objectives"] == ["accuracy", "mflops"] and run["hypervolume"]["nsga2"] > 0

    storage = f"sqlite:///{out / 'study.db'}"
    before = [t.params for t in _complete(storage, "tiny-small-synthetic-seed0-nsga2")]
    again = _search(tmp_path, "search.n_trials=10")  # complete: nothing to run
    assert again.returncode == 0, again.stderr
    assert "(0 trials run)" in again.stdout
    more = _search(tmp_path, "search.n_trials=14")  # resumes with 4 more trials
    assert more.returncode == 0, more.stderr
    after = _complete(storage, "tiny-small-synthetic-seed0-nsga2")
    assert len(after) == 14 and [t.params for t in after[:10]] == before
    assert len({t.number for t in after}) == 14


def _two_workers(tmp_path, n_trials, *extra, separate_out=False):
    """Run two search workers at once on the same study; return their stdout."""
    def cmd(w):
        out = tmp_path / (f"search{w}" if separate_out else "search")
        return [sys.executable, "-m", "mlpnas.cli", "search", "+space=tiny", *SMALL,
                f"out_dir={out}", f"supernet_dir={tmp_path / 'supernet'}",
                f"cache_dir={tmp_path / 'cache'}", f"search.n_trials={n_trials}",
                "search.compare_random=false", f"search.worker={w}", *extra]

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
    first = _search(tmp_path, "search.n_trials=2", "search.compare_random=false")
    assert first.returncode == 0, first.stderr  # trains the supernet once
    outs = _two_workers(tmp_path, 24)
    ran = [int(so.split("nsga2 study")[1].split("(")[1].split(" ")[0]) for so in outs]
    assert all(n > 0 for n in ran), ran  # both workers ran trials
    done = _complete(f"sqlite:///{tmp_path / 'search' / 'study.db'}",
                     "tiny-small-synthetic-seed0-nsga2")
    assert 24 <= len(done) <= 25 and len({t.number for t in done}) == len(done)


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
    first = _search(tmp_path, "search.n_trials=2", "search.compare_random=false",
                    f"search.storage={postgres_url}")
    assert first.returncode == 0, first.stderr
    _two_workers(tmp_path, 20, f"search.storage={postgres_url}", separate_out=True)
    done = _complete(postgres_url, "tiny-small-synthetic-seed0-nsga2")
    assert 20 <= len(done) <= 21 and len({t.number for t in done}) == len(done)


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["search.max_mflops=0.001"], "search.max_mflops=0.001 is below the smallest architecture "
                                  "of space 'tiny'"),
    (["search.storage=postgresql://nobody@127.0.0.1:9/none"],
     "cannot open the study storage 'postgresql://nobody@127.0.0.1:9/none'"),
    (["search.objectives=[accuracy]"], "search.objectives must hold accuracy and at least one"),
    (["search.sampler=cmaes"], "unknown sampler 'cmaes'"),
])
def test_search_user_errors_before_any_training(tmp_path, args, message):
    r = _search(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "supernet").exists()


@pytest.mark.slow
def test_supernet_of_another_space_in_supernet_dir(tmp_path):
    train_args = [a for a in SMALL if not a.startswith("search.")]
    t = subprocess.run([sys.executable, "-m", "mlpnas.cli", "train", "+space=tiny", *train_args,
                        f"out_dir={tmp_path / 'supernet'}"], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
    r = subprocess.run([sys.executable, "-m", "mlpnas.cli", "search", "+space=cycle_vs_shift",
                        f"supernet_dir={tmp_path / 'supernet'}", f"out_dir={tmp_path / 's'}",
                        f"cache_dir={tmp_path / 'cache'}", "progress=false"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "already holds a supernet, but its space is 'tiny'" in r.stderr
    assert "use another supernet_dir" in r.stderr
