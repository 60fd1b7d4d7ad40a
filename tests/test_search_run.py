"""`mlpnas search` end to end on the tiny space: the files of a run, resuming a finished and
a longer study, and the settings refused before any training."""

import json
import re

import pandas as pd
import pytest
from helpers import SCORE_SUFFIX, SMALL_RUN, complete_trials, run_task, small_search

from mlpnas.errors import UserError


@pytest.mark.slow
def test_search_end_to_end_writes_its_files_and_resumes(tmp_path, capsys):
    run_task("search", small_search(tmp_path, "search.n_trials=10"))  # exit 0
    stdout = capsys.readouterr().out
    out = tmp_path / "search"
    for f in ("trials.csv", "pareto.csv", "run.json", "summary.txt", "pareto_mflops.png",
              "hypervolume.png", "config.yaml", "study.db"):
        assert (out / f).is_file(), f
    assert "run folder" in stdout and "hypervolume" in stdout
    trials = pd.read_csv(out / "trials.csv")
    assert set(trials["sampler"]) == {"nsga2", "random"}
    assert (trials["sampler"] == "nsga2").sum() == 10
    assert {"all-cycle", "all-shift", "all-hire", "all-permute"} <= set(trials["seed"].dropna())
    pareto = pd.read_csv(out / "pareto.csv")
    exported = sorted(p.name for p in (out / "exported").iterdir())
    assert exported == sorted(pareto["arch"])
    run = json.loads((out / "run.json").read_text())
    assert run["objectives"] == ["accuracy", "mflops"]
    # the recorded hypervolume is that of the stored trials against the recorded reference
    from mlpnas.search import hypervolume, load_results

    results = load_results(out)
    main = results.trials[results.trials["sampler"] == "nsga2"]
    assert run["hypervolume"]["nsga2"] == pytest.approx(
        hypervolume(main, run["objectives"], run["hv_reference"], results.axis_direction))
    assert run["hypervolume"]["nsga2"] > 0

    storage = f"sqlite:///{out / 'study.db'}"
    name = f"tiny-small-synthetic-seed0{SCORE_SUFFIX}-nsga2"
    before = [t.params for t in complete_trials(storage, name)]
    run_task("search", small_search(tmp_path, "search.n_trials=10"))  # complete: nothing to run
    assert "(0 trials run)" in capsys.readouterr().out
    run_task("search", small_search(tmp_path, "search.n_trials=14"))  # resumes: 4 more trials
    after = complete_trials(storage, name)
    assert len(after) == 14 and [t.params for t in after[:10]] == before
    assert len({t.number for t in after}) == 14


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
    with pytest.raises(UserError, match=re.escape(message)):
        run_task("search", small_search(tmp_path, *args))
    assert not (tmp_path / "supernet").exists()


@pytest.mark.slow
def test_supernet_of_another_space_in_supernet_dir_is_refused(tmp_path):
    run_task("train", ["+space=tiny", *SMALL_RUN, f"out_dir={tmp_path / 'supernet'}"])
    with pytest.raises(UserError, match="already holds a supernet, but its space is 'tiny'") as e:
        run_task("search", ["+space=cycle_vs_shift", "search.score=supernet_acc",
                            f"supernet_dir={tmp_path / 'supernet'}",
                            f"out_dir={tmp_path / 's'}", f"cache_dir={tmp_path / 'cache'}",
                            "progress=false"])
    assert "use another supernet_dir" in str(e.value)
