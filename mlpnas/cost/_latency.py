"""Latency: a measurement harness, a per-block latency table cached per hardware setting, and
a predictor that sums it.

Timing each block on its own misses what a whole network adds between blocks (cache misses
on a new block's weights, layout changes, dispatch), so on small inputs the plain sum runs
about a fifth below the end-to-end time. The table is therefore calibrated once when it is
built: a few architectures spread over the space (smallest, largest and seeded random ones)
are timed end to end and the sum is multiplied by the median ratio measured / summed. The
ratios are kept in the table's metadata (`meta["calibration"]`).

Measurement: warm-up runs, then repeated timed forward passes under `torch.inference_mode`,
in a few interleaved rounds; the smallest round median is reported. On the CPU the thread
count is fixed (`hardware.threads`, default torch's) and recorded; on a GPU each pass is
timed with CUDA events after synchronisation.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import section_values
from ..space import Arch, Space
from ._names import describe_setting
from ._table import BlockTable, arch_model, block_spec, each_block, skeleton, space_digest

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def device_name(device: str = "cpu") -> str:
    """The GPU's name, or the CPU's model name."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return cpu


def machine_description(device: str = "cpu") -> str:
    """What benchmark results name as their machine."""
    if str(device).startswith("cuda"):
        return device_name(device)
    return (f"{device_name(device)}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"threads")


@dataclass(frozen=True)
class LatencySetting:
    """How latency is measured: the device, batch size, dtype and thread count of the timed
    passes, and the warm-up passes, timed passes and rounds (values: conf/hardware/)."""

    device: str
    batch_size: int
    dtype: str
    threads: int | None
    warmup: int
    repeats: int
    rounds: int

    LATENCY_KEYS = ("batch_size", "dtype", "warmup", "repeats", "rounds")

    @staticmethod
    def from_cfg(hardware) -> LatencySetting:
        """From the `hardware` node; a missing key is the one-sentence UserError naming it."""
        hw = section_values(hardware, ("device", "threads", "latency"), "hardware")
        lat = section_values(hw["latency"] or {}, LatencySetting.LATENCY_KEYS,
                             "hardware.latency", "hardware")
        return LatencySetting(str(hw["device"]), int(lat["batch_size"]), str(lat["dtype"]),
                              hw["threads"], int(lat["warmup"]), int(lat["repeats"]),
                              int(lat["rounds"]))

    def device_name(self) -> str:
        return device_name(self.device)

    def apply_threads(self) -> int:
        """Fix torch's thread count to `threads` (if set) and return the count in effect:
        what a measurement does first."""
        if self.threads:
            torch.set_num_threads(int(self.threads))
        return torch.get_num_threads()

    def thread_count(self) -> int:
        """The thread count a measurement runs with (`threads`, else torch's current one);
        sets nothing."""
        return int(self.threads) if self.threads else torch.get_num_threads()

    def record(self) -> dict:
        """The setting as stored with results: the thread count a measurement uses (torch's
        current one when `threads` is None, rather than None) and the device's name."""
        return {**asdict(self), "threads": self.thread_count(),
                "device_name": self.device_name()}

    def describe(self) -> str:
        """One line for a model card: device, batch, dtype and, on the CPU, the threads."""
        return describe_setting(self.record())

    def cache_name(self, space: Space, num_classes: int) -> str:
        """Records device, torch version, batch size, dtype and threads."""
        dev = re.sub(r"[^A-Za-z0-9]+", "-", self.device_name()).strip("-").lower()
        threads = f"-t{self.thread_count()}" if not self.device.startswith("cuda") else ""
        torch_v = re.sub(r"[^A-Za-z0-9.]+", "-", torch.__version__)
        return (f"latency-{space.name}-{space.scale}-{space_digest(space, num_classes)}-{dev}"
                f"-torch{torch_v}-bs{self.batch_size}-{self.dtype}{threads}.json")


def _timed_runs(module: nn.Module, x: torch.Tensor, setting: LatencySetting, n: int
                ) -> list[float]:
    """Warm-up runs, then `n` timed forward passes (milliseconds)."""
    cuda = x.device.type == "cuda"
    times = []
    with torch.inference_mode():
        for _ in range(setting.warmup):
            module(x)
        if cuda:
            torch.cuda.synchronize(x.device)
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
        for _ in range(n):
            if cuda:
                start.record()
                module(x)
                end.record()
                torch.cuda.synchronize(x.device)
                times.append(start.elapsed_time(end))
            else:
                t = time.perf_counter()
                module(x)
                times.append((time.perf_counter() - t) * 1e3)
    return times


def measure_many(items: dict[str, tuple[nn.Module, torch.Tensor]], setting: LatencySetting,
                 progress=None) -> dict[str, float]:
    """Latency in milliseconds of each `module(example)`, measured in `setting.rounds`
    interleaved rounds (every item once per round, `repeats / rounds` passes each) and
    reported as the smallest of an item's round medians: a burst of load from other
    processes then slows one round of many items instead of every pass of a few."""
    device = torch.device(setting.device)
    dtype = DTYPES[setting.dtype]
    setting.apply_threads()
    ready = {k: (m.to(device=device, dtype=dtype).eval(), x.to(device=device, dtype=dtype))
             for k, (m, x) in items.items()}
    rounds = max(1, setting.rounds)
    per_round = max(1, -(-setting.repeats // rounds))
    best: dict[str, float] = {}
    for _ in range(rounds):
        for k, (module, x) in ready.items():
            t = statistics.median(_timed_runs(module, x, setting, per_round))
            best[k] = min(best.get(k, t), t)
            if progress is not None:
                progress.update(1)
    return best


def measure_latency(module: nn.Module, example: torch.Tensor, setting: LatencySetting
                    ) -> float:
    """Latency in milliseconds of `module(example)` (see `measure_many`)."""
    return measure_many({"m": (module, example)}, setting)["m"]


def measure_arch(space: Space, arch: Arch, num_classes: int, setting: LatencySetting) -> float:
    """End-to-end latency of an architecture's static network (weights do not matter)."""
    return measure_archs(space, [arch], num_classes, setting)[0]


def measure_archs(space: Space, archs: list[Arch], num_classes: int, setting: LatencySetting
                  ) -> list[float]:
    """End-to-end latencies of several architectures, measured in interleaved rounds."""
    x = torch.randn(setting.batch_size, *space.input_size)
    ms = measure_many({a.key: (arch_model(space, a, num_classes), x) for a in archs}, setting)
    return [ms[a.key] for a in archs]


CALIBRATION_ARCHS = 6  # seeded random architectures, plus the smallest and the largest


def build_latency_table(space: Space, num_classes: int, setting: LatencySetting,
                        progress: bool = False) -> BlockTable:
    from ..models import make_block

    items = {}
    for i, b in each_block(space):
        st = space.stages[i]
        block = make_block(st.width, block_spec(space, i, b), st.resolution, space.norm)
        items[f"{i}:{b.token}"] = (block, torch.randn(setting.batch_size, *st.resolution,
                                                      st.width))
    block_keys = list(items)
    x = torch.randn(setting.batch_size, *space.input_size)
    items["fixed"] = (skeleton(space, num_classes), x)
    archs = [space.smallest(), space.largest()]
    archs += [space.sample(seed) for seed in range(CALIBRATION_ARCHS)]
    for arch in archs:
        items[f"arch:{arch.key}"] = (arch_model(space, arch, num_classes), x)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items) * max(1, setting.rounds), desc="latency table",
                   leave=False)
    ms = measure_many(items, setting, bar)
    if bar is not None:
        bar.close()
    blocks = {k: {"latency_ms": ms[k]} for k in block_keys}
    table = BlockTable(("latency_ms",), {"latency_ms": ms["fixed"]}, blocks)
    rows = []
    for arch in archs:
        measured, summed = ms[f"arch:{arch.key}"], table.raw_cost(arch, "latency_ms")
        rows.append({"arch": arch.key, "measured_ms": measured, "summed_ms": summed,
                     "ratio": measured / summed})
    table.scale = {"latency_ms": statistics.median(r["ratio"] for r in rows)}
    table.meta = {"space": space.name, "scale": space.scale, "device": setting.device,
                  "device_name": setting.device_name(), "torch": torch.__version__,
                  "batch_size": setting.batch_size, "dtype": setting.dtype,
                  "threads": setting.thread_count(), "warmup": setting.warmup,
                  "repeats": setting.repeats, "rounds": setting.rounds,
                  "calibration": rows}
    return table


def latency_table(space: Space, num_classes: int, setting: LatencySetting,
                  cache_dir: str | Path | None, progress: bool = False,
                  write: bool = True) -> BlockTable:
    """The per-block latency table of a space on this hardware setting, measured once and
    cached under a name that records the setting (unless `write` is false: a folder named by
    a received run is only read)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / setting.cache_name(space, num_classes)
        if path.is_file():
            try:
                return BlockTable.from_json(path.read_text())
            except (ValueError, KeyError):
                pass
    table = build_latency_table(space, num_classes, setting, progress)
    if path is not None and write:
        table.save(path)
    return table
