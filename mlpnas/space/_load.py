"""Parse and validate search-space YAML files (torch-free)."""

from __future__ import annotations

import importlib.resources
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import YamlProblem, read_plain_yaml
from ..spec import FAMILIES, NORMS, DownsampleSpec, SpecError, StemSpec, family
from ._space import Space, SpaceError, StageChoices

# the shipped spaces are package data (mlpnas/search_spaces links to the top-level folder in
# a source checkout; a wheel carries the files)
SPACES_DIR = Path(str(importlib.resources.files("mlpnas") / "search_spaces"))

_TOP = ("name", "description", "norm", "default_scale", "scales", "stages")
_SCALE = ("input_size", "stem", "downsample", "widths", "depths", "norm")
_STAGE = ("depth", "mixers", "mlp_ratio")
_STEM = ("kernel", "stride", "padding", "norm", "act")
_DOWN = ("kind", "kernel", "stride", "padding", "norm", "act")


def known_spaces() -> list[str]:
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def resolve_space_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise SpaceError(f"search space file '{p}' does not exist; give an existing YAML "
                             f"file or one of the shipped spaces: {', '.join(known_spaces())}.")
        return p
    candidate = SPACES_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise SpaceError(f"unknown search space '{name_or_path}'; known spaces are "
                         f"{', '.join(known_spaces())} (or give a path to a YAML file).")
    return candidate


def load_space(name_or_path: str | Path, scale: str | None = None) -> Space:
    """Load a shipped space by name (`search_spaces/<name>.yaml`) or a YAML file by path, at
    `scale` (default: the file's `default_scale`, else 'small')."""
    path = resolve_space_path(name_or_path)
    try:
        raw = read_plain_yaml(path, aliases=True)
    except YamlProblem as e:
        raise SpaceError(f"search space file '{path}' {e}; fix the file.") from None
    return parse_space(raw, path, scale)


def _err(where: str, msg: str) -> SpaceError:
    return SpaceError(f"{where}: {msg}")


def _fields(d: Any, allowed: tuple[str, ...], where: str, required: tuple[str, ...] = ()):
    if not isinstance(d, Mapping):
        raise _err(where, f"expected a mapping with fields {', '.join(allowed)}, got {d!r}.")
    for k in d:
        if k not in allowed:
            raise _err(where, f"unknown field '{k}'; allowed fields are {', '.join(allowed)}.")
    for k in required:
        if k not in d:
            raise _err(where, f"missing field '{k}'.")


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _positive_ints(v: Any, where: str, what: str) -> tuple[int, ...]:
    vals = _as_list(v)
    if not vals:
        raise _err(where, f"{what} needs at least one value.")
    for x in vals:
        if isinstance(x, bool) or not isinstance(x, int) or x < 1:
            raise _err(where, f"{what} {x!r} is not allowed; {what} values must be positive "
                              f"integers.")
    return tuple(sorted(set(vals)))


def parse_space(raw: Any, path: Path | str = "<memory>", scale: str | None = None) -> Space:
    where = f"search space '{path}'"
    _fields(raw, _TOP, where, required=("scales", "stages"))
    name = str(raw.get("name", Path(str(path)).stem))
    where = f"search space '{name}'"
    norm = raw.get("norm", "layer")
    if norm not in NORMS:
        raise _err(where, f"norm '{norm}' is not allowed; use one of {', '.join(NORMS)}.")
    scales = raw["scales"]
    if not isinstance(scales, Mapping) or not scales:
        raise _err(where, "'scales' must map scale names (e.g. small, imagenet) to settings.")
    stages_raw = raw["stages"]
    if not isinstance(stages_raw, list) or not stages_raw:
        raise _err(where, "'stages' must be a non-empty list.")
    n = len(stages_raw)

    stage_choices = [_parse_stage(s, f"{where}, stage {i}") for i, s in enumerate(stages_raw)]

    parsed = {}
    for sname, sraw in scales.items():
        parsed[str(sname)] = _parse_scale(sraw, n, stage_choices, f"{where}, scale {sname}")

    chosen = scale or raw.get("default_scale") or ("small" if "small" in parsed else
                                                   next(iter(parsed)))
    if chosen not in parsed:
        raise _err(where, f"unknown scale '{chosen}'; this space has scales "
                          f"{', '.join(parsed)}.")
    input_size, stem, down, stages = parsed[chosen]
    norm = scales[chosen].get("norm", norm)
    if norm not in NORMS:
        raise _err(f"{where}, scale {chosen}", f"norm '{norm}' is not allowed; use one of "
                                                f"{', '.join(NORMS)}.")
    return Space(name=name, scale=chosen, description=str(raw.get("description", "")).strip(),
                 input_size=input_size, norm=norm, stem=stem, downsample=down,
                 stages=stages, path=str(path), scales=tuple(parsed))


