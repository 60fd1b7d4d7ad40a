"""Hydra multiruns (`mlpnas search -m search.sampler=tpe,random`): one job per combination of
the swept values, and every job in folders of its own. The folders a verb writes end with
the job's swept settings, e.g. `runs/search/tiny-small-synthetic-seed0-search.sampler=tpe`,
so that no job overwrites another's results or resumes another's study; the supernet folder
takes only the swept settings the supernet depends on (training, data, seed, space), so jobs
that differ in the search alone share one supernet. With a shared `search.storage` the
studies are named after the job's run folder. Jobs that differ only in `search.worker` /
`rank.worker` share their folders and study on purpose (they are workers of one search);
a swept folder option (`out_dir=a,b`) is the user's choice and kept as given."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SHARED = ("search.worker", "rank.worker", "progress")
# the folders each verb writes, and which swept options they depend on (None: all)
SUPERNET_OPTIONS = ("train", "data", "seed", "space", "experiment")
FOLDERS: dict[str, tuple[tuple[str, tuple[str, ...] | None], ...]] = {
    "search": (("out_dir", None), ("supernet_dir", SUPERNET_OPTIONS)),
    "train": (("out_dir", None),),
    "retrain": (("out_dir", None),),
}


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def swept_keys(overrides: Sequence[str]) -> list[str]:
    """The options a command line sweeps (a sweep override: `a,b`, `range(...)`,
    `choice(...)`, `glob(...)`), in their order; [] for a single run."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(
            [o for o in overrides if "=" in o and not o.startswith("-")])
    except Exception:  # Hydra reports a malformed override itself
        return []
    return [p.key_or_group.lstrip("+~") for p in parsed if p.is_sweep_override()]


def job_suffix(job: Sequence[str], swept: Sequence[str], depends: tuple[str, ...] | None
               ) -> str:
    """`-key=value,key=value` of this job's swept settings (those in `depends`, when given),
    fit for a folder name; '' when none applies."""
    parts = []
    for override in job:
        key = _key(override)
        if key not in swept or key in SHARED:
            continue
        if depends is not None and key.split(".")[0] not in depends:
            continue
        parts.append(f"{key}={override.partition('=')[2]}".replace("/", "_"))
    return "-" + ",".join(parts) if parts else ""


def separate_jobs(verb: str, cfg, job: Sequence[str], swept: Sequence[str]) -> None:
    """Give this job of a multirun its own folders in `cfg` (see the module's text)."""
    for option, depends in FOLDERS.get(verb, ()):
        if option in swept or not cfg.get(option):
            continue
        suffix = job_suffix(job, swept, depends)
        if suffix:
            cfg[option] = f"{cfg[option]}{suffix}"
    search = cfg.get("search")
    if verb == "search" and search is not None and search.get("storage") \
            and "search.study_name" not in swept and job_suffix(job, swept, None):
        search.study_name = Path(str(cfg.out_dir)).name
