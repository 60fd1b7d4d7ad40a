"""One trial = one architecture, sampled define-by-run, priced by the cost model, scored by an
evaluator; budgets go through Optuna's constraint mechanism (`Trial.set_constraint`)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna

from ..cost import BUDGET_OPTIONS, COST_NAMES, COST_TABLE
from ..errors import UserError
from ..space import Arch, BlockChoice, Space

if TYPE_CHECKING:
    from ..cost import CostModel

DIRECTIONS = {"accuracy": "maximize", **{c.name: c.direction for c in COST_TABLE.values()}}
BUDGETS = dict(BUDGET_OPTIONS)  # search.<option> -> cost name
BUDGET_OPTION = {c.name: c.budget_option for c in COST_TABLE.values()}
UNITS = {c.name: c.unit for c in COST_TABLE.values()}


WORKER_ATTR = "mlpnas_worker"  # "host:pid" of the process evaluating a trial


def worker_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def suggest_arch(trial: optuna.Trial, space: Space) -> Arch:
    """Define-by-run: per stage the depth, then one choice per block of that depth (family,
    option values and MLP ratio in one categorical whose values are block keys like `c5r4`).
    Blocks beyond the sampled depth are never suggested."""
    stages = []
    for i, st in enumerate(space.stages):
        depth = trial.suggest_categorical(f"s{i}.depth", list(st.depths))
        tokens = [b.token for b in st.block_choices]
        stages.append(tuple(BlockChoice.from_token(trial.suggest_categorical(f"s{i}.b{j}", tokens))
                            for j in range(depth)))
    return Arch(tuple(stages))


def arch_params(arch: Arch) -> dict[str, Any]:
    """The trial parameters that make `suggest_arch` return `arch` (for `enqueue_trial`)."""
    params: dict[str, Any] = {}
    for i, blocks in enumerate(arch.stages):
        params[f"s{i}.depth"] = len(blocks)
        for j, b in enumerate(blocks):
            params[f"s{i}.b{j}"] = b.token
    return params


def family_summary(arch: Arch) -> str:
    """Per stage, the blocks' family letter and kernel option, e.g. 'c3 s5 | c7 | ...'."""
    return " | ".join(" ".join(b.token.split("r")[0] for b in st) for st in arch.stages)


def check_objectives(objectives: Sequence[str]) -> list[str]:
    objectives = list(objectives)
    unknown = [o for o in objectives if o not in DIRECTIONS]
    if unknown:
        raise UserError(f"unknown objective '{unknown[0]}' in search.objectives; use "
                        f"accuracy and any of {', '.join(COST_NAMES)}.")
    if "accuracy" not in objectives or len(objectives) < 2:
        raise UserError(f"search.objectives must hold accuracy and at least one cost "
                        f"({', '.join(COST_NAMES[:-1])} or {COST_NAMES[-1]}).")
    return objectives


def active_budgets(search_cfg: Mapping[str, Any]) -> dict[str, float]:
    """{cost name: limit} for the budgets set in the search config."""
    out = {}
    for key, name in BUDGETS.items():
        value = search_cfg.get(key)
        if value is None:
            continue
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise UserError(f"search.{key}={value} is not a number; give a number of "
                            f"{UNITS[name]} or null for no budget.") from None
    return out


def budget_suffix(budgets: Mapping[str, float]) -> str:
    """The budgets in a run folder or study name, e.g. '-max_mflops14-max_latency_ms2.5'
    ('' without budgets), so that a budgeted search never resumes an unbudgeted one."""
    return "".join(f"-{BUDGET_OPTION[name]}{limit:g}" for name, limit in budgets.items())


