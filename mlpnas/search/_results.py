"""A study's results as tables: every trial, the Pareto-optimal feasible subset, hypervolume."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from ..cost import COST_NAMES
from ..errors import UserError
from ._runfolder import AXIS, objective_directions

SPAN = "accuracy_span"  # in a hypervolume reference: the accuracy axis' unit

COLUMNS = ["number", "sampler", "arch", "accuracy", *COST_NAMES,
           "feasible", "violation", "seed", "depths", "families", "state"]


def trials_frame(study: optuna.Study, sampler: str) -> pd.DataFrame:
    """One row per complete trial: architecture key, objectives, feasibility, per-stage
    mixer summary ('c3 s5 | c7 | ...': family letter and kernel of every block)."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        ua = t.user_attrs
        # the objective records it (Optuna's constraints also hold the list optuna-dashboard
        # reads, the same values again); trials of earlier versions have the named ones only
        violation = ua.get("violation", sum(max(v, 0.0) for v in t.constraints.values()))
        key = ua.get("arch", "")
        rows.append({
            "number": t.number, "sampler": sampler, "arch": key,
            "accuracy": ua.get("accuracy"), **{c: ua.get(c) for c in COST_NAMES},
            "feasible": violation <= 0, "violation": violation, "seed": ua.get("seed", ""),
            "depths": "-".join(str(len(s.split("-"))) for s in key.split("_")) if key else "",
            "families": ua.get("families", ""), "state": t.state.name,
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Non-dominated rows of `values` (n, m) for the given directions."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    loss = values * signs
    mask = np.ones(len(loss), dtype=bool)
    for i in range(len(loss)):
        dominated = np.all(loss <= loss[i], axis=1) & np.any(loss < loss[i], axis=1)
        mask[i] = not dominated.any()
    return mask


def pareto_frame(frame: pd.DataFrame, objectives: Sequence[str],
                 axis_direction: str = "maximize") -> pd.DataFrame:
    """Pareto-optimal feasible trials, one per architecture, sorted by the first cost."""
    feasible = frame[frame["feasible"].astype(bool)].drop_duplicates("arch")
    if feasible.empty:
        return feasible
    values = feasible[list(objectives)].to_numpy(dtype=float)
    front = feasible[pareto_mask(values, objective_directions(objectives, axis_direction))]
    cost = next(o for o in objectives if o != "accuracy")
    return front.sort_values(cost).reset_index(drop=True)


def hv_reference(frames: Sequence[pd.DataFrame], objectives: Sequence[str],
                 cost_scales: Mapping[str, float], axis_direction: str = "maximize"
                 ) -> dict[str, float]:
    """The hypervolume reference point shared by the studies of a run: the worst accuracy
    axis value of any feasible trial of any of them, and for every cost its scale (the
    space's largest value of that cost, or the budget when one is set)."""
    accs = [f.loc[f["feasible"].astype(bool), AXIS] for f in frames]
    accs = pd.concat(accs) if accs else pd.Series(dtype=float)
    worst = accs.max() if axis_direction == "minimize" else accs.min()
    span = float(accs.max() - accs.min()) if len(accs) else 0.0
    # the axis is measured in units of its span, as every cost in units of its scale
    ref = {AXIS: float(worst) if len(accs) else 0.0, SPAN: span if span > 0 else 1.0}
    ref.update({o: float(cost_scales[o]) for o in objectives if o != "accuracy"})
    return ref


def normalised_losses(frame: pd.DataFrame, objectives: Sequence[str],
                      reference: Mapping[str, float], axis_direction: str = "maximize"
                      ) -> np.ndarray:
    """Objectives as losses whose reference point is (0, 1, ..., 1): how far the accuracy
    axis is better than the reference (negative), and every cost divided by its reference
    value."""
    cols = []
    sign = -1.0 if axis_direction == "minimize" else 1.0
    for o in objectives:
        v = frame[o].to_numpy(dtype=float)
        cols.append(sign * (reference[AXIS] - v) / reference.get(SPAN, 1.0) if o == AXIS
                    else v / reference[o])
    return np.stack(cols, axis=1)


def _compute_hypervolume(loss: np.ndarray, ref: np.ndarray) -> float:
    """Optuna's hypervolume routine (WFG), which it keeps in a private module; the one place
    that imports it, so that an Optuna without it fails with one clear sentence."""
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError:
        raise UserError(f"Optuna {optuna.__version__} has no optuna._hypervolume."
                        f"compute_hypervolume; install a supported version with "
                        f"pip install 'optuna>=5.0,<6'.") from None
    return float(compute_hypervolume(loss, ref))


def _ref_point(objectives: Sequence[str]) -> np.ndarray:
    return np.array([0.0 if o == AXIS else 1.0 for o in objectives])


def hypervolume(frame: pd.DataFrame, objectives: Sequence[str],
                reference: Mapping[str, float], axis_direction: str = "maximize") -> float:
    """Hypervolume of the feasible trials against `reference` (see `hv_reference`): the
    volume between the front and the point (lowest accuracy, largest costs), costs measured
    in units of their reference value."""
    feasible = frame[frame["feasible"].astype(bool)]
    if feasible.empty:
        return 0.0
    loss = normalised_losses(feasible, objectives, reference, axis_direction)
    ref = _ref_point(objectives)
    loss = loss[np.all(loss < ref, axis=1)]
    if len(loss) == 0:
        return 0.0
    return _compute_hypervolume(loss, ref)


def hypervolume_history(frame: pd.DataFrame, objectives: Sequence[str],
                        reference: Mapping[str, float], axis_direction: str = "maximize"
                        ) -> list[float]:
    """Hypervolume after each trial, in trial order."""
    ordered = frame.sort_values("number")
    return [hypervolume(ordered.iloc[: i + 1], objectives, reference, axis_direction)
            for i in range(len(ordered))]
