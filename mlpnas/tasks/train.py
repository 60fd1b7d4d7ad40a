"""`mlpnas train +space=NAME`: once-for-all training of a space's supernet."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from ._common import config_recorded, hardware, out_path, plain, space_from_cfg
from ._tracking import tracked

log = logging.getLogger("mlpnas.train")


def run(cfg: DictConfig):
    from ..supernet import SupernetRecipe

    recipe = SupernetRecipe.of(cfg.train)  # checked before anything is read or written

    from ..data import build_data
    from ..supernet import train_supernet

    space = space_from_cfg(cfg)
    data = build_data(plain(cfg.data), space.input_size, seed=int(cfg.seed))
    hw = hardware(cfg)
    out = out_path(cfg)
    print(f"mlpnas train: space '{space.name}' (scale {space.scale}, {space.size():.3g} "
          f"architectures), {data.describe()}; writing to {out}", flush=True)
    with config_recorded(cfg, out), tracked(cfg, out):
        result = train_supernet(space, data, recipe, out, seed=int(cfg.seed),
                                device=hw.device, amp=hw.amp,
                                data_cfg=plain(cfg.data), progress=bool(cfg.progress),
                                log=lambda m: print(m, flush=True))
    if result.metrics:
        last = result.metrics[-1]
        chance = 1.0 / data.num_classes
        print(f"done: {result.steps} steps; validation accuracy of the largest subnet "
              f"{last['val_acc_largest']:.3f}, smallest {last['val_acc_smallest']:.3f} (chance "
              f"{chance:.3f}); supernet in {out}", flush=True)
    return result
