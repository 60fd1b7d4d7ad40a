"""The training recipes: built once from the `train` settings, frozen, and checked by their
constructors with one sentence naming the option and the fix."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import QUICK_RECIPE, recipe

from mlpnas.errors import UserError
from mlpnas.supernet import SupernetRecipe
from mlpnas.train import STANDALONE_RECIPE_KEYS, Recipe


@pytest.mark.parametrize("key,value,message", [
    ("epochs", 0, "train.epochs=0 is out of range; give a whole number of at least 1."),
    ("epochs", 1.5, "train.epochs=1.5 is not a whole number; give one, e.g. train.epochs=1."),
    ("batch_size", True, "train.batch_size=True is not a whole number"),
    ("lr", 0, "train.lr=0 is out of range; give a number above 0."),
    ("lr", float("nan"), "train.lr=nan is not a finite number"),
    ("label_smoothing", 1.0, "train.label_smoothing=1.0 is out of range; give a number from 0 "
                             "to 0.999."),
    ("recal_batches", -1, "train.recal_batches=-1 is out of range"),
    ("eval_limit", 0, "train.eval_limit=0 is out of range"),
    ("warmup_epochs", 2, "train.warmup_epochs=2 is longer than the training (train.epochs=1)"),
    ("sampling", "sandwhich", "unknown train.sampling 'sandwhich'; use one of sandwich, "
                              "uniform, fair."),
    ("few_shot", "all", "unknown train.few_shot 'all'; use one of none, first_block."),
    ("distill", "yes", "train.distill='yes' is not a switch; give true or false."),
    ("sandwich_random", -1, "train.sandwich_random=-1 is out of range"),
])
def test_a_bad_value_is_one_sentence_naming_the_option(key, value, message):
    with pytest.raises(UserError) as e:
        recipe(QUICK_RECIPE, **{key: value})
    assert str(e.value) == message or str(e.value).startswith(message)


def test_a_missing_setting_is_named():
    node = {k: v for k, v in QUICK_RECIPE.items() if k != "lr"}
    with pytest.raises(UserError, match=r"^the train settings lack train.lr; give it"):
        Recipe.of(node)


def test_the_recipe_is_frozen_and_split_by_what_it_trains():
    r = recipe(QUICK_RECIPE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.train.epochs = 3
    assert r.train == Recipe.of(QUICK_RECIPE)
    # a supernet's identity holds its sampling; a standalone run's does not
    assert r.fingerprint()["sampling"] == "sandwich"
    assert set(r.train.fingerprint()) == set(STANDALONE_RECIPE_KEYS)
    assert "sampling" not in r.train.fingerprint()
    assert r.train.evaluation("bf16").amp == "bf16"
    assert r.train.evaluation(None).batch_size == QUICK_RECIPE["eval_batch_size"]


def test_overrides_are_checked_under_their_own_names():
    base = Recipe.of(QUICK_RECIPE)
    longer = base.with_overrides({"epochs": 3, "lr": None}, "rank")
    assert (longer.epochs, longer.lr, longer.section) == (3, base.lr, "rank")
    with pytest.raises(UserError, match=r"^rank.batch_size=0 is out of range"):
        base.with_overrides({"batch_size": 0}, "rank")


def test_a_configuration_recorded_before_the_sampling_options_reads_as_then():
    old = {k: v for k, v in QUICK_RECIPE.items()
           if k not in ("sampling", "few_shot", "init_from")}
    r = SupernetRecipe.of(old)
    assert (r.sampling, r.few_shot, r.init_from) == ("sandwich", "none", None)
    stored = dict(r.fingerprint(), sampling="fair", lr=0.5)
    trained = SupernetRecipe.of_trained(stored, QUICK_RECIPE)
    assert (trained.sampling, trained.train.lr) == ("fair", 0.5)
    assert trained.train.eval_batch_size == QUICK_RECIPE["eval_batch_size"]
