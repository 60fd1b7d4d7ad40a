"""Rank arithmetic for ensembles of scores (plain numpy).

The ensemble of a list of scores is their mean rank. Within a set of architectures (a
`mlpnas rank` report) that is exact: each score's average ranks (ties share a rank), oriented
so that the better value ranks higher, divided by the number of architectures, then averaged
over the scores (`mean_rank`). A search meets its architectures one at a time, so there each
score's value is placed in a fixed reference sample of the space instead (`RankReference`):
its rank among the reference values, interpolated linearly between them (and extended
beyond the lowest and highest with the mean slope over the sample), over the reference
size. On the reference architectures themselves the two orders agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def oriented(values, direction: str) -> np.ndarray:
    """Values with higher = better."""
    v = np.asarray(values, dtype=float)
    return -v if direction == "minimize" else v


def average_ranks(values) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy's rankdata, 'average')."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(values, dtype=float))


def mean_rank(columns: Mapping[str, Sequence[float]], directions: Mapping[str, str]
              ) -> np.ndarray:
    """The mean over the scores in `columns` of each architecture's rank / n (higher =
    better), every score oriented by its direction."""
    names = list(columns)
    if not names:
        raise ValueError("an ensemble needs at least one score")
    n = len(columns[names[0]])
    ranks = [average_ranks(oriented(columns[s], directions[s])) / n for s in names]
    return np.mean(ranks, axis=0)


class RankReference:
    """Each score's values on a fixed reference sample of architectures, to place a new
    architecture's values among them (see the module docstring)."""

    def __init__(self, columns: Mapping[str, Sequence[float]], directions: Mapping[str, str]):
        self.directions = dict(directions)
        self.sorted = {}
        for name, vals in columns.items():
            v = np.sort(oriented(vals, directions[name]))
            v = v[np.isfinite(v)]
            if len(v) < 2:
                raise ValueError(f"the reference of '{name}' needs two finite values")
            self.sorted[name] = v

    def position(self, name: str, value: float) -> float:
        """The rank of `value` among the reference values of `name`, over their number:
        (i + 0.5) / n at the i-th smallest reference value (0-based), linear in between."""
        v = self.sorted[name]
        x = float(oriented([value], self.directions[name])[0])
        n = len(v)
        if not np.isfinite(x):
            return 0.0 if x < 0 else 1.0
        ranks = (np.arange(n) + 0.5) / n
        # equal reference values share their mean rank, so the interpolation is a function
        uniq, inverse = np.unique(v, return_inverse=True)
        shared = np.bincount(inverse, weights=ranks) / np.bincount(inverse)
        if len(uniq) == 1:
            return float(shared[0])
        # beyond the sample: the mean slope over the whole sample, so that one close pair at
        # an end does not make a small step there a large one
        slope = (shared[-1] - shared[0]) / (uniq[-1] - uniq[0])
        if x < uniq[0]:
            return float(shared[0] - slope * (uniq[0] - x))
        if x > uniq[-1]:
            return float(shared[-1] + slope * (x - uniq[-1]))
        return float(np.interp(x, uniq, shared))

    def value(self, values: Mapping[str, float]) -> float:
        """The mean position of an architecture's values over the reference's scores."""
        return float(np.mean([self.position(n, values[n]) for n in self.sorted]))
