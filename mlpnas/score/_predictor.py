"""A score fitted on labelled architectures: ridge regression on rank-transformed features.

Labels come from a `mlpnas rank` report (ranking.csv: one row per architecture with its
standalone accuracy per seed and every score the report computed; ranking.json: the space,
data and scoring settings they were computed with). Features: the training-free scores,
MFLOPs, parameters and, per stage, how many blocks of each mixer family the architecture
has; none needs a supernet, so a search scored by the predictor trains none. Every feature
is mapped to its quantile among the labelled architectures (scikit-learn's
QuantileTransformer) and the target is the rank of the seed-mean standalone accuracy over
the number of architectures, so the ridge regression fits orders, not scales. Its quality is
the Kendall tau of cross-validated predictions (5 folds), printed when it is fitted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..spec import FAMILIES
from ._ensemble import average_ranks
from ._registry import score_column, scores_of_kind

MIN_LABELLED = 10
FOLDS = 5
ALPHAS = tuple(float(a) for a in np.logspace(-2, 3, 11))


def seed_columns(table: pd.DataFrame) -> list[str]:
    """The standalone-accuracy columns of a rank table (seed0, seed1, ...), in seed order."""
    return sorted((c for c in table.columns if c.startswith("seed") and c[4:].isdigit()),
                  key=lambda c: int(c[4:]))


def feature_scores() -> list[str]:
    """The registered scores the predictor reads (no supernet: it must score without one)."""
    return scores_of_kind("training_free", "cost")


def family_counts(arch_key: str) -> dict[str, int]:
    """Per stage, the number of blocks of each family: {'s0.cycle': 1, 's0.shift': 1, ...}."""
    codes = {info.code: name for name, info in FAMILIES.items()}
    out = {}
    for i, stage in enumerate(arch_key.split("_")):
        counts = dict.fromkeys(FAMILIES, 0)
        for token in stage.split("-"):
            counts[codes[token[0]]] += 1
        out.update({f"s{i}.{name}": n for name, n in counts.items()})
    return out


def feature_table(keys: Sequence[str], scores: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per architecture: its feature scores and family counts."""
    frame = pd.DataFrame({s: np.asarray(scores[s], dtype=float) for s in feature_scores()})
    counts = pd.DataFrame([family_counts(k) for k in keys]).fillna(0)
    return pd.concat([frame.reset_index(drop=True), counts.reset_index(drop=True)], axis=1)


def _centred(q: np.ndarray) -> np.ndarray:
    return q - 0.5


def _pipeline(n: int):
    """Features as their quantile among the labelled architectures, centred on 0.5, then a
    ridge regression without intercept (the target, a rank over n, is centred on 0.5 too),
    its penalty chosen by efficient leave-one-out among ALPHAS. No intercept: one fitted on
    a subset would carry that subset's mean rank into every prediction, which biases
    cross-validated orders against the held-out architectures."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, QuantileTransformer

    return make_pipeline(QuantileTransformer(n_quantiles=max(2, min(n, 1000)),
                                             output_distribution="uniform"),
                         FunctionTransformer(_centred),
                         RidgeCV(alphas=ALPHAS, fit_intercept=False))


def _target(truth) -> np.ndarray:
    return average_ranks(truth) / len(truth) - 0.5


def _clean(x: pd.DataFrame) -> np.ndarray:
    """Features as floats; a non-finite value (a score that failed) becomes the column's
    median, so that one bad value does not remove an architecture."""
    v = x.to_numpy(dtype=float).copy()
    for j in range(v.shape[1]):
        col = v[:, j]
        bad = ~np.isfinite(col)
        if bad.any():
            good = col[~bad]
            col[bad] = float(np.median(good)) if len(good) else 0.0
    return v


def cross_validated(x: pd.DataFrame, truth: Sequence[float], folds: int = FOLDS,
                    seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of the predictor for every row (k-fold, shuffled with
    `seed`): each row predicted by a model fitted without it."""
    from sklearn.model_selection import KFold

    v = _clean(x)
    y = _target(truth)
    out = np.empty(len(y))
    for train, test in KFold(min(folds, len(y)), shuffle=True, random_state=seed).split(v):
        model = _pipeline(len(train)).fit(v[train], y[train])
        out[test] = model.predict(v[test])
    return out


