"""The published models: timm registration, the timm API, sizes against the authors'
numbers, odd resolutions, and official checkpoints through timm."""

import pytest
import timm
import torch

import mlpnas  # noqa: F401  (registers the models)
from mlpnas.cost import count_params, fvcore_count
from mlpnas.models import PUBLISHED, MlpBackbone, published_spec
from mlpnas.models.official import _official_name

# (params M, GMACs) counted on the authors' code (shared/reference/README.md): exact targets
EXACT = {
    "cyclemlp_b1": (15.16, 2.13),
    "asmlp_t": (28.28, 4.38),
    "hiremlp_tiny": (18.04, 2.15),
    "vip_s7": (25.12, 6.92),
}
# the papers' tables (params in M rounded to 1 M, FLOPs in G rounded to 0.1 G)
PAPERS = {
    "cyclemlp_b2": (27, 3.9), "cyclemlp_b3": (38, 6.9), "cyclemlp_b4": (52, 10.1),
    "cyclemlp_b5": (76, 12.3), "asmlp_s": (50, 8.5), "asmlp_b": (88, 15.2),
    "hiremlp_small": (33, 4.2), "hiremlp_base": (58, 8.1), "hiremlp_large": (96, 13.4),
    "vip_m7": (55, 16.3), "vip_l7": (88, 24.4),
}
BIG = [n for n in PUBLISHED if not n.startswith("test_")]
TEST = [n for n in PUBLISHED if n.startswith("test_")]


def test_all_published_names_are_registered():
    registered = set(timm.list_models())
    assert {"cyclemlp_b1", "cyclemlp_b2", "cyclemlp_b3", "cyclemlp_b4", "cyclemlp_b5",
            "asmlp_t", "asmlp_s", "asmlp_b", "hiremlp_tiny", "hiremlp_small", "hiremlp_base",
            "hiremlp_large", "vip_s7", "vip_m7", "vip_l7"} <= registered
    assert set(TEST) <= registered and len(BIG) == 15


