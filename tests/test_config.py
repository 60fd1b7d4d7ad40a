"""Every option of every Hydra config group composes, and instantiates what it describes."""

from pathlib import Path

import pytest
from helpers import compose_config, write_cifar, write_image_folder

from mlpnas.cli import CONF_DIR, VERBS
from mlpnas.data import REAL_KEYS, SYNTHETIC_KEYS, build_data, data_config
from mlpnas.space import known_spaces, load_space
from mlpnas.tasks._common import plain, space_from_cfg
from mlpnas.train import RECIPE_KEYS

GROUPS = {g.name: sorted(p.stem for p in g.glob("*.yaml"))
          for g in CONF_DIR.iterdir() if g.is_dir() and g.name != "hydra"}


def test_every_verb_has_a_config():
    for verb in VERBS:
        assert (CONF_DIR / f"{verb}.yaml").is_file()


def test_every_shipped_space_has_a_space_option():
    assert set(known_spaces()) <= set(GROUPS["space"])


@pytest.mark.parametrize("option", GROUPS["space"])
def test_space_options(option, tmp_path):
    extra = []
    if option == "custom":
        extra = [f"space.path={Path(load_space('tiny').path)}"]
    cfg = compose_config("train", [f"+space={option}", *extra])
    space = space_from_cfg(cfg)
    assert space.size() > 1
    assert "runs/supernets/" in str(cfg.out_dir)


@pytest.mark.parametrize("option", GROUPS["data"])
def test_data_options(option, tmp_path):
    """Every conf/data file builds its dataset, and its keys are exactly those its kind of
    data reads: the code adds no data setting (and no default) of its own."""
    cfg = compose_config("train", ["+space=tiny", f"data={option}"])
    data = plain(cfg.data)
    keys = SYNTHETIC_KEYS if data["name"] == "synthetic" else REAL_KEYS
    assert set(data) == {"name", *keys}
    assert data == data_config(option)
    if option == "imagefolder":
        write_image_folder(tmp_path)
        data["root"] = str(tmp_path)
    elif option.startswith("cifar"):
        write_cifar(tmp_path / "c", int(option[5:]))
        data["root"] = str(tmp_path / "c")
    elif option == "synthetic":
        data.update(train_size=64, holdout_size=16, val_size=16)
    splits = build_data(data, (3, 16, 16))
    assert len(splits.train) and len(splits.holdout) and len(splits.val)


@pytest.mark.parametrize("option", GROUPS["train"])
def test_train_options(option):
    """Every conf/train file builds a checked supernet recipe whose fields are exactly the
    file's keys: the code adds no setting (and no default) of its own."""
    from mlpnas.supernet import SupernetRecipe
    from mlpnas.train import Losses, Recipe

    node = plain(compose_config("train", ["+space=tiny", f"train={option}"]).train)
    assert set(RECIPE_KEYS) <= set(node)
    assert set(node) == set(Recipe.names()) | set(SupernetRecipe.own_names())
    recipe = SupernetRecipe.of(node)
    assert recipe.fingerprint() == {k: node[k] for k in RECIPE_KEYS}
    Losses(recipe.train, 10, recipe.kd_temperature_if_distilled)


@pytest.mark.parametrize("option", GROUPS["hardware"])
def test_hardware_options(option):
    """Each hardware option names its device, and its latency block becomes the latency
    setting the cost tables are measured with."""
    import torch

    from mlpnas.cost import LatencySetting

    hw = compose_config("train", ["+space=tiny", f"hardware={option}"]).hardware
    assert torch.device(hw.device).type == option
    assert hw.amp in (None, "fp32", "bf16")
    assert set(hw.latency) == set(LatencySetting.LATENCY_KEYS)  # each one read, none added
    setting = LatencySetting.from_cfg(hw)
    assert (setting.device, setting.batch_size, setting.dtype, setting.repeats) == (
        option, hw.latency.batch_size, hw.latency.dtype, hw.latency.repeats)


@pytest.mark.parametrize("option", GROUPS.get("experiment", []))
@pytest.mark.parametrize("verb", ["search", "train"])
def test_experiment_options(option, verb):
    """An experiment file works with every verb that takes one (`mlpnas train
    +experiment=ranking_mnist` used to fail on the search's interpolations): it composes,
    resolves, and `train` writes the supernet where `search` looks for it."""
    from omegaconf import OmegaConf

    cfg = compose_config(verb, [f"+experiment={option}"])
    assert space_from_cfg(cfg).size() > 1
    resolved = OmegaConf.to_container(cfg, resolve=True)
    search = OmegaConf.to_container(compose_config("search", [f"+experiment={option}"]),
                                    resolve=True)
    assert resolved["out_dir" if verb == "train" else "supernet_dir"] == search["supernet_dir"]
