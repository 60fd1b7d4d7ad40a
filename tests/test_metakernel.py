"""Meta kernels: the merged shift equals the weighted sum of the separate candidates, values
and gradients, for CycleFC and the axial shift, on odd, non-square maps."""

import pytest
import torch

from mlpnas.mixers import axial_groups, axial_shift, cycle_groups, group_shift, merged_shift
from mlpnas.supernet._elastic import ElasticCycleMixer, ElasticShiftMixer

SHAPES = [(2, 7, 5, 12), (1, 3, 9, 10), (2, 5, 3, 7)]  # odd, non-square; maps below 7 too


def _grads(out, *leaves):
    g = torch.randn_like(out, generator=torch.Generator().manual_seed(3))
    return torch.autograd.grad((out * g).sum(), leaves, retain_graph=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("family", ["cycle", "shift"])
@pytest.mark.parametrize("axis", [1, 2])
def test_merged_shift_is_the_weighted_sum_of_the_shifts(shape, family, axis):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(3, dtype=torch.float64, requires_grad=True)
    weights = logits.softmax(0)
    groups = cycle_groups if family == "cycle" else axial_groups
    cands = tuple(groups(shape[-1], k) for k in (3, 5, 7))
    merged = merged_shift(x, axis, cands, weights)
    separate = sum(w * group_shift(x, axis, g) for w, g in zip(weights, cands))
    torch.testing.assert_close(merged, separate, rtol=0, atol=1e-12)
    for a, b in zip(_grads(merged, x, logits), _grads(separate, x, logits)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_cyclefc_mixture_is_the_weighted_sum_of_the_cyclefcs(shape):
    """Both CycleFC branches of the mixer: W (sum_i a_i S_i) x + b = sum_i a_i (W S_i x + b)."""
    torch.manual_seed(1)
    C = shape[-1]
    mixer = ElasticCycleMixer(C, 7).double()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(3, dtype=torch.float64, requires_grad=True)
    weights = logits.softmax(0)
    mixer.set_mixture([3, 5, 7], weights)
    merged = torch.stack(mixer.branches(x)[:2])
    parts = []
    for k in (3, 5, 7):
        mixer.set_active(k)
        parts.append(torch.stack(mixer.branches(x)[:2]))
    separate = sum(w * p for w, p in zip(weights, parts))
    torch.testing.assert_close(merged, separate, rtol=0, atol=1e-12)
    leaves = (x, logits, mixer.along_w.weight, mixer.along_h.bias)
    for a, b in zip(_grads(merged, *leaves), _grads(separate, *leaves)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_shift_mixture_is_the_weighted_sum_before_the_shared_linears(shape):
    """fc_w((sum_i a_i S_i) t) = sum_i a_i fc_w(S_i t), the point before the GELU where the
    axial-shift candidates of AS-MLP still add up."""
    torch.manual_seed(2)
    C = shape[-1]
    mixer = ElasticShiftMixer(C, 7).double()
    t = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(3, dtype=torch.float64, requires_grad=True)
    weights = logits.softmax(0)
    mixer.set_mixture([3, 5, 7], weights)
    merged = torch.stack([mixer.fc_w(mixer.shifted(t, 2)), mixer.fc_h(mixer.shifted(t, 1))])
    separate = sum(w * torch.stack([mixer.fc_w(axial_shift(t, s, 2)),
                                    mixer.fc_h(axial_shift(t, s, 1))])
                   for w, s in zip(weights, (3, 5, 7)))
    torch.testing.assert_close(merged, separate, rtol=0, atol=1e-12)
    leaves = (t, logits, mixer.fc_w.weight, mixer.fc_h.weight)
    for a, b in zip(_grads(merged, *leaves), _grads(separate, *leaves)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


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
