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
    budget_suffix,
    check_budgets,
    default_storage_url,
    hv_reference,
    hypervolume,
    make_sampler,
    open_storage,
    open_study,
    pareto_mask,
    run_trials,
    seed_trials,
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


def test_budgets_each_feasible_but_not_together_are_refused():
    """In the tiny space the cheapest architecture in MFLOPs is not the one with the fewest
    parameters, so the two minima are each reachable but not together."""
    space = load_space("tiny")
    costs = CostModel(flops_table(space, 10, None))
    min_mflops, a = costs.extreme(space, "mflops")
    min_params, b = costs.extreme(space, "params_m")
    assert costs.cost(a, "params_m") > min_params and costs.cost(b, "mflops") > min_mflops
    check_budgets(space, costs, {"mflops": min_mflops})
    check_budgets(space, costs, {"params_m": min_params})
    best = min(v[0] for v, _ in costs.frontier(space, ["mflops", "params_m"])
               if v[1] <= min_params)
    assert best > min_mflops
    with pytest.raises(UserError, match=(
            rf"search.max_mflops={min_mflops:g} and search.max_params_m={min_params:g} "
            rf"cannot be met together by any architecture of space 'tiny': the smallest "
            rf"within max_params_m={min_params:g} has {best:.4g} MFLOPs; raise "
            rf"search.max_mflops to at least that")) as e:
        check_budgets(space, costs, {"mflops": min_mflops, "params_m": min_params})
    assert str(e.value).count(". ") == 0 and str(e.value).endswith(".")
    # every point of the frontier is a pair of budgets some architecture meets
    for (mflops, params), arch in costs.frontier(space, ["mflops", "params_m"]):
        assert costs.cost(arch, "mflops") == pytest.approx(mflops)
        check_budgets(space, costs, {"mflops": mflops, "params_m": params})


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


