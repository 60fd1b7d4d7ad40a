"""Supernet training recipes of the ranking ablation: uniform and strict-fair sampling,
few-shot splitting on the first block, and old checkpoints that predate these options."""

import random
from collections import Counter
from pathlib import Path

import pytest
import torch
from helpers import recipe

from mlpnas.data import build_data, data_config
from mlpnas.errors import UserError
from mlpnas.space import load_space
from mlpnas.supernet import (
    FewShotSupernet,
    build_supernet,
    describe_mismatch,
    fingerprint,
    load_trained_supernet,
    train_supernet,
)
from mlpnas.supernet._train import fair_paths, step_archs, with_first_family
from mlpnas.train import load_checkpoint

SPACES = Path(__file__).parent / "data" / "spaces"
RECIPE = dict(epochs=1, batch_size=32, lr=3e-3, min_lr=1e-5, weight_decay=0.05,
              warmup_epochs=0.2, label_smoothing=0.1, mixup=0.0, cutmix=0.0,
              sampling="sandwich", sandwich_random=1, distill=True, kd_temperature=1.0,
              grad_clip=5.0, drop_path=0.0, sort_channels=True, few_shot="none",
              init_from=None, checkpoint_every=50, recal_batches=1, eval_batch_size=64,
              eval_limit=None, num_workers=0)
DATA = data_config(train_size=128, holdout_size=32, val_size=32)


def test_fair_paths_train_every_block_choice_once_per_step():
    space = load_space(SPACES / "learn.yaml")  # 8 block choices per stage, depth 1 or 2
    paths = fair_paths(space, random.Random(0))
    assert len(paths) == 8
    for i, st in enumerate(space.stages):
        first = Counter(p.stages[i][0] for p in paths)  # position 0 is in every path
        assert set(first) == set(st.block_choices) and set(first.values()) == {1}
        depths = Counter(len(p.stages[i]) for p in paths)
        assert depths == {1: 4, 2: 4}  # every allowed depth equally often
    for p in paths:
        space.check_arch(p)


def test_step_archs_by_sampling():
    space = load_space("tiny")
    sandwich = step_archs(space, recipe(RECIPE), 0, 3)
    assert sandwich[:2] == [space.largest(), space.smallest()] and len(sandwich) == 3
    uniform = step_archs(space, recipe(RECIPE, sampling="uniform", sandwich_random=4), 0, 3)
    assert len(uniform) == 4 and uniform == step_archs(
        space, recipe(RECIPE, sampling="uniform", sandwich_random=4), 0, 3)  # seeded by step
    fair = step_archs(space, recipe(RECIPE, sampling="fair"), 0, 3)
    assert len(fair) == max(len(st.block_choices) for st in space.stages)


def test_first_block_of_a_family():
    space = load_space("tiny")
    rng = random.Random(0)
    for s in range(20):
        arch = space.sample(s)
        forced = with_first_family(space, arch, "shift", rng)
        assert forced.stages[0][0].family == "shift" and forced.stages[1:] == arch.stages[1:]
        space.check_arch(forced)
    big = with_first_family(space, space.largest(), "hire", rng, "largest")
    assert big.stages[0][0].token == "h3.1r2"  # the largest region, step and MLP ratio
    small = with_first_family(space, space.smallest(), "hire", rng, "smallest")
    assert small.stages[0][0].token == "h2.0r1"


@pytest.mark.parametrize("key,value,message", [
    ("sampling", "greedy", "unknown train.sampling 'greedy'; use one of sandwich, uniform, fair"),
    ("few_shot", "per_stage", "unknown train.few_shot 'per_stage'; use one of none, "
                              "first_block"),
])
def test_unknown_recipe_options_are_one_sentence(tmp_path, key, value, message):
    space = load_space("tiny")
    with pytest.raises(UserError, match=message):
        train_supernet(space, build_data(DATA, space.input_size), recipe(RECIPE, **{key: value}),
                       tmp_path, progress=False, log=lambda m: None, data_cfg=DATA)


