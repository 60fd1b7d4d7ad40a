"""The search's define-by-run encoding of an architecture, and its objective: costs, budget
constraints, the cache of evaluated architectures."""

import optuna
import pytest

from mlpnas.cost import CostModel, flops_table
from mlpnas.search import Objective, arch_params, suggest_arch, trials_frame
from mlpnas.space import load_space


def test_enqueued_params_reproduce_the_architecture():
    space = load_space("all_mixers")
    study = optuna.create_study(directions=["maximize", "minimize"])
    archs = [space.sample(s) for s in range(5)]
    for a in archs:
        study.enqueue_trial(arch_params(a))
    seen = []
    study.optimize(lambda t: (seen.append(suggest_arch(t, space)) or 0.0, 0.0), n_trials=5)
    assert seen == archs


def test_blocks_beyond_the_depth_are_not_suggested():
    space = load_space("cycle_vs_shift")
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: (suggest_arch(t, space), (0.0, 0.0))[1], n_trials=30)
    for t in study.trials:
        for i in range(4):
            assert (f"s{i}.b1" in t.params) == (t.params[f"s{i}.depth"] == 2)


def test_objective_sets_constraints_and_caches():
    space = load_space("tiny")
    costs = CostModel(flops_table(space, 10, None))
    calls = []

    def evaluate(arch):
        calls.append(arch.key)
        return 0.5

    limit = costs.cost(space.smallest(), "mflops") + 0.01
    obj = Objective(space, costs, evaluate, ["accuracy", "mflops"], {"mflops": limit})
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(1))
    arch = space.largest()
    study.enqueue_trial(arch_params(arch))
    study.enqueue_trial(arch_params(arch))
    study.optimize(obj, n_trials=2)
    t0, t1 = study.trials
    assert t0.user_attrs["arch"] == arch.key and t0.values[1] == pytest.approx(
        costs.cost(arch, "mflops"))
    assert t0.constraints["mflops"] > 0  # over the budget: infeasible
    assert calls == [arch.key]  # the second trial of the same architecture used the cache
    frame = trials_frame(study, "random")
    assert list(frame["feasible"]) == [False, False]
