"""`mlpnas rank RUN_DIR` on a real (tiny) search run: the report, resume, other supernets,
bad input."""

import json

import pandas as pd
import pytest
from helpers import run_task

from mlpnas.cli import main
from mlpnas.errors import UserError
from mlpnas.plots import ranking_info
from mlpnas.rank._jobs import LOG

SMALL = ["data.train_size=256", "data.val_size=64", "data.holdout_size=64",
         "train.batch_size=64", "train.epochs=1", "progress=false", "hardware.threads=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("rankrun")
    run_task("search", ["+space=tiny", *SMALL, "search.n_trials=10", "search.score=supernet_acc",
                        "search.population_size=4", "search.measure_pareto_latency=false",
                        "search.export_pareto=false", f"out_dir={base / 'search'}",
                        f"supernet_dir={base / 'supernet'}", f"cache_dir={base / 'cache'}"])
    return base / "search"


def rank(run_dir, *overrides):
    return run_task("rank", [f"run_dir={run_dir}", "progress=false", "hardware.threads=1",
                             "rank.n_archs=6", "rank.seeds=2", *overrides])


def test_rank_reports_every_statistic_and_resumes_without_retraining(run_dir, capsys):
    report = rank(run_dir, "rank.max_jobs=5", "rank.max_mflops=0.1")
    assert report is None  # 7 of 12 jobs left: no report yet
    assert "5 job(s) trained in this call, 7 left" in capsys.readouterr().out
    report = rank(run_dir, "rank.max_mflops=0.1")
    out = capsys.readouterr().out
    for key in ("n_archs", "seeds", "kendall_tau", "kendall_tau_ci", "seed_ceiling_tau",
                "mflops_tau", "params_tau", "regret", "precision_at_10", "precision_at_30",
                "spearman_rho_ci", "tau_minus_mflops_tau_ci"):
        assert key in report, key
    assert report["n_archs"] == 6 and report["seeds"] == 2
    assert "Kendall tau [95% CI]" in out and "seed ceiling" in out
    saved = json.loads((run_dir / "ranking.json").read_text())
    assert saved["kendall_tau"] == report["kendall_tau"]
    table = pd.read_csv(run_dir / "ranking.csv")
    assert len(table) == 6 and {"seed0", "seed1", "supernet_acc", "source"} <= set(table)
    # the regret's budget marks what is feasible for the pick; it does not restrict the picks
    assert (table["feasible"] == (table["mflops"] <= 0.1)).all()
    assert report["budgets"] == {"mflops": 0.1}
    plan = json.loads((run_dir / "rank" / "plan.json").read_text())
    assert plan["request"]["budgets"] == {}
    # the search's own scores are what the supernet gives again (same recalibration)
    searched = table.dropna(subset=["search_score"])
    assert len(searched) and (searched["search_score"] == searched["supernet_acc"]).all()
    # every registered score is reported side by side, with its cost per architecture
    from mlpnas.score import SCORES

    assert set(SCORES) <= set(report["scores"])
    assert report["axis_score"] == "supernet_acc"
    assert all(report["scores"][n]["seconds_per_arch"] > 0 for n in
               ("naswot", "synflow", "zico", "supernet_loss"))
    assert report["kendall_tau"] == report["scores"]["supernet_acc"]["kendall_tau"]
    assert "naswot+mflops" in report["scores"]  # an ensemble of conf/rank.yaml
    assert "predictor" not in report["scores"]  # 6 architectures: too few to fit one
    assert (run_dir / "ranking.png").stat().st_size > 0
    assert len(ranking_info(run_dir).points) == 6
    jobs = [json.loads(x) for x in next((run_dir / "rank").glob("standalone-*"))
            .joinpath(LOG).read_text().splitlines()]
    assert len(jobs) == 12 and len({(j["arch"], j["seed"]) for j in jobs}) == 12
    summary = (run_dir / "summary.txt").read_text()
    assert summary.count("== ranking of the scores (mlpnas rank) ==") == 1
    assert f"{report['kendall_tau']:.3f}" in summary
    # a third call trains nothing and writes the same statistics
    again = rank(run_dir, "rank.max_mflops=0.1")
    assert again["kendall_tau"] == report["kendall_tau"]
    assert len((next((run_dir / "rank").glob("standalone-*")) / LOG).read_text()
               .splitlines()) == 12
    assert (run_dir / "summary.txt").read_text().count("ranking of the scores") == 1


def test_another_plan_in_the_same_folder_is_refused(run_dir):
    rank(run_dir, "rank.max_jobs=1")
    with pytest.raises(UserError, match="holds a ranking plan made with rank.n_archs=6, not 7"):
        rank(run_dir, "rank.n_archs=7")


def test_given_archs_and_another_supernet_and_out_dir(run_dir, tmp_path):
    from mlpnas.space import load_space

    space = load_space("tiny")
    keys = [space.sample(i).key for i in range(5)]
    other = tmp_path / "sn"
    run_task("train", ["+space=tiny", *SMALL, "train.sampling=fair", f"out_dir={other}"])
    report = rank(run_dir, f"rank.archs=[{','.join(keys)}]", "rank.seeds=1",
                  f"rank.work_dir={tmp_path / 'work'}", f"rank.out_dir={tmp_path / 'out'}",
                  f"rank.supernet_dir={other}", "rank.epochs=1")
    assert report["n_archs"] == 5 and report["seeds"] == 1
    assert report["seed_ceiling_tau"] is None  # one seed: no ceiling
    assert report["supernet_recipe"]["sampling"] == "fair"
    table = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert list(table["arch"]) == keys and set(table["source"]) == {"given"}


@pytest.mark.parametrize("args,message", [
    (["rank.n_archs=4"], "rank.n_archs=4 is not allowed: fewer than 5 architectures"),
    (["rank.seeds=0"], "rank.seeds=0 is not allowed: every architecture needs at least one"),
    (["rank.random_fraction=2"], "rank.random_fraction=2 is not a share"),
    (["rank.pick_seed=abc"], "rank.pick_seed=abc is not allowed: it seeds the random picks"),
    (["rank.batch_size=0.5"], "rank.batch_size=0.5 is not a whole number; give one"),
    (["rank.epochs=1.5"], "rank.epochs=1.5 is not a whole number; give one"),
    (["rank.lr=inf"], "rank.lr=inf is not a finite number"),
    (["rank.lr=0"], "rank.lr=0 is out of range; give a number above 0."),
    (["rank.recal_batches=-1"], "rank.recal_batches=-1 is not allowed: it counts whole batches"),
    (["rank.epochs=1", "rank.warmup_epochs=3"], "rank.warmup_epochs=3 is longer than the "
                                                "training (rank.epochs=1)"),
])
def test_bad_options_are_one_sentence_and_exit_2(run_dir, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["rank", str(run_dir), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["rank", str(tmp_path)])
    assert e.value.code == 2
    assert "is not a search run folder" in capsys.readouterr().err
