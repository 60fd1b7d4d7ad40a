"""Plots reproduced from a search run's stored files: those of the shared finished (tiny)
search run of conftest.py, and the measured-latency Pareto plot."""

import json

import pandas as pd
import pytest
from helpers import run_task

from mlpnas.errors import UserError
from mlpnas.plots import (
    MEASURED_LATENCY_PLOT,
    choice_info,
    hypervolume_info,
    load_results,
    measured_latency_info,
    pareto_info,
    plot_run,
)
from mlpnas.search._results import COLUMNS

ARCHS = ["c3r1_c3r1", "s3r1_c3r1", "c5r2_h2.0r1", "p2r2-p4r2_s3r2"]


def _run_folder(path, measured=True):
    """A search run folder as `mlpnas search` leaves it: trials.csv, pareto.csv, run.json."""
    rows = []
    for i, (arch, acc, mflops) in enumerate(zip(ARCHS, [0.5, 0.6, 0.7, 0.65],
                                                [1.0, 2.0, 3.0, 4.0])):
        rows.append({"number": i, "sampler": "nsga2", "arch": arch, "accuracy": acc,
                     "mflops": mflops, "params_m": 0.01 * (i + 1), "latency_ms": None,
                     "feasible": True, "violation": 0.0, "seed": "all-cycle" if i == 0 else "",
                     "depths": "1-1", "families": "", "state": "COMPLETE"})
    trials = pd.DataFrame(rows, columns=COLUMNS)
    trials.to_csv(path / "trials.csv", index=False)
    pareto = trials.iloc[:3].copy()  # the fourth is dominated in (accuracy, mflops)
    if measured:  # the second is slower when measured than the third: off the latency front
        pareto["latency_ms_measured"] = [0.20, 0.50, 0.40]
    pareto.to_csv(path / "pareto.csv", index=False)
    run = {"space": "tiny", "scale": "small", "data": "synthetic", "sampler": "nsga2",
           "objectives": ["accuracy", "mflops"], "budgets": {},
           "hv_reference": {"accuracy": 0.4, "mflops": 5.0},
           "latency_setting": {"device": "cpu", "device_name": "Some CPU", "batch_size": 1,
                               "dtype": "fp32", "threads": 3}}
    (path / "run.json").write_text(json.dumps(run))
    return path


def test_measured_latency_info_orders_points_and_finds_their_front(tmp_path):
    info = measured_latency_info(load_results(_run_folder(tmp_path)))
    assert [(p.x, p.y, p.arch) for p in info.points] == [
        (0.20, 0.5, ARCHS[0]), (0.40, 0.7, ARCHS[2]), (0.50, 0.6, ARCHS[1])]
    assert [p.arch for p in info.front] == [ARCHS[0], ARCHS[2]]
    assert info.points[0].label == "all-cycle" and info.points[1].label == ""
    assert info.predicted == [None, None, None]  # latency was not a cost of this run
    assert info.setting == "Some CPU, batch 1, fp32, 3 threads"


def test_measured_latency_plot_is_written_only_when_measurements_exist(tmp_path):
    (tmp_path / "a").mkdir()
    with_lat = _run_folder(tmp_path / "a")
    written = plot_run(with_lat)
    assert with_lat / MEASURED_LATENCY_PLOT in written
    assert (with_lat / MEASURED_LATENCY_PLOT).stat().st_size > 0
    numbers = json.loads((with_lat / "plot_numbers.json").read_text())
    assert [p[0] for p in numbers["measured_latency"]["front"]] == [0.20, 0.40]

    (tmp_path / "b").mkdir()
    without = _run_folder(tmp_path / "b", measured=False)
    written = plot_run(without)
    assert not (without / MEASURED_LATENCY_PLOT).exists()
    assert (without / "pareto_mflops.png") in written
    with pytest.raises(UserError, match="no measured latencies"):
        measured_latency_info(load_results(without))


def test_mlpnas_plot_loads_no_torch(tmp_path):
    """Redrawing a run's plots reads CSV and JSON files: no torch, timm or torchvision."""
    import subprocess
    import sys

    run = _run_folder(tmp_path)
    code = ("import sys; from mlpnas.cli import main; "
            f"main(['plot', {str(run)!r}]); "
            "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
    assert (run / "pareto_mflops.png").stat().st_size > 0


def test_plots_from_stored_results_only(tiny_search_run, tmp_path):
    """The run's numbers (budget line, feasible front, infeasible trials, seeds, random front,
    hypervolume per trial, mixer choices), and `mlpnas plot` drawing the same numbers twice."""
    results = load_results(tiny_search_run)
    info = pareto_info(results, "mflops")
    assert info.budget == 0.15
    assert all(p.x <= 0.15 for p in info.front)
    assert all(p.x > 0.15 for p in info.infeasible)
    xs = [p.x for p in info.front]
    assert xs == sorted(xs)
    assert {p.label for p in info.seeds} == {"all-cycle", "all-shift", "all-hire", "all-permute"}
    assert info.random_front
    hv = hypervolume_info(results)
    assert len(hv.sampler_hv) == 12 and hv.sampler_hv == sorted(hv.sampler_hv)
    ch = choice_info(results)
    assert ch.n_archs == len(info.front) and len(ch.stages) == 2
    run_task("plot", [tiny_search_run, f"out_dir={tmp_path}"])  # no UserError: exit 0
    first = (tmp_path / "plot_numbers.json").read_text()
    run_task("plot", [tiny_search_run, f"out_dir={tmp_path}"])
    assert (tmp_path / "plot_numbers.json").read_text() == first  # same numbers twice
    for f in ("pareto_mflops.png", "hypervolume.png", "pareto_choices.png"):
        assert (tmp_path / f).stat().st_size > 10_000
    assert plot_run(tiny_search_run, tmp_path / "again")
