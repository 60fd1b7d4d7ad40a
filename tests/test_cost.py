"""Cost tables: table FLOPs and parameters equal fvcore and the exact count of the extracted
model; latency harness and table."""

import numpy as np
import pytest
import torch
from helpers import latency_setting

from mlpnas.cost import (
    BlockTable,
    CostModel,
    build_flops_table,
    count_params,
    flops_table,
    fvcore_count,
    latency_table,
    measure_latency,
    measure_many,
)
from mlpnas.space import Arch, known_spaces, load_space
from mlpnas.supernet import build_supernet


@pytest.mark.parametrize("name", known_spaces())
def test_table_costs_equal_fvcore_and_exact_params(name):
    space = load_space(name)
    table = build_flops_table(space, 10)
    net = build_supernet(space, 10)
    archs = [space.largest(), space.smallest()] + [space.sample(s) for s in range(5)]
    for arch in archs:
        model = net.extract(arch)
        macs, _ = fvcore_count(model, space.input_size)
        assert table.cost(arch, "macs") == macs, arch.key
        assert table.cost(arch, "params") == count_params(model), arch.key


@pytest.mark.slow
def test_table_costs_equal_fvcore_at_imagenet_scale():
    space = load_space("cycle_vs_shift", "imagenet")
    table = build_flops_table(space, 1000)
    net = build_supernet(space, 1000)
    for arch in [space.largest(), space.sample(0)]:
        model = net.extract(arch)
        macs, _ = fvcore_count(model, space.input_size)
        assert table.cost(arch, "macs") == macs
        assert table.cost(arch, "params") == count_params(model)


def test_extremes_and_cache(tmp_path):
    space = load_space("cycle_vs_shift")
    t1 = flops_table(space, 10, tmp_path)
    files = list(tmp_path.glob("flops-cycle_vs_shift-small-*.json"))
    assert len(files) == 1
    t2 = flops_table(space, 10, tmp_path)  # read back from the cache
    assert t2.blocks == t1.blocks and t2.fixed == t1.fixed
    model = CostModel(t1)
    lo, lo_arch = model.extreme(space, "mflops")
    hi, hi_arch = model.extreme(space, "mflops", largest=True)
    assert space.contains(lo_arch) and space.contains(hi_arch)
    for s in range(200):
        assert lo <= model.cost(space.sample(s), "mflops") <= hi


def test_latency_harness_and_table(tmp_path):
    space = load_space("tiny")
    setting = latency_setting(batch_size=2, warmup=1, repeats=3, threads=1)
    ms = measure_latency(torch.nn.Linear(8, 8), torch.randn(2, 8), setting)
    assert 0 < ms < 1000
    table = latency_table(space, 10, setting, tmp_path)
    (path,) = list(tmp_path.glob("latency-*.json"))
    for part in ("tiny", "torch", "bs2", "fp32", "-t1"):
        assert part in path.name
    assert table.meta["threads"] == 1 and table.meta["batch_size"] == 2
    cm = CostModel(flops_table(space, 10, None), table)
    assert cm.cost(space.largest(), "latency_ms") > table.fixed["latency_ms"] > 0
    # calibrated against end-to-end measurements: smallest, largest and seeded random archs
    rows = table.meta["calibration"]
    assert len(rows) == 8 and rows[0]["arch"] == space.smallest().key
    assert rows[1]["arch"] == space.largest().key
    for r in rows:
        arch = space.arch_from_key(r["arch"])
        assert r["summed_ms"] == pytest.approx(table.raw_cost(arch, "latency_ms"))
        assert r["ratio"] == pytest.approx(r["measured_ms"] / r["summed_ms"])
    scale = table.scale["latency_ms"]
    assert scale == pytest.approx(float(np.median([r["ratio"] for r in rows])))
    arch = space.sample(7)
    assert cm.cost(arch, "latency_ms") == pytest.approx(scale * table.raw_cost(arch, "latency_ms"))
    # the cached file gives back the same calibrated table
    again = latency_table(space, 10, setting, tmp_path)
    assert again.scale == table.scale and again.cost(arch, "latency_ms") == table.cost(
        arch, "latency_ms")


