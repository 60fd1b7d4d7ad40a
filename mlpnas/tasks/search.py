"""`mlpnas search +space=NAME`: check everything, train what the accuracy axis needs, search
(an Optuna study and its random baseline, or the meta-kernel relaxation), then write the
results tables, plots, summary and exported Pareto architectures.

The two strategies share one small interface (`prepare`, `train`, `trials`,
`summary_lines`, `attach_artifacts`), so this task reads top to bottom: `_Run` holds what
both use, the strategy produces the trials tables, `search_report` writes the files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from ..errors import UserError
from ._common import (
    config_recorded,
    file_lock,
    hardware,
    held_alone,
    is_held,
    out_path,
    plain,
    space_from_cfg,
    supernet_lock,
)
from ._tracking import attach_artifacts, search_callbacks, tracked


def _say(msg: str) -> None:
    print(msg, flush=True)


def _worker_lock(out: Path, worker: int) -> Path:
    return out.parent / f".{out.name}.worker{worker}.lock"


def run(cfg: DictConfig):
    from ..search import damaged_storage_refused, default_storage_url

    out = out_path(cfg)
    with damaged_storage_refused(cfg.search.get("storage") or default_storage_url(out)):
        return _one_worker(cfg)


def _one_worker(cfg: DictConfig):
    out, worker = out_path(cfg), int(cfg.search.worker)
    # two workers with one number would propose the same architectures: refuse the second
    # (on this machine; workers on other machines sharing a database URL are not seen)
    with held_alone(_worker_lock(out, worker),
                    f"a worker with search.worker={worker} is already running on '{out}'; "
                    f"give this one another number, e.g. search.worker={worker + 1}."):
        if cfg.search.get("strategy") != "metakernel":
            with tracked(cfg, out) as log:
                return _run(cfg, log)
        # a meta-kernel search trains one network: a second worker could only race the first
        with held_alone(out.parent / f".{out.name}.metakernel.lock",
                        f"a meta-kernel search is already running on '{out}'; it trains one "
                        f"network, so it runs as one worker: wait for it to finish (the same "
                        f"command then reports its result)."), tracked(cfg, out) as log:
            return _run(cfg, log)


def _others_running(out: Path, worker: int) -> bool:
    """Whether another worker of this run folder runs on this machine (holds its lock)."""
    import glob

    for lock in out.parent.glob(glob.escape(f".{out.name}.worker") + "*.lock"):
        if lock != _worker_lock(out, worker) and is_held(lock):
            return True
    return False


def _check_results_kept(out: Path, storage, name: str | None, storage_url: str) -> None:
    """A run folder holding results (trials.csv) whose study is gone (study.db deleted or
    replaced, another search.storage) is refused: a new study would run every trial again
    and write its results over these."""
    from ..search import TRIALS_FILE

    if not (out / TRIALS_FILE).is_file():
        return
    if storage is None:
        what = f"'{out / 'study.db'}' is gone"
    else:
        import optuna

        from ..search import masked_url

        if name in optuna.get_all_study_names(storage):
            return
        what = f"its study '{name}' is not in the storage '{masked_url(storage_url)}'"
    raise UserError(f"'{out}' holds the results of a search (trials.csv), but {what}; a new "
                    f"study would run every trial again and overwrite them: restore the "
                    f"study, or move the results away (or use another out_dir) to search "
                    f"afresh.")


@dataclass
class _Run:
    """What a search's steps share; built once, after the checks that need no work."""
    cfg: DictConfig
    sc: dict
    space: object
    data: object
    costs: object
    objectives: list
    budgets: dict
    axis: object            # tasks._scoring.AxisSetting
    out: Path
    supernet_dir: Path | None
    recipe: object          # mlpnas.supernet.SupernetRecipe, checked first
    hw: object              # tasks._common.Hardware
    latency_setting: object | None
    eval: object                # mlpnas.train.EvalSetting of the supernet scores and exports
    timing: dict = field(default_factory=dict)
    callbacks: list = field(default_factory=list)    # Optuna callbacks after every trial
    study_names: dict = field(default_factory=dict)  # {sampler: Optuna study name}

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    def study_base(self) -> str:
        from ..search import budget_suffix

        return self.sc.get("study_name") or (
            f"{self.space.name}-{self.space.scale}-{self.data.name}-seed{self.seed}"
            f"{budget_suffix(self.budgets)}-{self.axis.choice.key}")

    def cost_label(self, key: str) -> str:
        name = next(o for o in self.objectives if o != "accuracy")
        return f"@ {self.costs.cost(self.space.arch_from_key(key), name):.4g} {name}"