def check_budgets(space: Space, costs: CostModel, budgets: Mapping[str, float]) -> None:
    """Refuse budgets that no architecture of the space meets: one below the cheapest
    architecture for its cost, naming that value; and several that each some architecture
    meets but none meets all together (checked exactly over the space, see
    `CostModel.frontier`), naming the best value of one cost within the others."""
    for name, limit in budgets.items():
        smallest, _ = costs.extreme(space, name)
        if limit < smallest:
            raise UserError(
                f"search.{BUDGET_OPTION[name]}={limit:g} is below the smallest architecture of "
                f"space '{space.name}' ({smallest:.4g} {UNITS[name]}); raise it to at least "
                f"that.")
    if len(budgets) < 2:
        return
    names = list(budgets)
    front = costs.frontier(space, names)
    if any(all(v <= budgets[n] for v, n in zip(values, names)) for values, _ in front):
        return
    given = " and ".join(f"search.{BUDGET_OPTION[n]}={budgets[n]:g}" for n in names)
    for j, name in enumerate(names):  # the best value of one cost within the other budgets
        within = [values[j] for values, _ in front
                  if all(v <= budgets[n] for k, (v, n) in enumerate(zip(values, names))
                         if k != j)]
        if within:
            others = " and ".join(f"{BUDGET_OPTION[n]}={budgets[n]:g}" for n in names if n != name)
            raise UserError(
                f"{given} cannot be met together by any architecture of space "
                f"'{space.name}': the smallest within {others} has {min(within):.4g} "
                f"{UNITS[name]}; raise search.{BUDGET_OPTION[name]} to at least that or loosen "
                f"the others.")
    raise UserError(f"{given} cannot be met together by any architecture of space "
                    f"'{space.name}'; loosen some of them.")


def set_budget_constraints(trial: optuna.Trial, over: Mapping[str, float]) -> None:
    """Each budget as an Optuna constraint (`cost - budget`, feasible when <= 0), and, for the
    tools that look elsewhere, the user attributes `feasible` and `violation` (how far over
    all budgets together) and the same values as Optuna's older constraint list, which
    optuna-dashboard reads to mark infeasible trials and leave them off its Pareto front."""
    for name, value in over.items():
        trial.set_constraint(name, value)
    violation = sum(max(v, 0.0) for v in over.values())
    trial.set_user_attr("feasible", violation <= 0)
    trial.set_user_attr("violation", violation)
    trial_id = getattr(trial, "_trial_id", None)  # no public setter for system attributes
    if over and trial_id is not None:
        trial.storage.set_trial_system_attr(trial_id, DASHBOARD_CONSTRAINTS,
                                            [float(v) for v in over.values()])


DASHBOARD_CONSTRAINTS = "constraints"  # the system attribute optuna-dashboard reads


class Objective:
    def __init__(self, space: Space, costs: CostModel, evaluate: Callable[[Arch], float],
                 objectives: Sequence[str], budgets: Mapping[str, float],
                 cache: dict[str, float] | None = None):
        self.space = space
        self.costs = costs
        self.evaluate = evaluate
        self.objectives = check_objectives(objectives)
        self.budgets = dict(budgets)
        self.cache = cache if cache is not None else {}
        self.cost_seconds = 0.0
        self.cache_hits = 0

    def __call__(self, trial: optuna.Trial) -> list[float]:
        trial.set_user_attr(WORKER_ATTR, worker_tag())  # a dead local worker's trial is failed
        arch = suggest_arch(trial, self.space)
        t = time.perf_counter()
        costs = self.costs.costs(arch)
        self.cost_seconds += time.perf_counter() - t
        set_budget_constraints(trial, {n: costs[n] - limit for n, limit in self.budgets.items()})
        if arch.key in self.cache:
            acc = self.cache[arch.key]
            self.cache_hits += 1
        else:
            acc = float(self.evaluate(arch))
            self.cache[arch.key] = acc
        trial.set_user_attr("arch", arch.key)
        trial.set_user_attr("accuracy", acc)
        for name, value in costs.items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("families", family_summary(arch))
        values = {"accuracy": acc, **costs}
        return [values[o] for o in self.objectives]