@pytest.mark.slow
@pytest.mark.parametrize("name", BIG)
def test_published_sizes(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    params = count_params(model) / 1e6
    if name in EXACT:
        p_ref, g_ref = EXACT[name]
        assert abs(params - p_ref) <= 0.005 * p_ref
    else:
        p_ref, g_ref = PAPERS[name]
        assert abs(params - p_ref) <= 0.5 + 0.005 * p_ref
    macs, unsupported = fvcore_count(MlpBackbone(published_spec(name)), (3, 224, 224))
    gmacs = macs / 1e9
    tol = 0.02 * g_ref if name in EXACT else 0.05 + 0.02 * g_ref
    assert abs(gmacs - g_ref) <= tol, (gmacs, g_ref)


@pytest.mark.parametrize("name", TEST)
def test_timm_api(name):
    model = timm.create_model(name).eval()
    H, W = model.pretrained_cfg["input_size"][1:]
    x = torch.randn(2, 3, H, W)
    feats = model.forward_features(x)
    assert feats.dim() == 4 and feats.shape[-1] == model.num_features
    pre = model.forward_head(feats, pre_logits=True)
    assert pre.shape == (2, model.num_features)
    logits = model(x)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(model.forward_head(feats), logits)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.spec.num_classes == 3
    info = model.feature_info
    assert [f["num_chs"] for f in info] == model.spec.dims
    assert info[-1]["reduction"] == H // feats.shape[1]


@pytest.mark.parametrize("name", TEST)
def test_features_only(name):
    model = timm.create_model(name, features_only=True).eval()
    H, W = model.pretrained_cfg["input_size"][1:]
    outs = model(torch.randn(1, 3, H, W))
    assert [o.shape[1] for o in outs] == model.feature_info.channels()
    assert [H // o.shape[2] for o in outs] == model.feature_info.reduction()


def test_forward_intermediates_and_pruning_take_timm_indices():
    """Stage indices as timm reads them: None = all, n = the last n, a list (negative from
    the end); the maps are the stages' outputs, and pruning keeps what is taken."""
    model = timm.create_model("test_cyclemlp").eval()
    x = torch.randn(1, 3, *model.pretrained_cfg["input_size"][1:])
    with torch.no_grad():
        every = model.forward_intermediates(x, intermediates_only=True)
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        chosen = model.forward_intermediates(x, indices=[0, -1], intermediates_only=True)
        final, _ = model.forward_intermediates(x)  # what forward_head takes, as in timm
        torch.testing.assert_close(final, model.forward_features(x))
        torch.testing.assert_close(model.forward_head(final), model(x))
        y = model.stem(x)
        for stage, got in zip(model.stages, every):  # each stage's map, NCHW
            y = stage(y)
            torch.testing.assert_close(got, y.permute(0, 3, 1, 2))
    n = len(model.stages)
    assert len(every) == n
    torch.testing.assert_close(last_two, every[-2:])
    torch.testing.assert_close(chosen, [every[0], every[-1]])
    with pytest.raises(AssertionError, match="out of range"):
        model.forward_intermediates(x, indices=[n])
    assert model.prune_intermediate_layers(indices=[1]) == [1] and len(model.stages) == 2


@pytest.mark.parametrize("name", TEST)
def test_odd_non_square_resolution(name):
    size = (67, 45)
    model = MlpBackbone(published_spec(name, img_size=size))  # ViP sizes its FCs to the map
    x = torch.randn(2, 3, *size)
    y = model(x)
    y.sum().backward()
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_non_vip_models_take_any_input_size_without_rebuilding():
    model = timm.create_model("test_hiremlp").eval()
    for size in [(64, 64), (61, 93), (33, 35)]:
        assert model(torch.randn(1, 3, *size)).shape == (1, 10)


def _to_official(model, family):
    """Our state dict in the authors' names and layouts (inverting the index permutations
    that the mapping applies, e.g. Hire-MLP's folded channels)."""
    out = {}
    for key, t in model.state_dict().items():
        theirs, transform = _official_name(model, key, family)
        if transform is not None:  # ours.flat[i] == theirs.flat[source[i]]
            source = transform(torch.arange(t.numel()).reshape(t.shape)).flatten()
            flat = torch.empty_like(t).flatten()
            flat[source] = t.flatten()
            t = flat.reshape(t.shape)
        out[theirs] = t.clone()
    return out


def test_official_checkpoint_file_loads_through_timm(tmp_path):
    src = timm.create_model("test_cyclemlp").eval()
    ckpt = tmp_path / "CycleMLP_test.pth"
    torch.save({"model": _to_official(src, "cycle")}, ckpt)
    loaded = timm.create_model("test_cyclemlp", pretrained=True,
                               pretrained_cfg_overlay=dict(file=str(ckpt))).eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(loaded(x), src(x))


FAMILY = {"test_cyclemlp": "cycle", "test_asmlp": "shift", "test_hiremlp": "hire",
          "test_vip": "permute"}


@pytest.mark.parametrize("num_classes", [3, 0])
@pytest.mark.parametrize("name", TEST)
def test_official_checkpoint_fine_tunes_with_another_num_classes(tmp_path, name, num_classes):
    """timm's rule: with num_classes different from the checkpoint's, every weight but the
    classifier loads and the classifier keeps its fresh initialisation."""
    src = timm.create_model(name).eval()
    ckpt = tmp_path / "official.pth"
    torch.save({"model": _to_official(src, FAMILY[name])}, ckpt)
    loaded = timm.create_model(name, pretrained=True, num_classes=num_classes,
                               pretrained_cfg_overlay=dict(file=str(ckpt))).eval()
    theirs, ours = src.state_dict(), loaded.state_dict()
    body = [k for k in theirs if not k.startswith("head.")]
    assert body and set(body) == {k for k in ours if not k.startswith("head.")}
    for key in body:
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=0, msg=key)
    H, W = src.pretrained_cfg["input_size"][1:]
    x = torch.randn(2, 3, H, W)
    torch.testing.assert_close(loaded.forward_head(loaded.forward_features(x), pre_logits=True),
                               src.forward_head(src.forward_features(x), pre_logits=True))
    if num_classes:
        assert loaded.head.weight.shape == (num_classes, src.num_features)
        assert loaded(x).shape == (2, num_classes)
    else:
        assert not any(k.startswith("head.") for k in ours)
        assert loaded(x).shape == (2, src.num_features)


def test_official_checkpoint_adapts_to_one_input_channel(tmp_path):
    src = timm.create_model("test_hiremlp").eval()
    ckpt = tmp_path / "official.pth"
    torch.save(_to_official(src, "hire"), ckpt)
    loaded = timm.create_model("test_hiremlp", pretrained=True, in_chans=1,
                               pretrained_cfg_overlay=dict(file=str(ckpt))).eval()
    gray = torch.randn(2, 1, 64, 64)
    torch.testing.assert_close(loaded(gray), src(gray.expand(-1, 3, -1, -1)))


def test_own_checkpoint_file_loads_through_timm(tmp_path):
    src = timm.create_model("test_vip").eval()
    ckpt = tmp_path / "ours.pth"
    torch.save(src.state_dict(), ckpt)
    loaded = timm.create_model("test_vip", pretrained=True,
                               pretrained_cfg_overlay=dict(file=str(ckpt))).eval()
    x = torch.randn(2, 3, 56, 56)
    torch.testing.assert_close(loaded(x), src(x))


@pytest.mark.parametrize("name", TEST)
def test_fvcore_counts_every_mixer(name):
    """No mixer's compute may hide in fvcore's unsupported ops: only elementwise ops and
    data movement are left uncounted, and a model's count equals the sum of its linear and
    conv layers plus norms."""
    from mlpnas.cost import ELEMENTWISE_OPS

    model = timm.create_model(name).eval()
    size = model.pretrained_cfg["input_size"]
    macs, unsupported = fvcore_count(model, size)
    assert set(unsupported) <= ELEMENTWISE_OPS, set(unsupported) - ELEMENTWISE_OPS
    assert macs == _layer_macs(model, size)


def _layer_macs(model, input_size) -> int:
    """Multiply-adds summed layer by layer from the shapes each layer saw (forward hooks):
    Linear rows x in x out, Conv2d output x in/groups x kernel, and fvcore's norm rule (5 per
    element for LayerNorm / GroupNorm with affine, 2 for BatchNorm in eval)."""
    from torch import nn

    total = 0

    def hook(m, inp, out):
        nonlocal total
        x = inp[0]
        if isinstance(m, nn.Linear):
            total += x.numel() * m.out_features
        elif isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] \
                * m.kernel_size[1]
        elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
            total += x.numel() * (5 if m.weight is not None else 4)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            total += x.numel() * (2 if m.weight is not None else 1)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *input_size))
    for h in handles:
        h.remove()
    return total


def test_cyclefc_counts_as_its_linear_layer():
    from mlpnas.mixers import CycleFC

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = CycleFC(12, 20, 5, "h")

        def forward(self, x):
            return self.fc(x.permute(0, 2, 3, 1))

    macs, unsupported = fvcore_count(Wrap(), (12, 7, 9))
    assert macs == 7 * 9 * 12 * 20


def test_global_pool_and_features_only_follow_timm_on_published_models():
    x = torch.randn(2, 3, 64, 64)
    for pool, width in (("avg", 48), ("max", 48), ("avgmax", 48), ("catavgmax", 96)):
        model = timm.create_model("test_cyclemlp", global_pool=pool)
        assert model(x).shape == (2, 10)
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, width)
    features = timm.create_model("test_cyclemlp", features_only=True)
    assert len(features(x)) == 4  # every stage by default
