"""Latency: a measurement harness, a per-block latency table cached per hardware setting, and
a predictor that sums it.

Measurement: warm-up runs, then repeated timed forward passes under `torch.inference_mode`,
median reported. On the CPU the thread count is fixed (`hardware.threads`, default torch's)
and recorded; on a GPU each pass is timed with CUDA events after synchronisation.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..space import Arch, Space
from ._table import BlockTable, block_spec, each_block, skeleton, space_digest

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
    device: str = "cpu"
    batch_size: int = 1
    dtype: str = "fp32"
    threads: int | None = None
    warmup: int = 10
    repeats: int = 30

    @staticmethod
    def from_cfg(hardware) -> LatencySetting:
        lat = dict(hardware.get("latency") or {})
        return LatencySetting(str(hardware.get("device", "cpu")), int(lat.get("batch_size", 1)),
                              str(lat.get("dtype", "fp32")), hardware.get("threads"),
                              int(lat.get("warmup", 10)), int(lat.get("repeats", 30)))

    def device_name(self) -> str:
        return device_name(self.device)

    def apply_threads(self) -> int:
        if self.threads:
            torch.set_num_threads(int(self.threads))
        return torch.get_num_threads()

    def cache_name(self, space: Space, num_classes: int) -> str:
        """Records device, torch version, batch size, dtype and threads."""
        dev = re.sub(r"[^A-Za-z0-9]+", "-", self.device_name()).strip("-").lower()
        threads = f"-t{self.apply_threads()}" if not self.device.startswith("cuda") else ""
        torch_v = re.sub(r"[^A-Za-z0-9.]+", "-", torch.__version__)
        return (f"latency-{space.name}-{space.scale}-{space_digest(space, num_classes)}-{dev}"
                f"-torch{torch_v}-bs{self.batch_size}-{self.dtype}{threads}.json")


def measure_latency(module: nn.Module, example: torch.Tensor, setting: LatencySetting
                    ) -> float:
    """Median latency in milliseconds of `module(example)`."""
    device = torch.device(setting.device)
    dtype = DTYPES[setting.dtype]
    setting.apply_threads()
    module = module.to(device=device, dtype=dtype).eval()
    x = example.to(device=device, dtype=dtype)
    cuda = device.type == "cuda"
    times = []
    with torch.inference_mode():
        for _ in range(setting.warmup):
            module(x)
        if cuda:
            torch.cuda.synchronize(device)
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
        for _ in range(setting.repeats):
            if cuda:
                start.record()
                module(x)
                end.record()
                torch.cuda.synchronize(device)
                times.append(start.elapsed_time(end))
            else:
                t = time.perf_counter()
                module(x)
                times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def measure_arch(space: Space, arch: Arch, num_classes: int, setting: LatencySetting) -> float:
    """End-to-end latency of an architecture's static network (weights do not matter)."""
    from ..models import MlpBackbone

    model = MlpBackbone(space.to_netspec(arch, num_classes))
    x = torch.randn(setting.batch_size, *space.input_size)
    return measure_latency(model, x, setting)


def build_latency_table(space: Space, num_classes: int, setting: LatencySetting,
                        progress: bool = False) -> BlockTable:
    from ..models import make_block

    items = list(each_block(space))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items) + 1, desc="latency table", leave=False)
    blocks = {}
    for i, b in items:
        st = space.stages[i]
        block = make_block(st.width, block_spec(space, i, b), st.resolution, space.norm)
        x = torch.randn(setting.batch_size, *st.resolution, st.width)
        blocks[f"{i}:{b.token}"] = {"latency_ms": measure_latency(block, x, setting)}
        if bar is not None:
            bar.update(1)
    skel = skeleton(space, num_classes)
    fixed = {"latency_ms": measure_latency(
        skel, torch.randn(setting.batch_size, *space.input_size), setting)}
    if bar is not None:
        bar.update(1)
        bar.close()
    meta = {"space": space.name, "scale": space.scale, "device": setting.device,
            "device_name": setting.device_name(), "torch": torch.__version__,
            "batch_size": setting.batch_size, "dtype": setting.dtype,
            "threads": setting.apply_threads(), "warmup": setting.warmup,
            "repeats": setting.repeats}
    return BlockTable(("latency_ms",), fixed, blocks, meta)


def latency_table(space: Space, num_classes: int, setting: LatencySetting,
                  cache_dir: str | Path | None, progress: bool = False) -> BlockTable:
    """The per-block latency table of a space on this hardware setting, measured once and
    cached under a name that records the setting."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / setting.cache_name(space, num_classes)
        if path.is_file():
            try:
                return BlockTable.from_json(path.read_text())
            except (ValueError, KeyError):
                pass
    table = build_latency_table(space, num_classes, setting, progress)
    if path is not None:
        table.save(path)
    return table
