"""The mixers against independent formulations of the published semantics, at odd,
non-square resolutions and maps smaller than the kernel."""

import pytest
import torch
import torch.nn.functional as F

from mlpnas.mixers import (
    CycleFC,
    CycleMixer,
    HireMixer,
    PermuteMixer,
    ShiftMixer,
    axial_groups,
    axial_shift,
    create_mixer,
    cycle_groups,
    group_shift,
)
from mlpnas.mixers._shift_op import (
    _conv_exact_on_cpu,
    _GroupShift,
    _shift_conv,
    group_shift_functional,
)
from mlpnas.mixers.reference import axial_shift_roll, cycle_offsets, cyclefc_deform
from mlpnas.spec import SpecError

SIZES = [(7, 5), (5, 9), (1, 3), (2, 1), (13, 11)]


SHIFT_GROUPS = [cycle_groups(10, 3), cycle_groups(10, 7), cycle_groups(2, 5),
                axial_groups(10, 3), axial_groups(11, 5), axial_groups(3, 7)]


@pytest.mark.parametrize("groups", SHIFT_GROUPS)
@pytest.mark.parametrize("axis", [1, 2])
def test_group_shift_eager_equals_traceable_form_with_gradients(groups, axis):
    C = max(stop for _, stop, _, _ in groups)
    x = torch.randn(2, 5, 3, C, dtype=torch.float64, requires_grad=True)
    a, b = group_shift(x, axis, groups), group_shift_functional(x, axis, groups)
    assert torch.equal(a, b)
    w = torch.randn_like(a)
    ga, = torch.autograd.grad((a * w).sum(), x)
    gb, = torch.autograd.grad((b * w).sum(), x)
    assert torch.equal(ga, gb)
    assert torch.autograd.gradcheck(lambda t: group_shift(t, axis, groups), (x,))


