"""The scores of the accuracy axis: each training-free score against a value computed by
hand on a tiny network, every weight of every family reaching the gradient scores, the rank
arithmetic of ensembles, the predictor, and the registry's refusals."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import write_rank_report
from torch import nn

from mlpnas.errors import UserError
from mlpnas.score import (
    SCORES,
    TRAINING_FREE,
    RankReference,
    ZeroCostSetting,
    cross_validated,
    family_counts,
    feature_table,
    fit_predictor,
    mean_rank,
    parameter_terms,
    parse_score,
    score_network,
    scores_once,
)


def _mlp(w1, w2) -> nn.Module:
    """x (N, 1, 1, 2) -> Linear(2, 2, no bias) -> ReLU -> Linear(2, 2, no bias)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.ReLU(),
                        nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(w1))
        net[3].weight.copy_(torch.tensor(w2))
    return net


W1 = [[1.0, -1.0], [0.5, 2.0]]
W2 = [[1.0, 0.0], [-1.0, 1.0]]
X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [2.0, 1.0]]).reshape(4, 1, 1, 2)
Y = torch.tensor([0, 1, 1, 0])


def test_naswot_by_hand():
    # the ReLU's input W1 x: codes (x1 - x2 > 0, 0.5 x1 + 2 x2 > 0) per image
    codes = np.array([[1, 1], [0, 1], [0, 0], [1, 1]], float)
    agree = codes @ codes.T + (1 - codes) @ (1 - codes).T
    expected = np.linalg.slogdet(agree)[1]
    # agree is singular (images 0 and 3 share a code): log|det| is -inf
    assert expected == -np.inf
    assert scores_once(_mlp(W1, W2), X, Y, ["naswot"])["naswot"] == -math.inf
    # three images with distinct codes: K = [[2,1,0],[1,2,1],[0,1,2]], det 4
    got = scores_once(_mlp(W1, W2), X[:3], Y[:3], ["naswot"])["naswot"]
    assert got == pytest.approx(math.log(4.0))


def test_naswot_hooks_gelu_as_well_as_relu():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.GELU(),
                        nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(W1))
    got = scores_once(net, X[:3], Y[:3], ["naswot"])["naswot"]
    assert got == pytest.approx(math.log(4.0))  # the same codes: the sign of GELU's input


def test_jacob_cov_by_hand():
    # per image, d(sum of outputs)/dx = W1^T (code * W2^T 1) for a ReLU network
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 4))
    x = rng.normal(size=(5, 3))
    jac = np.stack([w1.T @ ((w1 @ xi > 0) * (w2.T @ np.ones(2))) for xi in x])
    v = np.clip(np.linalg.eigvalsh(np.corrcoef(jac)), 0, None)
    expected = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 4, bias=False), nn.ReLU(),
                        nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(w1, dtype=torch.float32))
        net[3].weight.copy_(torch.tensor(w2, dtype=torch.float32))
    xt = torch.tensor(x, dtype=torch.float32).reshape(5, 1, 1, 3)
    got = scores_once(net, xt, torch.zeros(5, dtype=torch.long), ["jacob_cov"])["jacob_cov"]
    assert got == pytest.approx(expected, rel=1e-4)


def _ce_grads_by_hand(w1, w2, x, y):
    """Gradients of the mean cross-entropy of the 2-layer ReLU network, by the chain rule."""
    w1, w2 = np.array(w1), np.array(w2)
    g1, g2 = np.zeros_like(w1), np.zeros_like(w2)
    for xi, yi in zip(x, y):
        h = w1 @ xi
        a = np.maximum(h, 0)
        z = w2 @ a
        p = np.exp(z - z.max())
        p /= p.sum()
        dz = p - np.eye(2)[yi]
        g2 += np.outer(dz, a)
        g1 += np.outer((w2.T @ dz) * (h > 0), xi)
    return g1 / len(x), g2 / len(x)


