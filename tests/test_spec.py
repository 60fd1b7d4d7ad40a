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
