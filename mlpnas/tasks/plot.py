"""`mlpnas plot RUN_DIR`: redraw a search run's plots from its stored results only."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ..errors import UserError
from ._common import refuse_links


def run(cfg: DictConfig):
    from ..plots import plot_run

    if not cfg.get("run_dir"):
        raise UserError("give the search run folder: mlpnas plot RUN_DIR.")
    run_dir = Path(str(cfg.run_dir))
    if not cfg.get("out_dir"):  # writes into the run folder
        refuse_links(run_dir, "out_dir")
    written = plot_run(run_dir, cfg.get("out_dir"))
    for p in written:
        print(f"wrote {p}", flush=True)
    return written