def test_grad_norm_and_snip_by_hand():
    x = X.reshape(4, 2).numpy()
    g1, g2 = _ce_grads_by_hand(W1, W2, x, Y.numpy())
    got = scores_once(_mlp(W1, W2), X, Y, ["grad_norm", "snip"])
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(g1) + np.linalg.norm(g2), rel=1e-5)
    snip = np.abs(np.array(W1) * g1).sum() + np.abs(np.array(W2) * g2).sum()
    assert got["snip"] == pytest.approx(snip, rel=1e-5)


def test_zico_by_hand():
    x, y = X.reshape(4, 2).numpy(), Y.numpy()
    parts = [_ce_grads_by_hand(W1, W2, x[i:i + 2], y[i:i + 2]) for i in (0, 2)]
    expected = 0.0
    for k in range(2):
        g = np.stack([p[k] for p in parts])
        std, mean = g.std(0), np.abs(g).mean(0)
        ok = std > 0
        expected += math.log((mean[ok] / std[ok]).sum())
    got = scores_once(_mlp(W1, W2), X, Y, ["zico"], splits=2)["zico"]
    assert got == pytest.approx(expected, rel=1e-5)


def test_synflow_by_hand_and_with_norms():
    # |W| everywhere, input of ones: R = 1^T |W2| |W1| 1; each layer of a bias-free linear
    # chain contributes sum |w dR/dw| = R, so the score is log(2 R)
    r = np.ones(2) @ np.abs(W2) @ np.abs(W1) @ np.ones(2)
    assert scores_once(_mlp(W1, W2), X, Y, ["synflow"])["synflow"] == pytest.approx(
        math.log(2 * r))
    # with a LayerNorm between the layers SynFlow as published is 0 (ones normalise to 0);
    # here the norm counts as its affine part: w = 2, b = 0.5 per channel
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.LayerNorm(2),
                        nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(W1))
        net[2].weight.fill_(2.0)
        net[2].bias.fill_(0.5)
        net[3].weight.copy_(torch.tensor(W2))
    h = np.abs(W1) @ np.ones(2)                  # (2, 2.5)
    a = 2.0 * h + 0.5                            # the affine part
    r = np.ones(2) @ np.abs(W2) @ a
    dr_da = np.ones(2) @ np.abs(W2)              # (2, 1)
    terms = {"w1": float(dr_da @ (2.0 * h)),     # = sum |W1 dR/dW1|
             "ln_w": float((dr_da * 2.0 * h).sum()), "ln_b": float((dr_da * 0.5).sum()),
             "w2": r}
    got = scores_once(net, X, Y, ["synflow"])["synflow"]
    assert got == pytest.approx(math.log(sum(terms.values())))
    # and with BatchNorm: its statistics are set to (0, 1), so it is affine as well
    bn = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2),
                       nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        bn[1].weight.copy_(torch.tensor(W1))
        bn[3].weight.copy_(torch.tensor(W2))
    r_bn = np.ones(2) @ np.abs(W2) @ (h / math.sqrt(1 + 1e-5))
    got = scores_once(bn, X, Y, ["synflow"])["synflow"]
    assert got == pytest.approx(math.log(3 * r_bn), rel=1e-6)  # two linear layers + BN weight


def _tiny_model(arch_key: str):
    from mlpnas.models import MlpBackbone
    from mlpnas.space import load_space

    space = load_space("tiny")
    return lambda: MlpBackbone(space.to_netspec(space.arch_from_key(arch_key), 10))


@pytest.fixture(scope="module")
def batch():
    from mlpnas.data import SyntheticShapes

    x, y = SyntheticShapes(16, 7, 16, 16, 10).get_batch(list(range(16)))
    return x, y


