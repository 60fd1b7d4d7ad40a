"""Ranking statistics against hand-computed values, and the picking of architectures."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, spearmanr

from mlpnas.errors import UserError
from mlpnas.rank import (
    bootstrap_indices,
    correlation,
    difference,
    front_layers,
    kendall_tau,
    mean_random_regret,
    percentile_ci,
    pick_archs,
    precision_at_k,
    random_feasible,
    ranking_stats,
    read_keys,
    regret,
    seed_ceiling,
    seed_noise,
    spearman_rho,
)
from mlpnas.space import load_space


def test_kendall_tau_by_hand():
    # one discordant pair (2, 3) of six
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # tau-b with a tie in x: 5 concordant pairs, none discordant, 1 tied in x only
    assert kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(5 * 6))
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))  # a constant score orders nothing


def test_spearman_rho_by_hand():
    # d = (0, 1, 1, 0): 1 - 6 * 2 / (4 * 15)
    assert spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_correlations_equal_scipy_on_random_data_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(10):
        x = rng.integers(0, 6, 25).astype(float)
        y = np.round(x + rng.normal(0, 2, 25))
        assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y)[0], abs=1e-12)
        assert spearman_rho(x, y) == pytest.approx(spearmanr(x, y)[0], abs=1e-12)
    batch = rng.normal(size=(4, 12))
    other = rng.normal(size=(4, 12))
    assert np.allclose(kendall_tau(batch, other),
                       [kendalltau(a, b)[0] for a, b in zip(batch, other)])


def test_bootstrap_interval():
    assert percentile_ci(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert percentile_ci([np.nan, 1.0, 1.0]) == (1.0, 1.0)
    # a perfect ranking stays perfect under any resample that is not all one architecture
    est = correlation([1, 2, 3, 4, 5, 6, 7, 8], [10, 20, 30, 40, 50, 60, 70, 80])
    assert est.value == 1.0 and est.ci == (1.0, 1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(0, 1.0, size=30)
    est = correlation(x, y)
    assert est.ci[0] < est.value < est.ci[1] and est.ci[0] >= -1 and est.ci[1] <= 1
    assert est == correlation(x, y)  # seeded: the same report every run
    # by hand: the interval is the 2.5 / 97.5 percentiles of tau over the fixed resamples
    idx = bootstrap_indices(30)
    assert est.ci == pytest.approx(tuple(np.nanquantile(kendall_tau(x[idx], y[idx]),
                                                        [0.025, 0.975])))


def test_paired_difference_tells_a_better_score_from_a_worse_one():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=40)
    good = truth + rng.normal(0, 0.1, 40)
    bad = rng.normal(size=40)
    d = difference(good, bad, truth)
    assert d.value == pytest.approx(kendall_tau(good, truth) - kendall_tau(bad, truth))
    assert d.ci[0] > 0  # clearly better, beyond resampling noise
    same = difference(good, good, truth)
    assert same.value == 0 and same.ci == (0.0, 0.0)


def test_seed_ceiling_by_hand():
    acc = np.array([[1, 1, 4], [2, 3, 3], [3, 2, 2], [4, 4, 1]], float)
    # tau(s0, s1) = 4/6, tau(s0, s2) = -1, tau(s1, s2) = -4/6: mean -1/3
    assert seed_ceiling(acc).value == pytest.approx(-1 / 3)
    same = np.repeat(np.arange(6.0)[:, None], 3, axis=1)
    assert seed_ceiling(same).value == 1.0
    assert math.isnan(seed_ceiling(acc[:, :1]).value)  # one seed: no ceiling


def test_precision_at_k_by_hand():
    truth = np.arange(10.0)            # architecture 9 is best
    score = np.array([0, 1, 2, 3, 4, 5, 6, 9, 8, 7], float)  # the top 3 right, in another order
    assert precision_at_k(score, truth, 0.3) == 1.0
    assert precision_at_k(score, truth, 0.1) == 0.0   # its first pick (7) is not the best (9)
    assert precision_at_k(-truth, truth, 0.3) == 0.0
    assert precision_at_k(truth, truth, 0.25) == 1.0  # k = ceil(2.5) = 3


def test_regret_by_hand():
    truth = [0.80, 0.90, 0.85]
    score = [3.0, 1.0, 2.0]
    assert regret(score, truth) == (pytest.approx(0.10), 0)
    assert regret(score, truth, [True, False, True]) == (pytest.approx(0.05), 0)
    assert regret(score, truth, [False, True, False]) == (0.0, 1)
    assert mean_random_regret(truth) == pytest.approx(0.90 - 0.85)
    assert math.isnan(regret(score, truth, [False] * 3)[0])


def test_seed_noise_is_the_pooled_standard_deviation():
    acc = np.array([[0.5, 0.7], [0.8, 0.8]])
    # variances (ddof 1): 0.02 and 0: pooled sqrt(0.01)
    assert seed_noise(acc) == pytest.approx(0.1)


def test_ranking_stats_of_a_table():
    table = pd.DataFrame({
        "arch": list("abcdef"), "supernet_acc": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
        "mflops": [6, 5, 4, 3, 2, 1], "params_m": [1, 2, 3, 4, 5, 6],
        "feasible": [True, True, True, True, True, False],
        "seed0": [0.70, 0.71, 0.72, 0.73, 0.74, 0.75],
        "seed1": [0.71, 0.72, 0.73, 0.74, 0.75, 0.76]})
    s = ranking_stats(table)
    assert s["n_archs"] == 6 and s["seeds"] == 2
    assert s["kendall_tau"] == 1.0 and s["spearman_rho"] == 1.0
    assert s["mflops_tau"] == -1.0 and s["params_tau"] == 1.0
    assert s["seed_ceiling_tau"] == 1.0 and s["seed01_tau"] == 1.0
    # the supernet's pick within the budget is e (0.745), the best feasible too: no regret
    assert s["regret"] == 0.0 and s["regret_pick"] == "e"
    # the MFLOPs proxy picks the largest, a (0.705): 4 points below e
    assert s["regret_mflops"] == pytest.approx(4.0)
    assert s["precision_at_10"] == 1.0 and s["mflops_precision_at_30"] == 0.0
    assert s["tau_minus_mflops_tau"] == 2.0
    assert s["standalone_range"] == [0.705, 0.755]


def _trials():
    rows = [  # accuracy, mflops: layer 1 = a, b, c; layer 2 = d, e; f is infeasible
        ("a", 0.90, 10), ("b", 0.85, 5), ("c", 0.80, 2), ("d", 0.84, 10), ("e", 0.79, 5),
        ("f", 0.99, 1), ("a", 0.90, 10)]
    return pd.DataFrame([{"arch": k, "accuracy": acc, "mflops": c, "feasible": k != "f"}
                         for k, acc, c in rows])


def test_front_layers_peel_off_non_dominated_layers():
    assert list(front_layers(_trials(), "mflops", 3)["arch"]) == ["c", "b", "a"]
    assert sorted(front_layers(_trials(), "mflops", 5)["arch"]) == list("abcde")
    # four of the five, evenly by cost: the cheapest and the most expensive included
    four = list(front_layers(_trials(), "mflops", 4)["arch"])
    assert len(four) == 4 and four[0] == "c" and four[-1] in ("a", "d")


def test_random_feasible_respects_budget_exclusion_and_a_bounded_effort():
    space = load_space("tiny")
    small = set()
    archs = random_feasible(space, 8, lambda a: sum(a.depths) == 2, {"x"}, seed=1)
    assert len(archs) == 8 and len({a.key for a in archs}) == 8
    assert all(sum(a.depths) == 2 for a in archs)
    assert random_feasible(space, 3, lambda a: False, small, seed=0, max_tries=50) == []


def test_pick_archs_mixes_front_and_random():
    space = load_space("tiny")
    keys = [space.sample(i).key for i in range(12)]
    trials = pd.DataFrame({"arch": keys, "accuracy": np.linspace(0.5, 0.9, 12),
                           "mflops": np.linspace(1, 2, 12)[::-1], "feasible": True})
    picked = pick_archs(trials, space, 9, 1 / 3, "mflops", lambda a: True, seed=0)
    assert len(picked) == 9 and len({k for k, _ in picked}) == 9
    assert [s for _, s in picked].count("random") == 3
    with pytest.raises(UserError, match="only 0 distinct feasible architectures could be "
                                        "found for rank.n_archs=5"):
        pick_archs(trials.iloc[0:0], space, 5, 0.5, "mflops", lambda a: False)


def test_read_keys_from_a_list_a_text_file_and_a_csv(tmp_path):
    space = load_space("tiny")
    a, b = space.sample(1).key, space.sample(2).key
    assert read_keys([a, b, a], space) == [a, b]
    (tmp_path / "keys.txt").write_text(f"# chosen by hand\n{b}\n\n{a}\n")
    assert read_keys(str(tmp_path / "keys.txt"), space) == [b, a]
    pd.DataFrame({"arch": [a, b], "x": [1, 2]}).to_csv(tmp_path / "r.csv", index=False)
    assert read_keys(str(tmp_path / "r.csv"), space) == [a, b]
    with pytest.raises(UserError, match="is neither a list of keys nor a file"):
        read_keys(str(tmp_path / "missing.txt"), space)
    with pytest.raises(Exception, match="has 1 stages but space 'tiny' has 2"):
        read_keys(["c3r2"], space)


def test_rankings_of_standalone_runs_at_chance_are_flagged():
    from mlpnas.rank import chance_warning

    # 10 classes, 64 images: chance 0.1, two binomial standard deviations 0.075
    warning = chance_warning([0.055, 0.102, 0.0875], 10, 64)
    assert warning.startswith("warning: every standalone accuracy (best 0.102) is within "
                              "noise of chance (0.100 for 10 classes")
    assert "rankings are noise" in warning
    assert chance_warning([0.055, 0.19], 10, 64) is None  # one architecture learnt something
    assert chance_warning([0.12, 0.13], 10, 10000) is None  # 0.13 is far above chance there
