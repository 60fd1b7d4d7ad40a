"""`mlpnas retrain PATH`: train an exported architecture standalone (from scratch or from its
inherited weights) to learn its true accuracy."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from ..errors import UserError
from ._common import config_recorded, hardware, plain, refuse_links
from ._tracking import tracked


def run(cfg: DictConfig):
    from ..train import Recipe

    recipe = Recipe.of(cfg.train)  # checked before anything is read or written (or torch loads)

    from ..data import build_data
    from ..export import read_arch_file
    from ..train import retrain

    if not cfg.get("path"):
        raise UserError("give the exported architecture folder: mlpnas retrain PATH.")
    path = Path(str(cfg.path))
    record = read_arch_file(path)
    if record.get("data") and record["data"] != cfg.data.name:
        raise UserError(f"'{path}' was found on data '{record['data']}' but this run uses "
                        f"data={cfg.data.name}; pass data={record['data']} (and its options).")
    out = Path(str(cfg.out_dir))
    here = Path(os.path.abspath(path))
    if Path(os.path.abspath(out)).is_relative_to(here):  # writes into the export's folder
        refuse_links(here, "out_dir")
    size = record["netspec"]["img_size"]
    data = build_data(plain(cfg.data), (record["netspec"]["in_chans"], *size),
                      seed=int(cfg.seed))
    hw = hardware(cfg)
    print(f"mlpnas retrain: {record['arch']} ({cfg.init} init) on {data.describe()}; writing "
          f"to {out}", flush=True)
    with config_recorded(cfg, out), tracked(cfg, out):
        result = retrain(path, data, recipe, out, str(cfg.init), int(cfg.seed),
                         hw.device, hw.amp, plain(cfg.data), bool(cfg.progress),
                         lambda m: print(m, flush=True))
    if result.metrics:
        last = result.metrics[-1]
        print(f"done: validation accuracy {last['val_acc']:.4f} after {result.steps} steps "
              f"(inherited-weights accuracy in the search: "
              f"{record.get('metrics', {}).get('accuracy')}); model in {out / 'model'}",
              flush=True)
    return result
