"""Meta kernels: the merged shift equals the weighted sum of the separate candidates, values
and gradients, for CycleFC and the axial shift, on odd, non-square maps."""

import numpy as np
import pytest
import torch

from mlpnas.mixers import (
    ElasticCycleMixer,
    ElasticShiftMixer,
    axial_groups,
    axial_shift,
    cycle_groups,
    group_shift,
    merged_shift,
)

SHAPES = [(2, 7, 5, 12), (1, 3, 9, 10), (2, 5, 3, 7)]  # odd, non-square; maps below 7 too


def _grads(out, *leaves):
    g = torch.randn_like(out, generator=torch.Generator().manual_seed(3))
    return torch.autograd.grad((out * g).sum(), leaves, retain_graph=True)


def _assert_same(merged, separate, *leaves):
    """Equal values, and equal gradients with respect to every leaf."""
    torch.testing.assert_close(merged, separate, rtol=0, atol=1e-12)
    for a, b in zip(_grads(merged, *leaves), _grads(separate, *leaves)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def _input_and_weights(shape):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(3, dtype=torch.float64, requires_grad=True)
    return x, logits, logits.softmax(0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("family", ["cycle", "shift"])
@pytest.mark.parametrize("axis", [1, 2])
def test_merged_shift_is_the_weighted_sum_of_the_shifts(shape, family, axis):
    torch.manual_seed(0)
    x, logits, weights = _input_and_weights(shape)
    groups = cycle_groups if family == "cycle" else axial_groups
    cands = tuple(groups(shape[-1], k) for k in (3, 5, 7))
    merged = merged_shift(x, axis, cands, weights)
    separate = sum(w * group_shift(x, axis, g) for w, g in zip(weights, cands))
    _assert_same(merged, separate, x, logits)


@pytest.mark.parametrize("shape", SHAPES)
def test_cyclefc_mixture_is_the_weighted_sum_of_the_cyclefcs(shape):
    """Both CycleFC branches of the mixer: W (sum_i a_i S_i) x + b = sum_i a_i (W S_i x + b)."""
    torch.manual_seed(1)
    C = shape[-1]
    mixer = ElasticCycleMixer(C, 7).double()
    x, logits, weights = _input_and_weights(shape)
    mixer.set_mixture([3, 5, 7], weights)
    merged = torch.stack(mixer.branches(x)[:2])
    parts = []
    for k in (3, 5, 7):
        mixer.set_active(k)
        parts.append(torch.stack(mixer.branches(x)[:2]))
    separate = sum(w * p for w, p in zip(weights, parts))
    _assert_same(merged, separate, x, logits, mixer.along_w.weight, mixer.along_h.bias)


@pytest.mark.parametrize("shape", SHAPES)
def test_shift_mixture_is_the_weighted_sum_before_the_shared_linears(shape):
    """fc_w((sum_i a_i S_i) t) = sum_i a_i fc_w(S_i t), the point before the GELU where the
    axial-shift candidates of AS-MLP still add up."""
    torch.manual_seed(2)
    C = shape[-1]
    mixer = ElasticShiftMixer(C, 7).double()
    t, logits, weights = _input_and_weights(shape)
    mixer.set_mixture([3, 5, 7], weights)
    merged = torch.stack([mixer.fc_w(mixer.shifted(t, 2)), mixer.fc_h(mixer.shifted(t, 1))])
    separate = sum(w * torch.stack([mixer.fc_w(axial_shift(t, s, 2)),
                                    mixer.fc_h(axial_shift(t, s, 1))])
                   for w, s in zip(weights, (3, 5, 7)))
    _assert_same(merged, separate, t, logits, mixer.fc_w.weight, mixer.fc_h.weight)


@pytest.mark.parametrize("cls,option", [(ElasticCycleMixer, 5), (ElasticShiftMixer, 5)])
def test_a_one_hot_mixture_runs_the_static_option(cls, option):
    """Weights (0, 1, 0) give the same mixer output as set_active(5), the whole mixer."""
    torch.manual_seed(4)
    mixer = cls(12, 7)
    x = torch.randn(2, 7, 5, 12)
    mixer.set_active(option)
    static = mixer(x)
    mixer.set_mixture([3, 5, 7], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(mixer(x), static, rtol=1e-5, atol=1e-6)
    mixer.set_active(option)
    assert mixer.mixture is None


def test_mixture_weights_of_the_wrong_length_are_refused():
    mixer = ElasticCycleMixer(8, 7)
    with pytest.raises(ValueError, match="3 kernel options need a weight vector"):
        mixer.set_mixture([3, 5, 7], torch.ones(2))
    with pytest.raises(ValueError, match="2 shift candidates need 2 weights"):
        merged_shift(torch.zeros(1, 3, 3, 8), 2, (cycle_groups(8, 3), cycle_groups(8, 5)),
                     torch.ones(3))


def test_the_merged_kernel_holds_at_most_one_tap_per_candidate_and_channel():
    """The meta kernel of K in {3, 5, 7} is 7 taps wide with <= 3 non-zero taps per channel,
    and its taps sum to the weights' sum (each candidate moves every channel once)."""
    from mlpnas.mixers._shift_op import merged_shift_kernel

    cands = tuple(cycle_groups(10, k) for k in (3, 5, 7))
    weights = torch.tensor([0.2, 0.3, 0.5])
    kernel = merged_shift_kernel(cands, weights, torch.float32, torch.device("cpu"))
    assert kernel.shape == (10, 7)
    assert int((kernel != 0).sum(1).max()) <= 3
    torch.testing.assert_close(kernel.sum(1), torch.ones(10))
    # channel 2 reads offset -1 under K = 3 (tap 2) and +2 under K = 5 and 7 (tap 5)
    torch.testing.assert_close(kernel[2], torch.tensor([0, 0, 0.2, 0, 0, 0.8, 0]))


# -- the meta-kernel search (search.strategy=metakernel) ----------------------------------------
import itertools  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from helpers import run_cli, run_task  # noqa: E402

from mlpnas.data import data_config  # noqa: E402
from mlpnas.errors import UserError  # noqa: E402

SPACE = {
    "name": "mk_tiny", "description": "CycleFC against the shift, two small stages",
    "norm": "layer", "default_scale": "small",
    "scales": {"small": {"input_size": [3, 16, 16], "norm": "batch",
                         "stem": {"kernel": 2, "stride": 2, "padding": 0},
                         "downsample": {"kind": "conv", "kernel": 3, "stride": 2,
                                        "padding": 1},
                         "widths": [8, 16]}},
    "stages": [{"depth": [1, 2], "mixers": {"cycle": {"kernel": [3, 5]},
                                            "shift": {"shift_size": 3}},
                "mlp_ratio": [1, 2]}] * 2,
}
DATA = data_config(num_classes=4, train_size=192, holdout_size=64,
                   val_size=64, seed=0)
SETTINGS = {"arch_lr": 0.05, "arch_weight_decay": 0.0, "warmup_epochs": 1, "tau_start": 5.0,
            "tau_end": 1.0, "hard_kernels": False, "cost_weight": 2.0}


def _space():
    from mlpnas.space._load import parse_space

    return parse_space(SPACE)


def _costs(space):
    from mlpnas.cost import CostModel, flops_table

    return CostModel(flops_table(space, DATA["num_classes"], None))


def _all_archs(space):
    from mlpnas.space import Arch

    per_stage = []
    for st in space.stages:
        per_stage.append([blocks for d in st.depths
                          for blocks in itertools.product(st.block_choices, repeat=d)])
    return [Arch(tuple(stages)) for stages in itertools.product(*per_stage)]


def _random_logits(params, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params.parameters():
            p.copy_(2 * torch.randn(p.shape, generator=g))


def test_expected_cost_is_the_exact_expectation_over_the_space():
    """E[MFLOPs] and E[params] from the logits equal the sum over all 1,764 architectures of
    probability x cost, and the probabilities sum to 1."""
    from mlpnas.supernet import ArchParameters

    space = _space()
    costs = _costs(space)
    params = ArchParameters(space)
    _random_logits(params, 0)
    archs = _all_archs(space)
    assert len(archs) == 42 * 42
    probs = np.exp([params.log_prob(a) for a in archs])
    assert abs(probs.sum() - 1) < 1e-5
    for name in ("mflops", "params_m"):
        exact = sum(p * costs.cost(a, name) for p, a in zip(probs, archs))
        got = float(params.expected_cost(costs, name).detach())
        assert got == pytest.approx(exact, rel=1e-5)


def test_the_derived_architecture_is_the_most_probable_within_the_budget():
    from mlpnas.supernet import ArchParameters

    space = _space()
    costs = _costs(space)
    params = ArchParameters(space)
    _random_logits(params, 1)
    archs = _all_archs(space)
    top = params.most_probable()
    assert top.key == max(archs, key=params.log_prob).key
    limit = costs.cost(top, "mflops") - 1e-6  # the most probable one just over budget

    def feasible(a):
        return costs.cost(a, "mflops") <= limit

    best = max((a for a in archs if feasible(a)), key=params.log_prob)
    assert params.derive(feasible).key == best.key
    assert params.derive(lambda a: False) is None


def test_a_killed_search_resumes_to_the_same_architecture_distribution(tmp_path):
    """Architecture logits and their Adam state ride in the checkpoint: 3 steps, killed,
    resumed, end in the same distribution and training curve as an uninterrupted run."""
    from mlpnas.data import build_data
    from mlpnas.supernet import SupernetRecipe, train_metakernel

    space = _space()
    costs = _costs(space)
    data = build_data(DATA, space.input_size, 0)
    recipe = yaml.safe_load((Path(__file__).parents[1] / "conf/train/default.yaml").read_text())
    recipe.update(epochs=2, batch_size=32, checkpoint_every=2)
    args = dict(space=space, data=data, recipe=SupernetRecipe.of(recipe), settings=SETTINGS,
                costs=costs, budgets={"mflops": 0.3}, data_cfg=DATA, progress=False,
                log=lambda m: None)
    whole = train_metakernel(out_dir=tmp_path / "whole", **args)
    train_metakernel(out_dir=tmp_path / "killed", stop_after_steps=9, **args)
    resumed = train_metakernel(out_dir=tmp_path / "killed", **args)
    assert resumed.steps == whole.steps == 12
    for a, b in zip(whole.arch.parameters(), resumed.arch.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert ((tmp_path / "whole/metrics.csv").read_text()
            == (tmp_path / "killed/metrics.csv").read_text())
    # the architecture did learn: its logits moved away from the uniform start
    assert max(float(p.detach().abs().max()) for p in whole.arch.parameters()) > 1e-3
    derived = json.loads((tmp_path / "whole/architecture.json").read_text())["derived"]
    assert costs.cost(space.arch_from_key(derived), "mflops") <= 0.3


def test_metakernel_search_writes_the_results_of_a_search_and_exports(tmp_path, capsys):
    space_file = tmp_path / "mk_tiny.yaml"
    space_file.write_text(yaml.safe_dump(SPACE))
    run = tmp_path / "run"
    opts = ["+space=custom", f"space.path={space_file}", "search.strategy=metakernel",
            "search.max_mflops=0.3", "data.num_classes=4", "data.train_size=192",
            "data.holdout_size=64", "data.val_size=64", "train.batch_size=32",
            "train.epochs=2", "search.metakernel.warmup_epochs=1", f"out_dir={run}",
            f"cache_dir={tmp_path / 'cache'}", "progress=false", "hardware.threads=1",
            "search.measure_pareto_latency=false"]
    run_task("search", opts)
    summary = (run / "summary.txt").read_text()
    assert "meta-kernel search: 12 steps; derived architecture" in summary
    derived = json.loads((run / "metakernel/architecture.json").read_text())["derived"]
    trials = (run / "trials.csv").read_text()
    assert derived in trials and "metakernel" in trials
    assert (run / "exported" / derived / "arch.json").is_file()
    # export reads the run's own meta-kernel supernet, from any folder
    written = run_task("export", [str(run), "export.measure_latency=false"],
                       cwd=tmp_path / "cache")
    assert [Path(w).name for w in written] == [derived]
    # run again: the finished search is reused, its derived architecture not evaluated twice
    capsys.readouterr()
    run_task("search", opts)
    assert "is complete (12 steps); reusing it" in capsys.readouterr().out
    assert (run / "trials.csv").read_text().count(derived) == 1


def test_a_space_with_hire_or_permute_blocks_is_refused_for_metakernel(tmp_path):
    r = run_cli("search", "+space=tiny", "search.strategy=metakernel",
                f"out_dir={tmp_path / 'r'}")
    assert r.returncode == 2
    assert ("mlpnas search: error: search.strategy=metakernel merges the kernels of CycleFC "
            "and the axial shift only, and space 'tiny' also has hire (Hire-MLP), permute "
            "(ViP) blocks") in r.stderr
    assert not (tmp_path / "r").exists()
    with pytest.raises(UserError, match="unknown search.strategy 'darts'"):
        run_task("search", ["+space=tiny", "search.strategy=darts", f"out_dir={tmp_path / 'r'}"])
    assert not (tmp_path / "r").exists()