def _parse_stage(s: Any, where: str):
    _fields(s, _STAGE, where, required=("depth", "mixers"))
    depths = _positive_ints(s["depth"], where, "depth")
    mixers_raw = s["mixers"]
    if not isinstance(mixers_raw, Mapping) or not mixers_raw:
        raise _err(where, f"'mixers' must map family names ({', '.join(FAMILIES)}) to their "
                          f"options, e.g. {{cycle: {{kernel: [3, 5]}}}}.")
    mixers = []
    for fam, opts in mixers_raw.items():
        try:
            info = family(fam)
        except SpecError as e:
            raise _err(where, str(e)) from None
        opts = {} if opts is None else opts
        if not isinstance(opts, Mapping):
            raise _err(where, f"options of mixer '{fam}' must be a mapping, e.g. "
                              f"{{{info.kernel_option}: [..]}}, got {opts!r}.")
        for k in opts:
            if k not in info.options:
                raise _err(where, f"mixer '{fam}' has no option '{k}'; its options are "
                                  f"{', '.join(info.options)}.")
        values = []
        for opt, default in info.options.items():
            v = opts.get(opt, default)
            # a list means "search"; a cycle kernel pair (K_h, K_w) is written [[3, 5]]
            vals = v if isinstance(v, list) else [v]
            vals = [tuple(x) if isinstance(x, list) else x for x in vals]
            if not vals:
                raise _err(where, f"mixer '{fam}' option '{opt}' needs at least one value.")
            for x in vals:
                try:
                    info.check({opt: x})
                except SpecError as e:
                    raise _err(where, str(e).rstrip(".") + ".") from None
            values.append((opt, tuple(dict.fromkeys(vals))))
        mixers.append((fam, tuple(values)))
    ratios = _as_list(s.get("mlp_ratio", 4))
    for r in ratios:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0:
            raise _err(where, f"mlp_ratio {r!r} is not allowed; use positive numbers.")
    return depths, tuple(mixers), tuple(sorted({float(r) for r in ratios}))


def _parse_scale(sraw: Any, n: int, stage_choices, where: str):
    _fields(sraw, _SCALE, where, required=("input_size", "stem", "widths"))
    size = sraw["input_size"]
    if not (isinstance(size, list) and len(size) == 3 and all(isinstance(x, int) and x > 0
                                                               for x in size)):
        raise _err(where, f"input_size must be [channels, height, width], got {size!r}.")
    stem_raw = sraw["stem"]
    _fields(stem_raw, _STEM, f"{where}, stem", required=("kernel", "stride"))
    down_raw = sraw.get("downsample", {"kind": "conv", "kernel": 3, "stride": 2, "padding": 1})
    _fields(down_raw, _DOWN, f"{where}, downsample")
    try:
        stem, down = StemSpec(**stem_raw), DownsampleSpec(**down_raw)
    except SpecError as e:
        raise _err(where, str(e)) from None
    widths = sraw["widths"]
    if not isinstance(widths, list) or len(widths) != n or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise _err(where, f"widths must list one positive integer per stage ({n} stages; "
                          f"elastic width is not supported), got {widths!r}.")
    depth_over = sraw.get("depths")
    if depth_over is not None and (not isinstance(depth_over, list) or len(depth_over) != n):
        raise _err(where, f"depths must list the depth choices of each of the {n} stages.")

    h, w = stem.out_size(size[1]), stem.out_size(size[2])
    stages = []
    for i, ((depths, mixers, ratios), width) in enumerate(zip(stage_choices, widths)):
        if i > 0:
            h, w = down.out_size(h), down.out_size(w)
        if h < 1 or w < 1:
            raise _err(where, f"stage {i} would have a {h}x{w} feature map; use a larger "
                              f"input_size, fewer stages or less downsampling.")
        if depth_over is not None:
            depths = _positive_ints(depth_over[i], f"{where}, stage {i}", "depth")
        for fam, opts in mixers:
            for combo in _combos(opts):
                try:
                    family(fam).check(dict(combo), width, (h, w))
                except SpecError as e:
                    raise _err(f"{where}, stage {i} ({h}x{w} map, width {width})",
                               str(e)) from None
        stages.append(StageChoices(width, depths, mixers, ratios, (h, w)))
    return (tuple(size), stem, down, tuple(stages))


def _combos(opts):
    names = [n for n, _ in opts]
    for combo in itertools.product(*(v for _, v in opts)):
        yield tuple(zip(names, combo))
