"""What a search reports: the Pareto front and hypervolume of its trials, and the model
card's latency line."""

import pandas as pd
import pytest

from mlpnas.search import hv_reference, hypervolume, pareto_mask
from mlpnas.space import load_space


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


def test_model_card_latency_line_names_the_threads_in_effect():
    from types import SimpleNamespace

    import torch

    from mlpnas.cost import LatencySetting
    from mlpnas.tasks.search_report import export_infos

    space = load_space("tiny")
    rows = pd.DataFrame([{"arch": space.smallest().key, "accuracy": 0.5, "mflops": 0.1,
                          "latency_ms_measured": 0.2}])
    data = SimpleNamespace(name="synthetic", holdout=[0] * 4, preprocessing={})
    infos = export_infos(rows, space, data, LatencySetting(threads=None), "supernet")
    line = infos[space.smallest().key]["metrics"]["latency_setting"]
    assert line.endswith(f", batch 1, fp32, {torch.get_num_threads()} threads")


def test_the_summary_of_a_resumed_run_adds_the_time_of_all_its_sessions():
    from mlpnas.tasks.search_report import with_all_sessions

    text = "== head ==\ntime: supernet 0 s, ...; total 4 s\nresults: ..."
    one = {"supernet_s": 30.0, "studies": {"nsga2": {"seconds": 9.0}}, "total_s": 40.0}
    two = {"supernet_s": 0.0, "studies": {"nsga2": {"seconds": 1.0}}, "total_s": 4.0}
    assert with_all_sessions(text, [two]) == text
    assert with_all_sessions(text, [one, two]).splitlines() == [
        "== head ==", "time: supernet 0 s, ...; total 4 s",
        "time of all 2 sessions of this run (this one above): supernet 30 s, studies 10 s, "
        "total 44 s", "results: ..."]