@pytest.mark.parametrize("family", ["cycle", "shift", "hire", "permute"])
def test_every_weight_of_every_family_reaches_the_gradient_scores(family, batch):
    from mlpnas.space import load_space

    arch = load_space("tiny").uniform_archs()[f"all-{family}"]
    torch.manual_seed(0)
    model = _tiny_model(arch.key)()
    names = [n for n, _ in model.named_parameters()]
    assert any(".mixer." in n for n in names)  # the family's own weights are among them
    for score in ("grad_norm", "snip", "zico", "synflow"):
        terms = parameter_terms(_copy(model), *batch, score)
        assert set(terms) == set(names), score
        if score == "grad_norm":  # every parameter gets a gradient
            assert all(terms[n] > 0 for n in names), [n for n in names if terms[n] <= 0]
        elif score == "zico":
            assert all(math.isfinite(terms[n]) and terms[n] != 0 for n in names), score
        else:  # |w * g| is 0 only where the weight itself is 0 (biases at initialisation)
            state = model.state_dict()
            nonzero = [n for n in names if state[n].abs().sum() > 0]
            assert all(terms[n] > 0 for n in nonzero), \
                (score, [n for n in nonzero if terms[n] <= 0])


def _copy(model):
    import copy

    return copy.deepcopy(model)


def test_scores_computed_together_equal_each_alone_and_are_seeded(batch):
    make = _tiny_model("c3r1-s3r2_h2.1r1-p4r2")
    setting = ZeroCostSetting(inits=2, batch_size=16, splits=2, seed=0)
    together = score_network(make, *batch, TRAINING_FREE, setting)
    for name in TRAINING_FREE:
        alone = score_network(make, *batch, [name], setting)[name]
        assert alone == pytest.approx(together[name], rel=1e-9), name
    state = torch.random.get_rng_state()
    assert score_network(make, *batch, ["naswot"], setting) == \
        score_network(make, *batch, ["naswot"], setting)
    assert torch.equal(state, torch.random.get_rng_state())  # the global state is untouched
    other = score_network(make, *batch, ["naswot"], ZeroCostSetting(2, 16, 2, seed=5))
    assert other["naswot"] != together["naswot"]


def test_mean_rank_by_hand():
    cols = {"a": [3.0, 1.0, 2.0, 2.0], "loss": [0.1, 0.3, 0.2, 0.4]}
    # a: ranks (4, 1, 2.5, 2.5) / 4; loss (lower is better): ranks (4, 2, 3, 1) / 4
    got = mean_rank(cols, {"a": "maximize", "loss": "minimize"})
    assert got == pytest.approx([(4 + 4) / 8, (1 + 2) / 8, (2.5 + 3) / 8, (2.5 + 1) / 8])


def test_rank_reference_places_values_between_and_beyond_its_sample():
    ref = RankReference({"a": [1.0, 2.0, 4.0], "b": [10.0, 30.0, 20.0]},
                        {"a": "maximize", "b": "minimize"})
    # a: sorted (1, 2, 4) at ranks (0.5, 1.5, 2.5) / 3
    assert ref.position("a", 2.0) == pytest.approx(0.5)
    assert ref.position("a", 3.0) == pytest.approx((1.5 + 0.5) / 3)
    # beyond the sample: the mean slope over it, (2.5 - 0.5) / 3 ranks per (4 - 1)
    assert ref.position("a", 6.0) == pytest.approx(2.5 / 3 + 2 * 2 / 9)
    assert ref.position("a", 0.0) == pytest.approx(0.5 / 3 - 1 * 2 / 9)
    # b is better lower: 10 is the best of the sample
    assert ref.position("b", 10.0) == pytest.approx(2.5 / 3)
    assert ref.value({"a": 2.0, "b": 10.0}) == pytest.approx((0.5 + 2.5 / 3) / 2)
    # on its own sample the reference orders like the exact mean rank
    sample = {"a": [1.0, 2.0, 4.0], "b": [10.0, 30.0, 20.0]}
    exact = mean_rank(sample, {"a": "maximize", "b": "minimize"})
    placed = [ref.value({"a": a, "b": b}) for a, b in zip(*sample.values())]
    assert np.argsort(exact).tolist() == np.argsort(placed).tolist()


