"""The accuracy axis of a search as a table of scores (torch-free).

A *score* estimates, for one architecture, how accurate it would be if trained alone. One
entry per score says what it needs (nothing but the space's cost tables, a fixed batch of
training images, a trained supernet, or labelled architectures from a `mlpnas rank`
report), which way is better, how long it takes per architecture, and where it comes from.
The code that computes each kind lives beside this table (`_zero_cost`, `_engine`,
`_predictor`); adding a score is one entry here and, for a new kind of computation, one
function there.

A *choice* of the accuracy axis (`search.score`) is one score, a list of scores (their
mean rank: an ensemble) or `predictor` (a ridge regression fitted on a rank report's
labelled architectures).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from ..cost import COST_TABLE
from ..errors import UserError

KINDS = ("cost", "training_free", "supernet")
NEEDS = {"cost": "nothing (the cost tables)",
         "training_free": "a fixed batch of training images, no training",
         "supernet": "a trained supernet",
         "labels": "labelled architectures (a `mlpnas rank` report)"}


@dataclass(frozen=True)
class ScoreInfo:
    name: str
    kind: str             # cost | training_free | supernet
    label: str            # what the value is, for axis labels and model cards
    direction: str        # maximize | minimize: which way is better
    seconds_per_arch: float | None  # measured at the small scale on 2 CPU cores
    source: str           # the paper or the definition
    column: str = ""      # the cost or metric it reads (cost and supernet kinds)

    @property
    def needs(self) -> str:
        return NEEDS[self.kind]

    @property
    def needs_supernet(self) -> bool:
        return self.kind == "supernet"


# seconds_per_arch: the median of experiments/scores_speed/results.json (cycle_vs_shift at the
# small scale, 2 CPU cores; the training-free scores with 3 initialisations of a 64-image
# batch, one score at a time; the supernet scores: one evaluation of a trained supernet on
# 2,000 holdout images with BatchNorm re-estimated on 1,000 training images, which gives both)
SCORES: dict[str, ScoreInfo] = {s.name: s for s in (
    ScoreInfo("mflops", "cost", COST_TABLE["mflops"].label, "maximize", 0.0,
              "baseline: a larger network is taken to be more accurate", "mflops"),
    ScoreInfo("params", "cost", COST_TABLE["params_m"].label, "maximize", 0.0,
              "baseline: a larger network is taken to be more accurate", "params_m"),
    ScoreInfo("supernet_acc", "supernet", "holdout accuracy with inherited weights",
              "maximize", 1.655, "one-shot NAS (Guo et al. 2020, Cai et al. 2020)",
              "accuracy"),
    ScoreInfo("supernet_loss", "supernet", "holdout cross-entropy with inherited weights",
              "minimize", 1.655, "one-shot NAS, scored by loss", "loss"),
    ScoreInfo("naswot", "training_free",
              "NASWOT: log-determinant of the activation-pattern kernel", "maximize", 0.172,
              "Mellor et al. 2021, every rectifying nonlinearity (GELU, ReLU)"),
    ScoreInfo("jacob_cov", "training_free", "Jacobian covariance score", "maximize", 0.216,
              "Mellor et al. 2020 (v1)"),
    ScoreInfo("grad_norm", "training_free", "gradient norm at initialisation", "maximize",
              0.29, "Abdelfattah et al. 2021"),
    ScoreInfo("snip", "training_free", "SNIP saliency |w * dL/dw|", "maximize", 0.286,
              "Lee et al. 2019; Abdelfattah et al. 2021"),
    ScoreInfo("synflow", "training_free", "log SynFlow (norms as their affine part)",
              "maximize", 0.103, "Tanaka et al. 2020; Abdelfattah et al. 2021"),
    ScoreInfo("zico", "training_free", "ZiCo: log of gradient mean over deviation",
              "maximize", 0.573, "Li et al. 2023"),
)}
PREDICTOR = "predictor"


def _unknown(name: str, where: str) -> UserError:
    known = [*SCORES, PREDICTOR]
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}? " if near else ""
    return UserError(f"unknown score '{name}' in {where}; {hint}use one of "
                     f"{', '.join(known)}, or a list of scores for their mean rank.")


@dataclass(frozen=True)
class ScoreChoice:
    """The accuracy axis of a search: one score, a mean rank of several, or the predictor."""

    members: tuple[str, ...]

    @property
    def is_predictor(self) -> bool:
        return self.members == (PREDICTOR,)

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    @property
    def key(self) -> str:
        """The name in file columns, study metric names and run-folder names."""
        return "+".join(self.members)

    @property
    def direction(self) -> str:
        if self.is_predictor or self.is_ensemble:
            return "maximize"
        return SCORES[self.members[0]].direction

    @property
    def label(self) -> str:
        if self.is_predictor:
            return "predicted standalone accuracy rank (0-1, ridge on a rank report)"
        if self.is_ensemble:
            return f"mean rank (0-1) of {', '.join(self.members)}"
        return SCORES[self.members[0]].label

    @property
    def base_scores(self) -> tuple[str, ...]:
        """The registered scores whose values this choice is computed from (the
        predictor's features are added by the predictor itself)."""
        return () if self.is_predictor else self.members

    @property
    def needs_supernet(self) -> bool:
        return any(SCORES[m].needs_supernet for m in self.base_scores)

    def describe(self) -> str:
        better = "higher" if self.direction == "maximize" else "lower"
        return f"{self.key} ({self.label}; {better} is better)"

    def record(self) -> dict:
        return {"key": self.key, "members": list(self.members), "label": self.label,
                "direction": self.direction}


def parse_score(value, where: str = "search.score") -> ScoreChoice:
    """`search.score`: a name, a list of names (their mean rank), or `predictor`; refused in
    one sentence when a name is unknown or a list is malformed."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        value = [v.strip() for v in value[1:-1].split(",") if v.strip()]
    if isinstance(value, str):
        names = [value.strip()]
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        names = [str(v).strip() for v in value]
    else:
        raise UserError(f"{where}={value!r} is not a score; give a score name, or a list of "
                        f"names for their mean rank.")
    if not names:
        raise UserError(f"{where} is an empty list; give at least one score name.")
    for n in names:
        if n not in SCORES and n != PREDICTOR:
            raise _unknown(n, where)
    if PREDICTOR in names and len(names) > 1:
        raise UserError(f"{where}: the predictor cannot be part of a mean rank; give "
                        f"{where}=predictor alone (it already combines the other scores).")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UserError(f"{where} names '{dup}' twice; give every score once.")
    return ScoreChoice(tuple(names))


def score_column(name: str) -> str:
    """The column of a score in a rank table (ranking.csv): the cost's own column for the
    cost baselines (`params` -> `params_m`), the score's name otherwise."""
    info = SCORES.get(name)
    return info.column if info is not None and info.kind == "cost" else name


def scores_of_kind(*kinds: str) -> list[str]:
    return [n for n, s in SCORES.items() if s.kind in kinds]