def test_measure_many_interleaves_rounds():
    class Count:
        n = 0

        def update(self, k):
            self.n += k

    setting = latency_setting(batch_size=1, warmup=1, repeats=4, rounds=2, threads=1)
    bar = Count()
    items = {"a": (torch.nn.Linear(8, 8), torch.randn(1, 8)),
             "b": (torch.nn.Sequential(*[torch.nn.Linear(256, 256)] * 20), torch.randn(1, 256))}
    ms = measure_many(items, setting, bar)
    assert bar.n == 4 and set(ms) == {"a", "b"}
    assert 0 < ms["a"] < ms["b"]


def test_frontier_is_exactly_the_non_dominated_costs_of_the_space():
    """Checked against every one of the tiny space's 117k architectures, for two costs of
    the FLOPs table and for three with a (made-up, calibrated) latency table."""
    import itertools

    space = load_space("tiny")
    flops = flops_table(space, 10, None)
    rng = np.random.default_rng(0)
    latency = BlockTable(("latency_ms",), {"latency_ms": 0.05},
                         {k: {"latency_ms": float(rng.uniform(0.01, 0.2))} for k in flops.blocks},
                         scale={"latency_ms": 1.3})
    cm = CostModel(flops, latency)
    per_stage = [[blocks for d in st.depths
                  for blocks in itertools.product(st.block_choices, repeat=d)]
                 for st in space.stages]
    smallest = space.smallest()
    for names in (["mflops", "params_m"], ["mflops", "params_m", "latency_ms"]):
        front = cm.frontier(space, names)
        for values, arch in front:
            assert space.contains(arch)
            assert values == pytest.approx([cm.cost(arch, n) for n in names])
        got = np.array([v for v, _ in front])
        # every architecture's costs: the fixed part plus the blocks of each stage
        fixed = np.array([cm.cost(smallest, n) - sum(_block_cost(cm, i, b, n)
                                                     for i, _, b in smallest.blocks())
                          for n in names])
        stage = [np.array([[sum(_block_cost(cm, i, b, n) for b in blocks) for n in names]
                           for blocks in rows]) for i, rows in enumerate(per_stage)]
        total = (fixed + stage[0][:, None] + stage[1][None]).reshape(-1, len(names))
        assert len(total) == space.size()
        for j in rng.integers(0, len(total), 10):
            s0, s1 = divmod(int(j), len(per_stage[1]))
            arch = Arch((per_stage[0][s0], per_stage[1][s1]))
            assert total[j] == pytest.approx([cm.cost(arch, n) for n in names])
        eps = 1e-9
        # each architecture is matched or beaten by a point of the front ...
        assert np.all(got[None] <= total[:, None] + eps, axis=2).any(axis=1).all()
        # ... and none beats one
        for v in got:
            assert not (np.all(total <= v + eps, axis=1) & np.any(total < v - eps, axis=1)).any()


def _block_cost(cm, stage, block, name):
    """What one block adds to cost `name` (the cost of an architecture is additive)."""
    from mlpnas.cost._model import COSTS

    metric, scale = COSTS[name]
    table = cm._table(name)
    return table.blocks[f"{stage}:{block.token}"][metric] * table.scale.get(metric, 1.0) * scale


def test_latency_setting_records_the_threads_in_effect():
    setting = latency_setting(threads=None)
    assert setting.record()["threads"] == torch.get_num_threads() >= 1
    assert setting.describe().endswith(f", batch 1, fp32, {torch.get_num_threads()} threads")
    assert latency_setting(device="cuda", threads=None).describe().endswith(", fp32")


def test_a_hardware_node_lacking_a_latency_key_is_one_sentence_naming_it():
    from mlpnas._io import packaged_conf
    from mlpnas.cost import LatencySetting
    from mlpnas.errors import UserError

    hw = packaged_conf("hardware", "cpu")
    assert LatencySetting.from_cfg(hw) == latency_setting()
    del hw["latency"]["rounds"]
    with pytest.raises(UserError, match=r"the hardware.latency settings lack "
                                        r"hardware.latency.rounds; give it \(the files in "
                                        r"conf/hardware/ hold every one\)."):
        LatencySetting.from_cfg(hw)
