"""Which architectures a ranking study trains: spread along the search's front and the next
non-dominated layers (where the search makes its decisions), plus random feasible ones
(which the search did not favour, so that the study also covers the rest of the space)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..space import Arch, Space

FRONT, RANDOM, GIVEN = "front", "random", "given"


def front_layers(trials: pd.DataFrame, cost: str, n: int) -> pd.DataFrame:
    """Feasible distinct architectures of `trials`, peeled off in non-dominated layers of
    (accuracy up, `cost` down) until at least `n` are gathered (or none are left), then `n` of
    them picked evenly by cost."""
    from ..search import pareto_mask

    rest = trials[trials["feasible"].astype(bool)].drop_duplicates("arch")
    layers: list[pd.DataFrame] = []
    while len(rest) and sum(len(x) for x in layers) < n:
        mask = pareto_mask(rest[["accuracy", cost]].to_numpy(float), ["maximize", "minimize"])
        layers.append(rest[mask])
        rest = rest[~mask]
    if not layers:
        return trials.iloc[0:0]
    pool = pd.concat(layers).sort_values([cost, "arch"]).reset_index(drop=True)
    if len(pool) <= n:
        return pool
    picks = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    i = 0
    while len(picks) < n:  # rounding merged two picks: add the nearest unused ones
        if i not in picks:
            picks = np.sort(np.append(picks, i))
        i += 1
    return pool.iloc[picks].reset_index(drop=True)


def random_feasible(space: Space, n: int, feasible: Callable[[Arch], bool],
                    exclude: set[str], seed: int, max_tries: int | None = None) -> list[Arch]:
    """`n` distinct random architectures of the space that `feasible` accepts and whose keys
    are not in `exclude`; at most `max_tries` draws (default 200 per architecture), so an
    almost impossible budget ends with fewer rather than never."""
    rng = random.Random(seed)
    out: list[Arch] = []
    seen = set(exclude)
    for _ in range(max_tries or 200 * max(n, 1)):
        if len(out) >= n:
            break
        arch = space.sample(rng)
        if arch.key in seen:
            continue
        seen.add(arch.key)
        if feasible(arch):
            out.append(arch)
    return out


def pick_archs(trials: pd.DataFrame, space: Space, n: int, random_fraction: float,
               cost: str, feasible: Callable[[Arch], bool], seed: int = 0
               ) -> list[tuple[str, str]]:
    """(key, source) of the `n` architectures to rank: round(n * random_fraction) random
    feasible ones, the rest from the front layers of `trials` (the search's own feasible
    trials); if the search has too few distinct feasible trials, more random ones."""
    n_random = int(round(n * random_fraction))
    front = front_layers(trials, cost, n - n_random)
    chosen = [(k, FRONT) for k in front["arch"]]
    extra = random_feasible(space, n - len(chosen), feasible, {k for k, _ in chosen}, seed)
    chosen += [(a.key, RANDOM) for a in extra]
    if len(chosen) < n:
        raise UserError(f"only {len(chosen)} distinct feasible architectures could be found "
                        f"for rank.n_archs={n}; lower rank.n_archs or loosen the budget.")
    return chosen


MIN_ARCHS = 5  # fewer architectures cannot show a ranking


def read_keys(spec: str | Sequence[str], space: Space) -> list[str]:
    """Architecture keys from a list, or from a file: a CSV with an `arch` column (e.g. a
    ranking.csv or trials.csv) or plain text with one key per line. Every key is checked
    against the space; duplicates are dropped, the order kept."""
    if isinstance(spec, str):
        keys = _keys_in_file(spec)
    else:
        keys = [str(k) for k in spec]
    out: list[str] = []
    for k in keys:
        key = space.arch_from_key(k).key  # refuses keys of another space, one sentence
        if key not in out:
            out.append(key)
    return out


def _keys_in_file(spec: str) -> list[str]:
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"rank.archs='{spec}' is neither a list of keys nor a file; give "
                        f"rank.archs=[KEY,...] or a file with one key per line (or a CSV "
                        f"with an 'arch' column).")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"rank.archs file '{path}' cannot be read as text ({type(e).__name__}); "
                        f"give a file with one architecture key per line (or a CSV with an "
                        f"'arch' column).") from None
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines or "," not in lines[0]:  # a key holds no comma: plain text
        return lines
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"rank.archs file '{path}' is not a readable CSV ({first}); give a "
                        f"CSV with an 'arch' column, or one key per line.") from None
    if "arch" not in table.columns:
        raise UserError(f"rank.archs file '{path}' is a CSV without an 'arch' column (its "
                        f"columns: {', '.join(map(str, table.columns[:6]))}); give one with "
                        f"the architecture keys in a column named 'arch'.")
    return list(table["arch"].astype(str))


def plan_entries(raw, space: Space, where: Path) -> list[tuple[str, str]]:
    """The (key, source) pairs of a ranking plan read back from `where` (plan.json): a file
    that may have come with a received run folder, so every entry must be a canonical
    architecture key of `space` (keys become folder names of the standalone jobs), each once,
    from a known source, and at least MIN_ARCHS of them."""
    def bad(why: str) -> UserError:
        return UserError(f"'{where}' is not a ranking plan of this run ({why}); move it away "
                         f"to pick the architectures again (trained jobs are kept).")

    if not isinstance(raw, list):
        raise bad("its 'archs' is not a list")
    out: list[tuple[str, str]] = []
    for i, entry in enumerate(raw):
        key = entry.get("arch") if isinstance(entry, dict) else None
        source = entry.get("source") if isinstance(entry, dict) else None
        if not isinstance(key, str) or source not in (FRONT, RANDOM, GIVEN):
            raise bad(f"entry {i} is not an architecture key with its source")
        if not space.has_key(key):
            raise bad(f"entry {i}, {key[:80]!r}, is not an architecture key of space "
                      f"'{space.name}'")
        if any(k == key for k, _ in out):
            raise bad(f"{key} is listed twice")
        out.append((key, source))
    if len(out) < MIN_ARCHS:
        raise bad(f"it lists {len(out)} architectures, fewer than {MIN_ARCHS}")
    return out
