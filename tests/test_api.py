"""The Python API (`mlpnas.search`, `mlpnas.export`, `mlpnas.rank`): the one in-process entry
of the command line (`mlpnas.cli.run`) with a result object (that they are also the
subpackages of those names, with `import mlpnas` light: tests/test_imports.py)."""

import pandas as pd
import pytest
from helpers import SMALL_SEARCH, run_cli

import mlpnas
from mlpnas.api import overrides_from
from mlpnas.errors import UserError


def _search_args(run, out):
    """A four-trial search on the shared run's supernet and cost tables (nothing trained)."""
    base = run.parent
    return ["+space=tiny", *SMALL_SEARCH, "search.n_trials=4", "search.score=supernet_acc",
            "search.compare_random=false", "search.measure_pareto_latency=false",
            f"supernet_dir={base / 'supernet'}", f"cache_dir={base / 'cache'}", f"out_dir={out}"]


def test_search_from_python_gives_the_trials_of_the_command_line(tiny_search_run, tmp_path):
    cli = run_cli("search", *_search_args(tiny_search_run, tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    result = mlpnas.search(None, *_search_args(tiny_search_run, tmp_path / "api"))
    assert result.run_dir == (tmp_path / "api").resolve()
    columns = ["number", "sampler", "arch", "supernet_acc", "mflops", "feasible"]  # the score
    expected = pd.read_csv(tmp_path / "cli" / "trials.csv")[columns]
    pd.testing.assert_frame_equal(result.trials[columns], expected)
    assert len(expected) == 4
    # the result reads the run back: Pareto table, exports, the Optuna study itself
    assert len(result.pareto) and list(result.pareto["arch"]) == list(
        pd.read_csv(tmp_path / "cli" / "pareto.csv")["arch"])
    assert [p.name for p in result.exported] == list(result.pareto["arch"])
    assert sorted(t.number for t in result.study.trials) == list(expected["number"])
    assert set(result.studies) == {"nsga2"}
    assert result.load(0)(__import__("torch").randn(1, 3, 16, 16)).shape == (1, 10)
    assert "nsga2 trials" in result.summary
    # both recorded their command line
    assert "mlpnas search +space=tiny" in (tmp_path / "cli" / "commands.txt").read_text()
    assert "from Python" in (tmp_path / "api" / "commands.txt").read_text()


def test_keyword_options_become_overrides():
    assert overrides_from(("seed=1",), {"search": {"n_trials": 8, "objectives": ["accuracy",
                                                                                 "mflops"]},
                                       "data": "cifar10", "progress": False,
                                       "out_dir": "/tmp/my run", "rank": {"archs": None}}) == [
        "seed=1", "search.n_trials=8", "search.objectives=[accuracy,mflops]", "data=cifar10",
        "progress=false", "out_dir='/tmp/my run'", "rank.archs=null"]


def test_python_api_refuses_with_the_command_lines_sentence(tmp_path):
    with pytest.raises(UserError, match="unknown option 'search.n_trial' for mlpnas search; "
                                        "did you mean search.n_trials"):
        mlpnas.search("tiny", search={"n_trial": 3}, out_dir=str(tmp_path / "x"))
    with pytest.raises(UserError, match="unknown search space 'nope'"):
        mlpnas.search("nope")
    with pytest.raises(UserError, match="is not a search run folder"):
        mlpnas.export(tmp_path)
    assert not (tmp_path / "x").exists()


def test_export_and_rank_from_python(tiny_search_run, tmp_path):
    result = mlpnas.export(tiny_search_run, export={"out_dir": str(tmp_path / "e"),
                                                    "measure_latency": False})
    assert [p.parent for p in result.folders] == [tmp_path / "e"] * len(result.folders)
    assert result.load(0)(__import__("torch").randn(1, 3, 16, 16)).shape == (1, 10)
    # a rank call that trains no job yet: its result says it is not complete
    partial = mlpnas.rank(tiny_search_run, rank={"n_archs": 5, "seeds": 1, "epochs": 1,
                                                 "max_jobs": 1, "wait": False,
                                                 "work_dir": str(tmp_path / "w"),
                                                 "out_dir": str(tmp_path / "r")},
                          progress=False)
    assert not partial.complete and partial.out_dir == tmp_path / "r"
