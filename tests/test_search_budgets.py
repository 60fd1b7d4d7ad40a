"""Budgets of a search: refused when no architecture meets them (alone or together, before
any training), named in the default run folder, and a budgeted run beside an unbudgeted
one (its own folder and study, the same supernet)."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from helpers import (
    SCORE_SUFFIX,
    SMALL_SEARCH,
    complete_trials,
    compose_config,
    run_cli,
    run_task,
    small_search,
)

from mlpnas.cost import CostModel, flops_table
from mlpnas.errors import UserError
from mlpnas.search import budget_suffix, check_budgets
from mlpnas.space import load_space


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


def test_budget_suffix_names_the_budgets():
    assert budget_suffix({}) == ""
    assert budget_suffix({"mflops": 14.0, "latency_ms": 2.5}) == \
        "-max_mflops14-max_latency_ms2.5"


def test_default_run_folder_names_the_budgets_and_the_score():
    def out_dir(*args):
        return str(compose_config("search", ["+space=tiny", *args]).out_dir)

    assert out_dir() == f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    assert out_dir("search.max_mflops=14", "search.max_params_m=0.5") == \
        f"runs/search/tiny-small-synthetic-seed0-max_mflops14-max_params_m0.5{SCORE_SUFFIX}"
    assert out_dir("search.max_mflops=14", "out_dir=elsewhere") == "elsewhere"
    # and the score: every score's search is a study of its own
    assert out_dir("search.score=[naswot,mflops]") == \
        "runs/search/tiny-small-synthetic-seed0-naswot+mflops"
    assert out_dir("search.score=supernet_loss", "search.max_mflops=3") == \
        "runs/search/tiny-small-synthetic-seed0-max_mflops3-supernet_loss"


def test_infeasible_latency_budget_is_refused_before_training(tmp_path):
    quick = ["hardware.latency.warmup=0", "hardware.latency.repeats=1",
             "hardware.latency.rounds=1"]
    with pytest.raises(UserError) as e:
        run_task("search", small_search(tmp_path, "search.max_latency_ms=0.000001", *quick))
    message = str(e.value)
    assert "\n" not in message  # the command line prints it as one line, no traceback
    # the value named is the smallest latency the (cached) table predicts for the space
    from mlpnas.cost._table import BlockTable

    space = load_space("tiny")
    [table] = [BlockTable.from_json(p.read_text())
               for p in (tmp_path / "cache").glob("latency-tiny-*.json")]
    smallest = CostModel(flops_table(space, 10, None), table).extreme(space, "latency_ms")[0]
    assert (f"search.max_latency_ms=1e-06 is below the smallest architecture of space 'tiny' "
            f"({smallest:.4g} ms); raise it to at least that." in message)
    assert table.meta["threads"] == 1
    assert not (tmp_path / "supernet").exists()
    assert not (tmp_path / "search" / "config.yaml").exists()


@pytest.mark.slow
def test_budgeted_run_after_an_unbudgeted_one_gets_its_own_folder(tmp_path):
    """The --help example after the default command: a new run folder and study, the same
    supernet (reused, not retrained); a refused run writes no config.yaml. The budgeted run
    is a process of its own: with hardware.threads=null it records torch's default thread
    count of a fresh process."""
    base = [a for a in SMALL_SEARCH if not a.startswith("hardware.threads")]
    quick = ["search.n_trials=6", "search.compare_random=false", "search.score=supernet_acc",
             "hardware.latency.repeats=6", "hardware.latency.warmup=1"]
    run_task("search", ["+space=tiny", *SMALL_SEARCH, *quick, "search.export_pareto=false"],
             cwd=tmp_path)  # no UserError: the command would exit 0
    plain_dir = tmp_path / "runs/search/tiny-small-synthetic-seed0-supernet_acc"
    checkpoint = tmp_path / "runs/supernets/tiny-small-synthetic-seed0/checkpoint.pt"
    assert (plain_dir / "study.db").is_file() and checkpoint.is_file()
    stamp = checkpoint.stat().st_mtime_ns
    assert json.loads((plain_dir / "run.json").read_text())["latency_setting"]["threads"] == 1
    pareto = pd.read_csv(plain_dir / "pareto.csv")
    assert pareto["latency_ms_measured"].notna().all()
    assert (plain_dir / "pareto_latency_measured.png").is_file()

    limit = float(pareto["mflops"].max())
    r = run_cli("search", "+space=tiny", *base, *quick, f"search.max_mflops={limit:g}",
                cwd=tmp_path)  # hardware.threads left at null: torch's default
    assert r.returncode == 0, r.stderr
    out = tmp_path / f"runs/search/tiny-small-synthetic-seed0-max_mflops{limit:g}-supernet_acc"
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
    name = f"tiny-small-synthetic-seed0-max_mflops{limit:g}-supernet_acc-nsga2"
    assert len(complete_trials(f"sqlite:///{out / 'study.db'}", name)) == 6
    cards = list((out / "exported").glob("*/README.md"))
    assert cards and all(f"fp32, {threads} threads" in c.read_text() for c in cards)

    # refused (its objectives differ from the stored study's): nothing written
    fresh = tmp_path / "refused"
    with pytest.raises(UserError, match="was run with objectives"):
        run_task("search", ["+space=tiny", *SMALL_SEARCH, *quick,
                            "search.objectives=[accuracy,params_m]",
                            f"search.storage=sqlite:///{plain_dir / 'study.db'}",
                            f"out_dir={fresh}"], cwd=tmp_path)
    assert not (fresh / "config.yaml").exists()