@pytest.mark.slow
def test_two_workers_starting_a_fresh_study_set_it_up_and_seed_it_once(tmp_path):
    _two_workers(tmp_path, 6)  # no earlier run: both start at once, the supernet is trained once
    trials = optuna.load_study(study_name="tiny-small-synthetic-seed0-nsga2",
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


def test_budget_suffix_names_the_budgets():
    assert budget_suffix({}) == ""
    assert budget_suffix({"mflops": 14.0, "latency_ms": 2.5}) == \
        "-max_mflops14-max_latency_ms2.5"


def _cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "mlpnas.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


@pytest.mark.parametrize("args,message", [
    ((), "no search space given; add +space=NAME with NAME one of"),
    (("+space=nope",), "unknown search space 'nope'; known spaces are"),
])
def test_search_without_a_known_space(tmp_path, args, message):
    r = _cli("search", *args, f"out_dir={tmp_path / 'run'}")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("mlpnas search: error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_default_run_folder_names_the_budgets():
    from hydra import compose, initialize_config_dir

    from mlpnas.cli import CONF_DIR, register_resolvers

    register_resolvers()

    def out_dir(*args):
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return str(compose("search", ["+space=tiny", *args]).out_dir)

    assert out_dir() == "runs/search/tiny-small-synthetic-seed0"
    assert out_dir("search.max_mflops=14", "search.max_params_m=0.5") == \
        "runs/search/tiny-small-synthetic-seed0-max_mflops14-max_params_m0.5"
    assert out_dir("search.max_mflops=14", "out_dir=elsewhere") == "elsewhere"


def test_infeasible_latency_budget_is_refused_before_training(tmp_path):
    quick = ["hardware.latency.warmup=0", "hardware.latency.repeats=1",
             "hardware.latency.rounds=1"]
    r = _search(tmp_path, "search.max_latency_ms=0.000001", *quick, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # the value named is the smallest latency the (cached) table predicts for the space
    from mlpnas.cost._table import BlockTable

    space = load_space("tiny")
    [table] = [BlockTable.from_json(p.read_text())
               for p in (tmp_path / "cache").glob("latency-tiny-*.json")]
    smallest = CostModel(flops_table(space, 10, None), table).extreme(space, "latency_ms")[0]
    assert (f"search.max_latency_ms=1e-06 is below the smallest architecture of space 'tiny' "
            f"({smallest:.4g} ms); raise it to at least that." in r.stderr)
    assert table.meta["threads"] == 1
    assert not (tmp_path / "supernet").exists()
    assert not (tmp_path / "search" / "config.yaml").exists()


@pytest.mark.slow
def test_budgeted_run_after_an_unbudgeted_one_gets_its_own_folder(tmp_path):
    """The --help example after the default command: a new run folder and study, the same
    supernet (reused, not retrained); a refused run writes no config.yaml."""
    base = [a for a in SMALL if not a.startswith("hardware.threads")]
    quick = ["search.n_trials=6", "search.compare_random=false",
             "hardware.latency.repeats=6", "hardware.latency.warmup=1"]
    first = _cli("search", "+space=tiny", *SMALL, *quick, "search.export_pareto=false",
                 cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    plain_dir = tmp_path / "runs/search/tiny-small-synthetic-seed0"
    checkpoint = tmp_path / "runs/supernets/tiny-small-synthetic-seed0/checkpoint.pt"
    assert (plain_dir / "study.db").is_file() and checkpoint.is_file()
    stamp = checkpoint.stat().st_mtime_ns
    assert json.loads((plain_dir / "run.json").read_text())["latency_setting"]["threads"] == 1
    pareto = pd.read_csv(plain_dir / "pareto.csv")
    assert pareto["latency_ms_measured"].notna().all()
    assert (plain_dir / "pareto_latency_measured.png").is_file()

    limit = float(pareto["mflops"].max())
    r = _cli("search", "+space=tiny", *base, *quick, f"search.max_mflops={limit:g}",
             cwd=tmp_path)  # hardware.threads left at null: torch's default
    assert r.returncode == 0, r.stderr
    out = tmp_path / f"runs/search/tiny-small-synthetic-seed0-max_mflops{limit:g}"
    assert f"run folder {out.relative_to(tmp_path)}" in r.stdout
    assert "reusing it" in r.stdout and checkpoint.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (tmp_path / "runs/supernets").iterdir()
                  if not p.name.startswith(".")) == ["tiny-small-synthetic-seed0"]
    run = json.loads((out / "run.json").read_text())
    assert run["budgets"] == {"mflops": pytest.approx(limit)}
    default = subprocess.run([sys.executable, "-c", "import torch; "
                              "print(torch.get_num_threads())"], capture_output=True, text=True)
    threads = int(default.stdout)  # torch's default in a fresh process like the search's
    assert run["latency_setting"]["threads"] == threads
    name = f"tiny-small-synthetic-seed0-max_mflops{limit:g}-nsga2"
    assert len(_complete(f"sqlite:///{out / 'study.db'}", name)) == 6
    cards = list((out / "exported").glob("*/README.md"))
    assert cards and all(f"fp32, {threads} threads" in c.read_text() for c in cards)

    # refused (its objectives differ from the stored study's): nothing written
    fresh = tmp_path / "refused"
    r = _cli("search", "+space=tiny", *SMALL, *quick, "search.objectives=[accuracy,params_m]",
             f"search.storage=sqlite:///{plain_dir / 'study.db'}", f"out_dir={fresh}",
             cwd=tmp_path)
    assert r.returncode == 2 and "was run with objectives" in r.stderr, r.stderr
    assert not (fresh / "config.yaml").exists()


def test_model_card_latency_line_names_the_threads_in_effect():
    from types import SimpleNamespace

    import torch

    from mlpnas.cost import LatencySetting
    from mlpnas.tasks.search_report import export_infos

    space = load_space("tiny")
    rows = pd.DataFrame([{"arch": space.smallest().key, "accuracy": 0.5, "mflops": 0.1,
                          "latency_ms_measured": 0.2}])
    data = SimpleNamespace(name="synthetic", holdout=[0] * 4)
    infos = export_infos(rows, space, data, LatencySetting(threads=None), "supernet")
    line = infos[space.smallest().key]["metrics"]["latency_setting"]
    assert line.endswith(f", batch 1, fp32, {torch.get_num_threads()} threads")
