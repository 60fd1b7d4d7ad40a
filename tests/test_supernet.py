"""The supernet: extracted subnets equal the supernet, weights are shared as documented,
only the active path runs, BatchNorm statistics are re-estimated for subnets that have it."""

from pathlib import Path

import pytest
import torch
from torch import nn

from mlpnas.models import MlpBackbone
from mlpnas.space import known_spaces, load_space
from mlpnas.supernet import ElasticMlp, build_supernet, sort_mlp_channels, subnet_accuracy
from mlpnas.train import EvalSetting, evaluate, has_batchnorm, recalibrate_bn

SPACES = Path(__file__).parent / "data" / "spaces"


def _randomize_norm_stats(net):
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
        if isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d)) and m.weight is not None:
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)


@pytest.mark.parametrize("name", known_spaces())
def test_extracted_subnet_equals_supernet(name):
    torch.manual_seed(0)
    space = load_space(name)
    net = build_supernet(space, 10)
    _randomize_norm_stats(net)
    net.eval()
    x = torch.randn(2, *space.input_size)
    archs = [space.largest(), space.smallest(), *space.uniform_archs().values()]
    archs += [space.sample(s) for s in range(6)]
    for arch in archs:
        net.set_active(arch)
        static = net.extract(arch)
        assert isinstance(static, MlpBackbone) and static.spec.depths == list(arch.depths)
        with torch.no_grad():
            torch.testing.assert_close(static.eval()(x), net(x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cycle_vs_shift", "all_mixers"])
def test_extracted_subnet_equals_supernet_at_imagenet_scale(name):
    torch.manual_seed(0)
    space = load_space(name, scale="imagenet")
    assert space.input_size == (3, 224, 224)
    net = build_supernet(space, 10)
    _randomize_norm_stats(net)
    net.eval()
    x = torch.randn(1, *space.input_size)
    for arch in (space.sample(0), space.smallest()):
        net.set_active(arch)
        with torch.no_grad():
            torch.testing.assert_close(net.extract(arch).eval()(x), net(x), atol=1e-5,
                                       rtol=1e-5)


def test_extract_leaves_the_supernet_alone_and_copies_weights():
    space = load_space("tiny")
    net = build_supernet(space, 10)
    arch = space.sample(1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    static = net.extract(arch)
    for p in static.parameters():
        p.data.add_(1.0)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_weight_sharing():
    """What the extracted networks of two architectures share, value for value: every
    CycleFC kernel the same weights; a smaller Hire-MLP region a prefix of the largest's; each
    permutator segment count its own FCs; a smaller MLP ratio the first hidden channels."""
    space = load_space("all_mixers")
    net = build_supernet(space, 10)
    with torch.no_grad():  # distinct values everywhere, so that equality means sharing
        for p in net.parameters():
            p.copy_(torch.randn_like(p))

    def block0(key):
        state = net.extract(space.arch_from_key(key)).state_dict()
        return {k[len("stages.0.blocks.0."):]: v for k, v in state.items()
                if k.startswith("stages.0.blocks.0.")}

    tail = "_c3r2_c3r2_c3r2"
    c3, c7 = block0("c3r2" + tail), block0("c7r4" + tail)
    for k in ("mixer.along_w.weight", "mixer.along_h.weight", "mixer.fc_c.weight",
              "norm1.weight", "norm2.weight"):
        assert torch.equal(c3[k], c7[k]), k
    # MLP ratio 2 of width 32: the first 64 of the 128 hidden channels of ratio 4
    assert torch.equal(c3["mlp.fc1.weight"], c7["mlp.fc1.weight"][:64])
    assert torch.equal(c3["mlp.fc2.weight"], c7["mlp.fc2.weight"][:, :64])
    # Hire-MLP: region 2 folds 2 x 32 channels, a prefix of region 4's 4 x 32; steps share all
    h2, h4, h4s = block0("h2.0r2" + tail), block0("h4.0r2" + tail), block0("h4.1r2" + tail)
    assert h2["mixer.fc_h1.weight"].shape == (16, 2 * 32)
    assert torch.equal(h2["mixer.fc_h1.weight"], h4["mixer.fc_h1.weight"][:, :64])
    assert torch.equal(h2["mixer.fc_w2.weight"], h4["mixer.fc_w2.weight"][:64])
    assert all(torch.equal(h4[k], h4s[k]) for k in h4)
    # ViP: one (fc_h, fc_w) pair per segment count, the rest of the mixer shared
    p8, p16 = block0("p8r2" + tail), block0("p16r2" + tail)
    assert p8["mixer.fc_h.weight"].shape == (64, 64) and p16["mixer.fc_h.weight"].shape == (32, 32)
    assert torch.equal(p8["mixer.fc_c.weight"], p16["mixer.fc_c.weight"])
    assert torch.equal(p8["mixer.proj.weight"], p16["mixer.proj.weight"])
    # families do not share mixer weights, but do share the block's norms and MLP
    assert torch.equal(c3["norm1.weight"], p8["norm1.weight"])
    assert torch.equal(c3["mlp.fc1.weight"], p8["mlp.fc1.weight"])


def test_only_the_active_path_runs():
    space = load_space("all_mixers")
    net = build_supernet(space, 10).eval()
    arch = space.arch_from_key("c3r2_s5r2_h2.0r2-p8r4_c7r2")
    net.set_active(arch)
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: calls.append(n))
             for n, m in net.named_modules() if isinstance(m, (nn.Linear, ElasticMlp))]
    with torch.no_grad():
        net(torch.randn(1, *space.input_size))
    for h in hooks:
        h.remove()
    mixers_run = {n.split(".mixers.")[1].split(".")[0] for n in calls if ".mixers." in n}
    assert mixers_run == {"cycle", "shift", "hire", "permute"}
    blocks_run = {n[: -len(".mlp")] for n in calls if n.endswith(".mlp")}
    assert blocks_run == {"stages.0.blocks.0", "stages.1.blocks.0", "stages.2.blocks.0",
                          "stages.2.blocks.1", "stages.3.blocks.0"}
    # the permute block ran only its 8-segment FCs
    assert not any(".fc_h.16" in n or ".fc_h.32" in n for n in calls)


def test_smaller_mlp_ratio_uses_first_hidden_channels():
    mlp = ElasticMlp(8, 32)
    x = torch.randn(3, 8)
    mlp.set_active(12)
    ref = nn.functional.linear(
        nn.functional.gelu(nn.functional.linear(x, mlp.fc1.weight[:12], mlp.fc1.bias[:12])),
        mlp.fc2.weight[:, :12], mlp.fc2.bias)
    torch.testing.assert_close(mlp(x), ref)


def test_channel_sorting_keeps_the_function_and_moves_optimizer_state():
    torch.manual_seed(0)
    mlp = ElasticMlp(8, 16)
    opt = torch.optim.AdamW(mlp.parameters())
    x = torch.randn(4, 8)
    mlp(x).sum().backward()
    opt.step()
    before = mlp(x).detach()
    moment = opt.state[mlp.fc1.weight]["exp_avg"].clone()
    order = mlp.importance_order()
    sort_mlp_channels(mlp, opt)
    torch.testing.assert_close(mlp(x), before)
    imp = mlp.fc2.weight.abs().sum(0)
    assert torch.all(imp[:-1] >= imp[1:])
    torch.testing.assert_close(opt.state[mlp.fc1.weight]["exp_avg"], moment[order])




def test_batchnorm_statistics_are_reestimated_only_where_needed():
    from mlpnas.data import SyntheticShapes

    ds = SyntheticShapes(64, 0, 16, 16)
    space = load_space(SPACES / "ln.yaml")  # BatchNorm only inside hire mixers
    net = build_supernet(space, 10)
    cyc = space.arch_from_key("c3r2_c5r1")
    hire = space.arch_from_key("h2.1r2_c3r2")
    assert not has_batchnorm(net.extract(cyc)) and has_batchnorm(net.extract(hire))

    model = net.extract(hire)
    bn = model.stages[0].blocks[0].mixer.norm_h
    inputs = []
    hook = bn.register_forward_hook(lambda m, i, o: inputs.append(i[0].reshape(-1, m.num_features)))
    recalibrate_bn(model, ds, 16, 2, torch.device("cpu"))
    hook.remove()
    assert len(inputs) == 2
    # the cumulative average of the per-batch means
    torch.testing.assert_close(bn.running_mean, torch.stack([t.mean(0) for t in inputs]).mean(0))
    # a subnet without BatchNorm is evaluated without recalibration passes
    calls = []
    net.stem.register_forward_hook(lambda *a: calls.append(1))
    acc = subnet_accuracy(net, cyc, ds, ds, EvalSetting(16, 3, None, 0, None),
                          torch.device("cpu"))
    assert calls == []  # the supernet itself never runs
    model = net.extract(cyc).eval()
    assert acc == evaluate(model, ds, 16, torch.device("cpu"))
    with torch.no_grad():  # the accuracy counted by hand on the same 32 images
        xs = torch.stack([ds[i][0] for i in range(32)])
        ys = torch.tensor([int(ds[i][1]) for i in range(32)])
        by_hand = (model(xs).argmax(-1) == ys).float().mean().item()
    assert evaluate(model, ds, 16, torch.device("cpu"), limit=32) == pytest.approx(by_hand)
