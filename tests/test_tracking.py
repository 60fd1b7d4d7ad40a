"""Where TensorBoard, MLflow / W&B and optuna-dashboard users look: training and search
curves in TensorBoard, Optuna callbacks named in the configuration, plots and exports
attached to the study (optuna.artifacts), and feasibility in the form each tool reads. The
shared tiny run of conftest.py was made with `log.tensorboard=true` and the callback
`helpers.RecordedTrials`."""

import re

import optuna
import pytest
from helpers import SMALL_SEARCH, RecordedTrials, run_task

from mlpnas.errors import UserError


def _studies(run):
    storage = f"sqlite:///{run / 'study.db'}"
    return {s.study_name.rsplit("-", 1)[1]: optuna.load_study(study_name=s.study_name,
                                                               storage=storage)
            for s in optuna.get_all_study_summaries(storage)}


def test_training_and_search_curves_go_to_tensorboard(tiny_search_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tiny_search_run / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    nsga2 = _studies(tiny_search_run)["nsga2"]
    score = nsga2.metric_names[0]  # the objectives by the study's names: the score, the cost
    assert score == "supernet_acc"
    assert {"supernet/loss_largest", "supernet/lr", "supernet/val_acc_largest",
            f"search_nsga2/{score}", "search_nsga2/mflops", "search_nsga2/feasible",
            f"search_random/{score}", f"search_nsga2/best_feasible_{score}"} <= tags
    logged = {e.step: e.value for e in events.Scalars(f"search_nsga2/{score}")}
    assert logged == pytest.approx({t.number: t.values[0] for t in nsga2.trials})
    assert "summary/text_summary" in events.Tags()["tensors"]


def test_callbacks_named_in_the_configuration_see_every_trial(tiny_search_run):
    studies = _studies(tiny_search_run)
    expected = {(s.study_name, t.number) for s in studies.values() for t in s.trials}
    assert expected <= set(RecordedTrials.seen) and len(expected) == 24


def test_feasibility_reaches_optuna_dashboard_and_user_attributes(tiny_search_run):
    """The budget is 0.15 MFLOPs: over-budget trials say so in their user attributes and in
    the constraint list optuna-dashboard reads, so its front holds feasible trials only."""
    nsga2 = _studies(tiny_search_run)["nsga2"]
    over = [t for t in nsga2.trials if t.user_attrs["mflops"] > 0.15]
    assert over  # the run has infeasible trials
    for t in nsga2.trials:
        excess = t.user_attrs["mflops"] - 0.15
        assert t.user_attrs["feasible"] == (excess <= 0)
        assert t.user_attrs["violation"] == pytest.approx(max(excess, 0.0))
        assert t.system_attrs["constraints"] == pytest.approx([excess])
    assert all(t.user_attrs["feasible"] for t in nsga2.best_trials)


def test_plots_tables_and_exports_are_attached_to_the_study(tiny_search_run):
    import pandas as pd

    nsga2 = _studies(tiny_search_run)["nsga2"]
    names = {m.filename for m in optuna.artifacts.get_all_artifact_meta(nsga2)}
    assert {"pareto_mflops.png", "hypervolume.png", "trials.csv", "pareto.csv",
            "summary.txt"} <= names
    store = optuna.artifacts.FileSystemArtifactStore(str(tiny_search_run / "artifacts"))
    trials = pd.read_csv(tiny_search_run / "trials.csv")
    for key in pd.read_csv(tiny_search_run / "pareto.csv")["arch"]:
        number = trials[(trials["arch"] == key) & (trials["sampler"] == "nsga2")]["number"].min()
        for f in ("arch.json", "README.md", "config.json", "model.safetensors"):
            name = f"trial{number}-{key}-{f}"
            (meta,) = [m for m in optuna.artifacts.get_all_artifact_meta(nsga2)
                       if m.filename == name]
            with store.open_reader(meta.artifact_id) as fh:
                assert fh.read() == (tiny_search_run / "exported" / key / f).read_bytes()


@pytest.mark.parametrize("callbacks,message", [
    ("[no_such_package.Callback]", "search.callbacks cannot make 'no_such_package.Callback' "
                                   "(No module named 'no_such_package'); install the package"),
    ("[{lr: 1}]", "search.callbacks entry {'lr': 1} names no class"),
])
def test_a_callback_that_cannot_be_made_is_refused_before_any_training(tmp_path, callbacks,
                                                                      message):
    with pytest.raises(UserError, match=re.escape(message)):
        run_task("search", ["+space=tiny", *SMALL_SEARCH, f"search.callbacks={callbacks}",
                            f"out_dir={tmp_path / 's'}", f"supernet_dir={tmp_path / 'n'}",
                            f"cache_dir={tmp_path / 'c'}"])
    assert not (tmp_path / "n").exists() and not (tmp_path / "s").exists()
