"""The search's accuracy axis set by `search.score`: a training-free score trains no
supernet and names itself in every file, an ensemble ranks against its reference sample,
the predictor fits a rank report; refusals before any work."""

import json
import re

import optuna
import pandas as pd
import pytest
from helpers import TINY_RUN, run_task, write_rank_report

from mlpnas.errors import UserError

QUICK = [*TINY_RUN, "search.n_trials=4", "search.population_size=2",
         "search.compare_random=false", "search.measure_pareto_latency=false",
         "scoring.inits=1", "scoring.batch_size=16"]


def _search(tmp_path, *args):
    return ["+space=tiny", *QUICK, f"out_dir={tmp_path / 'search'}",
            f"supernet_dir={tmp_path / 'supernet'}", f"cache_dir={tmp_path / 'cache'}",
            *map(str, args)]


def test_a_training_free_score_trains_no_supernet_and_names_itself(tmp_path, capsys):
    run_task("search", _search(tmp_path, "search.score=naswot"))
    out = tmp_path / "search"
    assert not (tmp_path / "supernet").exists()
    trials = pd.read_csv(out / "trials.csv")
    assert "naswot" in trials and "accuracy" not in trials
    assert trials["naswot"].notna().all()
    assert "naswot" in pd.read_csv(out / "pareto.csv")
    run = json.loads((out / "run.json").read_text())
    assert run["score"]["key"] == "naswot" and run["score"]["supernet_trained"] is False
    assert run["score"]["scoring"] == {"inits": 1, "batch_size": 16, "splits": 2, "seed": 0}
    study = optuna.load_study(storage=f"sqlite:///{out / 'study.db'}",
                              study_name="tiny-small-synthetic-seed0-naswot-nsga2")
    assert study.metric_names == ["naswot", "mflops"]
    summary = (out / "summary.txt").read_text()
    assert "accuracy axis: naswot (NASWOT" in summary and "with fresh weights" in summary
    assert "no supernet is trained" in capsys.readouterr().out
    card = next((out / "exported").glob("*/README.md")).read_text()
    assert "search score `naswot`" in card and "fresh initialisation" in card
    export = next((out / "exported").glob("*"))
    assert json.loads((export / "arch.json").read_text())["fresh_weights"] is True
    # fresh weights hold nothing to inherit
    with pytest.raises(UserError, match="carries fresh weights .* use init=scratch"):
        run_task("retrain", [str(export), "init=inherited", *TINY_RUN])
    # the plots label their axis by the score
    numbers = json.loads((out / "plot_numbers.json").read_text())
    assert numbers["pareto"]["mflops"]["y_name"] == "naswot"
    assert numbers["pareto"]["mflops"]["y_label"].startswith("naswot: NASWOT")
    # the same folder with other scoring settings is another study: refused, nothing lost
    before = (out / "trials.csv").read_text()
    with pytest.raises(UserError, match="was run with score naswot .*inits.: 1.*use the same "
                                        "search.score and scoring"):
        run_task("search", _search(tmp_path, "search.score=naswot", "scoring.inits=2"))
    assert (out / "trials.csv").read_text() == before


def test_an_ensemble_ranks_against_its_reference_sample(tmp_path):
    run_task("search", _search(tmp_path, "search.score=[naswot,mflops]",
                               "scoring.reference_archs=6", "search.export_pareto=false"))
    out = tmp_path / "search"
    ref = json.loads((out / "score_reference.json").read_text())
    assert len(ref["archs"]) == 6 and set(ref["values"]) == {"naswot", "mflops"}
    from mlpnas.score import RankReference

    reference = RankReference(ref["values"], {"naswot": "maximize", "mflops": "maximize"})
    trials = pd.read_csv(out / "trials.csv")
    assert "naswot+mflops" in trials
    # the seeded all-cycle trial, rescored by hand against the stored reference
    from mlpnas.cost import CostModel, flops_table
    from mlpnas.data import build_data, data_config
    from mlpnas.models import MlpBackbone
    from mlpnas.score import ZeroCostSetting, fixed_batch, score_network
    from mlpnas.space import load_space

    space = load_space("tiny")
    arch = space.uniform_archs()["all-cycle"]
    data = build_data(data_config(train_size=128, val_size=32,
                                  holdout_size=32), space.input_size)
    x, y = fixed_batch(data.holdout, 16)
    naswot = score_network(lambda: MlpBackbone(space.to_netspec(arch, 10)), x, y, ["naswot"],
                           ZeroCostSetting(1, 16, 2, 0))["naswot"]
    mflops = CostModel(flops_table(space, 10, tmp_path / "cache")).cost(arch, "mflops")
    row = trials[trials["arch"] == arch.key].iloc[0]
    assert row["naswot+mflops"] == pytest.approx(reference.value({"naswot": naswot,
                                                                  "mflops": mflops}))


def test_the_predictor_fits_a_rank_report_of_the_space(tmp_path, capsys):
    report = write_rank_report(tmp_path / "report", n=12)
    run_task("search", _search(tmp_path, "search.score=predictor",
                               f"scoring.predictor={report}", "search.export_pareto=false"))
    out = tmp_path / "search"
    assert "predictor fitted on 12 labelled architectures" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["score"]["predictor"]["n_labelled"] == 12
    # the features are computed as the report computed them
    assert run["score"]["scoring"] == {"inits": 1, "batch_size": 8, "splits": 2, "seed": 0}
    assert pd.read_csv(out / "trials.csv")["predictor"].notna().all()


@pytest.mark.parametrize("args,message", [
    (["search.score=naswt"], "unknown score 'naswt' in search.score; did you mean naswot?"),
    (["search.score=supernet_loss", "search.train_supernet=false"],
     "search.score=supernet_loss needs a trained supernet, but search.train_supernet=false"),
    (["search.score=predictor"], "search.score=predictor needs a rank report to fit on"),
    (["search.score=[naswot,predictor]"], "the predictor cannot be part of a mean rank"),
    (["search.train_supernet=maybe"], "search.train_supernet='maybe' is not allowed"),
    (["scoring.inits=0"], "scoring.inits=0 is out of range"),
])
def test_score_refusals_before_any_work(tmp_path, args, message):
    with pytest.raises(UserError, match=re.escape(message)):
        run_task("search", _search(tmp_path, *args))
    assert not (tmp_path / "supernet").exists()
    assert not (tmp_path / "search").exists() or not any((tmp_path / "search").iterdir())


def test_a_predictor_of_another_space_is_refused(tmp_path):
    report = write_rank_report(tmp_path / "report", n=12, space="all_mixers")
    with pytest.raises(UserError, match="measured space 'all_mixers' .* not 'tiny'"):
        run_task("search", _search(tmp_path, "search.score=predictor",
                                   f"scoring.predictor={report}"))
    assert not (tmp_path / "search").exists()
