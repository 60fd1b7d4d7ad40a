"""The accuracy axis: a registry of scores (`SCORES`, torch-free), the choice of a search's
axis (`parse_score`), the training-free scores, the rank arithmetic of ensembles and the
predictor fitted on a rank report. The torch-side names load when first used, so that the
search package and the plots can read the registry without torch."""

from __future__ import annotations

import importlib

from ._registry import (
    KINDS,
    NEEDS,
    PREDICTOR,
    SCORES,
    ScoreChoice,
    ScoreInfo,
    parse_score,
    score_column,
    scores_of_kind,
)

_LAZY = {
    "AxisScore": "_engine", "BaseScores": "_engine", "ScoreContext": "_engine",
    "fixed_batch": "_engine", "reference_archs": "_engine",
    "RankReference": "_ensemble", "mean_rank": "_ensemble", "oriented": "_ensemble",
    "average_ranks": "_ensemble",
    "Predictor": "_predictor", "fit_predictor": "_predictor", "cross_validated": "_predictor",
    "feature_scores": "_predictor", "feature_table": "_predictor",
    "family_counts": "_predictor", "seed_columns": "_predictor", "MIN_LABELLED": "_predictor",
    "TRAINING_FREE": "_zero_cost", "ZeroCostSetting": "_zero_cost",
    "parameter_terms": "_zero_cost", "score_network": "_zero_cost",
    "scores_once": "_zero_cost",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


__all__ = ["KINDS", "NEEDS", "PREDICTOR", "SCORES", "ScoreChoice", "ScoreInfo", "parse_score",
           "score_column", "scores_of_kind", *_LAZY]
