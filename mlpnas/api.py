"""The Python API: a verb as a function, run by `mlpnas.cli.run` (the entry the command line
uses: the same checks, the same one-sentence `mlpnas.errors.UserError`), returning a result
object that reads what the run wrote.

    import mlpnas
    result = mlpnas.search("tiny", search={"n_trials": 8}, train={"epochs": 1})
    result.trials, result.pareto      # pandas DataFrames (trials.csv, pareto.csv)
    result.study                      # the Optuna study, from the run's storage
    result.run_dir                    # the run folder
    mlpnas.export(result.run_dir, export={"onnx": True}).folders
    mlpnas.rank(result.run_dir, rank={"n_archs": 5, "seeds": 1}).table

Options are given as on the command line (`"search.n_trials=8"`, `"+experiment=..."`) or as
keywords: a mapping stands for its keys (`search={"n_trials": 8}` is `search.n_trials=8`),
anything else for one value (`seed=1`; `data="cifar10"` picks the data option)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cli

_PLAIN = re.compile(r"^[\w./:@+\-]*$")  # values Hydra reads as they are, without quotes


def override_value(value: Any) -> str:
    """A Python value in Hydra's override syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if text and _PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def overrides_from(args: tuple = (), options: Mapping[str, Any] | None = None,
                   prefix: str = "") -> list[str]:
    """Command-line overrides from positional override strings and keyword options."""
    out = [str(a) for a in args]
    for key, value in (options or {}).items():
        if isinstance(value, Mapping):
            out += overrides_from((), value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={override_value(value)}")
    return out


def _space(space: str | Path | None) -> list[str]:
    return [] if space is None else [f"+space={space}"]


@dataclass
class SearchResult:
    """What `mlpnas.search(...)` returns: the run folder and, read from it, the tables, the
    exported architectures and the Optuna studies."""

    run_dir: Path
    summary: str
    storage: str = field(repr=False, default="")

    @property
    def trials(self):
        """trials.csv: every complete trial of every sampler (pandas DataFrame)."""
        import pandas as pd

        from .search import TRIALS_FILE

        return pd.read_csv(self.run_dir / TRIALS_FILE)

    @property
    def pareto(self):
        """pareto.csv: the Pareto-optimal feasible architectures (pandas DataFrame)."""
        import pandas as pd

        from .search import PARETO_FILE

        path = self.run_dir / PARETO_FILE
        try:
            return pd.read_csv(path)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()

    @property
    def run(self) -> dict:
        """run.json: objectives, budgets, hypervolumes, sessions and their times."""
        from .search import read_run

        return read_run(self.run_dir)

    @property
    def exported(self) -> list[Path]:
        """The exported architecture folders, in the order of pareto.csv."""
        pareto = self.pareto
        keys = list(pareto["arch"]) if "arch" in pareto else []
        return [self.run_dir / "exported" / k for k in keys
                if (self.run_dir / "exported" / k / "arch.json").is_file()]

    @property
    def studies(self) -> dict:
        """{sampler: optuna.Study} of the run (the search's sampler and, when it ran, the
        random-sampling comparison), loaded from the run's storage."""
        import optuna

        names = self.run.get("studies") or {}
        return {k: optuna.load_study(study_name=v, storage=self.storage)
                for k, v in names.items()}

    @property
    def study(self):
        """The Optuna study of the search's own sampler."""
        return self.studies[self.run["sampler"]]

    def load(self, which: int | str = 0):
        """An exported architecture as a model: by its place in pareto.csv, or its key."""
        from .export import load_exported

        folder = (self.exported[which] if isinstance(which, int)
                  else self.run_dir / "exported" / which)
        return load_exported(folder)


@dataclass
class ExportResult:
    """What `mlpnas.export(...)` returns: the folders written."""

    folders: list[Path]

    def load(self, which: int = 0):
        from .export import load_exported

        return load_exported(self.folders[which])


@dataclass
class RankResult:
    """What `mlpnas.rank(...)` returns: the ranking statistics (None while jobs are left for
    other workers or a later call) and, read from its folder, the table."""

    out_dir: Path
    report: dict | None

    @property
    def complete(self) -> bool:
        return self.report is not None

    @property
    def table(self):
        """ranking.csv: one row per architecture (costs, supernet accuracy, every seed)."""
        import pandas as pd

        return pd.read_csv(self.out_dir / "ranking.csv")


def search(space: str | Path | None = None, *overrides: str, **options: Any) -> SearchResult:
    """`mlpnas search +space=SPACE OVERRIDES`: train the supernet if needed, search, write
    the results, plots and exports (resuming the run if its folder holds one). `space`: a
    space name or a space file; without it, an `+experiment=...` override must give one."""
    from .search import default_storage_url

    cfg, summary = cli.run_with_config(
        "search", [*_space(space), *overrides_from(overrides, options)])
    out = Path(str(cfg.out_dir)).resolve()
    return SearchResult(out, summary, cfg.search.get("storage") or default_storage_url(out))


def export(run_dir: str | Path, *overrides: str, **options: Any) -> ExportResult:
    """`mlpnas export RUN_DIR OVERRIDES`: export architectures of a finished search run."""
    written = cli.run("export", [str(run_dir), *overrides_from(overrides, options)])
    return ExportResult([Path(p) for p in written])


def rank(run_dir: str | Path, *overrides: str, **options: Any) -> RankResult:
    """`mlpnas rank RUN_DIR OVERRIDES`: train architectures of a search run standalone and
    measure how well the supernet ranks them."""
    cfg, report = cli.run_with_config("rank", [str(run_dir), *overrides_from(overrides, options)])
    out = cfg.rank.get("out_dir") or cfg.run_dir
    return RankResult(Path(str(out)), report)