def _run(cfg: DictConfig, log=None):
    from ..supernet import SupernetRecipe

    t_start = time.perf_counter()
    recipe = SupernetRecipe.of(cfg.train)  # checked before torch loads

    from ..cost import COST_TABLE, CostModel, LatencySetting, flops_table, latency_table
    from ..data import build_data
    from ..search import active_budgets, check_budgets, check_objectives
    from ._scoring import axis_setting, build_axis

    space = space_from_cfg(cfg)
    sc = plain(cfg.search)
    objectives = check_objectives(sc["objectives"])
    budgets = active_budgets(sc)
    name = str(sc["strategy"])
    if name not in STRATEGIES:
        raise UserError(f"unknown search.strategy '{name}'; use one of "
                        f"{', '.join(STRATEGIES)}.")
    strategy_cls = STRATEGIES[name]
    strategy_cls.check(space, sc)
    callbacks = search_callbacks(cfg, log)  # Optuna callbacks: made (and checked) first
    out = out_path(cfg)
    _say(f"mlpnas search: space '{space.name}' (scale {space.scale}); run folder {out}")
    data = build_data(plain(cfg.data), space.input_size, seed=int(cfg.seed))
    axis = axis_setting(sc, plain(cfg.scoring), space, data,
                        metakernel=name == "metakernel", log=_say)
    hw = hardware(cfg)

    # -- costs and budgets are checked before any training ----------------------------------
    t = time.perf_counter()
    flops = flops_table(space, data.num_classes, cfg.cache_dir)
    latency, setting = None, None
    if any(COST_TABLE[c].measured for c in (*objectives, *budgets) if c in COST_TABLE):
        setting = LatencySetting.from_cfg(cfg.hardware)
        _say(f"latency table for {setting.device_name()} (batch {setting.batch_size}, "
             f"{setting.dtype}, {setting.thread_count()} threads)")
        latency = latency_table(space, data.num_classes, setting, cfg.cache_dir,
                                progress=bool(cfg.progress))
    costs = CostModel(flops, latency)
    check_budgets(space, costs, budgets)
    from ..train import EvalSetting

    run = _Run(cfg, sc, space, data, costs, objectives, budgets, axis, out,
               Path(str(cfg.supernet_dir)) if axis.train_supernet else None, recipe, hw,
               setting, EvalSetting.of(sc, recipe.train.num_workers, hw.amp),
               {"tables_s": round(time.perf_counter() - t, 2)}, callbacks)
    strategy = strategy_cls(run)
    out.mkdir(parents=True, exist_ok=True)
    strategy.prepare()
    _say(f"accuracy axis: {axis.choice.describe()}"
         + ("" if axis.train_supernet else "; no supernet is trained (exports carry fresh "
                                           "weights: `mlpnas retrain` trains them)"))
    # the configuration is recorded only once every check passed (a refused run writes
    # nothing); a refusal while training or searching takes the record back
    with config_recorded(cfg, out):
        t = time.perf_counter()
        net = strategy.train()
        run.timing["supernet_s"] = round(time.perf_counter() - t, 1)
        metrics = None
        if net is not None:
            from ..supernet import SubnetEvaluator

            metrics = SubnetEvaluator(net.eval(), data.holdout, data.train, run.eval,
                                      next(net.parameters()).device)
        from ..search import REFERENCE_FILE

        t = time.perf_counter()
        score = build_axis(axis, space, data, costs, metrics, out / REFERENCE_FILE, log=_say)
        run.timing["reference_s"] = round(time.perf_counter() - t, 1)
        frames = strategy.trials(score)

    # -- results ------------------------------------------------------------------------
    from .search_report import write_report

    run.timing.update({"scoring_s": round(score.seconds, 1), "scorings": score.calls,
                       "total_s": round(time.perf_counter() - t_start, 1)})
    summary = write_report(run, frames, strategy.sampler, net, strategy.summary_lines())
    strategy.attach_artifacts()
    if log is not None:
        log.summary(summary)
    _say(summary)
    return summary


