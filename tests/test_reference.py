"""Every case produced by the authors' code reproduces through `from_official` (1e-4)."""

import pytest
import torch
from helpers import load_case, reference_cases

from mlpnas.models import OfficialCheckpointError, from_official

CASES = reference_cases()


def test_every_family_and_kind_is_covered():
    kinds = {(c["family"], c["kind"]) for c in CASES}
    for fam in ("cycle", "shift", "hire", "permute"):
        assert (fam, "model") in kinds
        assert (fam, "mixer") in kinds or (fam, "op") in kinds


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_reference_case(case):
    x, y, state = load_case(case["name"])
    module = from_official(case["official_class"], case["kwargs"], state)
    assert not module.training
    with torch.no_grad():
        out = module(x)
    assert out.shape == y.shape
    torch.testing.assert_close(out, y, atol=1e-4, rtol=1e-4)


def _case(name):
    return next(c for c in CASES if c["name"] == name)


def test_unknown_key_is_named():
    c = _case("cyclemlp_tiny")
    _, _, state = load_case(c["name"])
    state["network.0.0.attn.extra.weight"] = torch.zeros(1)
    with pytest.raises(OfficialCheckpointError, match=r"unknown key 'network\.0\.0\.attn\.extra"):
        from_official(c["official_class"], c["kwargs"], state)


def test_missing_key_is_named():
    c = _case("hiremlp_tiny")
    _, _, state = load_case(c["name"])
    del state["network.2.0.attn.mlp_w2.bias"]
    with pytest.raises(OfficialCheckpointError,
                       match=r"no key 'network\.2\.0\.attn\.mlp_w2\.bias'"):
        from_official(c["official_class"], c["kwargs"], state)


def test_offsets_and_batch_counters_may_be_absent():
    c = _case("hire_p3_step1")
    x, y, state = load_case(c["name"])
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    out = from_official(c["official_class"], c["kwargs"], state)(x)
    torch.testing.assert_close(out, y, atol=1e-4, rtol=1e-4)
    c = _case("cyclefc_1x3")
    x, y, state = load_case(c["name"])
    del state["offset"]
    torch.testing.assert_close(from_official(c["official_class"], c["kwargs"], state)(x), y,
                               atol=1e-4, rtol=1e-4)


def test_mismatched_arguments_name_the_shape():
    c = _case("asmlp_tiny")
    _, _, state = load_case(c["name"])
    kwargs = dict(c["kwargs"], embed_dim=8)
    with pytest.raises(OfficialCheckpointError, match="has shape"):
        from_official(c["official_class"], kwargs, state)


def test_unknown_class_and_argument():
    with pytest.raises(OfficialCheckpointError, match="unknown official class 'Foo'"):
        from_official("Foo", {}, {})
    with pytest.raises(OfficialCheckpointError, match="argument 'window'"):
        from_official("AxialShift", {"dim": 8, "shift_size": 3, "window": 7}, {})


def test_vip_resolution_that_the_authors_cannot_take_is_explained():
    c = _case("vip_tiny")
    _, _, state = load_case(c["name"])
    kwargs = dict(c["kwargs"], img_size=70)
    with pytest.raises(OfficialCheckpointError, match=r"needs H\*S == W\*S == width"):
        from_official(c["official_class"], kwargs, state)


def test_permutator_without_resolution_says_which_numbers_must_match():
    c = _case("permute_seg4")
    x, _, state = load_case(c["name"])
    module = from_official(c["official_class"], c["kwargs"], state)
    with pytest.raises(ValueError, match=r"needs H\*S == C and W\*S == C, i.e. a 4x4 feature map"):
        module(torch.randn(1, 5, 4, 16))


MODEL_CASES = [c["name"] for c in CASES if c["kind"] == "model"]


@pytest.mark.parametrize("name", MODEL_CASES)
def test_checkpoint_with_other_class_count_loads_all_but_the_classifier(name):
    c = _case(name)
    x, _, state = load_case(name)
    full = from_official(c["official_class"], c["kwargs"], state)
    tuned = from_official(c["official_class"], dict(c["kwargs"], num_classes=3), state)
    ours, ref = tuned.state_dict(), full.state_dict()
    assert ours["head.weight"].shape == (3, full.num_features)
    for key, t in ref.items():
        if not key.startswith("head."):
            torch.testing.assert_close(ours[key], t, rtol=0, atol=0, msg=key)
    with torch.no_grad():
        assert tuned(x).shape == (x.shape[0], 3)
        torch.testing.assert_close(tuned.forward_features(x), full.forward_features(x))


@pytest.mark.parametrize("name", MODEL_CASES)
def test_in_chans_is_honoured(name):
    """A one-channel model whose stem sums the three-channel stem sees a grey image the way
    the three-channel model sees it repeated on every channel."""
    c = _case(name)
    x, y, state = load_case(name)
    grey_state = dict(state)
    grey_state["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].sum(1, keepdim=True)
    grey = from_official(c["official_class"], dict(c["kwargs"], in_chans=1), grey_state)
    full = from_official(c["official_class"], c["kwargs"], state)
    g = x[:, :1]
    with torch.no_grad():
        torch.testing.assert_close(grey(g), full(g.expand(-1, 3, -1, -1)), atol=1e-4, rtol=1e-4)


def test_cyclefc_int_kernel_size():
    c = _case("cyclefc_1x3")
    x, _, state = load_case(c["name"])
    fc = from_official("CycleFC", dict(c["kwargs"], kernel_size=1), state)
    expected = torch.nn.functional.conv2d(x, state["weight"], state["bias"])
    torch.testing.assert_close(fc(x), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(OfficialCheckpointError, match=r"kernel_size must be \(1, K\) or \(K, 1\)"):
        from_official("CycleFC", dict(c["kwargs"], kernel_size=3), state)


@pytest.mark.parametrize("extra", [dict(stride=2), dict(padding=(0, 1)), dict(dilation=3)])
def test_cyclefc_stride_padding_dilation_have_no_effect(extra):
    c = _case("cyclefc_3x1")
    x, y, state = load_case(c["name"])
    out = from_official("CycleFC", dict(c["kwargs"], **extra), state)(x)
    torch.testing.assert_close(out, y, atol=1e-4, rtol=1e-4)