@dataclass
class Predictor:
    """A fitted predictor with the facts of the report it came from."""
    model: object
    columns: list[str]
    n_labelled: int
    cv_tau: float
    source: str
    scoring: dict       # the training-free settings its features were computed with

    def predict(self, features: Mapping[str, float]) -> float:
        """The predicted rank of an architecture among the labelled ones (0 to 1)."""
        row = pd.DataFrame([{c: features.get(c, 0.0) for c in self.columns}])
        return float(self.model.predict(_clean(row))[0]) + 0.5

    def describe(self) -> str:
        return (f"predictor fitted on {self.n_labelled} labelled architectures of "
                f"{self.source} (cross-validated Kendall tau {self.cv_tau:.3f})")

    def record(self) -> dict:
        return {"source": self.source, "n_labelled": self.n_labelled,
                "cv_kendall_tau": round(self.cv_tau, 4), "features": self.columns,
                "scoring": self.scoring}


def _report_files(path: str | Path) -> tuple[Path, Path]:
    p = Path(str(path)).expanduser()
    folder = p.parent if p.suffix in (".csv", ".json") else p
    return folder / "ranking.csv", folder / "ranking.json"


def fit_predictor(report: str | Path | None, space_name: str, scale: str, data_name: str
                  ) -> Predictor:
    """Fit the predictor on the labelled architectures of a `mlpnas rank` report (its folder,
    ranking.csv or ranking.json), which must come from the same space, scale and data;
    refused in one sentence otherwise, or with fewer than 10 architectures."""
    from scipy.stats import kendalltau  # tau-b, as mlpnas.rank's statistics

    if not report:
        raise UserError("search.score=predictor needs a rank report to fit on: give "
                        "scoring.predictor=RUN_DIR (a folder where `mlpnas rank` wrote "
                        "ranking.csv and ranking.json).")
    csv, meta = _report_files(report)
    if not csv.is_file() or not meta.is_file():
        raise UserError(f"scoring.predictor='{report}' holds no rank report (ranking.csv and "
                        f"ranking.json); run `mlpnas rank RUN_DIR` first, or give its folder.")
    try:
        info = json.loads(meta.read_text())
        table = pd.read_csv(csv)
    except (ValueError, OSError) as e:
        raise UserError(f"the rank report in '{csv.parent}' cannot be read ({e}); run "
                        f"`mlpnas rank` again to rewrite it.") from None
    made = (info.get("space"), info.get("scale"), info.get("data"))
    if None in made:
        raise UserError(f"the rank report in '{csv.parent}' does not say which space and data "
                        f"it measured (it was written by an earlier mlpnas); run `mlpnas rank "
                        f"RUN_DIR` again to rewrite it.")
    if made != (space_name, scale, data_name):
        raise UserError(f"the rank report in '{csv.parent}' measured space '{made[0]}' ({made[1]}) "
                        f"on '{made[2]}', not '{space_name}' ({scale}) on '{data_name}'; fit the "
                        f"predictor on a report of this space and data.")
    seeds = seed_columns(table)
    missing = [s for s in feature_scores() if score_column(s) not in table.columns]
    if missing or not seeds:
        what = f"column for the score '{missing[0]}'" if missing else "standalone accuracies"
        raise UserError(f"the rank report in '{csv.parent}' has no {what}; re-score it with "
                        f"`mlpnas rank RUN_DIR` (it computes every score without training "
                        f"again).")
    table = table.dropna(subset=seeds)
    if len(table) < MIN_LABELLED:
        raise UserError(f"the rank report in '{csv.parent}' has {len(table)} labelled "
                        f"architectures; the predictor needs at least {MIN_LABELLED}: rank "
                        f"more with `mlpnas rank RUN_DIR rank.n_archs=N`.")
    truth = table[seeds].to_numpy(float).mean(axis=1)
    x = feature_table(list(table["arch"]), {s: table[score_column(s)] for s in feature_scores()})
    oof = cross_validated(x, truth)
    cv = float(kendalltau(oof, truth).statistic)
    model = _pipeline(len(truth)).fit(_clean(x), _target(truth))
    return Predictor(model, list(x.columns), len(truth), cv if not math.isnan(cv) else 0.0,
                     str(csv.parent), dict(info.get("scoring") or {}))
