"""The costs a search can weigh, as one torch-free table: name (the objective, the column of
the result files and the Optuna user attribute), the block table's metric it reads and its
unit factor, the unit, the axis and card labels, and the budget option. Search, plots, rank
and the tasks read costs from here; adding a cost is one entry (plus, for a new metric, the
code that fills the block table).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CostInfo:
    name: str            # objective / column name
    metric: str          # the per-block table's metric
    factor: float        # table units -> this cost's unit
    unit: str            # in sentences: "14 MFLOPs", "0.5 M parameters"
    label: str           # axis label
    budget_option: str   # search.<option> that sets a hard budget on it
    measured: bool = False   # needs a measured (device) table, not a counted one

    @property
    def direction(self) -> str:
        return "minimize"


COST_TABLE: dict[str, CostInfo] = {c.name: c for c in (
    CostInfo("mflops", "macs", 1e-6, "MFLOPs", "MFLOPs (fvcore multiply-adds)", "max_mflops"),
    CostInfo("params_m", "params", 1e-6, "M parameters", "parameters (M)", "max_params_m"),
    CostInfo("latency_ms", "latency_ms", 1.0, "ms", "latency (ms)", "max_latency_ms",
             measured=True),
)}
COST_NAMES: tuple[str, ...] = tuple(COST_TABLE)
BUDGET_OPTIONS: dict[str, str] = {c.budget_option: c.name for c in COST_TABLE.values()}


def describe_setting(record: dict) -> str:
    """A stored latency setting (`LatencySetting.record()`, e.g. from a run's run.json) as
    one line: device, batch, dtype and, on the CPU, the threads; missing fields are left out."""
    cuda = str(record.get("device", "")).startswith("cuda")
    parts = [record.get("device_name") or record.get("device"),
             record.get("batch_size") and f"batch {record['batch_size']}", record.get("dtype"),
             not cuda and record.get("threads") and f"{record['threads']} threads"]
    return ", ".join(str(x) for x in parts if x)
