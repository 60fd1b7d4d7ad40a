import pytest

from mlpnas.models import published_spec
from mlpnas.spec import BlockSpec, DownsampleSpec, NetSpec, SpecError, StageSpec, StemSpec


@pytest.mark.parametrize("name", ["cyclemlp_b1", "asmlp_t", "hiremlp_tiny", "vip_m7", "test_vip"])
def test_round_trip(name):
    spec = published_spec(name)
    again = NetSpec.from_dict(spec.to_dict())
    assert again == spec and again.to_dict() == spec.to_dict()


def _net(blocks, dim=16, img=32, downsample=None):
    return NetSpec(StemSpec(4, 4), (StageSpec(dim, tuple(blocks), downsample),), img_size=img)


def test_resolutions():
    spec = published_spec("vip_s7")
    assert spec.resolutions() == [(32, 32), (16, 16), (16, 16), (16, 16)]
    assert published_spec("asmlp_t", img_size=(100, 60)).resolutions() == [
        (25, 15), (13, 8), (7, 4), (4, 2)]


@pytest.mark.parametrize("block,message", [
    (BlockSpec.make("cycle", 32, kernel=4), "cycle kernel must be odd"),
    (BlockSpec.make("mix", 32), "unknown mixer family 'mix'"),
    (BlockSpec.make("shift", 32, shiftsize=3), "has no option 'shiftsize'"),
    (BlockSpec.make("permute", 32, segments=3), "segments=3 does not divide the width 16"),
    (BlockSpec.make("hire", 0, region=2), "mlp_hidden must be positive"),
])
def test_bad_blocks_are_refused_with_a_sentence(block, message):
    with pytest.raises(SpecError, match=message):
        _net([block])


def test_empty_stage_and_tiny_input():
    with pytest.raises(SpecError, match="depth must be at least 1"):
        _net([])
    with pytest.raises(SpecError, match="would have a 0x0 feature map"):
        _net([BlockSpec.make("cycle", 8)], img=3)
    with pytest.raises(SpecError, match="downsample kind must be"):
        DownsampleSpec("pool")


# -- the size of a described network, counted before any tensor is allocated -----------------
def _held(spec) -> int:
    """What the built network really holds (weights and buffers), on the meta device."""
    import torch

    from mlpnas.models import MlpBackbone

    with torch.device("meta"):
        return sum(v.numel() for v in MlpBackbone(spec).state_dict().values())


def _family_specs():
    """Networks of every family: the smallest published model and the test model of each,
    and random architectures of the all-families space."""
    from mlpnas.space import load_space

    for name in ("cyclemlp_b1", "asmlp_t", "hiremlp_tiny", "vip_s7", "test_cyclemlp",
                 "test_asmlp", "test_hiremlp", "test_vip"):
        yield name, published_spec(name)
    space = load_space("all_mixers")
    for seed in range(4):
        arch = space.sample(seed)
        yield f"all_mixers-{arch.key}", space.to_netspec(arch, 10)


@pytest.mark.parametrize("name,spec", list(_family_specs()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_each_family_counts_its_own_size_within_a_few_percent(name, spec):
    """Every family of the registry brings its own count (`FamilyInfo.size`); the network's
    estimate is an upper bound of what it holds, and within 3% of it."""
    held = _held(spec)
    weights, largest = spec.size_estimate()
    assert held <= weights <= 1.03 * held, (name, held, weights)
    assert largest >= spec.img_size[0] * spec.img_size[1] * spec.in_chans


def test_every_family_of_the_registry_has_a_size_count():
    from mlpnas.spec import FAMILIES

    for fam in FAMILIES.values():
        weights, largest = fam.size(16, dict(fam.options), (8, 8))
        assert weights > 16 * 16 and largest >= 8 * 8 * 16


def _block_net(mixer, dim, img, stem, **options):
    return {"stem": {"kernel": stem, "stride": stem, "padding": 0}, "img_size": [img, img],
            "in_chans": 3, "num_classes": 10, "norm": "layer",
            "stages": [{"dim": dim, "blocks": [{"mixer": mixer, "options": options,
                                                 "mlp_hidden": dim}]}]}


@pytest.mark.parametrize("d,message", [
    # Hire-MLP's branch FCs are dim*region wide: 816 weights estimated before, 1.4e10 held
    (_block_net("hire", 8, 32, 4, region=100_000_000, step=0),
     "would hold about 14.4 billion weights, more than the 1 billion"),
    # a narrow Hire-MLP block holds few weights but folds its map to the region's size
    (_block_net("hire", 2, 16, 1, region=40_000_000, step=0),
     "would make a tensor of about 1.28 billion values for each image"),
    # the permutator's per-axis FCs are (H*S)^2: 16 GiB in one tensor at input 1024
    (_block_net("permute", 64, 1024, 1, segments=1), "would hold about 8.59 billion weights"),
    (_block_net("permute", 64, 8192, 1, segments=1), "would hold about 550 billion weights"),
    # one block of the widest width allowed (5 GB in fp32)
    (_block_net("cycle", 16384, 32, 4), "would hold about 1.88 billion weights"),
    # a cheap network at the largest input allowed: the map itself is too large
    (_block_net("cycle", 64, 8192, 1), "at input size 8192x8192 would make a tensor of about "
                                       "4.29 billion values"),
])
def test_a_huge_network_is_refused_before_any_tensor(d, message):
    with pytest.raises(SpecError, match=message):
        NetSpec.from_dict(d)


def test_a_published_model_at_a_huge_input_is_refused():
    from mlpnas.errors import UserError
    from mlpnas.tasks.info import summarize

    with pytest.raises(UserError, match="vip_s7|would hold about"):
        summarize("vip_s7", 8192, flops=False)
    assert "parameters: 25.11 M" in summarize("vip_s7", None, flops=False)
