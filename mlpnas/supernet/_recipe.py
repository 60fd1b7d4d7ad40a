"""The once-for-all recipe of a supernet: the generic training recipe (`mlpnas.train.Recipe`)
plus how subnets are sampled and taught. Built once at a task's boundary from the `train`
section (`SupernetRecipe.of`), frozen, checked by its constructor; its values come from
`conf/train/*.yaml` only."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UserError, check_rules
from ..train import LEGACY_RECIPE_VALUES, RECIPE_KEYS, Recipe, section_values

SAMPLINGS = ("sandwich", "uniform", "fair")
FEW_SHOT = ("none", "first_block")


@dataclass(frozen=True)
class SupernetRecipe:
    """`train`: the generic recipe; `sampling`: sandwich (largest, smallest and
    `sandwich_random` random subnets per step, the others taught by the largest when
    `distill`), uniform (`sandwich_random` random ones) or fair (FairNAS); `few_shot`: none
    or first_block (one supernet part per family of the first block); `init_from`: the
    folder of a finished one-shot supernet to start from."""

    train: Recipe
    sampling: str
    sandwich_random: int
    distill: bool
    kd_temperature: float
    sort_channels: bool       # sort MLP hidden channels by importance after every epoch
    few_shot: str
    init_from: str | None

    def __post_init__(self):
        sec = self.train.section
        if self.sampling not in SAMPLINGS:
            raise UserError(f"unknown {sec}.sampling '{self.sampling}'; use one of "
                            f"{', '.join(SAMPLINGS)}.")
        if self.few_shot not in FEW_SHOT:
            raise UserError(f"unknown {sec}.few_shot '{self.few_shot}'; use one of "
                            f"{', '.join(FEW_SHOT)}.")
        for name in ("distill", "sort_channels"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{sec}.{name}={getattr(self, name)!r} is not a switch; give "
                                f"true or false.")
        check_rules(sec, {"sandwich_random": self.sandwich_random,
                          "kd_temperature": self.kd_temperature},
                    (("sandwich_random", "int", 0, None), ("kd_temperature", "num", 1e-6, None)))

    @classmethod
    def own_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "train")

    @classmethod
    def of(cls, node: Mapping[str, Any], section: str = "train") -> SupernetRecipe:
        """From a `train` configuration node. A node recorded before `sampling`, `few_shot`
        or `init_from` existed reads as the values supernets were trained with then."""
        node = {**LEGACY_RECIPE_VALUES, **node}
        own = section_values(node, cls.own_names(), section)
        own["few_shot"] = own["few_shot"] or "none"
        if own["init_from"] is not None:
            own["init_from"] = str(own["init_from"])
        return cls(Recipe.of(node, section), **own)

    @classmethod
    def of_trained(cls, stored: Mapping[str, Any], node: Mapping[str, Any]) -> SupernetRecipe:
        """The recipe a stored supernet was trained with: the values its fingerprint records
        (`stored`), the rest (workers, evaluation, checkpoints) from `node`."""
        return cls.of({**node, **stored})

    @property
    def teacher(self) -> bool:
        """Whether a step's first subnet (the largest) teaches the others: only the
        sandwich has one."""
        return self.sampling == "sandwich"

    @property
    def kd_temperature_if_distilled(self) -> float | None:
        return self.kd_temperature if self.distill else None

    def fingerprint(self) -> dict[str, Any]:
        """The values that change the trained supernet (RECIPE_KEYS)."""
        values = {**dataclasses.asdict(self.train), **{n: getattr(self, n)
                                                        for n in self.own_names()}}
        return {k: values[k] for k in RECIPE_KEYS}
