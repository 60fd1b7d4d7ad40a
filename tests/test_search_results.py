"""What a search reports: the Pareto front and hypervolume of its trials, and the model
card's latency line."""

import pandas as pd
import pytest

from mlpnas.search import hv_reference, hypervolume, pareto_frame, pareto_mask
from mlpnas.space import load_space


def test_pareto_and_hypervolume():
    vals = pd.DataFrame({"accuracy": [0.9, 0.8, 0.85, 0.7], "mflops": [10.0, 5.0, 10.0, 6.0],
                         "feasible": [True] * 4})
    assert pareto_mask(vals[["accuracy", "mflops"]].to_numpy(), ["maximize", "minimize"]) \
        .tolist() == [True, True, False, False]
    ref = hv_reference([vals], ["accuracy", "mflops"], {"mflops": 20.0})
    assert ref == pytest.approx({"accuracy": 0.7, "accuracy_span": 0.2, "mflops": 20.0})
    # the axis in units of its span (0.9 - 0.7), costs in units of their scale:
    # one point (acc 0.9, cost 10 of 20): box of (0.9 - 0.7) / 0.2 x (1 - 0.5)
    one = vals.iloc[:1]
    assert hypervolume(one, ["accuracy", "mflops"], ref) == pytest.approx(0.5)
    # adding a point inside the dominated region changes nothing
    assert hypervolume(vals.iloc[[0, 2]], ["accuracy", "mflops"], ref) == pytest.approx(0.5)
    # (0.8, 5/20) adds (0.8 - 0.7) / 0.2 x (0.5 - 0.25)
    assert hypervolume(vals, ["accuracy", "mflops"], ref) == pytest.approx(0.5 + 0.125)


def test_pareto_and_hypervolume_of_an_axis_where_lower_is_better():
    """A loss-like score (supernet_loss): the same geometry with the axis mirrored."""
    vals = pd.DataFrame({"arch": list("abcd"), "accuracy": [0.1, 0.2, 0.15, 0.3],
                         "mflops": [10.0, 5.0, 10.0, 6.0],
                         "feasible": [True] * 4})
    assert list(pareto_frame(vals, ["accuracy", "mflops"], "minimize")["accuracy"]) == \
        [0.2, 0.1]
    ref = hv_reference([vals], ["accuracy", "mflops"], {"mflops": 20.0}, "minimize")
    assert ref == pytest.approx({"accuracy": 0.3, "accuracy_span": 0.2, "mflops": 20.0})
    assert hypervolume(vals, ["accuracy", "mflops"], ref, "minimize") == \
        pytest.approx(0.5 + 0.125)


def test_model_card_latency_line_names_the_threads_in_effect():
    from types import SimpleNamespace

    import torch
    from helpers import latency_setting

    from mlpnas.tasks.search_report import export_infos

    space = load_space("tiny")
    from mlpnas.score import parse_score
    from mlpnas.tasks._scoring import AxisSetting

    rows = pd.DataFrame([{"arch": space.smallest().key, "accuracy": 0.5, "mflops": 0.1,
                          "latency_ms_measured": 0.2}])
    data = SimpleNamespace(name="synthetic", holdout=[0] * 4, preprocessing={})
    axis = AxisSetting(parse_score("supernet_acc"), True, None, 32, None)
    infos = export_infos(rows, space, data, latency_setting(threads=None), "supernet", axis)
    line = infos[space.smallest().key]["metrics"]["latency_setting"]
    assert line.endswith(f", batch 1, fp32, {torch.get_num_threads()} threads")