def test_family_counts_and_feature_table():
    assert family_counts("c3r2-s5r4_p8r2") == {
        "s0.cycle": 1, "s0.shift": 1, "s0.hire": 0, "s0.permute": 0,
        "s1.cycle": 0, "s1.shift": 0, "s1.hire": 0, "s1.permute": 1}
    keys = ["c3r2_c3r2", "s3r2_c3r2"]
    scores = {n: [1.0, 2.0] for n in SCORES if SCORES[n].kind in ("training_free", "cost")}
    table = feature_table(keys, scores)
    assert list(table["s0.shift"]) == [0, 1] and list(table["naswot"]) == [1.0, 2.0]


def test_cross_validated_predictor_learns_an_order_from_features():
    rng = np.random.default_rng(0)
    n = 30
    x = pd.DataFrame({"good": rng.normal(size=n), "noise": rng.normal(size=n)})
    truth = 0.9 + 0.01 * x["good"].to_numpy() + 0.0005 * rng.normal(size=n)
    pred = cross_validated(x, truth)
    from scipy.stats import kendalltau

    assert kendalltau(pred, truth).statistic > 0.6
    # every prediction comes from a model that did not see its row: reproducible
    assert np.allclose(pred, cross_validated(x, truth))


def test_predictor_fits_a_report_and_says_its_cross_validated_tau(tmp_path):
    p = fit_predictor(write_rank_report(tmp_path / "r", n=30), "tiny", "small", "synthetic")
    assert p.n_labelled == 30 and p.cv_tau > 0.6  # one of 16 features orders them
    assert p.scoring == {"inits": 1, "batch_size": 8, "splits": 2, "seed": 0}
    assert "cross-validated Kendall tau" in p.describe()


@pytest.mark.parametrize("make,message", [
    (lambda d: None, "needs a rank report to fit on"),
    (lambda d: d / "nothing", "holds no rank report"),
    (lambda d: write_rank_report(d / "few", n=9),
     "has 9 labelled architectures; the predictor needs at least 10"),
    (lambda d: write_rank_report(d / "other", space="all_mixers"), "measured space 'all_mixers'"),
    (lambda d: write_rank_report(d / "otherdata", data="cifar10"), "on 'cifar10', not 'tiny'"),
    (lambda d: write_rank_report(d / "old", drop="zico"), "has no column for the score 'zico'"),
])
def test_predictor_refusals(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        fit_predictor(make(tmp_path), "tiny", "small", "synthetic")


def test_score_choices_and_their_refusals():
    c = parse_score(["naswot", "mflops"])
    assert c.key == "naswot+mflops" and c.is_ensemble and c.direction == "maximize"
    assert parse_score("supernet_loss").direction == "minimize"
    assert parse_score("supernet_loss").needs_supernet and not parse_score("naswot").needs_supernet
    assert parse_score("[naswot, synflow]").members == ("naswot", "synflow")
    with pytest.raises(UserError, match="unknown score 'naswt' in search.score; did you mean "
                                        "naswot?"):
        parse_score("naswt")
    with pytest.raises(UserError, match="the predictor cannot be part of a mean rank"):
        parse_score(["predictor", "naswot"])
    with pytest.raises(UserError, match="names 'naswot' twice"):
        parse_score(["naswot", "naswot"])
    with pytest.raises(UserError, match="empty list"):
        parse_score([])


def test_the_registry_states_the_measured_cost_of_each_score():
    """Each entry's seconds per architecture is what experiments/scores_speed measured (the
    median on cycle_vs_shift), so the table users read is the benchmark's, not a guess."""
    import json
    from pathlib import Path

    measured = json.loads((Path(__file__).parents[1] / "experiments" / "scores_speed" /
                           "results.json").read_text())["spaces"]["cycle_vs_shift"]
    supernet = measured["supernet_acc / supernet_loss (one evaluation)"]["median_s"]
    for name, info in SCORES.items():
        want = (0.0 if info.kind == "cost" else supernet if info.kind == "supernet"
                else measured[name]["median_s"])
        assert info.seconds_per_arch == pytest.approx(want, abs=5e-4), name
