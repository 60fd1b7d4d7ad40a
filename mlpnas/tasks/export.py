"""`mlpnas export RUN_DIR`: export architectures of a finished search run (the Pareto set,
chosen trials, or any architecture key of the space) with the run's supernet weights."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError
from ._common import plain


def run_context(run_dir: Path):
    """The search run's own configuration, space, data and results."""
    from ..data import build_data
    from ..search import load_results
    from ._common import run_folder_path, space_from_cfg

    results = load_results(run_dir)
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.is_file():
        raise UserError(f"'{run_dir}' has no config.yaml; it was not written by `mlpnas "
                        f"search`.")
    run_cfg = OmegaConf.load(cfg_file)
    for key in ("supernet_dir", "cache_dir"):
        if run_cfg.get(key):
            run_cfg[key] = str(run_folder_path(run_dir, str(run_cfg[key])))
    space = space_from_cfg(run_cfg)
    data_cfg = plain(run_cfg.data)  # as recorded: the supernet's fingerprint holds it so
    if data_cfg.get("root"):       # a relative dataset folder, found from anywhere
        data_cfg["root"] = str(run_folder_path(run_dir, str(data_cfg["root"])))
    data = build_data(data_cfg, space.input_size, seed=int(run_cfg.seed))
    return run_cfg, space, data, results


def select_rows(results, pareto: pd.DataFrame, space, sel: DictConfig) -> pd.DataFrame:
    """The trials.csv rows (or fresh rows for an architecture key) to export."""
    t = results.trials
    main = t[t["sampler"] == results.sampler]
    if sel.get("arch"):
        arch = space.arch_from_key(str(sel.arch))  # refuses keys not in the space
        rows = main[main["arch"] == arch.key].head(1)
        return rows if len(rows) else pd.DataFrame([{"arch": arch.key}])
    trials = sel.get("trials", "pareto")
    if trials in (None, "pareto"):
        if pareto.empty:
            raise UserError("this run has no feasible Pareto architecture to export; choose "
                            "trials with export.trials=[N, ...] or export.arch=KEY.")
        return pareto
    numbers = [int(n) for n in (trials if isinstance(trials, (list, tuple)) or
                                OmegaConf.is_list(trials) else [trials])]
    missing = [n for n in numbers if n not in set(main["number"])]
    if missing:
        raise UserError(f"trial {missing[0]} is not a complete {results.sampler} trial of this "
                        f"run; see the 'number' column of trials.csv.")
    return main[main["number"].isin(numbers)].drop_duplicates("arch")


def run(cfg: DictConfig):
    import torch

    from ..cost import CostModel, LatencySetting, flops_table, measure_arch
    from ..search import EXPORT_DIR, REFERENCE_FILE
    from ._scoring import axis_setting, build_axis, recorded_settings
    from .search_report import export_archs, export_infos

    if not cfg.get("run_dir"):
        raise UserError("give the search run folder: mlpnas export RUN_DIR.")
    run_dir = Path(str(cfg.run_dir))
    run_cfg, space, data, results = run_context(run_dir)
    rows = select_rows(results, _pareto(run_dir), space, cfg.export).copy()
    search_cfg, scoring_cfg = recorded_settings(run_cfg)
    axis = axis_setting(search_cfg, scoring_cfg, space, data,
                        metakernel=search_cfg.get("strategy") == "metakernel")
    sc = plain(run_cfg.search)
    device = torch.device(str(cfg.hardware.device))
    net, metrics = None, None
    if axis.train_supernet:
        from ..supernet import SubnetEvaluator, load_trained_supernet

        net = load_trained_supernet(space, run_cfg.supernet_dir, plain(run_cfg.data),
                                    plain(run_cfg.train), int(run_cfg.seed), data.num_classes,
                                    device)
        metrics = SubnetEvaluator(net, data.holdout, data.train, int(sc["eval_batch_size"]),
                                  device, int(sc["recal_batches"]), sc.get("eval_limit"))
    costs = CostModel(flops_table(space, data.num_classes, run_cfg.cache_dir))
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
        if cfg.export.get("measure_latency", True) and pd.isna(row.get("latency_ms_measured")):
            rows.loc[i, "latency_ms_measured"] = measure_arch(space, arch, data.num_classes,
                                                              setting)
    out = Path(str(cfg.export.out_dir)) if cfg.export.get("out_dir") else run_dir / EXPORT_DIR
    supernet_dir = run_cfg.supernet_dir if axis.train_supernet else None
    infos = export_infos(rows, space, data, setting, supernet_dir, axis)
    written = export_archs(net, space, list(rows["arch"]), out, infos, data, sc,
                           int(run_cfg.seed), onnx=bool(cfg.export.get("onnx", False)))
    for folder in written:
        print(f"exported {folder}", flush=True)
    print(f"load one with: mlpnas.load_exported('{written[0]}')" if written else
          "nothing exported", flush=True)
    return written


def _pareto(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "pareto.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