@pytest.mark.parametrize("groups", SHIFT_GROUPS)
@pytest.mark.parametrize("axis", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cpu_conv_shift_is_bitwise_the_copy_shift(groups, axis, dtype):
    """The CPU path (one-hot depthwise convolution) and the copy path give the same values
    and the same gradients, bit for bit, also for maps smaller than the shift."""
    C = max(stop for _, stop, _, _ in groups)
    x = torch.randn(3, 5, 2, C).to(dtype).requires_grad_(True)
    assert _conv_exact_on_cpu(x)
    a, b = _shift_conv(x, axis, groups), _GroupShift.apply(x, axis, groups)
    assert a.dtype == dtype and torch.equal(a, b)
    w = torch.randn_like(a)
    ga, = torch.autograd.grad((a * w).sum(), x)
    gb, = torch.autograd.grad((b * w).sum(), x)
    assert torch.equal(ga, gb)


def test_cpu_shift_kernel_made_in_inference_mode_serves_training_later():
    groups = axial_groups(17, 5)  # a kernel no other test builds first
    with torch.inference_mode():
        group_shift(torch.randn(1, 3, 3, 17), 2, groups)
    x = torch.randn(1, 3, 3, 17, requires_grad=True)
    w = torch.randn(1, 3, 3, 17)
    got, = torch.autograd.grad((group_shift(x, 2, groups) * w).sum(), x)
    want, = torch.autograd.grad((group_shift_functional(x, 2, groups) * w).sum(), x)
    torch.testing.assert_close(got, want, rtol=0, atol=0)  # the reference shift's gradient


def test_shift_leaves_the_conv_path_when_fp32_may_be_rounded():
    x = torch.randn(2, 4, 4, 6)
    groups = axial_groups(6, 3)
    saved = torch.backends.fp32_precision
    try:
        for setting in ("tf32", "bf16"):
            torch.backends.fp32_precision = setting
            assert not _conv_exact_on_cpu(x)
            assert torch.equal(group_shift(x, 2, groups), group_shift_functional(x, 2, groups))
            fc = CycleFC(6, 6, 3)  # used to raise under the new precision API
            ref = F.linear(group_shift_functional(x, 2, cycle_groups(6, 3)), fc.weight, fc.bias)
            torch.testing.assert_close(fc(x), ref)
    finally:
        torch.backends.fp32_precision = saved
    assert _conv_exact_on_cpu(x) and not _conv_exact_on_cpu(x.double())


def test_cycle_offsets_follow_the_paper_pattern():
    # channel i reads offset ((i + K//2) mod K) - K//2: 0, +1, -1, 0, +1, ... for K = 3
    reads = [-d for _, _, _, d in cycle_groups(6, 3)]
    assert reads == [0, 1, -1]
    reads5 = [-d for _, _, _, d in cycle_groups(9, 5)]
    assert reads5 == [0, 1, 2, -2, -1]


@pytest.mark.parametrize("H,W", SIZES)
@pytest.mark.parametrize("K,C,axis", [(3, 12, "w"), (5, 7, "h"), (7, 10, "w"), (1, 6, "h"),
                                      (9, 4, "h")])
def test_cyclefc_equals_deform_conv(H, W, K, C, axis):
    fc = CycleFC(C, 5, K, axis)
    x = torch.randn(2, H, W, C)
    ours = fc(x)
    ref = cyclefc_deform(x.permute(0, 3, 1, 2), fc.weight, fc.bias, cycle_offsets(C, K, axis))
    torch.testing.assert_close(ours, ref.permute(0, 2, 3, 1), atol=1e-5, rtol=1e-5)


def test_cyclefc_k1_is_a_channel_fc():
    fc = CycleFC(6, 4, 1, "w")
    x = torch.randn(2, 3, 5, 6)
    torch.testing.assert_close(fc(x), F.linear(x, fc.weight, fc.bias))


@pytest.mark.parametrize("H,W", SIZES)
@pytest.mark.parametrize("s,C", [(3, 10), (5, 10), (7, 10), (5, 3), (9, 13)])
def test_axial_shift_equals_pad_chunk_roll_narrow(H, W, s, C):
    x = torch.randn(2, H, W, C)
    for axis in (1, 2):
        ref = axial_shift_roll(x.permute(0, 3, 1, 2), s, axis + 1).permute(0, 2, 3, 1)
        assert torch.equal(axial_shift(x, s, axis), ref)


def test_axial_groups_for_channels_not_divisible():
    # C=10, s=3 -> groups of ceil(10/3)=4: 4, 4, 2 channels, moved by -1, 0, +1
    assert axial_groups(10, 3) == ((0, 4, 1, -1), (4, 8, 1, 0), (8, 10, 1, 1))
    # C=3, s=7 -> groups of 1: only 3 groups, moved by -3, -2, -1
    assert [d for *_, d in axial_groups(3, 7)] == [-3, -2, -1]


def _hire_reference(x, mixer: HireMixer):
    """Hire-MLP as the paper describes it, channels-first, with the authors' c*p + k folding
    and circular padding by tiling (the authors' F.pad covers one wrap; tiling is the same
    thing and also covers maps smaller than the region)."""
    B, C, H, W = x.shape
    p, s = mixer.region, mixer.step

    def unperm_w1(w):  # ours: columns k*C + c -> authors: c*p + k
        return w.reshape(w.shape[0], p, C).transpose(1, 2).reshape(w.shape[0], C * p)

    def unperm_w2(w):
        return w.reshape(p, C, -1).transpose(0, 1).reshape(C * p, -1)

    def branch(t, dim, fc1, norm, fc2):
        L = t.shape[dim]
        Lp = -(-L // p) * p
        t = torch.roll(t, s, dim)
        reps = [1, 1, 1, 1]
        reps[dim] = -(-Lp // L)
        t = t.repeat(*reps).narrow(dim, 0, Lp)
        if dim == 2:
            t = t.reshape(B, C, Lp // p, p, W).permute(0, 1, 3, 2, 4).reshape(B, C * p, Lp // p, W)
        else:
            t = t.reshape(B, C, H, Lp // p, p).permute(0, 1, 4, 2, 3).reshape(B, C * p, H, Lp // p)
        t = F.conv2d(t, unperm_w1(fc1.weight)[:, :, None, None])
        t = F.batch_norm(t, norm.running_mean, norm.running_var, norm.weight, norm.bias, False,
                         0.0, norm.eps)
        t = F.conv2d(t.relu(), unperm_w2(fc2.weight)[:, :, None, None],
                     unperm_w2(fc2.bias[:, None])[:, 0])
        if dim == 2:
            t = t.reshape(B, C, p, Lp // p, W).permute(0, 1, 3, 2, 4).reshape(B, C, Lp, W)
        else:
            t = t.reshape(B, C, p, H, Lp // p).permute(0, 1, 3, 4, 2).reshape(B, C, H, Lp)
        return torch.roll(t.narrow(dim, 0, L), -s, dim)

    h = branch(x, 2, mixer.fc_h1, mixer.norm_h, mixer.fc_h2)
    w = branch(x, 3, mixer.fc_w1, mixer.norm_w, mixer.fc_w2)
    c = F.conv2d(x, mixer.fc_c.weight[:, :, None, None], mixer.fc_c.bias)
    cl = [t.permute(0, 2, 3, 1) for t in (h, w, c)]
    return mixer.proj(mixer.reweight(*cl))


@pytest.mark.parametrize("H,W", SIZES + [(7, 10)])
@pytest.mark.parametrize("region,step", [(2, 0), (3, 1), (4, 2), (3, 5), (5, 3)])
def test_hire_mixer_equals_paper_formulation(H, W, region, step):
    mixer = HireMixer(8, region, step)
    for bn in (mixer.norm_h, mixer.norm_w):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    mixer.eval()
    x = torch.randn(2, H, W, 8)
    ref = _hire_reference(x.permute(0, 3, 1, 2), mixer)
    torch.testing.assert_close(mixer(x), ref, atol=1e-5, rtol=1e-5)


def test_permute_generalised_equals_authors_where_they_apply():
    strict = PermuteMixer(16, 4)
    general = PermuteMixer(16, 4, input_size=(4, 4))
    general.load_state_dict(strict.state_dict())
    x = torch.randn(2, 4, 4, 16)
    torch.testing.assert_close(general(x), strict(x))


def test_permute_generalised_on_non_square_map():
    m = PermuteMixer(12, 3, input_size=(5, 2))
    x = torch.randn(2, 5, 2, 12)
    S = 4
    # height branch by hand: per column and segment, the 5 x 4 values row-major
    xs = x.reshape(2, 5, 2, 3, S)
    h = torch.einsum("oi,bwgi->bwgo", m.fc_h.weight,
                     xs.permute(0, 2, 3, 1, 4).reshape(2, 2, 3, 5 * S))
    h = h.reshape(2, 2, 3, 5, S).permute(0, 3, 1, 2, 4).reshape(2, 5, 2, 12)
    ours_h, _, _ = m.branches(x)
    torch.testing.assert_close(ours_h, h)
    with pytest.raises(ValueError, match="built for a 5x2 feature map"):
        m(torch.randn(1, 5, 3, 12))


def test_permute_segments_must_divide_width():
    with pytest.raises(ValueError, match="segments=5 must divide the width 16"):
        PermuteMixer(16, 5)
    with pytest.raises(SpecError, match="segments=5 does not divide the width 16"):
        create_mixer("permute", 16, input_size=(4, 4), segments=5)


def test_create_mixer_validates_options():
    with pytest.raises(SpecError, match="must be odd"):
        create_mixer("cycle", 8, kernel=4)
    with pytest.raises(SpecError, match="has no option 'kernel'"):
        create_mixer("shift", 8, kernel=3)
    with pytest.raises(SpecError, match="unknown mixer family 'conv'"):
        create_mixer("conv", 8)
    m = create_mixer("cycle", 8, kernel=[5, 3])
    assert (m.along_h.kernel, m.along_w.kernel) == (5, 3)


@pytest.mark.parametrize("name,opts", [("cycle", {"kernel": 7}), ("shift", {"shift_size": 7}),
                                       ("hire", {"region": 4, "step": 3})])
@pytest.mark.parametrize("H,W", [(1, 1), (3, 2), (9, 4)])
def test_mixers_run_forward_and_backward_on_tiny_maps(name, opts, H, W):
    m = create_mixer(name, 8, input_size=(H, W), **opts)
    x = torch.randn(2, H, W, 8, requires_grad=True)
    y = m(x)
    y.square().sum().backward()
    assert y.shape == x.shape and torch.isfinite(x.grad).all()


def test_cycle_mixer_kernel_pair_and_shift_mixer_validate():
    m = CycleMixer(6, kernel=(3, 5))
    assert m.along_h.kernel == 3 and m.along_w.kernel == 5
    with pytest.raises(ValueError, match="odd"):
        ShiftMixer(6, shift_size=4)
