"""Conformance of every mixer family in the family table (`mlpnas.spec.FAMILIES`), in the
style of Optuna's sampler and storage test suites: one set of tests, parametrised over the
registry, that a new family passes by adding its file and its entry. Each family is tested
in a space of its own: the shipped `tiny` space (which must list every family) with the
other families removed."""

from __future__ import annotations

import pytest
import torch
import yaml

from mlpnas.cost import build_flops_table, count_params, fvcore_count
from mlpnas.mixers import MIXERS, create_mixer
from mlpnas.models import MlpBackbone
from mlpnas.space import BlockChoice, load_space, parse_space, resolve_space_path
from mlpnas.spec import FAMILIES, SpecError, family
from mlpnas.supernet import build_supernet

NAMES = list(FAMILIES)


def family_space(name: str):
    path = resolve_space_path("tiny")
    raw = yaml.safe_load(path.read_text())
    for stage in raw["stages"]:
        stage["mixers"] = {name: stage["mixers"][name]}
    return parse_space(raw, path, "small")


def archs_of(space, n_random: int = 4):
    return [space.largest(), space.smallest()] + [space.sample(s) for s in range(n_random)]


def test_the_tiny_space_lists_every_family_and_letters_are_unique():
    assert set(load_space("tiny").stages[0].families) == set(FAMILIES)
    codes = [info.code for info in FAMILIES.values()]
    assert len(set(codes)) == len(codes) and all(len(c) == 1 for c in codes)


@pytest.mark.parametrize("name", NAMES)
def test_entry_names_its_mixers_and_checks_its_options(name):
    info = family(name)
    static, elastic = info.static_class(), info.elastic_class()
    assert MIXERS[name] is static
    assert issubclass(elastic, static)  # same parameter names: extraction is slicing
    assert info.kernel_option in info.options
    assert info.check({}) == dict(info.options)  # the defaults are legal
    with pytest.raises(SpecError, match=f"mixer '{name}' has no option 'bogus'"):
        info.check({"bogus": 1})
    assert info.cost_note and info.paper
    assert hasattr(elastic, "set_mixture") == info.mergeable


@pytest.mark.parametrize("name", NAMES)
def test_supernet_path_equals_its_extracted_network(name):
    torch.manual_seed(0)
    space = family_space(name)
    net = build_supernet(space, 10).eval()
    x = torch.randn(2, *space.input_size)
    for arch in archs_of(space):
        net.set_active(arch)
        with torch.no_grad():
            want = net(x)
            got = net.extract(arch).eval()(x)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=arch.key)


@pytest.mark.parametrize("name", NAMES)
def test_block_table_costs_equal_fvcore(name):
    space = family_space(name)
    table = build_flops_table(space, 10)
    for arch in archs_of(space):
        model = MlpBackbone(space.to_netspec(arch, 10))
        macs, _ = fvcore_count(model, space.input_size)
        assert table.cost(arch, "macs") == macs, arch.key
        assert table.cost(arch, "params") == count_params(model), arch.key


@pytest.mark.parametrize("name", NAMES)
def test_keys_round_trip(name):
    space = family_space(name)
    code = family(name).code
    for arch in archs_of(space, 8):
        assert space.arch_from_key(arch.key) == arch
        for _, _, block in arch.blocks():
            assert block.token.startswith(code)
            assert BlockChoice.from_token(block.token) == block


@pytest.mark.parametrize("name", NAMES)
def test_static_mixer_from_the_registry_runs_on_odd_maps(name):
    """create_mixer builds the family's static mixer on a non-square map of odd sides."""
    info = family(name)
    mixer = create_mixer(name, 8, input_size=(5, 7), **dict(info.options))
    assert type(mixer) is info.static_class()
    y = mixer(torch.randn(2, 5, 7, 8))
    assert y.shape == (2, 5, 7, 8) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_agrees_with_pytorch(name, tmp_path):
    pytest.importorskip("onnxruntime")
    from mlpnas.export import export_onnx, onnx_max_error

    space = family_space(name)
    model = MlpBackbone(space.to_netspec(space.largest(), 10)).eval()
    path = export_onnx(model, tmp_path / "m.onnx", space.input_size)
    assert onnx_max_error(path, model, torch.randn(1, *space.input_size)) < 1e-4
