"""Optuna glue: samplers, storage, creating/resuming a study, running it to a trial count
with a progress bar (shared by several workers through the storage)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..errors import UserError
from ..space import Arch
from ._objective import DIRECTIONS, arch_params

SAMPLERS = ("nsga2", "tpe", "random")


def make_sampler(name: str, seed: int, population_size: int = 20) -> optuna.samplers.BaseSampler:
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                              constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"unknown sampler '{name}'; use search.sampler=nsga2, tpe or random.")


def default_storage_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats: a trial whose worker died is failed after a grace
    period and queued again, so no architecture is lost when a run is killed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
        kwargs = {}
        if url.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=20, grace_period=60,
                                              heartbeat_stale_trial_callback=retry, **kwargs)
        except Exception as e:  # sqlalchemy / driver errors vary by backend
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"cannot open the study storage '{url}' ({reason[:160]}); check the "
                            f"URL, that the server is reachable and its driver installed, or "
                            f"leave search.storage unset for a file in the run folder.") from None


def open_study(storage: optuna.storages.BaseStorage, name: str, objectives: list[str],
               sampler: optuna.samplers.BaseSampler,
               budgets: Mapping[str, float] | None = None) -> optuna.Study:
    """Create or resume the study `name`; a study run with other objectives or budgets is
    refused rather than mixed with this one."""
    directions = [DIRECTIONS[o] for o in objectives]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                directions=directions, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != directions:
        raise UserError(f"study '{name}' in this storage was created with other objectives; "
                        f"use the same search.objectives or another out_dir.")
    budgets = {k: float(v) for k, v in sorted((budgets or {}).items())}
    for attr, value, option in (("objectives", objectives, "search.objectives"),
                                ("budgets", budgets, "budgets (search.max_*)")):
        stored = study.user_attrs.get(attr)
        if stored is None:
            study.set_user_attr(attr, value)
        elif stored != value:
            raise UserError(f"study '{name}' in this storage was run with {attr} {stored}, "
                            f"this run asks for {value}; use the same {option} or another "
                            f"out_dir.")
    return study


def seed_trials(study: optuna.Study, seeds: Mapping[str, Arch]) -> None:
    """Enqueue hand-designed architectures (e.g. all-cycle, all-shift) once per study."""
    for label, arch in seeds.items():
        study.enqueue_trial(arch_params(arch), user_attrs={"seed": label}, skip_if_exists=True)


def completed(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def known_accuracies(*studies: optuna.Study) -> dict[str, float]:
    """Accuracy of every architecture already evaluated in these studies (by key)."""
    out = {}
    for study in studies:
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if "arch" in t.user_attrs and "accuracy" in t.user_attrs:
                out[t.user_attrs["arch"]] = float(t.user_attrs["accuracy"])
    return out


def best_feasible(study: optuna.Study) -> tuple[float, str] | None:
    best = None
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if all(v <= 0 for v in t.constraints.values()):
            acc = float(t.user_attrs.get("accuracy", 0.0))
            if best is None or acc > best[0]:
                best = (acc, t.user_attrs.get("arch", ""))
    return best


def run_trials(study: optuna.Study, objective: Callable, n_trials: int, progress: bool = True,
               label: str = "search", costs_label: Callable[[str], str] | None = None) -> int:
    """Run trials until the study holds `n_trials` complete ones (counting every worker's);
    returns the number this call ran."""
    done = completed(study)
    if done >= n_trials:
        return 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_trials, initial=done, desc=label, dynamic_ncols=True)
    ran = 0

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        ran += 1
        now = completed(study)
        if bar is not None:
            bar.n = min(now, n_trials)
            best = best_feasible(study)
            if best is not None:
                extra = f" {costs_label(best[1])}" if costs_label else ""
                bar.set_postfix_str(f"best {best[0]:.3f}{extra}")
            bar.refresh()
        if now >= n_trials:
            study.stop()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(objective, callbacks=[callback], catch=())
    if bar is not None:
        bar.close()
    return ran
