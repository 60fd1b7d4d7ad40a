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
import math
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
    except (OSError, ValueError, RecursionError) as e:
        raise damaged_file(path, f"not JSON: {type(e).__name__}") from None
    if not isinstance(run, dict):
        raise damaged_file(path, "not a JSON object")
    return run


def damaged_file(path: Path, why: str, verb: str = "search") -> UserError:
    """A result file that is damaged, or was not written by mlpnas (it may have come with a
    run folder from someone else), in one sentence."""
    return UserError(f"'{path}' is damaged or was not written by mlpnas ({why}); run the same "
                     f"`mlpnas {verb}` again to write it anew.")


def _check_run(run: dict, path: Path) -> None:
    """run.json as a search writes it: a sampler, known objectives with the accuracy axis
    among them, budgets on costs, numbers for the budgets and the reference point."""
    from ._objective import DIRECTIONS

    objectives = run.get("objectives")
    if not isinstance(run.get("sampler"), str) or not isinstance(objectives, list) \
            or AXIS not in objectives or len(objectives) < 2 \
            or not all(o == AXIS or o in DIRECTIONS for o in objectives):
        raise damaged_file(path, "no sampler, or no known objectives with accuracy among them")
    if not set(run.get("budgets") or {}) <= set(COST_NAMES):
        raise damaged_file(path, "a budget on something other than a cost")
    for key in ("budgets", "hv_reference"):
        numbers = run.get(key, {})
        if not isinstance(numbers, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in numbers.values()):
            raise damaged_file(path, f"its {key} are not numbers")
    if not set(objectives) <= set(run.get("hv_reference", {})):
        raise damaged_file(path, "no hypervolume reference point for every objective")


def read_table(path: Path, columns: Sequence[str], verb: str = "search", rename=None,
               **read) -> pd.DataFrame:
    """A CSV table mlpnas wrote: whole (mlpnas ends it with a newline; a cut file does not),
    with `columns` (after `rename`), numbers where numbers belong and True/False in
    `feasible`; anything else is one sentence."""
    try:
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raise damaged_file(path, "its last line is cut short", verb)
        frame = pd.read_csv(path, **read)
    except (OSError, ValueError, pd.errors.ParserError) as e:  # also EmptyData, Unicode
        raise damaged_file(path, f"not a CSV table: {type(e).__name__}", verb) from None
    frame = rename(frame) if rename else frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise damaged_file(path, f"no '{missing[0]}' column", verb)
    for c in ("number", AXIS, *COST_NAMES, "latency_ms_measured"):  # (no rows: no types)
        if c in frame.columns and len(frame) and not pd.api.types.is_numeric_dtype(frame[c]):
            raise damaged_file(path, f"its '{c}' column holds values that are not numbers",
                               verb)
    if "feasible" in frame.columns and len(frame) and frame["feasible"].dtype != bool:
        raise damaged_file(path, "its 'feasible' column holds values other than True and "
                                 "False", verb)
    return frame


def earlier_sessions(out: Path) -> list[dict]:
    """The timing records of earlier invocations of a run (resumed studies)."""
    try:
        return list(read_run(out).get("sessions", []))
    except UserError:
        return []


def load_results(run_dir: str | Path) -> RunResults:
    """trials.csv, run.json and (if written) pareto.csv of a search run folder, checked as
    files that may come from someone else: a damaged or foreign one is one sentence, never
    a table read in part."""
    d = Path(run_dir)
    if not (d / TRIALS_FILE).is_file() or not (d / RUN_FILE).is_file():
        raise UserError(f"'{d}' is not a search run folder (it has no {TRIALS_FILE} and "
                        f"{RUN_FILE}); give the folder `mlpnas search` printed at its start.")
    run = read_run(d)
    _check_run(run, d / RUN_FILE)
    key = score_record(run)["key"]
    costs = [o for o in run["objectives"] if o != AXIS]
    numeric = {c: [""] for c in (axis_column(key), *_NUMERIC)}
    trials = read_table(d / TRIALS_FILE, ("number", "sampler", "arch", AXIS, "feasible",
                                          *costs),
                        rename=lambda f: _from_file(f, key), keep_default_na=False,
                        na_values=numeric)
    pareto = None
    if (d / PARETO_FILE).is_file() and (d / PARETO_FILE).stat().st_size:
        pareto = read_table(d / PARETO_FILE, ("arch", AXIS, *costs),
                            rename=lambda f: _from_file(f, key))
    return RunResults(trials, run, pareto)


def objective_directions(objectives: Sequence[str], axis_direction: str = "maximize"
                         ) -> list[str]:
    """Optuna's direction of each objective: the accuracy axis as its score says, costs
    minimised."""
    from ._objective import DIRECTIONS

    return [axis_direction if o == AXIS else DIRECTIONS[o] for o in objectives]