class _OptunaStrategy:
    """A supernet (trained once, reused) or none, then an Optuna study of `search.n_trials`
    architectures and, for comparison, a random-sampling study of as many."""

    name = "optuna"

    @staticmethod
    def check(space, sc: dict) -> None:
        from ..search import make_sampler

        make_sampler(str(sc["sampler"]), 0)  # an unknown name fails here, before any work

    def __init__(self, run: _Run):
        self.run = run
        self.sampler = str(run.sc["sampler"])
        self.studies: dict = {}

    def prepare(self) -> None:
        """Open the storage and the studies (a mismatch is refused before training) and
        enqueue the seed architectures. Workers started together do this one at a time
        (SQLite's schema set-up and the seeding's look-then-enqueue are not safe side by
        side)."""
        from ..search import (
            default_storage_url,
            make_sampler,
            open_storage,
            open_study,
            seed_trials,
        )

        r, sc = self.run, self.run.sc
        url = sc.get("storage") or default_storage_url(r.out)
        with file_lock(r.out.parent / f".{r.out.name}.lock"):
            default = not sc.get("storage")
            if default and not (r.out / "study.db").exists():
                _check_results_kept(r.out, None, None, url)
            storage = self.storage = open_storage(url)
            worker_seed = r.seed + 1000 * int(sc["worker"])
            base = r.study_base()
            _check_results_kept(r.out, storage, f"{base}-{self.sampler}", url)
            samplers = {self.sampler: make_sampler(self.sampler, worker_seed,
                                                   int(sc["population_size"]))}
            if sc["compare_random"] and self.sampler != "random":
                samplers["random"] = make_sampler("random", worker_seed + 1)
            for name, sampler in samplers.items():
                self.studies[name] = open_study(storage, f"{base}-{name}", r.objectives,
                                                sampler, r.budgets, r.axis.record())
                r.study_names[name] = f"{base}-{name}"
            seeds = r.space.uniform_archs() if sc["seed_uniform"] else {}
            # every worker of a study in the run folder's SQLite file runs on this machine
            # and holds its lock: with no other one running, every RUNNING trial is a dead
            # worker's
            alone = default and not _others_running(r.out, int(sc["worker"]))
            for study in self.studies.values():
                seed_trials(study, seeds, alone)

    def train(self):
        r = self.run
        if r.supernet_dir is None:
            return None
        from ..supernet import train_supernet

        with supernet_lock(r.supernet_dir):
            trained = train_supernet(r.space, r.data, r.recipe, r.supernet_dir,
                                     seed=r.seed, device=r.hw.device, amp=r.hw.amp,
                                     data_cfg=plain(r.cfg.data),
                                     progress=bool(r.cfg.progress), log=_say,
                                     dir_option="supernet_dir")
        return trained.supernet

    def trials(self, score) -> dict[str, pd.DataFrame]:
        from ..search import Objective, known_accuracies, run_trials, trials_frame

        r = self.run
        cache = known_accuracies(*self.studies.values())
        objective = Objective(r.space, r.costs, score, r.objectives, r.budgets, cache)
        studies = {}
        for name, study in self.studies.items():
            t = time.perf_counter()
            ran = run_trials(study, objective, int(r.sc["n_trials"]), bool(r.cfg.progress),
                             f"{name} trials", r.cost_label, r.callbacks)
            studies[name] = {"seconds": round(time.perf_counter() - t, 1), "trials_run": ran}
        r.timing.update({"studies": studies,
                         "cost_model_s": round(objective.cost_seconds, 4),
                         "cache_hits": objective.cache_hits})
        return {name: trials_frame(study, name) for name, study in self.studies.items()}

    def summary_lines(self) -> list[str]:
        return []

    def attach_artifacts(self) -> None:
        """The run's plots, tables and exports, as Optuna artifacts of its study."""
        attach_artifacts(self.storage, self.studies[self.sampler], self.run.out,
                         bool(self.run.sc["artifacts"]))


