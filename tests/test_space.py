"""Search spaces: shipped files, sampling, keys, validation errors, no torch."""

import itertools
import subprocess
import sys

import pytest
import yaml

from mlpnas.space import SPACES_DIR, Arch, BlockChoice, SpaceError, known_spaces, load_space
from mlpnas.space import parse_space as _parse

SHIPPED = known_spaces()


def test_shipped_spaces():
    assert {"cycle_vs_shift", "all_mixers", "tiny"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("scale", ["small", "imagenet"])
def test_space_loads_at_both_scales(name, scale):
    space = load_space(name, scale)
    assert space.scale == scale and set(space.scales) >= {"small", "imagenet"}
    if scale == "imagenet":
        assert space.input_size == (3, 224, 224)
    for seed in range(20):
        arch = space.sample(seed)
        assert space.arch_from_key(arch.key) == arch
        assert space.contains(arch)
    assert space.sample(3) == space.sample(3)
    for arch in (space.largest(), space.smallest(), *space.uniform_archs().values()):
        assert space.contains(arch)
    assert len(set(space.uniform_archs())) >= 2


def test_cycle_vs_shift_content():
    space = load_space("cycle_vs_shift")
    assert space.input_size == (3, 32, 32)
    for st in space.stages:
        assert st.options_of("cycle") == {"kernel": (3, 5, 7)}
        assert st.options_of("shift") == {"shift_size": (3, 5, 7)}
        assert len(st.depths) > 1 and len(st.mlp_ratios) > 1
    imagenet = load_space("cycle_vs_shift", "imagenet")
    assert [s.width for s in imagenet.stages] == [64, 128, 320, 512]
    assert [s.resolution for s in imagenet.stages] == [(56, 56), (28, 28), (14, 14), (7, 7)]


def test_size_counts_distinct_architectures():
    space = load_space("tiny")
    # enumerate: every depth, every block choice per block
    count = 1
    for st in space.stages:
        count *= sum(len(list(itertools.product(st.block_choices, repeat=d)))
                     for d in st.depths)
    assert space.size() == count
    archs = [space.sample(s) for s in range(3000)]
    assert len({a.key for a in archs}) == len(set(archs)) > 1000  # one key per distinct arch


def test_keys_are_readable_and_canonical():
    b = BlockChoice("hire", (("region", 3), ("step", 1)), 2.0)
    assert b.token == "h3.1r2" and BlockChoice.from_token("h3.1r2") == b
    assert BlockChoice.from_token("c3x5r1.5").options == (("kernel", (3, 5)),)
    arch = Arch(((BlockChoice("cycle", (("kernel", 3),), 4.0),),
                 (BlockChoice("shift", (("shift_size", 5),), 2.0),) * 2))
    assert arch.key == "c3r4_s5r2-s5r2"
    with pytest.raises(SpaceError, match="is not a block of an architecture key"):
        BlockChoice.from_token("q3r2")


def test_key_not_in_space():
    space = load_space("cycle_vs_shift")
    with pytest.raises(SpaceError, match="has 2 stages but space 'cycle_vs_shift' has 4"):
        space.arch_from_key("c3r4_c3r4")
    with pytest.raises(SpaceError, match=r"\('c9r4'\) is not in space 'cycle_vs_shift'"):
        space.arch_from_key("c9r4_c3r4_c3r4_c3r4")
    with pytest.raises(SpaceError, match=r"has depth 3; space 'cycle_vs_shift' allows \[1, 2\]"):
        space.arch_from_key("c3r4-c3r4-c3r4_c3r4_c3r4_c3r4")


def _raw(name="cycle_vs_shift"):
    return yaml.safe_load((SPACES_DIR / f"{name}.yaml").read_text())


@pytest.mark.parametrize("edit,message", [
    (lambda r: r["stages"][1]["mixers"].update(cycel={"kernel": 3}),
     "stage 1: unknown mixer family 'cycel'; known families are cycle, shift, hire, permute"),
    (lambda r: r["stages"][0]["mixers"]["cycle"].update(kernel=[3, 4]),
     "stage 0: cycle kernel must be odd (1, 3, 5, 7, ...), got 4"),
    (lambda r: r["stages"][2].update(depth=[0, 1]),
     "stage 2: depth 0 is not allowed; depth values must be positive integers"),
    (lambda r: r["stages"][0].update(mlp_ratios=[2]),
     "stage 0: unknown field 'mlp_ratios'; allowed fields are depth, mixers, mlp_ratio"),
    (lambda r: r.update(stagez=[]),
     "unknown field 'stagez'; allowed fields are name, description"),
    (lambda r: r["stages"][0]["mixers"]["shift"].update(size=3),
     "mixer 'shift' has no option 'size'; its options are shift_size"),
    (lambda r: r["stages"][3]["mixers"].update(permute={"segments": [5]}),
     "stage 3 (2x2 map, width 128): permute segments=5 does not divide the width 128"),
    (lambda r: r["scales"]["small"].update(widths=[32, 64, 96]),
     "widths must list one positive integer per stage (4 stages"),
    (lambda r: r["scales"]["small"].update(input_size=[3, 3, 3],
                                           stem={"kernel": 4, "stride": 4}),
     "stage 0 would have a 0x0 feature map"),
])
def test_mistakes_are_refused_with_one_sentence(edit, message):
    raw = _raw()
    edit(raw)
    with pytest.raises(SpaceError) as e:
        _parse(raw, "cycle_vs_shift.yaml")
    text = str(e.value)
    assert message in text, text
    assert "\n" not in text


def test_unknown_space_and_bad_yaml(tmp_path):
    with pytest.raises(SpaceError, match="unknown search space 'nope'; known spaces are"):
        load_space("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [\n")
    with pytest.raises(SpaceError, match="is not valid YAML at line"):
        load_space(bad)
    with pytest.raises(SpaceError, match="unknown scale 'huge'"):
        load_space("tiny", "huge")


def test_space_package_imports_no_torch():
    """`import mlpnas` and `import mlpnas.space` stay light: no torch, timm or torchvision."""
    code = ("import sys, mlpnas, mlpnas.space; mlpnas.space.load_space('cycle_vs_shift'); "
            "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
