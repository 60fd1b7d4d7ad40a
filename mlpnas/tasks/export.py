"""`mlpnas export RUN_DIR`: export architectures of a finished search run (the Pareto set,
chosen trials, or any architecture key of the space) with the run's supernet weights."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError
from ._common import plain, refuse_links


def run_context(run_dir: Path):
    """The search run's own configuration, space, data and results, and the supernet
    recipe its configuration holds (built and checked once, here)."""
    from ..search import load_results
    from ._common import read_run_config, run_folder_path, space_from_cfg

    results = load_results(run_dir)
    run_cfg, recipe = read_run_config(run_dir)
    for key in ("supernet_dir", "cache_dir"):
        if run_cfg.get(key):
            run_cfg[key] = str(run_folder_path(run_dir, str(run_cfg[key])))
    space = space_from_cfg(run_cfg)
    for key in results.trials["arch"].astype(str).unique():  # they name folders and jobs
        if not space.has_key(key):
            raise UserError(f"'{run_dir / 'trials.csv'}' lists '{key[:80]}', which is not an "
                            f"architecture key of space '{space.name}'; it is damaged or not "
                            f"of this run: run the same `mlpnas search` again to write it "
                            f"anew.")
    data_cfg = plain(run_cfg.data)  # as recorded: the supernet's fingerprint holds it so
    if data_cfg.get("root"):       # a relative dataset folder, found from anywhere
        data_cfg["root"] = str(run_folder_path(run_dir, str(data_cfg["root"])))
    from ..data import build_data  # loads torch: after the run folder's checks

    data = build_data(data_cfg, space.input_size, seed=int(run_cfg.seed))
    return run_cfg, space, data, results, recipe


def select_rows(results, pareto: pd.DataFrame, space, sel: DictConfig) -> pd.DataFrame:
    """The trials.csv rows (or fresh rows for an architecture key) to export."""
    t = results.trials
    main = t[t["sampler"] == results.sampler]
    if sel.arch:
        arch = space.arch_from_key(str(sel.arch))  # refuses keys not in the space
        rows = main[main["arch"] == arch.key].head(1)
        return rows if len(rows) else pd.DataFrame([{"arch": arch.key}])
    trials = sel.trials
    if trials in (None, "pareto"):
        if pareto.empty:
            raise UserError("this run has no feasible Pareto architecture to export; choose "
                            "trials with export.trials=[N, ...] or export.arch=KEY.")
        return pareto
    given = list(trials) if isinstance(trials, (list, tuple)) or OmegaConf.is_list(trials) \
        else [trials]
    if not given or not all(isinstance(n, int) and not isinstance(n, bool) for n in given):
        raise UserError(f"export.trials={trials!r} is neither 'pareto' nor a list of trial "
                        f"numbers; give e.g. export.trials=[3,17] (the 'number' column of "
                        f"trials.csv).")
    numbers = [int(n) for n in given]
    missing = [n for n in numbers if n not in set(main["number"])]
    if missing:
        raise UserError(f"trial {missing[0]} is not a complete {results.sampler} trial of this "
                        f"run; see the 'number' column of trials.csv.")
    return main[main["number"].isin(numbers)].drop_duplicates("arch")


def run(cfg: DictConfig):
    if not cfg.get("run_dir"):
        raise UserError("give the search run folder: mlpnas export RUN_DIR.")
    run_dir = Path(str(cfg.run_dir))
    if not cfg.export.get("out_dir"):  # writes into the run folder
        refuse_links(run_dir, "export.out_dir")
    run_cfg, space, data, results, recipe = run_context(run_dir)

    import torch  # the run folder is checked first: a refusal loads no torch

    from ..cost import CostModel, LatencySetting, flops_table, measure_arch
    from ..search import EXPORT_DIR, REFERENCE_FILE
    from ..train import EvalSetting
    from ._scoring import axis_setting, build_axis, recorded_settings
    from .search_report import export_archs, export_infos

    pareto = results.pareto if results.pareto is not None else pd.DataFrame()
    rows = select_rows(results, pareto, space, cfg.export).copy()
    # keys of the space, written as mlpnas writes them (each names a folder of the export)
    rows["arch"] = [space.arch_from_key(str(k)).key for k in rows["arch"]]
    search_cfg, scoring_cfg = recorded_settings(run_cfg)
    axis = axis_setting(search_cfg, scoring_cfg, space, data,
                        metakernel=search_cfg.get("strategy") == "metakernel")
    # the evaluation the search made (its settings), so that a score is the search's
    evaluation = EvalSetting.of(plain(run_cfg.search), recipe.train.num_workers,
                                run_cfg.hardware.get("amp"))
    device = torch.device(str(cfg.hardware.device))
    net, metrics = None, None
    if axis.train_supernet:
        from ..supernet import SubnetEvaluator, load_trained_supernet

        net = load_trained_supernet(space, run_cfg.supernet_dir, plain(run_cfg.data), recipe,
                                    int(run_cfg.seed), data.num_classes, device)
        metrics = SubnetEvaluator(net, data.holdout, data.train, evaluation, device)
    # the run's cache_dir came with its config.yaml: read there, never written
    costs = CostModel(flops_table(space, data.num_classes, run_cfg.cache_dir, write=False))
    setting = LatencySetting.from_cfg(cfg.hardware)
    score = None
    for i, row in rows.iterrows():
        arch = space.arch_from_key(row["arch"])
        for name, value in costs.costs(arch).items():
            if pd.isna(row.get(name)):
                rows.loc[i, name] = value
        if pd.isna(row.get("accuracy")):  # an architecture the search did not score
            score = score or build_axis(axis, space, data, costs, metrics,
                                        run_dir / REFERENCE_FILE)
            rows.loc[i, "accuracy"] = score(arch)
        if cfg.export.measure_latency and pd.isna(row.get("latency_ms_measured")):
            rows.loc[i, "latency_ms_measured"] = measure_arch(space, arch, data.num_classes,
                                                              setting)
    out = Path(str(cfg.export.out_dir)) if cfg.export.get("out_dir") else run_dir / EXPORT_DIR
    supernet_dir = run_cfg.supernet_dir if axis.train_supernet else None
    infos = export_infos(rows, space, data, setting, supernet_dir, axis)
    written = export_archs(net, space, list(rows["arch"]), out, infos, data, evaluation,
                           int(run_cfg.seed), onnx=bool(cfg.export.onnx))
    for folder in written:
        print(f"exported {folder}", flush=True)
    print(f"load one with: mlpnas.load_exported('{written[0]}')" if written else
          "nothing exported", flush=True)
    return written