class _MetaKernelStrategy:
    """One training of weights and an architecture distribution (kernels merged as meta
    kernels); its derived architecture is the run's one trial."""

    name = sampler = "metakernel"

    @staticmethod
    def check(space, sc: dict) -> None:
        from ..supernet import check_metakernel_space

        check_metakernel_space(space)

    def __init__(self, run: _Run):
        self.run = run
        # the meta-kernel supernet is this run's own: its weights are trained with the
        # architecture distribution of this run's budgets; export reads it from here
        run.supernet_dir = run.out / "metakernel"
        run.cfg.supernet_dir = str(run.supernet_dir)
        self.result = None

    def prepare(self) -> None:
        pass

    def train(self):
        from ..supernet import train_metakernel

        r = self.run
        self.result = train_metakernel(
            r.space, r.data, r.recipe, plain(r.cfg.search.metakernel), r.costs,
            r.budgets, r.supernet_dir, seed=r.seed, device=r.hw.device, amp=r.hw.amp,
            data_cfg=plain(r.cfg.data), progress=bool(r.cfg.progress),
            log=_say)
        if self.result.derived is None:  # the most probable of the cost frontier's
            names = list(r.budgets)        # architectures within the budgets
            frontier = [a for values, a in r.costs.frontier(r.space, names)
                        if all(v <= r.budgets[n] for v, n in zip(values, names))]
            self.result.derived = max(frontier, key=self.result.arch.log_prob)
        return self.result.supernet

    def trials(self, score) -> dict[str, pd.DataFrame]:
        from ..search import COLUMNS, family_summary

        r, arch = self.run, self.result.derived
        t = time.perf_counter()
        costs = r.costs.costs(arch)
        violation = sum(max(costs[n] - limit, 0.0) for n, limit in r.budgets.items())
        row = {"number": 0, "sampler": self.name, "arch": arch.key, "accuracy": score(arch),
               **costs, "feasible": violation <= 0, "violation": violation,
               "seed": "metakernel", "depths": "-".join(str(len(s)) for s in arch.stages),
               "families": family_summary(arch), "state": "COMPLETE"}
        r.timing["studies"] = {self.name: {"seconds": round(time.perf_counter() - t, 1),
                                           "trials_run": 1}}
        return {self.name: pd.DataFrame([row], columns=COLUMNS)}

    def attach_artifacts(self) -> None:  # no study: its derived architecture is no trial
        pass

    def summary_lines(self) -> list[str]:
        result, costs = self.result, self.run.costs
        arch, probable = result.derived, result.arch.most_probable()
        folder = self.run.supernet_dir
        lines = [f"meta-kernel search: {result.steps} steps; derived architecture {arch.key} "
                 f"({costs.cost(arch, 'mflops'):.4g} MFLOPs)"]
        if probable.key != arch.key:
            lines.append(f"  (the most probable one, {probable.key}, "
                         f"{costs.cost(probable, 'mflops'):.4g} MFLOPs, is over a budget)")
        lines.append(f"  architecture distribution: {folder / 'architecture.json'}; training "
                     f"curves: {folder / 'metrics.csv'}")
        return lines


STRATEGIES = {s.name: s for s in (_OptunaStrategy, _MetaKernelStrategy)}
