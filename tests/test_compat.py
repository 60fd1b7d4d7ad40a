"""What earlier versions wrote stays valid: a supernet's space fingerprint and a cost table's
name depend on what the space is, not on how the code names its classes. The values below
were computed by the code of commit 91568bf (before `StageSpace` became `StageChoices`), at
each shipped space's default scale with 10 classes."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers import QUICK_RECIPE, recipe

from mlpnas.cost import space_digest
from mlpnas.space import load_space
from mlpnas.supernet import fingerprint

WRITTEN_BEFORE = {  # space: (cost-table digest, sha1 of the fingerprint's space_spec)
    "all_mixers": ("b2828c842d", "5b567aad7d76"),
    "cycle_vs_shift": ("f6eb1cfa06", "0b330a8560c4"),
    "tiny": ("a8b3f0a726", "a485a8541800"),
}


@pytest.mark.parametrize("name", sorted(WRITTEN_BEFORE))
def test_fingerprints_and_table_names_match_what_earlier_versions_wrote(name):
    space = load_space(name)
    spec = fingerprint(space, {"name": "synthetic"}, recipe(QUICK_RECIPE), 0, 10)["space_spec"]
    got = (space_digest(space, 10), hashlib.sha1(json.dumps(spec).encode()).hexdigest()[:12])
    assert got == WRITTEN_BEFORE[name]
