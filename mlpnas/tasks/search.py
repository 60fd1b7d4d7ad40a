"""`mlpnas search +space=NAME`: supernet (trained if needed), Optuna study, random baseline,
results tables, plots, summary, exported Pareto architectures."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from ..errors import UserError
from ._common import (
    config_recorded,
    device_of,
    file_lock,
    held_alone,
    out_path,
    plain,
    space_from_cfg,
    supernet_lock,
)
from ._tracking import attach_artifacts, search_callbacks, tracked


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(cfg: DictConfig):
    out, worker = out_path(cfg), int(cfg.search.get("worker", 0))
    # two workers with one number would propose the same architectures: refuse the second
    # (on this machine; workers on other machines sharing a database URL are not seen)
    with held_alone(out.parent / f".{out.name}.worker{worker}.lock",
                    f"a worker with search.worker={worker} is already running on '{out}'; "
                    f"give this one another number, e.g. search.worker={worker + 1}."), \
            tracked(cfg, out) as log:
        return _run(cfg, log)


def _run(cfg: DictConfig, log=None):
    from ..cost import CostModel, LatencySetting, flops_table, latency_table
    from ..data import build_data
    from ..search import (
        Objective,
        active_budgets,
        budget_suffix,
        check_budgets,
        check_objectives,
        completed,
        default_storage_url,
        known_accuracies,
        make_sampler,
        open_storage,
        open_study,
        run_trials,
        seed_trials,
    )

    t_start = time.perf_counter()
    space = space_from_cfg(cfg)
    sc = plain(cfg.search)
    objectives = check_objectives(sc["objectives"])
    budgets = active_budgets(sc)
    strategy = str(sc.get("strategy", "optuna"))
    if strategy not in STRATEGIES:
        raise UserError(f"unknown search.strategy '{strategy}'; use one of "
                        f"{', '.join(STRATEGIES)}.")
    out, supernet_dir = out_path(cfg), Path(str(cfg.supernet_dir))
    if strategy == "metakernel":
        from ..supernet import check_metakernel_space

        check_metakernel_space(space)
        sampler_name = "metakernel"
        # the meta-kernel supernet is this run's own: its weights are trained with the
        # architecture distribution of this run's budgets; export reads it from here
        supernet_dir = out / "metakernel"
        cfg.supernet_dir = str(supernet_dir)
    else:
        sampler_name = str(sc["sampler"])
        make_sampler(sampler_name, 0)  # an unknown name fails here, before any work
    callbacks = search_callbacks(cfg, log)  # Optuna callbacks: made (and checked) first
    seed = int(cfg.seed)
    _say(f"mlpnas search: space '{space.name}' (scale {space.scale}); run folder {out}")

    data = build_data(plain(cfg.data), space.input_size, seed=seed)
    device, amp, threads = device_of(cfg)
    if threads:
        torch.set_num_threads(int(threads))

    # -- costs, budgets and storage are checked before any training ---------------------
    t = time.perf_counter()
    flops = flops_table(space, data.num_classes, cfg.cache_dir)
    latency, setting = None, None
    if "latency_ms" in objectives or "latency_ms" in budgets:
        setting = LatencySetting.from_cfg(cfg.hardware)
        _say(f"latency table for {setting.device_name()} (batch {setting.batch_size}, "
             f"{setting.dtype}, {setting.apply_threads()} threads)")
        latency = latency_table(space, data.num_classes, setting, cfg.cache_dir,
                                progress=bool(cfg.progress))
    costs = CostModel(flops, latency)
    t_tables = time.perf_counter() - t
    check_budgets(space, costs, budgets)
    storage_url = sc.get("storage") or default_storage_url(out)
    out.mkdir(parents=True, exist_ok=True)
    # workers started together: one at a time creates the storage's tables, opens the
    # studies and enqueues the seed architectures (SQLite's schema set-up and the seeding's
    # look-then-enqueue are not safe to run side by side)
    with file_lock(out.parent / f".{out.name}.lock"):
        storage = open_storage(storage_url)

        # -- the studies (opened before training, so that a mismatch is refused early) --
        base = (sc.get("study_name")
                or f"{space.name}-{space.scale}-{data.name}-seed{seed}{budget_suffix(budgets)}")
        worker_seed = seed + 1000 * int(sc.get("worker", 0))
        main = open_study(storage, f"{base}-{sampler_name}", objectives,
                          make_sampler("random" if strategy == "metakernel" else sampler_name,
                                       worker_seed, int(sc["population_size"])),
                          budgets)
        studies = {sampler_name: main}
        if strategy == "metakernel":  # its trials are the derived architectures
            pass
        elif sc.get("compare_random", True) and sampler_name != "random":
            studies["random"] = open_study(storage, f"{base}-random", objectives,
                                           make_sampler("random", worker_seed + 1), budgets)
        seeds = (space.uniform_archs() if sc.get("seed_uniform", True)
                 and strategy == "optuna" else {})
        for study in studies.values():
            seed_trials(study, seeds)
    # the configuration is recorded only once every check passed (a refused run writes
    # nothing); a refusal while training or searching takes the record back
    with config_recorded(cfg, out):
        # -- the supernet ---------------------------------------------------------------
        from ..supernet import SubnetEvaluator, train_supernet

        t = time.perf_counter()
        if strategy == "metakernel":
            from optuna.trial import TrialState

            trained = _metakernel(cfg, space, data, costs, budgets, supernet_dir, device, amp,
                                  threads)
            seed_trials(main, {"metakernel": trained.derived})
            n_trials = completed(main) + len(main.get_trials(
                deepcopy=False, states=(TrialState.WAITING,)))
        else:
            with supernet_lock(supernet_dir):
                trained = train_supernet(space, data, plain(cfg.train), supernet_dir,
                                         seed=seed, device=device, amp=amp, threads=threads,
                                         data_cfg=plain(cfg.data),
                                         progress=bool(cfg.progress), log=_say,
                                         dir_option="supernet_dir")
            n_trials = int(sc["n_trials"])
        t_train = time.perf_counter() - t
        net = trained.supernet.eval()
        dev = next(net.parameters()).device
        evaluate = SubnetEvaluator(net, data.holdout, data.train, int(sc["eval_batch_size"]), dev,
                                   int(sc["recal_batches"]), sc.get("eval_limit"),
                                   int(cfg.train.get("num_workers", 0)), amp)

        cache = known_accuracies(*studies.values())
        objective = Objective(space, costs, evaluate, objectives, budgets, cache)
        cost_name = next(o for o in objectives if o != "accuracy")

        def label(key: str) -> str:
            return f"@ {costs.cost(space.arch_from_key(key), cost_name):.4g} {cost_name}"

        study_seconds = {}
        for name, study in studies.items():
            t = time.perf_counter()
            ran = run_trials(study, objective, n_trials, bool(cfg.progress), f"{name} trials",
                             label, callbacks)
            study_seconds[name] = (time.perf_counter() - t, ran)

    # -- results ------------------------------------------------------------------------
    from .search_report import append_summary, write_report

    timing = {
        "tables_s": round(t_tables, 2), "supernet_s": round(t_train, 1),
        "studies": {k: {"seconds": round(v[0], 1), "trials_run": v[1]}
                    for k, v in study_seconds.items()},
        "evaluation_s": round(evaluate.seconds, 1), "evaluations": evaluate.calls,
        "cost_model_s": round(objective.cost_seconds, 4), "cache_hits": objective.cache_hits,
        "total_s": round(time.perf_counter() - t_start, 1),
    }
    summary = write_report(cfg, space, data, costs, studies, sampler_name, objectives,
                           budgets, out, net, setting, timing)
    if strategy == "metakernel":
        summary = append_summary(out, metakernel_lines(trained, costs, supernet_dir))
    attach_artifacts(storage, main, out, bool(sc.get("artifacts", True)))
    if log is not None:
        log.summary(summary)
    _say(summary)
    return summary


STRATEGIES = ("optuna", "metakernel")


def _metakernel(cfg, space, data, costs, budgets, folder: Path, device, amp, threads):
    """Train weights and architecture together (see mlpnas.supernet._metakernel); the derived
    architecture is the most probable within the budgets, else the most probable of the
    cost frontier's architectures that meet them."""
    from ..supernet import train_metakernel

    result = train_metakernel(space, data, plain(cfg.train), plain(cfg.search.metakernel),
                              costs, budgets, folder, seed=int(cfg.seed), device=device,
                              amp=amp, threads=threads, data_cfg=plain(cfg.data),
                              progress=bool(cfg.progress), log=_say)
    if result.derived is None:
        names = list(budgets)
        frontier = [a for values, a in costs.frontier(space, names)
                    if all(v <= budgets[n] for v, n in zip(values, names))]
        result.derived = max(frontier, key=result.arch.log_prob)
    return result


def metakernel_lines(result, costs, folder: Path) -> list[str]:
    arch = result.derived
    probable = result.arch.most_probable()
    lines = [f"meta-kernel search: {result.steps} steps; derived architecture {arch.key} "
             f"({costs.cost(arch, 'mflops'):.4g} MFLOPs)"]
    if probable.key != arch.key:
        lines.append(f"  (the most probable one, {probable.key}, "
                     f"{costs.cost(probable, 'mflops'):.4g} MFLOPs, is over a budget)")
    lines.append(f"  architecture distribution: {folder / 'architecture.json'}; training "
                 f"curves: {folder / 'metrics.csv'}")
    return lines