def test_few_shot_parts_extract_exactly_and_train_apart(tmp_path):
    space = load_space("tiny")
    data = build_data(DATA, space.input_size)
    net = build_supernet(space, 10, few_shot="first_block").eval()
    assert isinstance(net, FewShotSupernet) and net.families == ("cycle", "shift", "hire",
                                                                 "permute")
    x = torch.randn(2, *space.input_size)
    for s in range(6):
        arch = space.sample(s)
        net.set_active(arch)
        with torch.no_grad():
            torch.testing.assert_close(net.extract(arch).eval()(x), net(x))
    # trained in turn, one part per step, starting from a finished one-shot supernet
    train_supernet(space, data, recipe(RECIPE), tmp_path / "one", progress=False,
                   log=lambda m: None, data_cfg=DATA)
    shared = load_checkpoint(tmp_path / "one" / "checkpoint.pt")["model"]
    few = recipe(RECIPE, few_shot="first_block", init_from=str(tmp_path / "one"))
    r = train_supernet(space, data, few, tmp_path / "few", progress=False,
                       log=lambda m: None, data_cfg=DATA)
    assert r.steps == 4  # steps 0-3: one per part
    parts = r.module.parts
    key = "stem.conv.weight" if "stem.conv.weight" in shared else next(iter(shared))
    for fam in net.families:
        assert not torch.equal(parts[fam].state_dict()[key], shared[key])  # each one trained
    assert not torch.equal(parts["cycle"].state_dict()[key], parts["shift"].state_dict()[key])
    loaded = load_trained_supernet(space, tmp_path / "few", DATA, few, 0, 10)
    assert isinstance(loaded, FewShotSupernet)
    arch = with_first_family(space, space.sample(1), "hire", random.Random(0))
    want = r.module.parts["hire"].extract(arch).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.extract(arch).eval()(x), want(x))


def test_init_from_refuses_an_unfinished_or_missing_supernet(tmp_path):
    space = load_space("tiny")
    data = build_data(DATA, space.input_size)
    with pytest.raises(UserError, match="holds no trained supernet"):
        train_supernet(space, data, recipe(RECIPE, few_shot="first_block",
                                         init_from=str(tmp_path / "none")),
                       tmp_path / "few", progress=False, log=lambda m: None, data_cfg=DATA)
    train_supernet(space, data, recipe(RECIPE, checkpoint_every=1), tmp_path / "part",
                   progress=False, log=lambda m: None, data_cfg=DATA, stop_after_steps=1)
    with pytest.raises(UserError, match="cannot start this supernet: it is not fully trained"):
        train_supernet(space, data, recipe(RECIPE, few_shot="first_block",
                                         init_from=str(tmp_path / "part")),
                       tmp_path / "few2", progress=False, log=lambda m: None, data_cfg=DATA)


def test_a_checkpoint_from_before_the_sampling_options_is_still_a_sandwich_one():
    space = load_space("tiny")
    wanted = fingerprint(space, DATA, recipe(RECIPE), 0, 10)
    old = dict(wanted, recipe={k: v for k, v in wanted["recipe"].items()
                               if k not in ("sampling", "few_shot", "init_from")})
    assert describe_mismatch(old, wanted) is None
    fair = fingerprint(space, DATA, recipe(RECIPE, sampling="fair"), 0, 10)
    assert "recipe.sampling='sandwich', this run asks for 'fair'" in describe_mismatch(old, fair)


def test_a_checkpoint_from_before_the_synthetic_variant_key_is_a_shapes_one():
    """conf/data/synthetic.yaml gained `variant: shapes`; supernets trained before keep
    being reused, and a relational run still tells them apart."""
    space = load_space("tiny")
    wanted = fingerprint(space, DATA, recipe(RECIPE), 0, 10)
    assert wanted["data"]["variant"] == "shapes"
    old = dict(wanted, data={k: v for k, v in wanted["data"].items() if k != "variant"})
    assert describe_mismatch(old, wanted) is None
    relational = fingerprint(space, dict(DATA, variant="relational"), recipe(RECIPE), 0, 10)
    assert ("data.variant='shapes', this run asks for 'relational'"
            in describe_mismatch(old, relational))
