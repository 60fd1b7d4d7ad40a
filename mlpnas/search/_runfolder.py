"""The files of a search run folder, in one place: their names, writing the result tables,
and reading them back (torch-free, so that `mlpnas plot` and readers of results need no
model code).

In memory the accuracy axis of a search is the objective `accuracy`, whatever score gives
it; in `trials.csv` and `pareto.csv` its column is named after the score (`naswot`,
`supernet_acc`, `naswot+mflops`, `predictor`), and `run.json` records the score (its key,
label and direction). A run written before scores existed has an `accuracy` column and no
score record: it reads as the supernet's holdout accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .._io import atomic_target, write_json_atomic
from ..cost import COST_NAMES
from ..errors import UserError

TRIALS_FILE = "trials.csv"
PARETO_FILE = "pareto.csv"
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.txt"
CONFIG_FILE = "config.yaml"
EXPORT_DIR = "exported"
REFERENCE_FILE = "score_reference.json"
RANKING_CSV, RANKING_JSON, RANKING_PNG = "ranking.csv", "ranking.json", "ranking.png"
AXIS = "accuracy"  # the accuracy axis' objective name in memory

LEGACY_SCORE = {"key": AXIS, "members": ["supernet_acc"],
                "label": "holdout accuracy with inherited weights", "direction": "maximize"}
_NUMERIC = (*COST_NAMES, "violation")


def score_record(run: dict) -> dict:
    """The score of a run's accuracy axis (its key, members, label and direction)."""
    return dict(run.get("score") or LEGACY_SCORE)


class RunResults(NamedTuple):
    trials: pd.DataFrame
    run: dict
    pareto: pd.DataFrame | None = None   # pareto.csv (with measured latencies), if written

    @property
    def objectives(self) -> list[str]:
        return list(self.run["objectives"])

    @property
    def sampler(self) -> str:
        return self.run["sampler"]

    @property
    def score(self) -> dict:
        return score_record(self.run)

    @property
    def axis_direction(self) -> str:
        return self.score["direction"]


# columns the tables have besides the axis: a score named like one (the MFLOPs baseline)
# gets a `score_` prefix
_TAKEN = {"number", "sampler", "arch", *COST_NAMES, "feasible", "violation", "seed",
          "depths", "families", "state", "latency_ms_measured"}


def axis_column(key: str) -> str:
    """The column of the accuracy axis in trials.csv / pareto.csv for a score `key`."""
    return f"score_{key}" if key in _TAKEN else key


def _to_file(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    col = axis_column(key)
    return frame.rename(columns={AXIS: col}) if col != AXIS else frame


def _from_file(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    col = axis_column(key)
    return frame.rename(columns={col: AXIS}) if col != AXIS else frame


def write_table(out: Path, name: str, frame: pd.DataFrame, score_key: str) -> None:
    """trials.csv / pareto.csv, written atomically, the axis column named `score_key`."""
    with atomic_target(Path(out) / name) as tmp:
        _to_file(frame, score_key).to_csv(tmp, index=False)


def write_run(out: Path, run: dict) -> None:
    write_json_atomic(Path(out) / RUN_FILE, run)


def read_run(run_dir: Path) -> dict:
    path = Path(run_dir) / RUN_FILE
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"'{path}' cannot be read ({e}); run the search again to rewrite "
                        f"it.") from None
    if not isinstance(run, dict):
        raise UserError(f"'{path}' is not a run record; run the search again to rewrite it.")
    return run


def earlier_sessions(out: Path) -> list[dict]:
    """The timing records of earlier invocations of a run (resumed studies)."""
    try:
        return list(read_run(out).get("sessions", []))
    except UserError:
        return []


def load_results(run_dir: str | Path) -> RunResults:
    """trials.csv, run.json and pareto.csv of a search run folder."""
    d = Path(run_dir)
    if not (d / TRIALS_FILE).is_file() or not (d / RUN_FILE).is_file():
        raise UserError(f"'{d}' is not a search run folder (it has no {TRIALS_FILE} and "
                        f"{RUN_FILE}); give the folder `mlpnas search` printed at its start.")
    run = read_run(d)
    key = score_record(run)["key"]
    numeric = {c: [""] for c in (axis_column(key), *_NUMERIC)}
    try:
        trials = _from_file(pd.read_csv(d / TRIALS_FILE, keep_default_na=False,
                                        na_values=numeric), key)
    except (ValueError, OSError) as e:
        raise UserError(f"'{d / TRIALS_FILE}' cannot be read ({e}); run the search again to "
                        f"rewrite it.") from None
    try:
        pareto = _from_file(pd.read_csv(d / PARETO_FILE), key)
    except (FileNotFoundError, pd.errors.EmptyDataError):  # not written, or written empty
        pareto = None
    return RunResults(trials, run, pareto)


def objective_directions(objectives: Sequence[str], axis_direction: str = "maximize"
                         ) -> list[str]:
    """Optuna's direction of each objective: the accuracy axis as its score says, costs
    minimised."""
    from ._objective import DIRECTIONS

    return [axis_direction if o == AXIS else DIRECTIONS[o] for o in objectives]
